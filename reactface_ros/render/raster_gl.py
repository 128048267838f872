"""Offscreen OpenGL rasteriser (moderngl on an EGL context: Mesa llvmpipe works headless)."""
from __future__ import annotations

import threading

import numpy as np

_VERTEX_SHADER = """
#version 330
in vec3 in_pos;
in vec3 in_col;
out vec3 v_col;
void main() {
    gl_Position = vec4(in_pos, 1.0);
    v_col = in_col;
}
"""
_FRAGMENT_SHADER = """
#version 330
in vec3 v_col;
out vec4 f_col;
void main() {
    f_col = vec4(v_col, 1.0);
}
"""
#: Depth range mapped onto the depth buffer (camera units).
NEAR, FAR = 0.05, 30.0
_CHECKED: list = []


def gl_unavailable_reason() -> str | None:
    """``None`` when an EGL OpenGL 3.3 context can be created, else why not (cached)."""
    if not _CHECKED:
        try:
            import moderngl
            ctx = moderngl.create_standalone_context(backend="egl")
            ok = ctx.version_code >= 330
            ctx.release()
            _CHECKED.append(None if ok else "OpenGL 3.3 not supported by the EGL context")
        except Exception as exc:  # any failure means: fall back to NumPy
            _CHECKED.append(f"{type(exc).__name__}: {exc}")
    return _CHECKED[0]


class GLRasteriser:
    """Draws :class:`~reactface_ros.render.mesh.FrameGeometry` with OpenGL.

    Parameters
    ----------
    size : int
        Image width and height.
    background : tuple[int, int, int]
        RGB background.
    n_vertices, n_triangles : int
        Buffer sizes.
    """

    name = "gl"

    def __init__(self, size: int, background: tuple[int, int, int], n_vertices: int,
                 n_triangles: int) -> None:
        import moderngl
        self._mgl = moderngl
        self.size = size
        self.background = tuple(c / 255.0 for c in background)
        self.ctx = moderngl.create_standalone_context(backend="egl")
        # A GL context is current in one thread at a time: every draw makes it current under
        # a lock, so a renderer built in one thread can draw from another (ROS executors).
        self._lock = threading.Lock()
        self.prog = self.ctx.program(vertex_shader=_VERTEX_SHADER,
                                     fragment_shader=_FRAGMENT_SHADER)
        self.vbo = self.ctx.buffer(reserve=n_vertices * 6 * 4)
        self.ibo = self.ctx.buffer(reserve=n_triangles * 3 * 4)
        self.vao = self.ctx.vertex_array(self.prog, [(self.vbo, "3f 3f", "in_pos", "in_col")],
                                         index_buffer=self.ibo, index_element_size=4)
        self.fbo = self.ctx.framebuffer(
            color_attachments=[self.ctx.renderbuffer((size, size), 4)],
            depth_attachment=self.ctx.depth_renderbuffer((size, size)))
        self._data = np.empty((n_vertices, 6), dtype=np.float32)

    def draw(self, geo) -> np.ndarray:
        """Rasterise one frame to ``(H, W, 3)`` uint8 RGB (thread-safe)."""
        with self._lock, self.ctx:
            return self._draw(geo)

    def _draw(self, geo) -> np.ndarray:
        n = self.size
        d = self._data
        # Pixel centres at integers; image row 0 goes to GL row 0 so the read-back is top-first.
        d[:, 0] = 2.0 * (geo.screen[:, 0] + 0.5) / n - 1.0
        d[:, 1] = 2.0 * (geo.screen[:, 1] + 0.5) / n - 1.0
        d[:, 2] = 2.0 * (geo.depth - NEAR) / (FAR - NEAR) - 1.0
        d[:, 3:] = geo.colours
        self.vbo.write(d)
        idx = np.concatenate([geo.interior, geo.skin]).astype(np.int32)
        self.ibo.write(idx)
        self.fbo.use()
        self.fbo.clear(*self.background, 1.0, depth=1.0)
        ctx = self.ctx
        ctx.disable(self._mgl.DEPTH_TEST | self._mgl.CULL_FACE)
        if len(geo.interior):
            self.vao.render(self._mgl.TRIANGLES, vertices=3 * len(geo.interior), first=0)
        ctx.enable(self._mgl.DEPTH_TEST)
        if len(geo.skin):
            self.vao.render(self._mgl.TRIANGLES, vertices=3 * len(geo.skin),
                            first=3 * len(geo.interior))
        raw = self.fbo.read(components=3, alignment=1)
        return np.frombuffer(raw, dtype=np.uint8).reshape(n, n, 3).copy()

    def close(self) -> None:
        """Release every GL object and the context."""
        with self._lock:
            if self.ctx is None:
                return
            self.ctx.__enter__()  # the releases need the context current in this thread
            for obj in (self.vao, self.vbo, self.ibo, self.fbo, self.prog):
                obj.release()
            self.ctx.release()
            self.ctx = None
