"""Atomic file outputs: a file is either the old one or the complete new one, never half.

Every output of the command line (videos, ``.npy`` reactions, summaries, checkpoints, repaired
bags) is written to a temporary file next to its destination and renamed over it only when it
is complete (``os.replace`` is atomic on one file system). An interrupted write (an error,
Ctrl-C, SIGTERM) leaves the previous file untouched; the temporary file is removed (after a
SIGKILL it may remain, named ``.<name>.partial-<pid><suffix>``).
"""
from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
from pathlib import Path
from typing import Iterator


def partial_path(path: str | Path) -> Path:
    """The temporary name used while ``path`` is written (same folder and suffix)."""
    path = Path(path)
    return path.with_name(f".{path.stem}.partial-{os.getpid()}{path.suffix}")


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path to write; on success it replaces ``path`` atomically.

    The temporary file keeps ``path``'s suffix (writers that pick the format from it still
    work). On any exception it is removed and ``path`` is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = partial_path(path)
    try:
        yield tmp
        if not tmp.exists():
            raise FileNotFoundError(f"nothing was written for {path}")
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` atomically."""
    return write_bytes(path, text.encode())


def write_json(path: str | Path, obj, indent: int = 2) -> Path:
    """Write ``obj`` as JSON to ``path`` atomically."""
    return write_text(path, json.dumps(obj, indent=indent))


def save_npy(path: str | Path, array) -> Path:
    """``numpy.save`` to exactly ``path`` (no ``.npy`` appended), atomically."""
    import numpy as np

    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.save(f, array)
    return Path(path)


def terminate_as_exit() -> None:
    """Turn SIGTERM into ``SystemExit(143)`` in the main thread.

    ``finally`` blocks (and :func:`atomic_path`'s clean-up) then run when a command is
    terminated.
    """
    import threading

    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
