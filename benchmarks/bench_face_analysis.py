"""Speaker face analysis speed: milliseconds per frame at 640x480 and 256x256.

Runs MediaPipe's Face Landmarker through :class:`reactface_ros.face_analysis.FaceAnalyzer` on
the scikit-image astronaut photo (a real face) resized to each resolution, in video mode (the
live path, with tracking) and image mode (every frame detected from scratch), with and without
the conv3d face crop, and on a blank frame (no face).
"""
from __future__ import annotations

import argparse
import os
import time

import cv2
import numpy as np

from reactface_ros.face_analysis import FaceAnalysisConfig, FaceAnalyzer


def _time_frames(analyzer: FaceAnalyzer, frame: np.ndarray, frames: int, warmup: int = 5):
    """Per-frame wall times in milliseconds (after ``warmup`` untimed frames)."""
    for _ in range(warmup):
        analyzer.analyze(frame)
    times = []
    for _ in range(frames):
        start = time.perf_counter()
        analyzer.analyze(frame)
        times.append((time.perf_counter() - start) * 1000.0)
    return np.asarray(times)


def main(argv: list[str] | None = None) -> int:
    """Print a table of per-frame latency (p50 / p95 ms) for each setting."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=100, help="timed frames per setting")
    parser.add_argument("--threads", type=int, default=2, help="OpenCV threads")
    args = parser.parse_args(argv)
    cv2.setNumThreads(args.threads)
    from skimage import data

    photo = data.astronaut()
    print(f"face analysis, {args.frames} frames per row, cpu count {os.cpu_count()}")
    print(f"{'resolution':>10} {'mode':>6} {'crop':>5} {'input':>6} {'p50 ms':>8} {'p95 ms':>8}")
    for width, height in ((640, 480), (256, 256)):
        # Letterbox the square photo into the frame so the face keeps its aspect ratio.
        side = min(width, height)
        frame = np.zeros((height, width, 3), np.uint8)
        x0, y0 = (width - side) // 2, (height - side) // 2
        frame[y0:y0 + side, x0:x0 + side] = cv2.resize(photo, (side, side),
                                                       interpolation=cv2.INTER_AREA)
        blank = np.zeros_like(frame)
        for mode in ("video", "image"):
            for crop in (True, False):
                config = FaceAnalysisConfig(running_mode=mode, return_crop=crop)
                with FaceAnalyzer(config) as analyzer:
                    inputs = [("face", frame)] + ([("blank", blank)] if crop else [])
                    for name, image in inputs:
                        t = _time_frames(analyzer, image, args.frames)
                        print(f"{width}x{height:<4d} {mode:>6} {str(crop):>5} {name:>6} "
                              f"{np.percentile(t, 50):8.2f} {np.percentile(t, 95):8.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
