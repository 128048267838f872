"""Shaded 3D listener face: posing, lighting and two interchangeable rasterisers.

Everything but rasterisation is shared by the backends, so the OpenGL and NumPy pictures
differ only in pixel coverage at triangle edges:

1. blend the 52 blendshape deltas into the neutral mesh, pose it with ``R p + t``;
2. light each vertex (Lambert, one key light and ambient) in camera space;
3. project with a fixed pinhole camera that frames the reference head;
4. draw the interior parts (mouth cavity, tongue, teeth, eyes) first in a fixed order, then
   the front-facing skin triangles with hidden-surface removal (a depth buffer on OpenGL,
   far-to-near painter's order in NumPy). The interior shows only through the eye and mouth
   openings of the skin.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from reactface_ros.constants import BLENDSHAPE_INDEX
from reactface_ros.render.base import FaceRenderer, RenderConfig
from reactface_ros.render.rig import (GROUP_NAMES, HEAD_SCALE, Camera, FaceRig,
                                      blendshape_weights, pose)

#: Direction towards the key light in camera space (upper left of the picture, in front).
LIGHT_DIRECTION = np.array([-0.45, -0.55, -1.0]) / np.linalg.norm([-0.45, -0.55, -1.0])
AMBIENT = 0.36
DIFFUSE = 0.72
#: tongueOut weight above which the tongue is drawn in front of the teeth.
TONGUE_OUT_THRESHOLD = 0.25


@dataclass
class FrameGeometry:
    """What a rasteriser needs for one frame.

    Attributes
    ----------
    screen : np.ndarray
        ``(N, 2)`` pixel coordinates (pixel centres at integers).
    depth : np.ndarray
        ``(N,)`` camera-space depth.
    colours : np.ndarray
        ``(N, 3)`` lit vertex colours in ``[0, 1]``.
    interior : np.ndarray
        ``(K, 3)`` interior triangles in drawing order (no depth test).
    skin : np.ndarray
        ``(S, 3)`` visible skin triangles, far to near.
    """

    screen: np.ndarray
    depth: np.ndarray
    colours: np.ndarray
    interior: np.ndarray
    skin: np.ndarray


class MeshFaceRenderer(FaceRenderer):
    """The shaded 3D face (``style="mesh"``).

    Parameters
    ----------
    config : RenderConfig
        Image size, background and translation handling.
    backend : str
        ``"gl"`` (offscreen OpenGL through EGL), ``"numpy"`` (OpenCV/NumPy rasteriser) or
        ``"auto"`` (OpenGL when a context can be created, NumPy otherwise).
    rig : FaceRig, optional
        The face rig in metres (scaled by :data:`~reactface_ros.render.rig.HEAD_SCALE`);
        the packaged one by default.
    """

    style = "mesh"

    def __init__(self, config: RenderConfig, backend: str = "auto",
                 rig: FaceRig | None = None) -> None:
        super().__init__(config)
        if backend not in ("auto", "gl", "numpy"):
            raise ValueError(f"backend must be 'auto', 'gl' or 'numpy', got {backend!r}")
        self.rig = (rig if rig is not None else FaceRig.load()).scaled(HEAD_SCALE)
        self._scale = config.supersample
        raster_size = config.size * self._scale
        self.camera = Camera(raster_size).fit(self.rig)
        order = np.argsort(self.rig.groups, kind="stable")
        interior = order[self.rig.groups[order] > 0]
        self._interior = self.rig.triangles[interior]
        # A tongue that is out is drawn in front of the teeth, one at rest behind them.
        tongue = self.rig.groups[interior] == GROUP_NAMES.index("tongue")
        self._interior_tongue_out = np.concatenate([self._interior[~tongue],
                                                    self._interior[tongue]])
        self._tongue_channel = BLENDSHAPE_INDEX["tongueOut"]
        self._skin = self.rig.triangles[self.rig.groups == 0]
        self._raster = None
        if backend in ("auto", "gl"):
            from reactface_ros.render.raster_gl import GLRasteriser, gl_unavailable_reason
            reason = gl_unavailable_reason()
            if reason is None:
                self._raster = GLRasteriser(raster_size, config.background,
                                            len(self.rig.vertices), len(self.rig.triangles))
            elif backend == "gl":
                raise RuntimeError(f"OpenGL backend unavailable: {reason}; use backend='numpy'")
        if self._raster is None:
            from reactface_ros.render.raster_numpy import NumpyRasteriser
            self._raster = NumpyRasteriser(raster_size, config.background)
        self.backend = self._raster.name

    def geometry(self, coeffs: np.ndarray) -> FrameGeometry:
        """Pose, light and project one validated ``(58,)`` frame (at the supersampled size)."""
        rot, t = pose(coeffs, self.config.translation_scale)
        p = self.rig.deform(blendshape_weights(coeffs)) @ rot.T + t
        normals = self.rig.vertex_normals(p)
        lambert = np.clip(normals @ LIGHT_DIRECTION, 0.0, 1.0)
        colours = np.clip(self.rig.colours * (AMBIENT + DIFFUSE * lambert)[:, None], 0.0, 1.0)
        screen = self.camera.project(p)
        s = self._skin
        a, b, c = screen[s[:, 0]], screen[s[:, 1]], screen[s[:, 2]]
        area2 = ((b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1])
                 - (c[:, 0] - a[:, 0]) * (b[:, 1] - a[:, 1]))
        # Counter-clockwise from the front becomes clockwise (negative) with image y down.
        visible = s[area2 < -1e-9]
        zmean = p[:, 2][visible].mean(axis=1)
        skin = visible[np.argsort(-zmean, kind="stable")]
        return FrameGeometry(screen=screen, depth=p[:, 2], colours=colours,
                             interior=(self._interior_tongue_out
                                       if coeffs[self._tongue_channel] > TONGUE_OUT_THRESHOLD
                                       else self._interior), skin=skin)

    def _render_frame(self, coeffs: np.ndarray) -> np.ndarray:
        image = self._raster.draw(self.geometry(coeffs))
        if self._scale > 1:
            image = cv2.resize(image, (self.size, self.size), interpolation=cv2.INTER_AREA)
        return image

    def close(self) -> None:
        """Release the OpenGL context (nothing to release for the NumPy backend)."""
        if self._raster is not None:
            self._raster.close()
        super().close()
