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

# --------------------------------------------------------------------------------------------
# Blendshape names of the systems this package talks to. Every mapping is made by name, never
# by position, through :func:`reorder_by_name`.
# --------------------------------------------------------------------------------------------

#: MediaPipe Face Landmarker's extra leading category (it has no ``tongueOut``).
MEDIAPIPE_NEUTRAL = "_neutral"

#: MediaPipe Face Landmarker's 52 blendshape categories in its output order: ``_neutral``
#: followed by the 51 ARKit names it shares with FaceVerse (alphabetical; no ``tongueOut``).
MEDIAPIPE_BLENDSHAPE_NAMES: tuple[str, ...] = (MEDIAPIPE_NEUTRAL,) + tuple(
    name for name in ARKIT_BLENDSHAPE_NAMES if name != "tongueOut")

#: The 52 ARKit blendshapes in Unreal Live Link Face packet order (the order of Unreal's
#: ``EARFaceBlendShape`` enum and of Apple's ``ARFaceAnchor.BlendShapeLocation`` listing:
#: left eye, right eye, jaw, mouth, brows, cheeks, nose, tongue). Apple's lower-camel spelling;
#: Unreal's curve names are the same with an upper-case first letter.
LIVELINK_BLENDSHAPE_NAMES: tuple[str, ...] = (
    "eyeBlinkLeft", "eyeLookDownLeft", "eyeLookInLeft", "eyeLookOutLeft", "eyeLookUpLeft",
    "eyeSquintLeft", "eyeWideLeft",
    "eyeBlinkRight", "eyeLookDownRight", "eyeLookInRight", "eyeLookOutRight", "eyeLookUpRight",
    "eyeSquintRight", "eyeWideRight",
    "jawForward", "jawLeft", "jawRight", "jawOpen",
    "mouthClose", "mouthFunnel", "mouthPucker", "mouthLeft", "mouthRight",
    "mouthSmileLeft", "mouthSmileRight", "mouthFrownLeft", "mouthFrownRight",
    "mouthDimpleLeft", "mouthDimpleRight", "mouthStretchLeft", "mouthStretchRight",
    "mouthRollLower", "mouthRollUpper", "mouthShrugLower", "mouthShrugUpper",
    "mouthPressLeft", "mouthPressRight", "mouthLowerDownLeft", "mouthLowerDownRight",
    "mouthUpperUpLeft", "mouthUpperUpRight",
    "browDownLeft", "browDownRight", "browInnerUp", "browOuterUpLeft", "browOuterUpRight",
    "cheekPuff", "cheekSquintLeft", "cheekSquintRight",
    "noseSneerLeft", "noseSneerRight",
    "tongueOut",
)

#: The 9 pose curves that follow the blendshapes in a Live Link Face packet.
LIVELINK_POSE_CURVE_NAMES: tuple[str, ...] = (
    "HeadYaw", "HeadPitch", "HeadRoll",
    "LeftEyeYaw", "LeftEyePitch", "LeftEyeRoll",
    "RightEyeYaw", "RightEyePitch", "RightEyeRoll",
)
#: Curves per Live Link Face packet: 52 blendshapes + 9 head/eye angles = 61.
LIVELINK_NUM_CURVES = len(LIVELINK_BLENDSHAPE_NAMES) + len(LIVELINK_POSE_CURVE_NAMES)

#: Case conventions for VMC "Perfect Sync" clip names. ``"upper"``: ARKit names with an
#: upper-case first letter (``JawOpen``), the VRM BlendShapeClip names of the Perfect Sync
#: setup VMagicMirror and the hinzka VRoid models use; ``"lower"``: Apple's spelling
#: (``jawOpen``), for receivers/avatars that name their clips exactly like ARKit.
PERFECT_SYNC_CASES: tuple[str, ...] = ("upper", "lower")


def perfect_sync_names(case: str = "upper") -> tuple[str, ...]:
    """Return the 52 VMC "Perfect Sync" blendshape clip names in FaceVerse coefficient order.

    Parameters
    ----------
    case : str
        ``"upper"`` (``EyeBlinkLeft``, the Perfect Sync convention) or ``"lower"``
        (``eyeBlinkLeft``, Apple's ARKit spelling).

    Returns
    -------
    tuple of str
        52 names, ``names[i]`` naming ``coefficients[i]``.
    """
    if case == "upper":
        return tuple(name[0].upper() + name[1:] for name in ARKIT_BLENDSHAPE_NAMES)
    if case == "lower":
        return ARKIT_BLENDSHAPE_NAMES
    raise ValueError(f"unknown Perfect Sync name case {case!r}; use one of {PERFECT_SYNC_CASES}")


#: VMC Perfect Sync names (upper-case first letter) in FaceVerse coefficient order.
PERFECT_SYNC_BLENDSHAPE_NAMES: tuple[str, ...] = perfect_sync_names("upper")


def reorder_by_name(values, from_names, to_names, *, missing: float = 0.0,
                    case_sensitive: bool = False):
    """Reorder the last axis of ``values`` from one list of names to another.

    Names are matched exactly, or ignoring the case of the first letter when
    ``case_sensitive`` is false (so ``JawOpen`` matches ``jawOpen``). A name of ``to_names``
    absent from ``from_names`` gets ``missing`` (e.g. ``tongueOut`` from MediaPipe scores);
    names only in ``from_names`` are dropped (e.g. MediaPipe's ``_neutral``).

    Parameters
    ----------
    values : array_like
        ``(..., len(from_names))`` values.
    from_names, to_names : sequence of str
        Names of the input's last axis and of the output's last axis; each without duplicates.
    missing : float
        Value for output names the input lacks.
    case_sensitive : bool
        Whether the first letter's case must match too.

    Returns
    -------
    np.ndarray
        ``(..., len(to_names))`` float array.
    """
    import numpy as np

    values = np.asarray(values)
    if values.ndim == 0 or values.shape[-1] != len(from_names):
        raise ValueError(f"values must have shape (..., {len(from_names)}) to match from_names, "
                         f"got {values.shape}")
    index, take = name_permutation(from_names, to_names, case_sensitive=case_sensitive)
    dtype = values.dtype if np.issubdtype(values.dtype, np.floating) else np.float64
    out = np.full(values.shape[:-1] + (len(to_names),), missing, dtype=dtype)
    out[..., take] = values[..., index[take]]
    return out


def name_permutation(from_names, to_names, *, case_sensitive: bool = False):
    """Index arrays that move named channels from one order to another.

    Parameters
    ----------
    from_names, to_names : sequence of str
        Source and target names; each without duplicates.
    case_sensitive : bool
        Whether the first letter's case must match.

    Returns
    -------
    index : np.ndarray
        ``(len(to_names),)`` int: position in ``from_names`` of each target name, ``-1`` where
        absent.
    present : np.ndarray
        ``(len(to_names),)`` bool: ``index >= 0``.
    """
    import numpy as np

    def key(name: str) -> str:
        return name if case_sensitive else name[:1].lower() + name[1:]

    src = [key(n) for n in from_names]
    dst = [key(n) for n in to_names]
    for label, names in (("from_names", src), ("to_names", dst)):
        if len(set(names)) != len(names):
            dup = sorted({n for n in names if names.count(n) > 1})
            raise ValueError(f"{label} has duplicate names: {dup}")
    lookup = {name: i for i, name in enumerate(src)}
    index = np.array([lookup.get(name, -1) for name in dst], dtype=np.int64)
    return index, index >= 0


def mirrored_name(name: str) -> str:
    """Return the name of the same blendshape on the other side (``Left`` <-> ``Right``)."""
    if name.endswith("Left"):
        return name[:-4] + "Right"
    if name.endswith("Right"):
        return name[:-5] + "Left"
    return name


#: ``weights[MIRROR_PERMUTATION]`` swaps every left/right blendshape pair (FaceVerse order),
#: e.g. ``eyeBlinkLeft`` <-> ``eyeBlinkRight``, ``mouthLeft`` <-> ``mouthRight``: the face as
#: seen in a mirror.
MIRROR_PERMUTATION: tuple[int, ...] = tuple(
    BLENDSHAPE_INDEX[mirrored_name(name)] for name in ARKIT_BLENDSHAPE_NAMES)


assert len(MEDIAPIPE_BLENDSHAPE_NAMES) == NUM_BLENDSHAPES
assert sorted(LIVELINK_BLENDSHAPE_NAMES) == sorted(ARKIT_BLENDSHAPE_NAMES)
assert LIVELINK_NUM_CURVES == 61

#: torch intra-op threads for CPU inference (the ``reaction`` node, ``reactface generate``):
#: one, see :func:`reactface_ros.streaming.set_cpu_threads`.
CPU_INFERENCE_THREADS = 1
