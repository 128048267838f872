"""Streaming benchmark: per-window latency, frames/s and peak memory vs session length.

For the CPU default (logmel + blendshapes), the bundled listener and the paper config
(wav2vec2-base size + conv3d 224), with ``--threads`` torch CPU threads (default 1, what the
reaction node uses; each case pinned to two CPU cores where the OS allows with ``--jobs``),
M = 1 and M = 10, at session lengths 1, 10 and 60 minutes, optionally beside ``--load`` busy
processes (a robot's other software). It prints wall latency per window and the CPU time a
window costs (all threads together). Every case runs in its own
process so peak RSS is its own. Models are random-init (latency does not depend on the weights).

Latency of a window = wall time of the ``push_audio`` + eight ``push_face`` calls that complete
it (resampling, encoding, generation). Two ways to reach a session length:

* ``full``: every window of the session is generated; latency is reported over the last
  ``--measure`` windows (late in the session).
* ``skip``: ``--warmup`` windows are generated (enough to fill every bounded buffer to its
  final size), then the stream's frame counter and clock are advanced to the session length
  without generating the skipped windows, and the next ``--measure`` windows are timed. The
  state is the same size as after a real session of that length (every buffer is full), only
  the absolute frame indices differ, which the model only uses as differences.

By default the CPU config runs ``full`` and the paper config ``skip`` (a full 60-minute
paper-config session on two cores would take hours). Usage::

    python benchmarks/bench_streaming.py [--configs cpu listener paper] [--samples 1 10]
        [--minutes 1 10 60] [--jobs 4] [--device cpu]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from cpu_load import busy_processes
from reactface_ros.constants import CPU_INFERENCE_THREADS

WINDOWS_PER_MINUTE = 60 * 25 / 8


def _make_model(name: str, device: str):
    import torch

    from reactface_ros.model import ReactFace, ReactFaceConfig

    torch.manual_seed(0)
    cfg = {"cpu": ReactFaceConfig.cpu_default, "listener": ReactFaceConfig.listener_default,
           "paper": ReactFaceConfig.paper}[name]()
    return ReactFace(cfg).eval().to(device)


def _window_inputs(cfg, rng: np.random.Generator, count: int = 8) -> list:
    """A small pool of per-window inputs, cycled (no allocation grows with the session)."""
    pool = []
    for _ in range(count):
        audio = (0.1 * rng.standard_normal(8 * 640)).astype(np.float32)
        if cfg.face_encoder == "conv3d":
            s = cfg.crop_size
            faces = rng.integers(0, 256, (8, s, s, 3), dtype=np.uint8)
        else:
            faces = rng.random((8, 59)).astype(np.float32)
            faces[:, 58] = 1.0
        pool.append((audio, faces))
    return pool


def run_case(config: str, samples: int, minutes: float, mode: str, warmup: int,
             measure: int, device: str, threads: int = CPU_INFERENCE_THREADS) -> dict:
    """Run one case in this process and return its figures."""
    import torch

    from reactface_ros.streaming import ReactionStream, set_cpu_threads

    threads = set_cpu_threads(threads)
    model = _make_model(config, device)
    cfg = model.config
    stream = ReactionStream(model, num_samples=samples, seed=0, device=device)
    pool = _window_inputs(cfg, np.random.default_rng(0))
    total = int(round(minutes * WINDOWS_PER_MINUTE))
    w = cfg.window
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)

    cpu_times: list[float] = []

    def step(index: int) -> float:
        audio, faces = pool[index % len(pool)]
        c0 = time.process_time()
        t0 = time.perf_counter()
        got = stream.push_audio(audio, 16000, index * w / 25)
        for i in range(w):
            got += stream.push_face(faces[i], (index * w + i) / 25)
        sync()
        dt = time.perf_counter() - t0
        cpu_times.append(time.process_time() - c0)
        assert len(got) == 1 and got[0].start_frame == index * w
        return dt

    latencies, index = [], 0
    t_start = time.perf_counter()
    if mode == "full":
        for index in range(total):
            dt = step(index)
            if index >= total - measure:
                latencies.append(dt)
    else:
        for index in range(warmup):
            step(index)
        target = max(warmup, total - measure)
        skipped = target - warmup
        # advance the frame counter and the audio clock as if `skipped` windows had been
        # generated (every buffer is already at its bound after the warm-up)
        stream.state.next_frame += skipped * w
        stream._audio_written += skipped * w * 640
        for index in range(target, target + measure):
            latencies.append(step(index))
    wall = time.perf_counter() - t_start
    lat = np.array(latencies) * 1000.0
    cpu_ms = np.array(cpu_times[-len(latencies):]) * 1000.0
    rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"config": config, "M": samples, "minutes": minutes, "mode": mode,
            "threads": threads, "cpu_ms_per_window": float(np.median(cpu_ms)),
            "windows_timed": len(lat), "p50_ms": float(np.percentile(lat, 50)),
            "p95_ms": float(np.percentile(lat, 95)),
            "frames_per_s": float(w * len(lat) / (lat.sum() / 1000.0)),
            "peak_rss_mb": rss_kb / 1024.0, "wall_s": wall,
            "buffers": {k: list(v) for k, v in stream.buffer_sizes().items()}}


def _child(args: argparse.Namespace) -> None:
    if args.cpus and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {int(c) for c in args.cpus.split(",")})
    out = run_case(args.case_config, args.case_samples, args.case_minutes, args.case_mode,
                   args.warmup, args.measure, args.device, args.case_threads)
    print("RESULT " + json.dumps(out))


def main() -> None:
    """Run every case in a subprocess and print the table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--configs", nargs="+", default=["cpu", "paper"],
                    choices=["cpu", "listener", "paper"],
                    help="cpu: cpu_default, listener: listener_default (the bundled model), "
                         "paper")
    ap.add_argument("--samples", nargs="+", type=int, default=[1, 10])
    ap.add_argument("--minutes", nargs="+", type=float, default=[1, 10, 60])
    ap.add_argument("--cpu-mode", choices=["full", "skip"], default="full")
    ap.add_argument("--paper-mode", choices=["full", "skip"], default="skip")
    ap.add_argument("--warmup", type=int, default=12)
    ap.add_argument("--measure", type=int, default=100)
    ap.add_argument("--paper-measure", type=int, default=20)
    ap.add_argument("--jobs", type=int, default=1, help="cases run in parallel, each pinned "
                    "to its own two cores (needs 2 * jobs cores)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", nargs="+", type=int, default=[CPU_INFERENCE_THREADS],
                    help="torch CPU threads per case (default 1, what the reaction node and "
                         "generate use; 0: torch's default, one per core)")
    ap.add_argument("--load", type=int, default=0,
                    help="busy processes running beside the cases (a robot's other "
                         "software); e.g. 1 keeps one of two cores busy")
    ap.add_argument("--json", default=None, help="also write the results here")
    ap.add_argument("--case-config", help=argparse.SUPPRESS)
    ap.add_argument("--case-samples", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--case-minutes", type=float, help=argparse.SUPPRESS)
    ap.add_argument("--case-mode", help=argparse.SUPPRESS)
    ap.add_argument("--case-threads", type=int, default=CPU_INFERENCE_THREADS,
                    help=argparse.SUPPRESS)
    ap.add_argument("--cpus", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.case_config:
        _child(args)
        return
    cases = [(c, m, t, n) for c in args.configs for m in args.samples for t in args.minutes
             for n in args.threads]
    # longest first so parallel jobs finish together
    cases.sort(key=lambda x: (x[0] != "paper" and args.cpu_mode == "full") * x[1] * x[2],
               reverse=True)
    free_pairs = [f"{2 * i},{2 * i + 1}" for i in range(args.jobs)]

    def launch(case: tuple[str, int, float, int]) -> dict:
        config, samples, minutes, threads = case
        pair = free_pairs.pop()
        mode = args.paper_mode if config == "paper" else args.cpu_mode
        measure = args.paper_measure if config == "paper" else args.measure
        cmd = [sys.executable, __file__, "--case-config", config, "--case-samples",
               str(samples), "--case-minutes", str(minutes), "--case-mode", mode,
               "--warmup", str(args.warmup), "--measure", str(measure),
               "--device", args.device, "--case-threads", str(threads)]
        if args.jobs > 1:
            cmd += ["--cpus", pair]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True)
        finally:
            free_pairs.append(pair)
        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
        if proc.returncode or not lines:
            print(f"  FAILED {case}:\n{proc.stdout[-2000:]}{proc.stderr[-3000:]}", flush=True)
            return {}
        res = json.loads(lines[-1][len("RESULT "):])
        print(f"  done {config} M={samples} {minutes:g} min threads={threads} "
              f"({res['wall_s']:.0f} s)", flush=True)
        return res

    with busy_processes(args.load), ThreadPoolExecutor(max_workers=args.jobs) as pool:
        results = [r for r in pool.map(launch, cases) if r]
    results.sort(key=lambda r: (r["config"], r["M"], r["minutes"], r["threads"]))
    print(f"\ndevice={args.device}, {args.load} busy process(es) beside the cases; cpu ms = "
          "CPU time of one window (all threads), p50")
    header = (f"{'config':<8} {'M':>3} {'session':>8} {'mode':>5} {'thr':>4} {'timed':>6} "
              f"{'p50 ms':>8} {'p95 ms':>8} {'cpu ms':>7} {'frames/s':>9} {'peak RSS MB':>12}")
    print(header)
    print("-" * len(header))
    for r in results:
        print(f"{r['config']:<8} {r['M']:>3} {r['minutes']:>6g} m {r['mode']:>5} "
              f"{r['threads']:>4} {r['windows_timed']:>6d} {r['p50_ms']:>8.1f} "
              f"{r['p95_ms']:>8.1f} {r['cpu_ms_per_window']:>7.1f} {r['frames_per_s']:>9.0f} "
              f"{r['peak_rss_mb']:>12.0f}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=2)


if __name__ == "__main__":
    main()
