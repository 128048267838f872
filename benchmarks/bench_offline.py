"""Batched offline generation: frames/s of ``ReactFace.generate`` over B speakers x M samples.

For each model config (the CPU default, the bundled listener's architecture, the paper's
wav2vec2-base + conv3d 224), weight dtype (float32, bfloat16) and batch size B, generates M
reactions to B random speaker clips of ``--seconds`` and prints

* listener frames/s: ``B * M * T`` generated frames per second of wall time;
* speaker frames/s: ``B * T`` (how many seconds of speaker video one second processes, x 25);
* peak memory: CUDA's ``max_memory_allocated`` on a GPU, the process's peak RSS on the CPU.

The paper reports 54.96 frames/s on an A100 including rendering; the issue's target for batched
offline generation on a GPU is at least 20x that. Models are random-init (speed does not
depend on the weights). Every case runs in this process one after another; the first call of
each case is an untimed warm-up. Usage::

    python benchmarks/bench_offline.py --device cuda [--configs cpu listener paper]
        [--batch 1 16 64] [--dtypes float32 bfloat16] [--seconds 30] [--samples 10] [--json F]

On the CPU the defaults are small (the bundled listener, B = 1 and 4, 10 s clips).
"""
from __future__ import annotations

import argparse
import json
import resource
import sys
import time

import numpy as np
import torch

from reactface_ros.constants import AUDIO_SAMPLE_RATE, CPU_INFERENCE_THREADS, FPS
from reactface_ros.model import ReactFace, ReactFaceConfig

CONFIGS = {"cpu": ReactFaceConfig.cpu_default, "listener": ReactFaceConfig.listener_default,
           "paper": ReactFaceConfig.paper}
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}


def speaker_inputs(config: ReactFaceConfig, batch: int, frames: int, seed: int = 0):
    """Random ``(B, N)`` audio and ``(B, T, 59)`` features or ``(B, T, 3, S, S)`` crops."""
    rng = np.random.default_rng(seed)
    audio = (0.1 * rng.standard_normal((batch, frames * AUDIO_SAMPLE_RATE // FPS))
             ).astype(np.float32)
    if config.face_encoder == "conv3d":
        s = config.crop_size
        face = rng.integers(0, 256, (batch, frames, 3, s, s), dtype=np.uint8)
    else:
        face = rng.random((batch, frames, config.face_feature_dim)).astype(np.float32)
        face[..., -1] = 1.0
    return audio, face


def _peak_memory_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2 ** 20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def run_case(name: str, dtype: str, batch: int, samples: int, seconds: float,
             device: torch.device) -> dict:
    """Time one ``generate`` call (after a short warm-up) and return its figures."""
    torch.manual_seed(0)
    model = ReactFace(CONFIGS[name]()).eval().to(device)
    if dtype != "float32":
        model = model.to(DTYPES[dtype])
    frames = int(round(seconds * FPS))
    warm_audio, warm_face = speaker_inputs(model.config, batch, 2 * model.config.window)
    audio, face = speaker_inputs(model.config, batch, frames)
    with torch.inference_mode():
        model.generate(warm_audio, warm_face, num_samples=samples)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
            torch.cuda.reset_peak_memory_stats(device)
        start = time.perf_counter()
        out = model.generate(audio, face, num_samples=samples)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        wall = time.perf_counter() - start
    if not torch.isfinite(out).all():
        raise RuntimeError(f"{name} {dtype} B={batch}: non-finite reactions")
    return {"config": name, "dtype": dtype, "batch": batch, "samples": samples,
            "seconds": seconds, "wall_s": wall,
            "listener_frames_per_s": batch * samples * frames / wall,
            "speaker_frames_per_s": batch * frames / wall,
            "peak_memory_mb": _peak_memory_mb(device)}


def main(argv: list[str] | None = None) -> int:
    """Print a table (and optionally JSON) of batched offline throughput."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--configs", nargs="+", choices=sorted(CONFIGS), default=None)
    ap.add_argument("--dtypes", nargs="+", choices=sorted(DTYPES), default=None)
    ap.add_argument("--batch", nargs="+", type=int, default=None)
    ap.add_argument("--samples", type=int, default=10, help="M")
    ap.add_argument("--seconds", type=float, default=None, help="speaker clip length")
    ap.add_argument("--threads", type=int, default=CPU_INFERENCE_THREADS,
                    help="torch CPU threads (0: torch's default)")
    ap.add_argument("--json", default=None, help="also write the results here")
    args = ap.parse_args(argv)
    device = torch.device(args.device)
    gpu = device.type == "cuda"
    if gpu and not torch.cuda.is_available():
        print("error: --device cuda but CUDA is not available", file=sys.stderr)
        return 2
    if args.threads:
        torch.set_num_threads(args.threads)
    configs = args.configs or (["cpu", "listener", "paper"] if gpu else ["listener"])
    dtypes = args.dtypes or ["float32", "bfloat16"]
    batches = args.batch or ([1, 16, 64] if gpu else [1, 4])
    seconds = args.seconds or (30.0 if gpu else 10.0)
    where = (torch.cuda.get_device_name(device) if gpu
             else f"CPU, {torch.get_num_threads()} thread(s)")
    print(f"batched offline generation on {where}, M = {args.samples}, {seconds:g} s clips")
    print(f"{'config':<9} {'dtype':<9} {'B':>4} {'wall s':>8} {'listener fr/s':>14} "
          f"{'speaker fr/s':>13} {'peak MB':>9}")
    results = []
    for name in configs:
        for dtype in dtypes:
            for batch in batches:
                r = run_case(name, dtype, batch, args.samples, seconds, device)
                results.append(r)
                print(f"{name:<9} {dtype:<9} {batch:>4} {r['wall_s']:8.2f} "
                      f"{r['listener_frames_per_s']:14.0f} {r['speaker_frames_per_s']:13.0f} "
                      f"{r['peak_memory_mb']:9.0f}", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"device": where, "results": results}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
