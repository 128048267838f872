"""The listener face rig: a face mesh with 52 ARKit blendshape targets and a camera.

The rig data (``data/face_rig.npz``) is built by ``scripts/build_face_rig.py`` from
MediaPipe's canonical face mesh (Apache-2.0) plus the project's own eyes, mouth interior and
blendshape deltas. Model space follows :mod:`reactface_ros.geometry` (metres, y up, z out of
the face, the subject's left eye at +x); posing is ``p_cam = R p_model + t``.
"""
from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
from scipy import sparse

from reactface_ros.constants import (ARKIT_BLENDSHAPE_NAMES, BLENDSHAPE_SLICE, ROTATION_SLICE,
                                     TRANSLATION_SLICE)
from reactface_ros.geometry import FRONTAL_ROTATION, euler_to_matrix

#: Head translation of the REACT mean face; the camera frames a head placed here.
REFERENCE_TRANSLATION = np.array([-0.006, -0.018, 1.838])
#: FaceVerse model units per rig metre. The rig face (forehead to chin, 17.7 cm) becomes 1.2
#: units tall, so REACT's translation spread (x std 0.093 around the mean) moves the head by
#: about 6 % of the frame and a head at the mean depth fills it; with a metric head the same
#: spread would throw the head out of the picture.
HEAD_SCALE = 1.2 / 0.177
#: The rig's first vertices are MediaPipe's canonical face (landmark indices); the camera
#: frames them.
CANONICAL_VERTICES = 468
#: Drawing groups in the rig, in drawing order for the interior parts (group 0 is the skin).
GROUP_NAMES = ("skin", "cavity", "tongue", "teeth_lower", "teeth_upper", "sclera", "iris",
               "pupil")


def default_rig_path() -> Path:
    """Path of the rig shipped with the package."""
    return Path(str(resources.files("reactface_ros.render") / "data" / "face_rig.npz"))


@dataclass
class FaceRig:
    """Mesh, albedo and blendshape deltas of the listener face.

    Attributes
    ----------
    vertices : np.ndarray
        ``(N, 3)`` neutral vertices, model space (metres in the file; the mesh renderer
        scales them by :data:`HEAD_SCALE` into FaceVerse units).
    triangles : np.ndarray
        ``(F, 3)`` vertex indices, counter-clockwise seen from the front.
    groups : np.ndarray
        ``(F,)`` drawing group of each triangle (index into :data:`GROUP_NAMES`).
    colours : np.ndarray
        ``(N, 3)`` albedo in ``[0, 1]``.
    deltas : np.ndarray
        ``(52, N, 3)`` blendshape vertex offsets at weight 1, metres.
    """

    vertices: np.ndarray
    triangles: np.ndarray
    groups: np.ndarray
    colours: np.ndarray
    deltas: np.ndarray

    def __post_init__(self) -> None:
        """Check the arrays agree and precompute the blend and normal operators."""
        n = len(self.vertices)
        if self.deltas.shape != (len(ARKIT_BLENDSHAPE_NAMES), n, 3):
            raise ValueError(f"rig deltas must have shape (52, {n}, 3), got {self.deltas.shape}")
        if self.colours.shape != (n, 3) or self.triangles.max() >= n:
            raise ValueError("rig colours/triangles do not match its vertices")
        self._delta_matrix = self.deltas.reshape(len(self.deltas), -1).astype(np.float64)
        f = len(self.triangles)
        rows = self.triangles.ravel()
        cols = np.repeat(np.arange(f), 3)
        #: (N, F) incidence: vertex normal = sum of its faces' area-weighted normals.
        self._incidence = sparse.csr_matrix((np.ones(3 * f), (rows, cols)), shape=(n, f))

    @classmethod
    def load(cls, path: str | Path | None = None) -> "FaceRig":
        """Load a rig ``.npz`` (no pickled objects are read).

        Parameters
        ----------
        path : str or Path, optional
            Rig file; the packaged rig by default.
        """
        path = Path(path) if path is not None else default_rig_path()
        if not path.is_file():
            raise FileNotFoundError(f"face rig {path} not found; rebuild it with "
                                    f"scripts/build_face_rig.py")
        with np.load(path, allow_pickle=False) as data:
            return cls(vertices=data["vertices"].astype(np.float64),
                       triangles=data["triangles"].astype(np.int64),
                       groups=data["triangle_groups"].astype(np.int64),
                       colours=data["colours"].astype(np.float64),
                       deltas=data["deltas"].astype(np.float64))

    def scaled(self, factor: float) -> "FaceRig":
        """A copy with vertices and deltas multiplied by ``factor``."""
        return FaceRig(vertices=self.vertices * factor, triangles=self.triangles,
                       groups=self.groups, colours=self.colours, deltas=self.deltas * factor)

    def deform(self, blendshapes: np.ndarray) -> np.ndarray:
        """Model-space vertices ``(N, 3)`` for ``(52,)`` blendshape weights."""
        return self.vertices + (blendshapes @ self._delta_matrix).reshape(-1, 3)

    def vertex_normals(self, vertices: np.ndarray) -> np.ndarray:
        """Unit vertex normals ``(N, 3)`` of posed ``vertices (N, 3)``."""
        t = self.triangles
        fn = np.cross(vertices[t[:, 1]] - vertices[t[:, 0]], vertices[t[:, 2]] - vertices[t[:, 0]])
        vn = self._incidence @ fn
        return vn / np.maximum(np.linalg.norm(vn, axis=1, keepdims=True), 1e-12)


@dataclass
class Camera:
    """Pinhole OpenCV camera framing a head at :data:`REFERENCE_TRANSLATION`.

    The picture is taken from ``lens_offset`` units further back than the coefficients'
    camera, with a focal length long enough to keep the framing: sideways translation moves
    the head as in the coefficients' camera at the reference depth, while perspective and the
    effect of depth changes are those of a portrait lens rather than of a camera a head's
    length away from the face.

    Attributes
    ----------
    size : int
        Image width and height in pixels.
    fill : float
        Fraction of the image height the face (forehead to chin) fills at the reference pose.
    lens_offset : float
        Extra camera distance in FaceVerse units (0: project exactly with ``p_cam``).
    """

    size: int
    fill: float = 0.7
    lens_offset: float = 2.0

    def fit(self, rig: FaceRig) -> "Camera":
        """Choose intrinsics so the rig's face at the reference pose is centred and fills it."""
        r = euler_to_matrix(FRONTAL_ROTATION)
        p = rig.vertices[:CANONICAL_VERTICES] @ r.T + REFERENCE_TRANSLATION
        self.focal, self.cx, self.cy = 1.0, 0.0, 0.0
        q = self.project(p)
        self.focal = self.fill * self.size / (q[:, 1].max() - q[:, 1].min())
        centre = 0.5 * (q.min(axis=0) + q.max(axis=0)) * self.focal
        self.cx = (self.size - 1) / 2 - centre[0]
        self.cy = (self.size - 1) / 2 - centre[1]
        return self

    def project(self, points: np.ndarray) -> np.ndarray:
        """Pixel coordinates ``(N, 2)`` (pixel centres at integers) of camera points ``(N, 3)``."""
        z = np.maximum(points[:, 2] + self.lens_offset, 1e-6)
        return np.stack([self.focal * points[:, 0] / z + self.cx,
                         self.focal * points[:, 1] / z + self.cy], axis=1)


def pose(coeffs: np.ndarray, translation_scale: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Rotation matrix ``(3, 3)`` and translation ``(3,)`` of a ``(58,)`` coefficient frame."""
    rot = euler_to_matrix(coeffs[ROTATION_SLICE])
    t = REFERENCE_TRANSLATION + translation_scale * (coeffs[TRANSLATION_SLICE]
                                                     - REFERENCE_TRANSLATION)
    return rot, t


def blendshape_weights(coeffs: np.ndarray) -> np.ndarray:
    """The ``(52,)`` blendshape part of a ``(58,)`` coefficient frame."""
    return coeffs[BLENDSHAPE_SLICE]
