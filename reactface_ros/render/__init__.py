"""Listener face renderers: 58 coefficients in, RGB images out.

Choose a renderer through one factory so new styles (e.g. a neural portrait renderer) slot in
behind the same interface::

    from reactface_ros.render import make_renderer
    with make_renderer(style="mesh", size=256, backend="auto") as r:
        image = r.render(coeffs)            # (58,) -> (H, W, 3) uint8 RGB
        video = r.render_sequence(frames)   # (T, 58) -> (T, H, W, 3)
"""
from __future__ import annotations

from reactface_ros.render.base import FaceRenderer, RenderConfig
from reactface_ros.render.validate import (ClampReport, CoefficientClampWarning,
                                           check_coefficients)

#: Renderer styles :func:`make_renderer` knows.
STYLES = ("mesh", "screen")

__all__ = ["FaceRenderer", "RenderConfig", "ClampReport", "CoefficientClampWarning",
           "check_coefficients", "make_renderer", "STYLES"]


def make_renderer(style: str = "mesh", size: int = 256, backend: str = "auto",
                  **config) -> FaceRenderer:
    """Create a listener face renderer.

    Parameters
    ----------
    style : str
        ``"mesh"`` (shaded 3D face) or ``"screen"`` (flat robot-display face).
    size : int
        Output width and height in pixels.
    backend : str
        For ``"mesh"``: ``"auto"``, ``"gl"`` or ``"numpy"``; ignored by ``"screen"``.
    **config
        Further :class:`RenderConfig` fields (``background``, ``translation_scale``,
        ``supersample``).

    Returns
    -------
    FaceRenderer
        Call ``render``/``render_sequence``, then ``close`` (or use it in ``with``).
    """
    cfg = RenderConfig(size=size, **config)
    if style == "mesh":
        from reactface_ros.render.mesh import MeshFaceRenderer
        return MeshFaceRenderer(cfg, backend=backend)
    if style == "screen":
        from reactface_ros.render.screen import ScreenFaceRenderer
        return ScreenFaceRenderer(cfg)
    raise ValueError(f"unknown renderer style {style!r}; choose one of {STYLES}")
