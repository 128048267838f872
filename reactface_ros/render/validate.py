"""Input policy for listener coefficients before rendering.

* Wrong shapes raise :class:`ValueError` naming the expected shape.
* NaN or infinite values raise :class:`ValueError` naming the first bad frame and channel:
  a silently repaired frame would hide a broken model or a corrupt file.
* Blendshape weights outside ``[0, 1]`` are clamped (rigs are not defined outside that range).
* Head translation is clamped into :data:`TRANSLATION_LIMITS` (a head behind or at the camera
  cannot be drawn). Rotation angles are periodic and accepted as they are.

Clamping is counted and reported once per call through :mod:`warnings`
(:class:`CoefficientClampWarning`).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from reactface_ros.constants import (BLENDSHAPE_SLICE, FACEVERSE_COEFF_NAMES, NUM_COEFFS,
                                     TRANSLATION_SLICE)

#: ``(low, high)`` per translation axis (x, y, z), FaceVerse camera units.
TRANSLATION_LIMITS: tuple[tuple[float, float], ...] = ((-1.5, 1.5), (-1.5, 1.5), (0.8, 20.0))


class CoefficientClampWarning(UserWarning):
    """Some coefficients were outside their valid range and were clamped."""


@dataclass
class ClampReport:
    """How many values one call clamped.

    Attributes
    ----------
    blendshapes : int
        Blendshape weights moved into ``[0, 1]``.
    translation : int
        Translation values moved into :data:`TRANSLATION_LIMITS`.
    """

    blendshapes: int = 0
    translation: int = 0

    @property
    def total(self) -> int:
        """All clamped values."""
        return self.blendshapes + self.translation


def check_coefficients(coeffs: np.ndarray, *, sequence: bool = False,
                       warn: bool = True) -> tuple[np.ndarray, ClampReport]:
    """Validate and clamp listener coefficients.

    Parameters
    ----------
    coeffs : np.ndarray
        ``(58,)`` one frame, or ``(T, 58)`` when ``sequence`` is true.
    sequence : bool
        Whether a whole sequence is expected.
    warn : bool
        Emit a :class:`CoefficientClampWarning` when anything was clamped.

    Returns
    -------
    tuple[np.ndarray, ClampReport]
        A float64 copy with the same shape, clamped, and what was clamped.

    Raises
    ------
    ValueError
        On a wrong shape or on NaN/Inf values (naming the frame and channel).
    """
    arr = np.asarray(coeffs, dtype=np.float64)
    expected = f"(T, {NUM_COEFFS})" if sequence else f"({NUM_COEFFS},)"
    if (sequence and (arr.ndim != 2 or arr.shape[1] != NUM_COEFFS)) or \
            (not sequence and arr.shape != (NUM_COEFFS,)):
        raise ValueError(f"listener coefficients must have shape {expected} (52 blendshapes, "
                         f"3 rotation, 3 translation), got {arr.shape}")
    frames = arr.reshape(-1, NUM_COEFFS)
    bad = ~np.isfinite(frames)
    if bad.any():
        t, c = np.argwhere(bad)[0]
        raise ValueError(
            f"non-finite coefficient ({frames[t, c]}) at frame {t}, channel {c} "
            f"({FACEVERSE_COEFF_NAMES[c]}); {int(bad.sum())} bad values in total: fix or drop "
            f"these frames before rendering")
    frames = frames.copy()
    report = ClampReport()
    bs = frames[:, BLENDSHAPE_SLICE]
    report.blendshapes = int(np.count_nonzero((bs < 0.0) | (bs > 1.0)))
    frames[:, BLENDSHAPE_SLICE] = np.clip(bs, 0.0, 1.0)
    tr = frames[:, TRANSLATION_SLICE]
    lo = np.array([a for a, _ in TRANSLATION_LIMITS])
    hi = np.array([b for _, b in TRANSLATION_LIMITS])
    report.translation = int(np.count_nonzero((tr < lo) | (tr > hi)))
    frames[:, TRANSLATION_SLICE] = np.clip(tr, lo, hi)
    if warn and report.total:
        warnings.warn(
            f"clamped {report.blendshapes} blendshape weight(s) into [0, 1] and "
            f"{report.translation} translation value(s) into {TRANSLATION_LIMITS}",
            CoefficientClampWarning, stacklevel=3)
    return frames.reshape(arr.shape), report
