"""Busy processes that stand in for a robot's other software during a benchmark.

``with busy_processes(n):`` starts ``n`` Python processes that spin on one core each until the
block ends (each also ends by itself after ``limit_s``, so an interrupted benchmark leaves
nothing behind).
"""
from __future__ import annotations

import contextlib
import subprocess
import sys
from typing import Iterator

_SPIN = "import time\nend = time.monotonic() + {limit}\nwhile time.monotonic() < end: pass\n"


@contextlib.contextmanager
def busy_processes(n: int, limit_s: float = 3600.0) -> Iterator[list[subprocess.Popen]]:
    """Run ``n`` busy-looping processes for the duration of the block."""
    procs = [subprocess.Popen([sys.executable, "-c", _SPIN.format(limit=limit_s)])
             for _ in range(max(0, n))]
    try:
        yield procs
    finally:
        for proc in procs:
            proc.kill()
        for proc in procs:
            proc.wait()
