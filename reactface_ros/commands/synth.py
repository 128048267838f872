"""``reactface synth``: generate a synthetic dyadic reaction dataset."""
from __future__ import annotations

import argparse
import sys
import time

from reactface_ros.data.synth import SynthConfig, count_clips, generate_dataset


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the command's arguments."""
    parser.add_argument("--out", required=True, help="dataset root folder to write")
    parser.add_argument("--pairs", type=int, default=48,
                        help="(speaker, listener) pairs over all splits (default 48)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--layout", choices=("reactface", "challenge"), default="reactface",
                        help="dataset layout (default reactface)")
    parser.add_argument("--seconds", type=float, default=30.0,
                        help="clip length in seconds (default 30: 751 frames)")
    parser.add_argument("--listeners-per-speaker", type=int, default=4,
                        help="listeners reacting to each speaker clip (default 4)")
    parser.add_argument("--appropriateness", choices=("clip", "style"), default="clip",
                        help="appropriate reactions: those to the same speaker clip (default) "
                        "or to any speaker of the same behaviour style")
    parser.add_argument("--long-pauses", type=float, default=0.15,
                        help="probability that a speaker's pause is a 3-6 s silence instead "
                             "of 0.35-1.8 s (default 0.15; 0: the generator before long pauses)")
    parser.add_argument("--no-video", action="store_true",
                        help="skip rendering videos (coefficients, audio and emotion only)")
    parser.add_argument("--video-size", type=int, default=256, help="video size in pixels")


def run(args: argparse.Namespace) -> int:
    """Generate the dataset with a progress bar; return 1 with a message on bad input."""
    from tqdm import tqdm

    config = SynthConfig(pairs=args.pairs, seed=args.seed, seconds=args.seconds,
                         layout=args.layout, listeners_per_speaker=args.listeners_per_speaker,
                         video=not args.no_video, video_size=args.video_size,
                         appropriateness=args.appropriateness, long_pauses=args.long_pauses)
    try:
        config.validate()
    except ValueError as exc:
        print(f"reactface synth: {exc}", file=sys.stderr)
        return 1
    start = time.monotonic()
    try:
        with tqdm(total=count_clips(config), unit="clip", desc="synth") as bar:
            meta = generate_dataset(config, args.out, progress=bar.update)
    except RuntimeError as exc:  # espeak-ng or the renderer missing
        print(f"reactface synth: {exc}", file=sys.stderr)
        return 1
    splits = ", ".join(f"{k} {v}" for k, v in meta["splits"].items())
    print(f"wrote {args.out} ({config.layout} layout, pairs per split: {splits}) in "
          f"{time.monotonic() - start:.1f} s")
    return 0
