"""Head-pose conventions shared by face analysis, rendering and avatar output.

FaceVerse convention (as the REACT coefficients use it; see the mean face: rotation x near pi,
translation z near 1.84):

* model space: x toward the subject's own left (the image right in an unmirrored camera
  view of a frontal face), y up, z out of the face toward the viewer;
* camera space: OpenCV camera, x right, y down, z forward (into the scene);
* ``p_cam = R @ p_model + t`` with ``R = Rz(rz) @ Ry(ry) @ Rx(rx)`` and angles in radians.

A frontal, upright face looking into the camera is ``(rx, ry, rz) = (pi, 0, 0)``: the flip
about x maps model +y (up) to camera -y (up in the image) and model +z (toward the viewer) to
camera -z (toward the camera). Deviations from that pose are what a nod (rx), a head turn (ry)
and a head tilt (rz) change.
"""
from __future__ import annotations

import numpy as np

#: Rotation of a frontal, upright face looking into the camera.
FRONTAL_ROTATION = np.array([np.pi, 0.0, 0.0], dtype=np.float64)


def euler_to_matrix(rotation: np.ndarray) -> np.ndarray:
    """Rotation matrices from FaceVerse Euler angles.

    Parameters
    ----------
    rotation : np.ndarray
        ``(..., 3)`` angles ``(rx, ry, rz)`` in radians.

    Returns
    -------
    np.ndarray
        ``(..., 3, 3)`` matrices ``Rz @ Ry @ Rx``.
    """
    rotation = np.asarray(rotation, dtype=np.float64)
    if rotation.shape[-1] != 3:
        raise ValueError(f"rotation must have shape (..., 3), got {rotation.shape}")
    rx, ry, rz = rotation[..., 0], rotation[..., 1], rotation[..., 2]
    cx, sx, cy, sy, cz, sz = np.cos(rx), np.sin(rx), np.cos(ry), np.sin(ry), np.cos(rz), np.sin(rz)
    m = np.empty(rotation.shape[:-1] + (3, 3), dtype=np.float64)
    m[..., 0, 0] = cz * cy
    m[..., 0, 1] = cz * sy * sx - sz * cx
    m[..., 0, 2] = cz * sy * cx + sz * sx
    m[..., 1, 0] = sz * cy
    m[..., 1, 1] = sz * sy * sx + cz * cx
    m[..., 1, 2] = sz * sy * cx - cz * sx
    m[..., 2, 0] = -sy
    m[..., 2, 1] = cy * sx
    m[..., 2, 2] = cy * cx
    return m


def matrix_to_euler(matrix: np.ndarray) -> np.ndarray:
    """FaceVerse Euler angles from rotation matrices (inverse of :func:`euler_to_matrix`).

    Parameters
    ----------
    matrix : np.ndarray
        ``(..., 3, 3)`` rotation matrices.

    Returns
    -------
    np.ndarray
        ``(..., 3)`` angles ``(rx, ry, rz)``; ``rx`` is returned in ``[0, 2 pi)`` so a frontal
        face reads ``(pi, 0, 0)`` rather than jumping between ``+pi`` and ``-pi``.
    """
    m = np.asarray(matrix, dtype=np.float64)
    if m.shape[-2:] != (3, 3):
        raise ValueError(f"matrix must have shape (..., 3, 3), got {m.shape}")
    ry = -np.arcsin(np.clip(m[..., 2, 0], -1.0, 1.0))
    rx = np.arctan2(m[..., 2, 1], m[..., 2, 2])
    rz = np.arctan2(m[..., 1, 0], m[..., 0, 0])
    rx = np.mod(rx, 2 * np.pi)
    return np.stack([rx, ry, rz], axis=-1)


def matrix_to_quaternion(matrix: np.ndarray) -> np.ndarray:
    """Unit quaternions ``(x, y, z, w)`` from ``(..., 3, 3)`` rotation matrices."""
    m = np.asarray(matrix, dtype=np.float64)
    if m.shape[-2:] != (3, 3):
        raise ValueError(f"matrix must have shape (..., 3, 3), got {m.shape}")
    flat = m.reshape(-1, 3, 3)
    out = np.empty((flat.shape[0], 4))
    for i, r in enumerate(flat):
        tr = np.trace(r)
        if tr > 0:
            s = np.sqrt(tr + 1.0) * 2
            out[i] = [(r[2, 1] - r[1, 2]) / s, (r[0, 2] - r[2, 0]) / s,
                      (r[1, 0] - r[0, 1]) / s, 0.25 * s]
        elif r[0, 0] > r[1, 1] and r[0, 0] > r[2, 2]:
            s = np.sqrt(1.0 + r[0, 0] - r[1, 1] - r[2, 2]) * 2
            out[i] = [0.25 * s, (r[0, 1] + r[1, 0]) / s, (r[0, 2] + r[2, 0]) / s,
                      (r[2, 1] - r[1, 2]) / s]
        elif r[1, 1] > r[2, 2]:
            s = np.sqrt(1.0 + r[1, 1] - r[0, 0] - r[2, 2]) * 2
            out[i] = [(r[0, 1] + r[1, 0]) / s, 0.25 * s, (r[1, 2] + r[2, 1]) / s,
                      (r[0, 2] - r[2, 0]) / s]
        else:
            s = np.sqrt(1.0 + r[2, 2] - r[0, 0] - r[1, 1]) * 2
            out[i] = [(r[0, 2] + r[2, 0]) / s, (r[1, 2] + r[2, 1]) / s, 0.25 * s,
                      (r[1, 0] - r[0, 1]) / s]
    out /= np.linalg.norm(out, axis=1, keepdims=True)
    return out.reshape(m.shape[:-2] + (4,))
