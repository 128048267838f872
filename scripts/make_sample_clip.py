#!/usr/bin/env python3
"""Build the bundled speaker clip ``models/sample/speaker.mp4`` (the demo's default input).

The clip is made by the project itself: one synthetic speaker session (espeak-ng speech with
pauses, a face whose jaw follows the speech envelope, smiles, brow raises, nods and blinks;
see :mod:`reactface_ros.data.synth`) rendered with the mesh renderer at 256x256, 25 fps, H.264
+ AAC. The seed differs from the one the bundled weights are trained on, so the demo speaker is
not a training clip. Re-running the script reproduces the same coefficients and audio.

Usage: ``.venv/bin/python scripts/make_sample_clip.py [--seconds 12] [--seed 2026]``
"""
from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np

from reactface_ros.constants import AUDIO_SAMPLE_RATE, FPS
from reactface_ros.data.synth import synthesize_session
from reactface_ros.render import make_renderer
from reactface_ros.video import write_video

OUT_DIR = Path(__file__).resolve().parents[1] / "models" / "sample"


def main() -> int:
    """Write speaker.mp4 and speaker.json (what made it) to ``models/sample``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=12.0)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--out", type=Path, default=OUT_DIR)
    args = parser.parse_args()

    frames = int(round(args.seconds * FPS))
    with tempfile.TemporaryDirectory() as tmp:
        session = synthesize_session(args.seed, 0, frames, 1, workdir=tmp)
    speaker = session.speaker
    args.out.mkdir(parents=True, exist_ok=True)
    with make_renderer(style="mesh", size=256) as renderer:
        images = renderer.render_sequence(speaker.coefficients)
    n = write_video(args.out / "speaker.mp4", images, fps=FPS,
                    audio=(speaker.audio.astype(np.float32), AUDIO_SAMPLE_RATE))
    meta = {"seed": args.seed, "frames": n, "fps": FPS, "style": speaker.style,
            "made_by": "scripts/make_sample_clip.py", **speaker.info}
    (args.out / "speaker.json").write_text(json.dumps(meta, indent=1) + "\n")
    print(f"wrote {args.out / 'speaker.mp4'}: {n} frames, "
          f"{(args.out / 'speaker.mp4').stat().st_size / 1024:.0f} KiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
