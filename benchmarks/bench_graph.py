#!/usr/bin/env python3
"""Benchmark the whole node graph: latency per node, frames per second, memory.

Runs the ``file`` graph of ``reactface demo`` (media_source -> face_analysis -> reaction ->
render, plus the MCAP recorder) as real ROS 2 nodes over DDS on loopback, on the bundled
speaker clip with the bundled weights at real-time rate, ``--repeat`` times. From each
recording it prints, per stage and measured from the speaker frame's capture stamp:

* ``face_features``: the face_analysis node published the frame's features;
* ``reaction``: the reaction node published the frame's selected reaction (this includes
  waiting for the rest of the w-frame window);
* ``listener_image``: the render node published the rendered listener;

as p50 / p95 / max, each node's share (difference of the p50s), the p95 of the first and
second half of the clip (does latency grow during a session?), frames answered / missing,
the reaction rate while streaming and the peak resident memory of the largest node process.

It also prints the CPU time each node process spends per speaker frame while the clip
streams (start-up excluded). ``--load N`` runs N busy processes beside the graph (a robot's
other software: 1 keeps one of two cores busy).

    python benchmarks/bench_graph.py [--samples 10] [--repeat 2] [--in-process] [--load 1]

The target of the README (2 CPU cores, M = 10): the reaction for speaker frame t is
published within w/25 s + 100 ms of its capture at p95.
"""
from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from cpu_load import busy_processes


def percentiles(values: np.ndarray) -> str:
    """``p50 / p95 / max`` in ms of latencies in seconds."""
    if values.size == 0:
        return "n/a"
    ms = values * 1000.0
    return (f"{np.percentile(ms, 50):7.1f} / {np.percentile(ms, 95):7.1f} / "
            f"{ms.max():7.1f}")


def one_run(args: argparse.Namespace, out: Path) -> dict:
    """Run the graph once on the bundled clip; per-stage latency arrays and facts."""
    from reactface_ros.commands import demo
    from reactface_ros.commands.bag_eval import (FACE_TOPIC, IMAGE_TOPIC, REACTION_TOPIC,
                                                 SAMPLES_TOPIC, read_session, session_arrays)

    video, checkpoint = demo.bundled_file(demo.SAMPLE_VIDEO), demo.bundled_checkpoint()
    graph_args = argparse.Namespace(samples=args.samples, seed=0, device=args.device,
                                    mode="realtime", in_process=args.in_process,
                                    timeout=args.timeout)
    t0 = time.monotonic()
    facts = demo.run_graph(video, checkpoint, out, graph_args)
    wall = time.monotonic() - t0
    session = read_session(facts["bag"], {"reaction": REACTION_TOPIC, "samples": SAMPLES_TOPIC,
                                          "face": FACE_TOPIC, "image": IMAGE_TOPIC})
    arrays = session_arrays(session)
    speaker_frames = {m.frame_index for _, m in session["face"]}
    answered = set(arrays["reaction_frames"].tolist()) & speaker_frames
    rate = demo.throughput(session, len(answered))
    return {"arrays": arrays, "wall_s": wall, "speaker_frames": len(speaker_frames),
            "cpu_ms_per_frame": facts.get("cpu_ms_per_frame", {}),
            "answered": len(answered), "missing": len(speaker_frames) - len(answered),
            "rate": float("nan") if rate is None else rate}


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=10, help="reactions M (default 10)")
    parser.add_argument("--repeat", type=int, default=2, help="graph runs (default 2)")
    parser.add_argument("--device", default="cpu", help="reaction node device (default cpu)")
    parser.add_argument("--in-process", action="store_true",
                        help="all nodes in this process (default: one process per node)")
    parser.add_argument("--timeout", type=float, default=300.0, help="per run, seconds")
    parser.add_argument("--load", type=int, default=0,
                        help="busy processes running beside the graph (a robot's other "
                             "software); 1 keeps one of two cores busy")
    parser.add_argument("--json", default=None, help="also write the figures here")
    args = parser.parse_args(argv)

    from reactface_ros.commands import demo
    from reactface_ros.constants import FPS
    from reactface_ros.model.checkpoint import read_config

    window = read_config(demo.bundled_checkpoint()).window
    budget = window / FPS + 0.1
    print(f"graph benchmark: bundled clip and weights, M = {args.samples}, w = {window}, "
          f"{'in-process' if args.in_process else 'one process per node'}, "
          f"device {args.device}, {args.load} busy process(es) beside it; "
          f"budget w/25 s + 100 ms = {budget * 1000:.0f} ms (p95)")
    report = []
    stages = (("face_features", "face_latency_s"), ("reaction", "reaction_latency_s"),
              ("listener_image", "image_latency_s"))
    for run in range(args.repeat):
        with tempfile.TemporaryDirectory() as tmp, busy_processes(args.load):
            try:
                r = one_run(args, Path(tmp))
            except (TimeoutError, RuntimeError) as exc:
                print(f"run {run + 1}: failed: {exc}")
                return 1
        a = r["arrays"]
        print(f"\nrun {run + 1}: {r['answered']}/{r['speaker_frames']} speaker frames "
              f"answered ({r['missing']} missing), {r['rate']:.1f} reaction frames/s while "
              f"streaming, graph wall {r['wall_s']:.1f} s (start-up included)")
        print(f"  {'stage (from capture)':<22}{'p50 / p95 / max (ms)':>27}   node share p50"
              f"   p95 1st half / 2nd half")
        previous = 0.0
        for stage, key in stages:
            lat = a[key]
            if lat.size == 0:
                print(f"  {stage:<22}{'no messages':>27}")
                continue
            p50 = float(np.percentile(lat, 50))
            half = lat.size // 2
            halves = (f"{np.percentile(lat[:half], 95) * 1000:7.1f} / "
                      f"{np.percentile(lat[half:], 95) * 1000:7.1f}" if half else "n/a")
            print(f"  {stage:<22}{percentiles(lat):>27}   {(p50 - previous) * 1000:10.1f} ms"
                  f"   {halves}")
            previous = p50
        lat = a["reaction_latency_s"]
        if lat.size:
            p95 = float(np.percentile(lat, 95))
            print(f"  reaction p95 {p95 * 1000:.0f} ms vs budget {budget * 1000:.0f} ms: "
                  f"{'within' if p95 <= budget else 'OVER'}")
        cpu = r["cpu_ms_per_frame"]
        if cpu:
            print("  CPU per speaker frame while streaming (ms, start-up excluded): "
                  + ", ".join(f"{k} {v:.1f}" for k, v in sorted(cpu.items(), key=lambda kv: -kv[1]))
                  + f"; total {sum(cpu.values()):.1f} of the {1000 / FPS:.0f} ms a frame lasts")
        report.append({"run": run + 1, "answered": r["answered"],
                       "speaker_frames": r["speaker_frames"], "cpu_ms_per_frame": cpu,
                       **{f"{stage}_ms": {q: float(np.percentile(a[key], q) * 1000)
                                          for q in (50, 95)} if a[key].size else None
                          for stage, key in stages}})
    if args.json:
        Path(args.json).write_text(json.dumps({"load": args.load, "samples": args.samples,
                                               "runs": report}, indent=2) + "\n")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    self_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if args.in_process:
        print(f"\npeak resident memory of this process (all nodes): {self_peak:.0f} MiB")
    else:
        print(f"\npeak resident memory of the largest node process: {peak:.0f} MiB "
              f"(this process: {self_peak:.0f} MiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
