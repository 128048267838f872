"""``reactface render``: listener reactions (and the speaker) side by side in an mp4.

Layout per frame: ``speaker | reaction 1 | reaction 2 | ...`` (the speaker panel only with
``--speaker-video``), 25 fps, one output frame per coefficient frame, the speaker's audio
muxed from ``--audio`` or from the speaker video.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from reactface_ros.constants import FPS, NUM_COEFFS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the command's arguments."""
    parser.add_argument("--reactions", required=True, type=Path,
                        help="listener coefficients .npy, (M, T, 58) or (T, 58)")
    parser.add_argument("--speaker-video", type=Path, default=None,
                        help="speaker video shown in the left panel (resampled to 25 fps)")
    parser.add_argument("--audio", type=Path, default=None,
                        help="audio to mux (default: the speaker video's audio, if any)")
    parser.add_argument("--style", choices=("mesh", "screen"), default="mesh",
                        help="listener face style")
    parser.add_argument("--size", type=int, default=256, help="panel size in pixels")
    parser.add_argument("--backend", choices=("auto", "gl", "numpy"), default="auto",
                        help="mesh rasteriser")
    parser.add_argument("--max-reactions", type=int, default=4,
                        help="show at most this many sampled reactions")
    parser.add_argument("--translation-scale", type=float, default=1.0,
                        help="scale of head translation deviations (0 keeps the head centred)")
    parser.add_argument("--supersample", type=int, default=1, choices=(1, 2, 3, 4),
                        help="mesh style: render at N times the size and shrink (anti-aliasing)")
    parser.add_argument("--labels", action="store_true",
                        help="write 'speaker' / 'listener k' into the panels")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.add_argument("--out", required=True, type=Path, help="output .mp4")


def load_reactions(path: Path) -> np.ndarray:
    """Load ``(M, T, 58)`` reactions from ``.npy`` (a ``(T, 58)`` file gives ``M = 1``)."""
    if not path.is_file():
        raise FileNotFoundError(f"reaction file {path} not found")
    arr = np.load(path, allow_pickle=False)
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3 or arr.shape[2] != NUM_COEFFS or arr.shape[1] == 0:
        raise ValueError(f"{path}: reactions must have shape (M, T, {NUM_COEFFS}) or "
                         f"(T, {NUM_COEFFS}) with T > 0, got {arr.shape}")
    return arr


def square_panel(frame: np.ndarray, size: int) -> np.ndarray:
    """Centre-crop an RGB frame to a square and resize it to ``(size, size, 3)``."""
    h, w = frame.shape[:2]
    side = min(h, w)
    y0, x0 = (h - side) // 2, (w - side) // 2
    crop = frame[y0:y0 + side, x0:x0 + side]
    interp = cv2.INTER_AREA if side > size else cv2.INTER_LINEAR
    return cv2.resize(crop, (size, size), interpolation=interp)


def speaker_panels(path: Path, count: int, size: int) -> Iterator[np.ndarray]:
    """``count`` speaker panels at 25 fps (nearest earlier source frame; the last is held)."""
    from reactface_ros.video import read_video_frames, video_fps

    src_fps = video_fps(path)
    frames = read_video_frames(path)
    current = None
    index = -1
    for i in range(count):
        wanted = int(np.floor(i * src_fps / FPS + 1e-6))
        while index < wanted:
            nxt = next(frames, None)
            if nxt is None:
                break
            current, index = nxt, index + 1
        if current is None:
            raise ValueError(f"speaker video {path} has no frames")
        yield square_panel(current, size)


def label_panel(panel: np.ndarray, text: str) -> np.ndarray:
    """Write ``text`` in the top-left corner of an RGB panel (outlined, readable anywhere)."""
    out = panel.copy()
    scale = max(0.35, panel.shape[0] / 640)
    org = (6, int(8 + 22 * scale))
    cv2.putText(out, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(out, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1,
                cv2.LINE_AA)
    return out


def run(args: argparse.Namespace) -> int:
    """Render the comparison video."""
    from tqdm import tqdm

    from reactface_ros.render import make_renderer
    from reactface_ros.atomic import atomic_path
    from reactface_ros.video import has_audio, probe_video, read_audio, write_video

    from reactface_ros.render.validate import check_coefficients

    try:
        reactions = load_reactions(args.reactions)[:max(1, args.max_reactions)]
        # Validate every frame up front so a bad file fails before any encoding.
        checked = []
        for k, reaction in enumerate(reactions):
            try:
                checked.append(check_coefficients(reaction, sequence=True)[0])
            except ValueError as exc:
                raise ValueError(f"reaction {k}: {exc}") from None
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    m, t, _ = reactions.shape
    for label, path in (("speaker video", args.speaker_video), ("audio file", args.audio)):
        if path is not None and not path.is_file():
            print(f"error: {label} {path} not found", file=sys.stderr)
            return 2
    audio = None
    audio_src = args.audio
    try:
        if args.speaker_video is not None:
            probe_video(args.speaker_video, "speaker video")
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        if audio_src is None and args.speaker_video is not None and has_audio(args.speaker_video):
            audio_src = args.speaker_video
        if audio_src is not None:
            audio = read_audio(audio_src)
            if not np.all(np.isfinite(audio[0])):
                raise ValueError("it holds NaN or Inf samples; pass a clean audio file")
    except (OSError, ValueError) as exc:  # PyAV's errors derive from these
        print(f"error: cannot read audio from {audio_src or args.speaker_video}: {exc}",
              file=sys.stderr)
        return 2
    renderer = make_renderer(style=args.style, size=args.size, backend=args.backend,
                             translation_scale=args.translation_scale,
                             supersample=args.supersample)
    try:
        speaker = (speaker_panels(args.speaker_video, t, args.size)
                   if args.speaker_video is not None else None)

        def frames() -> Iterator[np.ndarray]:
            for i in tqdm(range(t), desc="render", unit="frame", disable=args.no_progress):
                panels = [next(speaker)] if speaker is not None else []
                panels += [renderer.render(r[i]) for r in checked]
                if args.labels:
                    names = (["speaker"] if speaker is not None else []) + [
                        f"listener {k + 1}" for k in range(len(checked))]
                    panels = [label_panel(p, n) for p, n in zip(panels, names)]
                yield np.concatenate(panels, axis=1)

        # Through a temporary file: an interrupted render never destroys an earlier --out.
        with atomic_path(args.out) as tmp:
            written = write_video(tmp, frames(), fps=FPS, audio=audio)
    except (OSError, ValueError) as exc:
        print(f"error: rendering {args.out} failed: {exc} (an earlier {args.out.name} is "
              "kept)", file=sys.stderr)
        return 1
    finally:
        renderer.close()
    print(f"wrote {args.out}: {written} frames, {m} reaction(s)"
          f"{', speaker' if args.speaker_video else ''}{', audio' if audio else ''}")
    return 0
