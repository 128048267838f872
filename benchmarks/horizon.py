"""How much do reactions change when the attention horizon is cut? (chooses the default)

Generates reactions for the same speaker input, weights and seed with several horizons and
compares each against a much longer reference horizon. Only differences of positions enter
the model, and the horizon creates no parameters, so one set of weights serves every horizon.

Usage::

    python benchmarks/horizon.py [--checkpoint DIR] [--seconds 60] [--reference 1024]

Without ``--checkpoint`` a random-init CPU-default model is measured (state this when quoting
the figure); with trained weights the same script gives the figure that matters.
"""
from __future__ import annotations

import argparse
import dataclasses

import numpy as np
import torch

from reactface_ros.model import ReactFace, ReactFaceConfig


def synthetic_speaker(frames: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Speech-like audio (bursts of filtered noise and pauses) and drifting face features."""
    rng = np.random.default_rng(seed)
    n = frames * 640
    audio = rng.standard_normal(n).astype(np.float32)
    audio = np.convolve(audio, np.ones(8) / 8, mode="same").astype(np.float32)
    envelope = np.repeat((rng.random(frames // 10 + 1) > 0.35).astype(np.float32), 6400)[:n]
    audio *= 0.2 * envelope
    face = np.zeros((frames, 59), dtype=np.float32)
    walk = np.cumsum(rng.standard_normal((frames, 58)) * 0.02, axis=0)
    face[:, :52] = np.clip(0.2 + 0.3 * np.tanh(walk[:, :52]), 0, 1)
    face[:, 52:55] = np.array([np.pi, 0, 0]) + 0.1 * np.tanh(walk[:, 52:55])
    face[:, 55:58] = np.array([0, 0, 1.84]) + 0.02 * np.tanh(walk[:, 55:58])
    face[:, 58] = 1.0
    return audio, face


def main() -> None:
    """Print the change of the reactions against the reference horizon."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", default=None)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--reference", type=int, default=1024)
    ap.add_argument("--horizons", type=int, nargs="+", default=[8, 16, 32, 64, 128, 256])
    ap.add_argument("--samples", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(2)
    if args.checkpoint:
        base = ReactFace.from_pretrained(args.checkpoint)
    else:
        torch.manual_seed(0)
        base = ReactFace(ReactFaceConfig()).eval()
    frames = int(args.seconds * 25)
    audio, face = synthetic_speaker(frames)

    def run(horizon: int) -> np.ndarray:
        cfg = dataclasses.replace(base.config, horizon=horizon)
        model = ReactFace(cfg, load_pretrained=False).eval()
        model.load_state_dict(base.state_dict())
        return model.generate(audio[None], face[None], num_samples=args.samples,
                              seed=0)[0].numpy()

    ref = run(args.reference)
    spread = np.abs(ref - ref.mean(axis=1, keepdims=True)).mean()
    print(f"reference horizon {args.reference} frames, {frames} frames, "
          f"mean |reaction - its mean| = {spread:.4f}")
    print(f"{'horizon':>8} {'mean |diff|':>12} {'max |diff|':>11} {'relative':>9}")
    for h in args.horizons:
        diff = np.abs(run(h) - ref)
        print(f"{h:>8d} {diff.mean():>12.5f} {diff.max():>11.4f} {diff.mean() / spread:>9.2%}")


if __name__ == "__main__":
    main()
