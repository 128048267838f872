"""Training-step benchmark: steps/s and frames/s of each training path.

For a model preset (``listener_default`` by default, the bundled listener; ``cpu_default``,
the earlier CPU model) one optimiser step (forward, the five losses, backward, AdamW) is timed
on random inputs of the training shape (batch B, crop T frames, M samples, the appropriate
set K = 4), through each path :func:`reactface_ros.train.loop.batch_loss` can take:

* ``autoregressive``: window by window on the model's own history (the generation path);
* ``own_history``: scheduled sampling in one parallel pass (a no-grad autoregressive pass makes
  the history, then all windows in parallel with gradients);
* ``teacher_forced``: all windows in parallel from the real listener's history.

Frames/s counts generated frames (B x M x T) per second of step time. ``torch`` uses
``--threads`` threads (2 by default, the target machine) and the process is pinned to that many
cores where the OS allows. Prints a table and, with ``--json``, the figures as JSON. Usage::

    python benchmarks/bench_train.py [--preset listener_default] [--batch 8] [--frames 200]
        [--samples 4] [--steps 5] [--threads 2] [--device cpu] [--json out.json]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

PATHS = ("autoregressive", "own_history", "teacher_forced")


def _batch(b: int, t: int, k: int, device, rng: np.random.Generator) -> dict:
    import torch

    from reactface_ros.model.reactface import neutral_face

    face = rng.random((b, t, 59)).astype(np.float32)
    face[..., 58] = 1.0

    def reactions(*shape):
        r = np.repeat(neutral_face()[None], int(np.prod(shape)) * t, 0).reshape(*shape, t, 58)
        r[..., :52] += 0.3 * rng.random(r[..., :52].shape)
        return torch.from_numpy(r.astype(np.float32)).to(device)

    return {"speaker_audio": torch.from_numpy(
                (0.1 * rng.standard_normal((b, t * 640))).astype(np.float32)).to(device),
            "speaker_face": torch.from_numpy(face).to(device),
            "speaker_3dmm": reactions(b), "listener_3dmm": reactions(b),
            "appropriate_listener_3dmm": reactions(b, k),
            "appropriate_mask": torch.ones(b, k, dtype=torch.bool, device=device)}


def measure(preset: str, batch: int, frames: int, samples: int, steps: int,
            device: str) -> list[dict]:
    """Median step time of each path; returns one dict per path."""
    import torch

    from reactface_ros.train import TrainConfig
    from reactface_ros.train.loop import batch_loss, build_model

    cfg = TrainConfig(model_preset=preset, model={"dropout": 0.0}, batch_size=batch,
                      clip_length=frames, num_samples=samples,
                      appropriate_matching="wta" if preset == "listener_default" else "sample",
                      diversity_sigma=100.0, progress=False, tensorboard=False)
    mc = cfg.model_config()
    model = build_model(cfg, np.asarray(_mean_face(), np.float32),
                        np.full(58, 0.1, np.float32) if mc.normalisation == "standard" else None,
                        np.full(58, 0.05, np.float32) if mc.output == "anchored" else None)
    model.to(device).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    rng = np.random.default_rng(0)
    data = _batch(batch, frames, 4, device, rng)
    out = []
    for path in PATHS:
        times = []
        for i in range(steps + 1):
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            terms = batch_loss(model, model, data, cfg, teacher_forced=path == "teacher_forced",
                               own_history=path == "own_history")
            opt.zero_grad(set_to_none=True)
            terms["total"].backward()
            opt.step()
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            if i:                      # the first step warms up allocators and caches
                times.append(time.perf_counter() - t0)
        step = float(np.median(times))
        out.append({"preset": preset, "path": path, "batch": batch, "frames": frames,
                    "samples": samples, "step_s": step, "steps_per_s": 1.0 / step,
                    "frames_per_s": batch * samples * frames / step})
    return out


def _mean_face():
    from reactface_ros.model.reactface import neutral_face

    return neutral_face()


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its table."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--preset", default="listener_default",
                    choices=("listener_default", "cpu_default", "paper"))
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--frames", type=int, default=200)
    ap.add_argument("--samples", type=int, default=4)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--json", default=None, help="also write the figures to this JSON file")
    args = ap.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    if hasattr(os, "sched_setaffinity") and args.device == "cpu":
        cores = sorted(os.sched_getaffinity(0))[:args.threads]
        os.sched_setaffinity(0, cores)
    rows = measure(args.preset, args.batch, args.frames, args.samples, args.steps, args.device)
    base = next(r for r in rows if r["path"] == "autoregressive")["step_s"]
    print(f"training step, preset {args.preset}, B={args.batch} T={args.frames} "
          f"M={args.samples}, {args.threads} threads, {args.device}")
    print(f"{'path':<16}{'s/step':>9}{'steps/s':>9}{'frames/s':>10}{'vs AR':>8}")
    for r in rows:
        print(f"{r['path']:<16}{r['step_s']:9.3f}{r['steps_per_s']:9.2f}"
              f"{r['frames_per_s']:10.0f}{base / r['step_s']:7.1f}x")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
