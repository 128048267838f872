"""25-d REACT-style emotion vectors derived from FaceVerse coefficients.

The challenge scores every metric on 25-d emotion: ``[0:15]`` facial action unit occurrences,
``[15:17]`` valence and arousal, ``[17:25]`` eight facial-expression probabilities. The REACT
data gets these from face-analysis networks run on video; here they are computed directly from
the 58 coefficients with fixed rules, so synthetic datasets carry emotion files and generated
3DMM reactions can be scored with the challenge convention:

* AU occurrences: a blendshape (or the mean of a left/right pair) above a threshold;
* valence: ``tanh`` of smile minus frown, lip-corner depression and brow lowering;
* arousal: ``tanh`` of jaw and brow-raise energy, eye widening and head motion;
* expressions: a softmax over hand-set linear scores of the blendshapes.

The rules are a documented convention of this package, not a model of the REACT annotations.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from reactface_ros.constants import BLENDSHAPE_INDEX, FPS, NUM_COEFFS, ROTATION_SLICE

#: The 15 action units, in column order.
AU_NAMES: tuple[str, ...] = ("AU1", "AU2", "AU4", "AU6", "AU7", "AU9", "AU10", "AU12", "AU14",
                             "AU15", "AU17", "AU23", "AU24", "AU25", "AU26")
#: The 8 facial expressions, in column order.
EXPRESSION_NAMES: tuple[str, ...] = ("Neutral", "Happy", "Sad", "Surprise", "Fear", "Disgust",
                                     "Anger", "Contempt")
#: All 25 column names (the emotion CSV header).
EMOTION_NAMES: tuple[str, ...] = AU_NAMES + ("Valence", "Arousal") + EXPRESSION_NAMES

#: AU -> (blendshape names averaged, occurrence threshold).
AU_RULES: dict[str, tuple[tuple[str, ...], float]] = {
    "AU1": (("browInnerUp",), 0.3),
    "AU2": (("browOuterUpLeft", "browOuterUpRight"), 0.25),
    "AU4": (("browDownLeft", "browDownRight"), 0.75),
    "AU6": (("cheekSquintLeft", "cheekSquintRight"), 0.2),
    "AU7": (("eyeSquintLeft", "eyeSquintRight"), 0.15),
    "AU9": (("noseSneerLeft", "noseSneerRight"), 0.15),
    "AU10": (("mouthUpperUpLeft", "mouthUpperUpRight"), 0.12),
    "AU12": (("mouthSmileLeft", "mouthSmileRight"), 0.45),
    "AU14": (("mouthDimpleLeft", "mouthDimpleRight"), 0.12),
    "AU15": (("mouthFrownLeft", "mouthFrownRight"), 0.2),
    "AU17": (("mouthShrugLower",), 0.1),
    "AU23": (("mouthRollLower", "mouthRollUpper"), 0.2),
    "AU24": (("mouthPressLeft", "mouthPressRight"), 0.4),
    "AU25": (("jawOpen",), 0.12),
    "AU26": (("jawOpen",), 0.25),
}

#: Expression -> {blendshape: weight}; the score also gets :data:`EXPRESSION_BIAS`.
EXPRESSION_WEIGHTS: dict[str, dict[str, float]] = {
    "Neutral": {},
    "Happy": {"mouthSmileLeft": 2.5, "mouthSmileRight": 2.5, "cheekSquintLeft": 1.0,
              "cheekSquintRight": 1.0},
    "Sad": {"mouthFrownLeft": 2.5, "mouthFrownRight": 2.5, "browInnerUp": 2.0},
    "Surprise": {"browOuterUpLeft": 1.5, "browOuterUpRight": 1.5, "eyeWideLeft": 1.5,
                 "eyeWideRight": 1.5, "jawOpen": 2.0},
    "Fear": {"eyeWideLeft": 1.5, "eyeWideRight": 1.5, "mouthStretchLeft": 2.0,
             "mouthStretchRight": 2.0, "browInnerUp": 1.0},
    "Disgust": {"noseSneerLeft": 3.0, "noseSneerRight": 3.0, "mouthUpperUpLeft": 2.0,
                "mouthUpperUpRight": 2.0},
    "Anger": {"browDownLeft": 2.0, "browDownRight": 2.0, "mouthPressLeft": 1.5,
              "mouthPressRight": 1.5, "eyeSquintLeft": 1.0, "eyeSquintRight": 1.0},
    "Contempt": {"mouthDimpleLeft": 2.0, "mouthDimpleRight": 2.0},
}
#: Per-expression score offset: a resting face reads mostly Neutral.
EXPRESSION_BIAS: dict[str, float] = {"Neutral": 1.5, "Happy": -0.5, "Sad": -0.8,
                                     "Surprise": -1.2, "Fear": -1.6, "Disgust": -1.2,
                                     "Anger": -2.6, "Contempt": -1.0}


def _mean(bs: np.ndarray, names: tuple[str, ...]) -> np.ndarray:
    return np.mean([bs[..., BLENDSHAPE_INDEX[n]] for n in names], axis=0)


def emotion_from_coefficients(coefficients: np.ndarray) -> np.ndarray:
    """25-d emotion vectors of FaceVerse coefficient sequences.

    Parameters
    ----------
    coefficients : np.ndarray
        ``(..., T, 58)`` raw coefficients (mean face NOT subtracted); ``T >= 1``.

    Returns
    -------
    np.ndarray
        ``(..., T, 25)`` float32: 15 AU occurrences (0/1), valence and arousal in
        ``(-1, 1)``, 8 expression probabilities summing to 1.
    """
    c = np.asarray(coefficients, dtype=np.float64)
    if c.ndim < 2 or c.shape[-1] != NUM_COEFFS:
        raise ValueError(f"coefficients must have shape (..., T, {NUM_COEFFS}), got {c.shape}")
    bs = c[..., :52]
    aus = [(_mean(bs, names) > thr).astype(np.float64) for names, thr in AU_RULES.values()]

    smile = _mean(bs, ("mouthSmileLeft", "mouthSmileRight"))
    frown = _mean(bs, ("mouthFrownLeft", "mouthFrownRight"))
    brow_down = _mean(bs, ("browDownLeft", "browDownRight"))
    brow_up = 0.5 * (bs[..., BLENDSHAPE_INDEX["browInnerUp"]]
                     + _mean(bs, ("browOuterUpLeft", "browOuterUpRight")))
    jaw = bs[..., BLENDSHAPE_INDEX["jawOpen"]]
    wide = _mean(bs, ("eyeWideLeft", "eyeWideRight"))
    valence = np.tanh(3.0 * (smile - 0.25) - 3.0 * frown - 1.5 * np.maximum(brow_down - 0.6, 0))
    rot = c[..., ROTATION_SLICE]
    speed = np.zeros_like(jaw)
    if c.shape[-2] > 1:  # head speed in rad/s, the first frame copies the second
        d = np.linalg.norm(np.diff(rot, axis=-2), axis=-1) * FPS
        speed = np.concatenate([d[..., :1], d], axis=-1)
    arousal = np.tanh(4.0 * jaw + 3.0 * brow_up + 2.0 * wide + 0.5 * speed - 1.0)

    scores = []
    for name in EXPRESSION_NAMES:
        s = np.full_like(jaw, EXPRESSION_BIAS[name])
        for bs_name, w in EXPRESSION_WEIGHTS[name].items():
            s = s + w * bs[..., BLENDSHAPE_INDEX[bs_name]]
        if name == "Contempt":  # a one-sided smile
            s = s + 4.0 * np.abs(bs[..., BLENDSHAPE_INDEX["mouthSmileLeft"]]
                                 - bs[..., BLENDSHAPE_INDEX["mouthSmileRight"]])
        scores.append(s)
    z = np.stack(scores, axis=-1)
    z = np.exp(z - z.max(axis=-1, keepdims=True))
    probs = z / z.sum(axis=-1, keepdims=True)
    out = np.concatenate([np.stack(aus, axis=-1), valence[..., None], arousal[..., None], probs],
                         axis=-1)
    return out.astype(np.float32)


def write_emotion_csv(path: Path, emotion: np.ndarray) -> None:
    """Write ``(T, 25)`` emotion vectors as a REACT emotion CSV (one header row)."""
    emotion = np.asarray(emotion)
    if emotion.ndim != 2 or emotion.shape[1] != len(EMOTION_NAMES):
        raise ValueError(f"emotion must have shape (T, 25), got {emotion.shape}")
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    np.savetxt(path, emotion, delimiter=",", fmt="%.6g", header=",".join(EMOTION_NAMES),
               comments="")
