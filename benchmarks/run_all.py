#!/usr/bin/env python3
"""Run every benchmark script with its default settings and print their figures.

``make bench`` runs this. Each script is its own process (fresh memory figures); the whole run
takes tens of minutes on 2 cores because the streaming benchmark plays real 60-minute
sessions. Pass script names to run only some: ``run_all.py bench_render bench_metrics``.
"""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCRIPTS = ("bench_render", "bench_face_analysis", "bench_generate", "bench_offline",
           "bench_streaming", "bench_metrics", "bench_train", "bench_graph")


def main(argv: list[str]) -> int:
    """Run the chosen benchmarks in order; exit non-zero if any failed."""
    chosen = argv or list(SCRIPTS)
    unknown = [name for name in chosen if name not in SCRIPTS]
    if unknown:
        print(f"unknown benchmark(s) {unknown}; choose from {', '.join(SCRIPTS)}")
        return 2
    failed = []
    for name in chosen:
        print(f"\n=== {name} ===", flush=True)
        t0 = time.monotonic()
        code = subprocess.call([sys.executable, str(HERE / f"{name}.py")])
        print(f"=== {name}: exit {code}, {time.monotonic() - t0:.0f} s", flush=True)
        if code:
            failed.append(name)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
