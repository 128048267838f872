"""Pure NumPy/OpenCV rasteriser.

Painter's algorithm into a triangle-id buffer (OpenCV polygon filling, far to near), then
per-pixel barycentric (Gouraud) colour interpolation in NumPy.
"""
from __future__ import annotations

import threading

import cv2
import numpy as np

#: Sub-pixel bits used for OpenCV's fixed-point polygon filling.
SHIFT = 4


class NumpyRasteriser:
    """Draws :class:`~reactface_ros.render.mesh.FrameGeometry` without any GPU API.

    Parameters
    ----------
    size : int
        Image width and height.
    background : tuple[int, int, int]
        RGB background.
    """

    name = "numpy"

    def __init__(self, size: int, background: tuple[int, int, int]) -> None:
        self.size = size
        self.background = np.asarray(background, dtype=np.uint8)
        self._ids = np.empty((size, size), dtype=np.int32)
        self._lock = threading.Lock()  # the id buffer is shared between calls

    def draw(self, geo) -> np.ndarray:
        """Rasterise one frame to ``(H, W, 3)`` uint8 RGB (thread-safe)."""
        with self._lock:
            return self._draw(geo)

    def _draw(self, geo) -> np.ndarray:
        tris = np.concatenate([geo.interior, geo.skin])
        pts = geo.screen[tris]  # (F, 3, 2)
        fixed = np.rint(pts * (1 << SHIFT)).astype(np.int32)
        ids = self._ids
        ids.fill(-1)
        fill = cv2.fillConvexPoly
        for k, poly in enumerate(fixed):
            fill(ids, poly, k, cv2.LINE_8, SHIFT)
        # Colour planes: per triangle, rgb(x, y) = x * P[0] + y * P[1] + P[2] interpolates
        # its vertex colours linearly in screen space (as OpenGL does with w = 1).
        m = np.concatenate([pts, np.ones(pts.shape[:2] + (1,))], axis=2)  # (F, 3, 3)
        col = geo.colours[tris]  # (F, 3 vertices, 3 channels)
        det = np.linalg.det(m)
        ok = np.abs(det) > 1e-9
        planes = np.zeros((len(tris), 3, 3))
        planes[:, 2] = col.mean(axis=1)
        planes[ok] = np.linalg.solve(m[ok], col[ok])
        flat = ids.reshape(-1)
        idx = np.flatnonzero(flat >= 0)
        k = flat[idx]
        px = (idx % self.size).astype(np.float32)[:, None]
        py = (idx // self.size).astype(np.float32)[:, None]
        # Pixels OpenCV fills just outside a triangle extrapolate its plane: clamp to the
        # triangle's own colour range.
        lo = col.min(axis=1).astype(np.float32)
        hi = col.max(axis=1).astype(np.float32)
        planes = planes.astype(np.float32).reshape(len(tris), 9)
        pk = planes[k]
        rgb = pk[:, 0:3] * px + pk[:, 3:6] * py + pk[:, 6:9]
        np.minimum(rgb, hi[k], out=rgb)
        np.maximum(rgb, lo[k], out=rgb)
        img = np.empty((self.size * self.size, 3), dtype=np.uint8)
        img[:] = self.background
        rgb *= 255.0
        img[idx] = np.rint(rgb, out=rgb).astype(np.uint8)
        return img.reshape(self.size, self.size, 3)

    def close(self) -> None:
        """Nothing to release."""
