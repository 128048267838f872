"""Plausibility checks of live input: speaker face features, audio chunks and their rates.

Every input boundary (the ``reaction`` node's callbacks and
:class:`reactface_ros.streaming.ReactionStream`) runs these checks before a value reaches the
model, so one bad message (a blendshape of 1e30, an audio chunk that claims 1 Hz) is rejected
and counted instead of poisoning the model state or allocating gigabytes. Each problem has a
short name (:class:`InputError.problem`) used as the counter name in the stream health and on
``/diagnostics``.

No ROS imports: the checks are plain NumPy.
"""
from __future__ import annotations

import math

import numpy as np

from reactface_ros.constants import FACE_FEATURE_DIM, NUM_BLENDSHAPES

#: Blendshape scores are in [0, 1]; values this far outside are still accepted (and clipped).
BLENDSHAPE_TOLERANCE = 0.05
#: Largest accepted absolute head-rotation angle (radians; FaceVerse x is near pi).
MAX_ABS_ROTATION = 4.0 * math.pi
#: Largest accepted absolute head-translation component (FaceVerse camera units, z ~ 1.84).
MAX_ABS_TRANSLATION = 100.0
#: Plausible audio sample rates (Hz), telephone to studio.
MIN_SAMPLE_RATE = 4000
MAX_SAMPLE_RATE = 384000
#: Longest accepted audio chunk (s); live capture sends 10-100 ms chunks.
MAX_CHUNK_S = 10.0


class InputError(ValueError):
    """An input that cannot be used; ``problem`` names the counter it is counted under."""

    def __init__(self, problem: str, message: str) -> None:
        super().__init__(message)
        self.problem = problem


def check_face_features(vec: np.ndarray) -> np.ndarray:
    """Validate a ``(59,)`` speaker face feature vector; returns it with blendshapes clipped.

    Non-finite values are left to the caller (they count as "no face"); finite values out
    of range raise.

    Raises
    ------
    InputError
        ``face_out_of_range``: a blendshape outside [0, 1] (beyond
        :data:`BLENDSHAPE_TOLERANCE`), a rotation beyond :data:`MAX_ABS_ROTATION` rad or a
        translation beyond :data:`MAX_ABS_TRANSLATION`.
    """
    x = np.array(vec, np.float32)
    if x.shape != (FACE_FEATURE_DIM,) or not np.all(np.isfinite(x)):
        return x
    shapes = x[:NUM_BLENDSHAPES]
    rot, trans = x[NUM_BLENDSHAPES:NUM_BLENDSHAPES + 3], x[NUM_BLENDSHAPES + 3:NUM_BLENDSHAPES + 6]
    tol = BLENDSHAPE_TOLERANCE
    if shapes.min() < -tol or shapes.max() > 1 + tol:
        i = int(np.argmax(np.maximum(-shapes, shapes - 1)))
        raise InputError("face_out_of_range", f"blendshape {i} is {float(shapes[i]):.4g}, "
                         "outside [0, 1]; send blendshape scores in [0, 1]")
    if np.abs(rot).max() > MAX_ABS_ROTATION:
        raise InputError("face_out_of_range", f"head rotation {rot.tolist()} rad is beyond "
                         f"+-{MAX_ABS_ROTATION:.3g}; send Euler angles in radians")
    if np.abs(trans).max() > MAX_ABS_TRANSLATION:
        raise InputError("face_out_of_range", f"head translation {trans.tolist()} is beyond "
                         f"+-{MAX_ABS_TRANSLATION:g}; send FaceVerse camera units (z ~ 1.84)")
    x[:NUM_BLENDSHAPES] = np.clip(shapes, 0.0, 1.0)
    return x


def check_sample_rate(rate) -> int:
    """Validate an audio sample rate (Hz); returns it as ``int``.

    Raises
    ------
    InputError
        ``audio_rate_out_of_range`` outside [:data:`MIN_SAMPLE_RATE`,
        :data:`MAX_SAMPLE_RATE`], or not an integer.
    """
    if isinstance(rate, bool) or not isinstance(rate, (int, np.integer)):
        raise InputError("audio_rate_out_of_range",
                         f"sample_rate must be an integer number of Hz, got {rate!r}")
    if not MIN_SAMPLE_RATE <= int(rate) <= MAX_SAMPLE_RATE:
        raise InputError("audio_rate_out_of_range",
                         f"sample_rate {int(rate)} Hz is not a plausible audio rate; send "
                         f"{MIN_SAMPLE_RATE}-{MAX_SAMPLE_RATE} Hz (e.g. 16000)")
    return int(rate)


def check_audio_chunk(num_samples: int, rate) -> int:
    """Validate an audio chunk's rate and length; returns the rate.

    Raises
    ------
    InputError
        ``audio_rate_out_of_range`` (see :func:`check_sample_rate`) or ``audio_chunk_too_long``
        for a chunk longer than :data:`MAX_CHUNK_S`.
    """
    rate = check_sample_rate(rate)
    if num_samples > MAX_CHUNK_S * rate:
        raise InputError("audio_chunk_too_long",
                         f"audio chunk of {num_samples} samples at {rate} Hz lasts "
                         f"{num_samples / rate:.1f} s, more than {MAX_CHUNK_S:g} s; send "
                         "shorter chunks")
    return rate
