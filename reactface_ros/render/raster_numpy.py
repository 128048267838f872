"""Pure NumPy/OpenCV rasteriser.

Painter's algorithm into a triangle-id buffer (OpenCV polygon filling, far to near), then
per-pixel barycentric (Gouraud) colour interpolation in NumPy.
"""
from __future__ import annotations

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
        ys, xs = np.mgrid[0:size, 0:size]
        self._xs = xs.astype(np.float64)
        self._ys = ys.astype(np.float64)

    def draw(self, geo) -> np.ndarray:
        """Rasterise one frame to ``(H, W, 3)`` uint8 RGB."""
        tris = np.concatenate([geo.interior, geo.skin])
        pts = geo.screen[tris]  # (F, 3, 2)
        fixed = np.rint(pts * (1 << SHIFT)).astype(np.int32)
        ids = self._ids
        ids.fill(-1)
        fill = cv2.fillConvexPoly
        for k, poly in enumerate(fixed):
            fill(ids, poly, k, cv2.LINE_8, SHIFT)
        img = np.empty((self.size, self.size, 3), dtype=np.uint8)
        img[:] = self.background
        mask = ids >= 0
        k = ids[mask]
        px, py = self._xs[mask], self._ys[mask]
        a, b, c = pts[:, 0], pts[:, 1], pts[:, 2]
        e1, e2 = b - a, c - a
        det = e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]
        det = np.where(np.abs(det) < 1e-12, 1e-12, det)
        dx, dy = px - a[k, 0], py - a[k, 1]
        l1 = (dx * e2[k, 1] - dy * e2[k, 0]) / det[k]
        l2 = (e1[k, 0] * dy - e1[k, 1] * dx) / det[k]
        l1 = np.clip(l1, 0.0, 1.0)
        l2 = np.clip(l2, 0.0, 1.0)
        total = l1 + l2
        over = total > 1.0
        l1[over] /= total[over]
        l2[over] /= total[over]
        l0 = 1.0 - l1 - l2
        col = geo.colours
        t = tris[k]
        rgb = (l0[:, None] * col[t[:, 0]] + l1[:, None] * col[t[:, 1]]
               + l2[:, None] * col[t[:, 2]])
        img[mask] = np.rint(rgb * 255.0).astype(np.uint8)
        return img

    def close(self) -> None:
        """Nothing to release."""
