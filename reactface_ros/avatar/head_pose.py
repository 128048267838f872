"""Head pose of a listener frame, converted for avatars (Unity/VMC) and Live Link.

The FaceVerse pose of a frame (see :mod:`reactface_ros.geometry`) is a rotation ``R`` and a
translation ``t`` with ``p_cam = R @ p_model + t`` in an OpenCV camera. Avatars want the head's
rotation *relative to a reference pose* (frontal by default), expressed in the head's own
frame:

``Q = R_ref.T @ R``  (FaceVerse model frame: +x the subject's left, +y up, +z out of the face;
right-handed, the same axes as an ARKit face anchor).

Unity (VMC) is Y-up and left-handed, and a VRM avatar faces +z with its right hand at +x, so
the subject's left (+x in the model frame) is the avatar's -x. With ``S = diag(-1, 1, 1)``:

``Q_unity = S @ Q @ S``; as a quaternion ``(x, y, z, w) -> (x, -y, -z, w)``.

The avatar then turns, nods and tilts the way the listener does (not mirrored). The
translation offset ``t - t_ref`` (camera: x right, y down, z away from the camera) becomes
``-(t - t_ref) * scale`` in Unity: moving to the viewer's right is moving to the subject's
(and the avatar's) left, down is -y, away from the camera is backwards.

Yaw, pitch and roll are the angles of ``Q = Ry(yaw) @ Rx(pitch) @ Rz(roll)`` (Unity's own
Z-then-X-then-Y order); in the model frame positive yaw turns the face toward the subject's
left, positive pitch lowers the chin, positive roll tilts the head toward the subject's right
shoulder.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from reactface_ros.constants import NUM_COEFFS, ROTATION_SLICE, TRANSLATION_SLICE
from reactface_ros.geometry import FRONTAL_ROTATION, euler_to_matrix, matrix_to_quaternion

#: Typical camera distance of a REACT face (the mean face's translation z).
REACT_TYPICAL_TRANSLATION = (0.0, 0.0, 1.84)

_MIRROR_X = np.diag([-1.0, 1.0, 1.0])


@dataclass
class HeadPoseConfig:
    """How a FaceVerse head pose becomes an avatar head pose.

    Attributes
    ----------
    reference_rotation : tuple of float
        FaceVerse ``(rx, ry, rz)`` (radians) of the pose the avatar shows as "straight ahead";
        frontal ``(pi, 0, 0)`` by default. Use a reaction's mean pose to take out a constant
        offset.
    reference_translation : tuple of float
        FaceVerse translation of the avatar's rest position.
    angle_signs : tuple of float
        Multipliers for ``(pitch, yaw, roll)`` (rotation about x, y, z) after conversion: ``-1``
        flips an axis, e.g. ``(1, -1, -1)`` mirrors the avatar like a VTuber mirror view.
    angle_scale : float
        Multiplier on all three angles (exaggerate or damp head motion).
    max_angle_deg : float
        Relative rotations beyond this angle are clamped to it (keeps absurd inputs from
        snapping the neck).
    send_translation : bool
        Whether translation offsets are sent (many avatar apps only want the rotation).
    translation_scale : float
        FaceVerse translation units to receiver units (metres in Unity).
    """

    reference_rotation: tuple[float, float, float] = tuple(float(a) for a in FRONTAL_ROTATION)
    reference_translation: tuple[float, float, float] = REACT_TYPICAL_TRANSLATION
    angle_signs: tuple[float, float, float] = (1.0, 1.0, 1.0)
    angle_scale: float = 1.0
    max_angle_deg: float = 75.0
    send_translation: bool = False
    translation_scale: float = 1.0

    def __post_init__(self) -> None:
        """Check lengths and ranges so a bad configuration fails at construction."""
        for name in ("reference_rotation", "reference_translation", "angle_signs"):
            value = tuple(float(v) for v in getattr(self, name))
            if len(value) != 3 or not np.all(np.isfinite(value)):
                raise ValueError(f"HeadPoseConfig.{name} must be 3 finite numbers, got {value}")
            setattr(self, name, value)
        if not 0.0 < self.max_angle_deg <= 180.0:
            raise ValueError(f"max_angle_deg must be in (0, 180], got {self.max_angle_deg}")


def yaw_pitch_roll(matrix: np.ndarray) -> np.ndarray:
    """Angles of ``matrix = Ry(yaw) @ Rx(pitch) @ Rz(roll)``.

    Parameters
    ----------
    matrix : np.ndarray
        ``(..., 3, 3)`` rotation matrices.

    Returns
    -------
    np.ndarray
        ``(..., 3)`` ``(yaw, pitch, roll)`` in radians, pitch in ``[-pi/2, pi/2]``.
    """
    m = np.asarray(matrix, dtype=np.float64)
    pitch = np.arcsin(np.clip(-m[..., 1, 2], -1.0, 1.0))
    yaw = np.arctan2(m[..., 0, 2], m[..., 2, 2])
    roll = np.arctan2(m[..., 1, 0], m[..., 1, 1])
    return np.stack([yaw, pitch, roll], axis=-1)


def matrix_from_yaw_pitch_roll(angles: np.ndarray) -> np.ndarray:
    """``Ry(yaw) @ Rx(pitch) @ Rz(roll)`` from ``(..., 3)`` ``(yaw, pitch, roll)`` radians."""
    a = np.asarray(angles, dtype=np.float64)
    cy, sy = np.cos(a[..., 0]), np.sin(a[..., 0])
    cp, sp = np.cos(a[..., 1]), np.sin(a[..., 1])
    cr, sr = np.cos(a[..., 2]), np.sin(a[..., 2])
    m = np.empty(a.shape[:-1] + (3, 3))
    m[..., 0, 0] = cy * cr + sy * sp * sr
    m[..., 0, 1] = -cy * sr + sy * sp * cr
    m[..., 0, 2] = sy * cp
    m[..., 1, 0] = cp * sr
    m[..., 1, 1] = cp * cr
    m[..., 1, 2] = -sp
    m[..., 2, 0] = -sy * cr + cy * sp * sr
    m[..., 2, 1] = sy * sr + cy * sp * cr
    m[..., 2, 2] = cy * cp
    return m


def _clamp_angle(matrix: np.ndarray, max_angle: float) -> np.ndarray:
    """Shrink a rotation about its own axis so its angle is at most ``max_angle``."""
    cos_angle = np.clip((np.trace(matrix) - 1.0) / 2.0, -1.0, 1.0)
    angle = float(np.arccos(cos_angle))
    if angle <= max_angle:
        return matrix
    axis = np.array([matrix[2, 1] - matrix[1, 2], matrix[0, 2] - matrix[2, 0],
                     matrix[1, 0] - matrix[0, 1]])
    norm = np.linalg.norm(axis)
    if norm < 1e-9:  # a half turn: the axis is the symmetric part's dominant direction
        sym = (matrix + np.eye(3)) / 2.0
        axis = sym[:, int(np.argmax(np.diag(sym)))]
        norm = np.linalg.norm(axis)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]]) / norm
    return np.eye(3) + np.sin(max_angle) * k + (1 - np.cos(max_angle)) * (k @ k)


class HeadPoseConverter:
    """Convert per-frame FaceVerse poses with one :class:`HeadPoseConfig`.

    Parameters
    ----------
    config : HeadPoseConfig, optional
        Reference pose, sign flips, scales and clamps.
    mirror : bool
        Show the pose as in a mirror: yaw, roll and sideways translation flip sign (on top of
        ``config.angle_signs``).
    """

    def __init__(self, config: HeadPoseConfig | None = None, mirror: bool = False) -> None:
        self.config = config or HeadPoseConfig()
        mirror_signs = np.array([1.0, -1.0, -1.0]) if mirror else np.ones(3)
        self._signs = tuple((np.asarray(self.config.angle_signs) * mirror_signs).tolist())
        self._t_signs = np.array([-1.0 if mirror else 1.0, 1.0, 1.0])
        self._ref_t = np.asarray(self.config.reference_translation, dtype=np.float64)
        self._ref_r_inv = euler_to_matrix(np.asarray(self.config.reference_rotation)).T
        self._max_angle = np.deg2rad(self.config.max_angle_deg)

    def relative_rotation(self, coeffs: np.ndarray) -> np.ndarray:
        """Head rotation relative to the reference, FaceVerse model (ARKit face) frame.

        Parameters
        ----------
        coeffs : np.ndarray
            ``(58,)`` coefficients of one frame.

        Returns
        -------
        np.ndarray
            ``(3, 3)`` rotation, clamped to ``max_angle_deg``, with ``angle_signs`` and
            ``angle_scale`` applied.
        """
        q = self._ref_r_inv @ euler_to_matrix(np.asarray(coeffs[ROTATION_SLICE], np.float64))
        q = _clamp_angle(q, self._max_angle)
        cfg = self.config
        if self._signs != (1.0, 1.0, 1.0) or cfg.angle_scale != 1.0:
            yaw, pitch, roll = yaw_pitch_roll(q)
            sx, sy, sz = self._signs
            q = matrix_from_yaw_pitch_roll(
                np.array([yaw * sy, pitch * sx, roll * sz]) * cfg.angle_scale)
        return q

    def yaw_pitch_roll(self, coeffs: np.ndarray) -> np.ndarray:
        """``(3,)`` relative ``(yaw, pitch, roll)`` in radians (model frame, see module doc)."""
        return yaw_pitch_roll(self.relative_rotation(coeffs))

    def unity_rotation(self, coeffs: np.ndarray) -> np.ndarray:
        """``(4,)`` relative head rotation as a Unity quaternion ``(x, y, z, w)``."""
        q_unity = _MIRROR_X @ self.relative_rotation(coeffs) @ _MIRROR_X
        quat = matrix_to_quaternion(q_unity)
        return quat if quat[3] >= 0 else -quat  # one sign for the same rotation

    def unity_translation(self, coeffs: np.ndarray) -> np.ndarray:
        """``(3,)`` translation offset in Unity axes, zeros unless ``send_translation``."""
        if not self.config.send_translation:
            return np.zeros(3)
        offset = np.asarray(coeffs[TRANSLATION_SLICE], np.float64) - self._ref_t
        return -offset * self._t_signs * self.config.translation_scale

    def rest_frame(self) -> np.ndarray:
        """Return a ``(58,)`` frame with zero blendshapes at the reference pose (a calm face)."""
        frame = np.zeros(NUM_COEFFS)
        frame[ROTATION_SLICE] = self.config.reference_rotation
        frame[TRANSLATION_SLICE] = self.config.reference_translation
        return frame


def mean_reference(reactions: np.ndarray) -> HeadPoseConfig:
    """Make a :class:`HeadPoseConfig` whose reference is the mean pose of a reaction.

    Parameters
    ----------
    reactions : np.ndarray
        ``(..., 58)`` finite coefficients.

    Returns
    -------
    HeadPoseConfig
        Defaults everywhere except the reference rotation and translation.
    """
    flat = np.asarray(reactions, dtype=np.float64).reshape(-1, reactions.shape[-1])
    return HeadPoseConfig(reference_rotation=tuple(flat[:, ROTATION_SLICE].mean(0)),
                          reference_translation=tuple(flat[:, TRANSLATION_SLICE].mean(0)))
