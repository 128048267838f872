"""The coefficient layout shared by the model, the messages, the renderer and the metrics.

A listener (or speaker) face is 58 FaceVerse coefficients per frame:

* ``[0:52]``  expression: 52 ARKit-named blendshape weights, in :data:`ARKIT_BLENDSHAPE_NAMES`
  order;
* ``[52:55]`` head rotation (radians, FaceVerse convention, x near pi for a frontal face);
* ``[55:58]`` head translation (FaceVerse camera units, z near 1.84 in the REACT data).

The 52 expression channels use the ARKit names sorted alphabetically, which is also the order
MediaPipe's Face Landmarker reports them (after its leading ``_neutral``). The left/right pairs
of the REACT mean face (e.g. browDown 0.57/0.50, eyeBlink 0.24/0.16, mouthSmile 0.21/0.29) are
consistent with this order. Every other module takes names and indices from here.
"""
from __future__ import annotations

#: The 52 ARKit blendshape names in FaceVerse coefficient order (``coefficients[0:52]``).
ARKIT_BLENDSHAPE_NAMES: tuple[str, ...] = (
    "browDownLeft", "browDownRight", "browInnerUp", "browOuterUpLeft", "browOuterUpRight",
    "cheekPuff", "cheekSquintLeft", "cheekSquintRight",
    "eyeBlinkLeft", "eyeBlinkRight", "eyeLookDownLeft", "eyeLookDownRight",
    "eyeLookInLeft", "eyeLookInRight", "eyeLookOutLeft", "eyeLookOutRight",
    "eyeLookUpLeft", "eyeLookUpRight", "eyeSquintLeft", "eyeSquintRight",
    "eyeWideLeft", "eyeWideRight",
    "jawForward", "jawLeft", "jawOpen", "jawRight",
    "mouthClose", "mouthDimpleLeft", "mouthDimpleRight", "mouthFrownLeft", "mouthFrownRight",
    "mouthFunnel", "mouthLeft", "mouthLowerDownLeft", "mouthLowerDownRight",
    "mouthPressLeft", "mouthPressRight", "mouthPucker", "mouthRight",
    "mouthRollLower", "mouthRollUpper", "mouthShrugLower", "mouthShrugUpper",
    "mouthSmileLeft", "mouthSmileRight", "mouthStretchLeft", "mouthStretchRight",
    "mouthUpperUpLeft", "mouthUpperUpRight", "noseSneerLeft", "noseSneerRight",
    "tongueOut",
)

NUM_BLENDSHAPES = 52
NUM_ROTATION = 3
NUM_TRANSLATION = 3
#: Coefficients per frame (FaceVerse 3DMM as used by REACT): 52 + 3 + 3.
NUM_COEFFS = NUM_BLENDSHAPES + NUM_ROTATION + NUM_TRANSLATION

BLENDSHAPE_SLICE = slice(0, NUM_BLENDSHAPES)
ROTATION_SLICE = slice(NUM_BLENDSHAPES, NUM_BLENDSHAPES + NUM_ROTATION)
TRANSLATION_SLICE = slice(NUM_BLENDSHAPES + NUM_ROTATION, NUM_COEFFS)

ROTATION_NAMES: tuple[str, ...] = ("rotationX", "rotationY", "rotationZ")
TRANSLATION_NAMES: tuple[str, ...] = ("translationX", "translationY", "translationZ")
#: Names of all 58 coefficients, in order (for plots, CSV headers and bag tools).
FACEVERSE_COEFF_NAMES: tuple[str, ...] = ARKIT_BLENDSHAPE_NAMES + ROTATION_NAMES + TRANSLATION_NAMES

#: Index of each blendshape name in the coefficient vector.
BLENDSHAPE_INDEX: dict[str, int] = {name: i for i, name in enumerate(ARKIT_BLENDSHAPE_NAMES)}

#: Video frame rate of the REACT data and of every stream this package produces.
FPS = 25
#: Sample rate the audio encoders work at; any input rate is resampled to it.
AUDIO_SAMPLE_RATE = 16000
#: Audio samples per video frame at 16 kHz and 25 fps.
SAMPLES_PER_FRAME = AUDIO_SAMPLE_RATE // FPS

assert len(ARKIT_BLENDSHAPE_NAMES) == NUM_BLENDSHAPES
assert len(set(ARKIT_BLENDSHAPE_NAMES)) == NUM_BLENDSHAPES
assert len(FACEVERSE_COEFF_NAMES) == NUM_COEFFS

#: Per-frame speaker face feature vector used by the ``blendshapes`` face encoder and
#: produced by :mod:`reactface_ros.face_analysis`: 52 ARKit blendshape scores, head rotation
#: (3, FaceVerse convention, see :mod:`reactface_ros.geometry`), head translation (3) and a
#: face-found flag (1.0 / 0.0).
FACE_FEATURE_DIM = NUM_BLENDSHAPES + NUM_ROTATION + NUM_TRANSLATION + 1
