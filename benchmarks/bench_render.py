"""Listener face rendering speed: frames per second per style and backend.

Renders a varied reaction (all 52 blendshapes, head motion) with the mesh face on the OpenGL
(EGL) and NumPy backends and with the screen face, at 256x256 by default, single-threaded
OpenCV. Also times the video encoder (H.264) on the rendered frames.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from reactface_ros.render import make_renderer
from reactface_ros.render.raster_gl import gl_unavailable_reason
from reactface_ros.render.rig import REFERENCE_TRANSLATION
from reactface_ros.video import write_video


def reaction(frames: int, seed: int = 0) -> np.ndarray:
    """A ``(T, 58)`` smooth random reaction around the reference pose."""
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 4 * np.pi, frames)[:, None]
    phase = rng.uniform(0, 2 * np.pi, 58)
    x = np.zeros((frames, 58))
    x[:, :52] = 0.5 + 0.5 * np.sin(t * rng.uniform(0.3, 1.5, 52) + phase[:52])
    x[:, 52:55] = [np.pi, 0.0, 0.0] + 0.2 * np.sin(t + phase[52:55])
    x[:, 55:58] = REFERENCE_TRANSLATION + [0.05, 0.03, 0.2] * np.sin(t + phase[55:58])
    return x


def time_renderer(style: str, backend: str, size: int, coeffs: np.ndarray,
                  repeats: int = 3) -> float:
    """Best frames per second of ``render`` over ``coeffs`` in ``repeats`` runs (after warm-up).

    The best run is reported because other processes on a shared machine only ever slow a run
    down.
    """
    with make_renderer(style, size=size, backend=backend) as r:
        for c in coeffs[:10]:
            r.render(c)
        best = 0.0
        for _ in range(repeats):
            start = time.perf_counter()
            for c in coeffs:
                r.render(c)
            best = max(best, len(coeffs) / (time.perf_counter() - start))
        return best


def main(argv: list[str] | None = None) -> int:
    """Print frames per second for each renderer and for encoding."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=3, help="runs per renderer (best kept)")
    args = parser.parse_args(argv)
    cv2.setNumThreads(1)
    coeffs = reaction(args.frames)
    print(f"listener face rendering at {args.size}x{args.size}, {args.frames} frames, "
          f"best of {args.repeats} runs")
    reason = gl_unavailable_reason()
    runs = [("mesh", "numpy"), ("screen", "auto")]
    if reason is None:
        runs.insert(0, ("mesh", "gl"))
    else:
        print(f"mesh / gl      : skipped ({reason})")
    for style, backend in runs:
        fps = time_renderer(style, backend, args.size, coeffs, args.repeats)
        print(f"{style:6s} / {backend:6s}: {fps:7.1f} fps ({1000.0 / fps:.2f} ms/frame)")
    with make_renderer("mesh", size=args.size) as r:
        frames = r.render_sequence(coeffs)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        write_video(Path(tmp) / "bench.mp4", frames)
        fps = len(frames) / (time.perf_counter() - start)
    print(f"H.264 encode   : {fps:7.1f} fps")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
