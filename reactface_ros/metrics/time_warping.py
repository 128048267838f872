"""Dynamic time warping, vectorised over many sequence pairs at once.

The distance is unconstrained DTW with a squared-Euclidean local cost and the square root of
the optimal total, i.e. what ``tslearn.metrics.dtw`` returns and what both REACT metric code
bases call:

``D[i, j] = c(i, j) + min(D[i-1, j-1], D[i-1, j], D[i, j-1])``, ``c(i, j) = ||a_i - b_j||^2``,
``dtw(a, b) = sqrt(D[n-1, m-1])``.

How it is vectorised. Cells on one anti-diagonal ``i + j = s`` depend only on the two previous
anti-diagonals, so each of the ``n + m - 1`` steps updates a whole anti-diagonal of a whole
batch of pairs with three NumPy ufunc calls. The cost matrices of a batch are built with one
BLAS product per row block (``|a|^2 + |b|^2 - 2 a.b``) in an ``(n, m, B)``
layout, in which an anti-diagonal is a strided view of ``B``-long contiguous rows. Only three
anti-diagonals of ``D`` are ever stored. Batches run in threads (NumPy releases the GIL).

Precision: the expanded local cost differs from direct summation by about 1e-16 relative per
cell; the final square root can turn that into ~1e-8 absolute for near-zero distances.
"""
from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from numpy.lib.stride_tricks import as_strided

from reactface_ros.metrics._checks import as_array

#: Default number of sequence pairs per vectorised batch.
DEFAULT_BATCH_SIZE = 32
_ROW_BLOCK = 32


def default_workers() -> int:
    """Threads used when ``workers`` is ``None``: the CPUs this process may run on (max 8)."""
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # not available on every platform
        n = os.cpu_count() or 1
    return max(1, min(8, n))


def _batch_cost(a: np.ndarray, b: np.ndarray, out: np.ndarray) -> None:
    """Squared-Euclidean cost matrices of a batch, written as ``out[i, j, k]``.

    ``a``: ``(B, n, d)``, ``b``: ``(B, m, d)``, ``out``: ``(n, m, B)`` float64. One product of
    augmented vectors ``[a, |a|^2, 1] . [-2 b, 1, |b|^2]`` gives the cost directly; row blocks
    keep each product small (single-threaded BLAS, cache-resident transposition).
    """
    batch, n, _ = a.shape
    m = b.shape[1]
    a_aug = np.concatenate([a, np.einsum("bnd,bnd->bn", a, a)[..., None],
                            np.ones((batch, n, 1))], axis=-1)
    b_aug = np.concatenate([-2.0 * b, np.ones((batch, m, 1)),
                            np.einsum("bmd,bmd->bm", b, b)[..., None]], axis=-1)
    b_aug = b_aug.transpose(0, 2, 1)
    for r0 in range(0, n, _ROW_BLOCK):
        r1 = min(n, r0 + _ROW_BLOCK)
        out[r0:r1] = np.matmul(a_aug[:, r0:r1], b_aug).transpose(1, 2, 0)


def _accumulate(cost: np.ndarray) -> np.ndarray:
    """Optimal accumulated cost ``D[n-1, m-1]`` of each matrix in an ``(n, m, B)`` stack."""
    n, m, batch = cost.shape
    item = cost.itemsize
    # skew[s, i] = cost[i, s - i]: one strided view, so that anti-diagonal s is a plain slice.
    # Entries with s - i outside [0, m) alias other memory and are never read.
    skew = as_strided(cost, shape=(n + m - 1, n, batch),
                      strides=(batch * item, (m - 1) * batch * item, item), writeable=False)
    # bufs[s % 3][i + 1] = D[i, s - i]; position 0 stands for row -1 (always +inf, except a
    # 0 that seeds D[0, 0] = c(0, 0)).
    bufs = np.full((3, n + 1, batch), np.inf)
    bufs[1, 0] = 0.0
    tmp = np.empty((min(n, m), batch))
    for s in range(n + m - 1):
        lo, hi = max(0, s - m + 1), min(s, n - 1)
        length = hi - lo + 1
        diag = skew[s, lo:hi + 1]
        cur, prev1, prev2 = bufs[s % 3], bufs[(s - 1) % 3], bufs[(s - 2) % 3]
        t = tmp[:length]
        np.minimum(prev2[lo:hi + 1], prev1[lo:hi + 1], out=t)
        np.minimum(t, prev1[lo + 1:hi + 2], out=t)
        np.add(t, diag, out=cur[lo + 1:hi + 2])
        if s == 0:
            bufs[1, 0] = np.inf
    return bufs[(n + m - 2) % 3][n].copy()


def _run_batch(x, y, ix, iy, batch_size, cost: np.ndarray) -> np.ndarray:
    count = len(ix)
    if count < batch_size:  # pad with the last pair so the buffer layout stays fixed
        ix = np.concatenate([ix, np.repeat(ix[-1:], batch_size - count)])
        iy = np.concatenate([iy, np.repeat(iy[-1:], batch_size - count)])
    a = np.asarray(x[ix], dtype=np.float64)
    b = np.asarray(y[iy], dtype=np.float64)
    _batch_cost(a, b, cost)
    # Rounding of the expanded cost can leave a total of about -1e-15 for identical inputs.
    return np.sqrt(np.maximum(_accumulate(cost)[:count], 0.0))


def dtw_pairs(x, y, index_x, index_y, batch_size: int = DEFAULT_BATCH_SIZE,
              workers: int | None = None) -> np.ndarray:
    """DTW distances of many pairs ``(x[index_x[p]], y[index_y[p]])``.

    Parameters
    ----------
    x : np.ndarray
        ``(P_x, n, d)`` sequences.
    y : np.ndarray
        ``(P_y, m, d)`` sequences.
    index_x, index_y : np.ndarray
        ``(P,)`` integer indices into ``x`` and ``y``.
    batch_size : int
        Pairs per vectorised batch (each thread holds an ``n * m * batch_size`` float64 cost
        buffer: 144 MB at 750 x 750 x 32).
    workers : int, optional
        Threads; ``None`` uses :func:`default_workers`.

    Returns
    -------
    np.ndarray
        ``(P,)`` float64 DTW distances.
    """
    x = as_array(x, "x", "(P_x, n, d)", 3)
    y = as_array(y, "y", "(P_y, m, d)", 3)
    if x.shape[2] != y.shape[2]:
        raise ValueError(f"x and y must have the same feature size d, got {x.shape[2]} and "
                         f"{y.shape[2]}")
    index_x = np.asarray(index_x, dtype=np.int64).reshape(-1)
    index_y = np.asarray(index_y, dtype=np.int64).reshape(-1)
    if index_x.shape != index_y.shape:
        raise ValueError(f"index_x and index_y must have the same length, got "
                         f"{index_x.size} and {index_y.size}")
    for name, idx, size in (("index_x", index_x, x.shape[0]), ("index_y", index_y, y.shape[0])):
        if idx.size and (idx.min() < 0 or idx.max() >= size):
            raise ValueError(f"{name} must be in [0, {size}), got values in "
                             f"[{idx.min()}, {idx.max()}]")
    if int(batch_size) < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    batch_size = int(batch_size)
    out = np.empty(index_x.size, dtype=np.float64)
    if index_x.size == 0:
        return out
    starts = list(range(0, index_x.size, batch_size))
    workers = default_workers() if workers is None else int(workers)
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")

    # One reusable cost buffer per thread, for this call only (re-allocating it per batch
    # would page-fault ~n * m * batch_size * 8 bytes each time).
    buffers: dict[int, np.ndarray] = {}

    def job(start: int) -> None:
        cost = buffers.get(threading.get_ident())
        if cost is None:
            cost = np.empty((x.shape[1], y.shape[1], batch_size))
            buffers[threading.get_ident()] = cost
        stop = min(start + batch_size, index_x.size)
        out[start:stop] = _run_batch(x, y, index_x[start:stop], index_y[start:stop],
                                     batch_size, cost)

    if workers == 1 or len(starts) == 1:
        for start in starts:
            job(start)
    else:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            list(pool.map(job, starts))
    return out


def dtw(a, b) -> float:
    """DTW distance of two sequences (``tslearn.metrics.dtw`` semantics).

    Parameters
    ----------
    a : np.ndarray
        ``(n, d)`` or ``(n,)`` sequence.
    b : np.ndarray
        ``(m, d)`` or ``(m,)`` sequence.

    Returns
    -------
    float
        ``sqrt`` of the minimal summed squared-Euclidean cost over all warping paths.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    a = a[:, None] if a.ndim == 1 else a
    b = b[:, None] if b.ndim == 1 else b
    a = as_array(a, "a", "(n, d)", 2)
    b = as_array(b, "b", "(m, d)", 2)
    return float(dtw_pairs(a[None], b[None], [0], [0], batch_size=1, workers=1)[0])
