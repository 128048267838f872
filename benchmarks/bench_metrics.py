"""Time to score a synthetic REACT test split with :mod:`reactface_ros.metrics`.

Default size: the full test split, N = 1600 speaker clips, M = 10 reactions each, T = 750
frames, D = 25 emotion features, N_L = 1600 listener reactions, on 2 threads. Every metric runs
on the full split except FRDist, whose cost is linear in the number of appropriate
(speaker, sample, listener) triples: it runs on the first ``--dist-speakers`` speakers and is
extrapolated linearly to all of them (printed as such).

The neighbour matrix gives each speaker ``--neighbours`` appropriate listener reactions
(the real REACT matrices vary; FRDist time scales with their row sums).
"""
from __future__ import annotations

import argparse
import os
import resource
import time

import numpy as np

from reactface_ros.metrics import fr_corr, fr_dist, fr_div, fr_dvs, fr_syn, fr_var


def _timed(label: str, fn, *args, **kwargs):
    start = time.perf_counter()
    value = fn(*args, **kwargs)
    elapsed = time.perf_counter() - start
    print(f"{label:34s} {elapsed:9.2f} s   value {value:.5g}", flush=True)
    return value, elapsed


def main(argv: list[str] | None = None) -> int:
    """Build the synthetic split, score it, print one line per metric and the total."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--speakers", type=int, default=1600)
    parser.add_argument("--samples", type=int, default=10)
    parser.add_argument("--frames", type=int, default=750)
    parser.add_argument("--neighbours", type=int, default=4,
                        help="appropriate listener reactions per speaker")
    parser.add_argument("--dist-speakers", type=int, default=16,
                        help="speakers FRDist is timed on (then extrapolated)")
    parser.add_argument("--workers", type=int, default=2, help="DTW threads")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    n, m, t, d = args.speakers, args.samples, args.frames, 25
    rng = np.random.default_rng(args.seed)
    start = time.perf_counter()
    pred = rng.random((n, m, t, d), dtype=np.float32)
    listener = rng.random((n, t, d), dtype=np.float32)
    speaker = rng.random((n, t, d), dtype=np.float32)
    neighbours = np.zeros((n, n), dtype=np.int8)
    for k in range(n):
        neighbours[k, rng.choice(n, size=min(n, args.neighbours), replace=False)] = 1
    print(f"synthetic split N={n} M={m} T={t} D={d} N_L={n}, {args.neighbours} appropriate "
          f"reactions per speaker, built in {time.perf_counter() - start:.1f} s; "
          f"{args.workers} DTW threads, {os.cpu_count()} CPUs visible")

    total = 0.0
    for label, fn, fargs, kwargs in (
            ("FRCorr (challenge)", fr_corr, (pred, listener, neighbours), {}),
            ("FRDiv", fr_div, (pred,), {}),
            ("FRDvs", fr_dvs, (pred,), {}),
            ("FRVar", fr_var, (pred,), {}),
            ("FRSyn (all samples)", fr_syn, (pred, speaker), {}),
            ("FRSyn (first sample, official)", fr_syn, (pred, speaker),
             {"first_sample_only": True})):
        total += _timed(label, fn, *fargs, **kwargs)[1]

    part = max(1, min(n, args.dist_speakers))
    _, elapsed = _timed(f"FRDist (challenge), {part} speakers", fr_dist, pred[:part], listener,
                        neighbours[:part], workers=args.workers)
    triples = int(neighbours[:part].sum()) * m * 3
    full = elapsed * n / part
    print(f"  {triples} DTWs of {t}x{t} ({elapsed / triples * 1e3:.2f} ms each); "
          f"extrapolated to {n} speakers: {full:.0f} s")
    total += full
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"total for the split (FRDist extrapolated): {total:.0f} s = {total / 60:.1f} min; "
          f"peak RSS {peak_mb:.0f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
