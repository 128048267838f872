"""Diversity metrics: FRDiv (inter-sample), FRDvs (inter-condition), FRVar (inter-frame).

Both REACT code bases compute them the same way (and on whatever features they are given):

* FRDiv (S-MSE): per speaker ``k``, the mean over ordered pairs ``i != i'`` of
  ``MSE(pred[k, i], pred[k, i'])`` (MSE over all ``T * D`` values); then the mean over ``k``.
  0 when ``M = 1``.
* FRDvs: the mean over samples ``i`` and ordered pairs ``k != l`` of
  ``MSE(pred[k, i], pred[l, i])``. 0 when ``N = 1`` (the original divides by zero).
* FRVar: the variance over time (ddof = 1), averaged over ``N``, ``M`` and ``D``.

The pair sums use ``sum_{i != i'} ||x_i - x_i'||^2 = 2 M sum_i ||x_i - mean||^2`` (exact, and
numerically better than the original's ``cdist``), in float64, chunked to bound memory.
"""
from __future__ import annotations

import numpy as np

from reactface_ros.metrics._checks import check_pred

#: Values converted to float64 at a time (bounds the working memory to ~256 MB).
_CHUNK_VALUES = 32_000_000


def _chunks(total: int, per_item: int):
    step = max(1, _CHUNK_VALUES // max(1, per_item))
    for start in range(0, total, step):
        yield start, min(total, start + step)


def fr_div(pred) -> float:
    """Inter-sample diversity (FRDiv, S-MSE) among the ``M`` reactions for the same speaker.

    Parameters
    ----------
    pred : np.ndarray
        ``(N, M, T, D)`` generated reactions.

    Returns
    -------
    float
        Higher is more diverse; 0 when ``M = 1``.
    """
    pred = check_pred(pred)
    n, m, t, d = pred.shape
    if m == 1:
        return 0.0
    total = 0.0
    for s, e in _chunks(n, m * t * d):
        x = np.asarray(pred[s:e], dtype=np.float64)
        dev = x - x.mean(axis=1, keepdims=True)
        total += float(np.einsum("nmtd,nmtd->", dev, dev))
    # sum_k sum_{i != i'} ||.||^2 = 2 M sum_k sum_i ||x - mean||^2, over M (M - 1) T D pairs.
    return 2.0 * m * total / (m * (m - 1) * t * d) / n


def fr_dvs(pred) -> float:
    """Inter-condition diversity (FRDvs) of reactions across speakers (same sample index).

    Parameters
    ----------
    pred : np.ndarray
        ``(N, M, T, D)`` generated reactions.

    Returns
    -------
    float
        Higher is more diverse; 0 when ``N = 1``.
    """
    pred = check_pred(pred)
    n, m, t, d = pred.shape
    if n == 1:
        return 0.0
    mean = np.zeros((m, t, d))
    for s, e in _chunks(n, m * t * d):
        mean += np.asarray(pred[s:e], dtype=np.float64).sum(axis=0)
    mean /= n
    total = 0.0
    for s, e in _chunks(n, m * t * d):
        dev = np.asarray(pred[s:e], dtype=np.float64) - mean
        total += float(np.einsum("nmtd,nmtd->", dev, dev))
    return 2.0 * n * total / (n * (n - 1) * m * t * d)


def fr_var(pred) -> float:
    """Inter-frame variation (FRVar) of each generated reaction.

    Parameters
    ----------
    pred : np.ndarray
        ``(N, M, T, D)`` generated reactions, ``T >= 2``.

    Returns
    -------
    float
        Variance over time (ddof = 1) averaged over ``N``, ``M`` and ``D``.
    """
    pred = check_pred(pred)
    n, m, t, d = pred.shape
    if t < 2:
        raise ValueError(f"fr_var needs at least 2 frames (variance with ddof=1), got T = {t}")
    total = 0.0
    for s, e in _chunks(n, m * t * d):
        total += float(np.asarray(pred[s:e], dtype=np.float64).var(axis=2, ddof=1).sum())
    return total / (n * m * d)
