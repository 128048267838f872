"""Appropriateness metrics: FRCorr and FRDist against the appropriate real listener reactions.

``A[k, j] == 1`` means listener reaction ``listener[j]`` is an appropriate real reaction to
speaker ``k``. Both metrics score every generated reaction ``pred[k, i]`` against its best
appropriate real reaction, SUM over the ``M`` samples, then average over speakers ``k`` (so
their range grows with ``M``; divide by ``M`` for a per-sample value).

Conventions:

* ``"challenge"`` (REACT 2023/2024 challenge code): FRCorr with CCC eps 1e-8; FRDist is the
  weighted DTW on the 25-d emotion features,
  ``DTW(AU 0:15) / 15 + DTW(VA 15:17) + DTW(FE 17:25) / 8``.
* ``"reactface"`` (ReactFace repository): FRCorr multiplied by another 10 with CCC eps 1e-50;
  FRDist is plain DTW over all dims, times 10 (that repository never calls it). It works on
  58-d 3DMM coefficients (mean face added back).
"""
from __future__ import annotations

import numpy as np

from reactface_ros.metrics._checks import (check_convention, check_listener, check_neighbours,
                                           check_pred)
from reactface_ros.metrics.correlation import CCC_EPS, ccc_from_moments
from reactface_ros.metrics.time_warping import DEFAULT_BATCH_SIZE, dtw_pairs

#: Emotion feature groups of the challenge FRDist: (start, stop, weight).
EMOTION_DTW_GROUPS: tuple[tuple[int, int, float], ...] = (
    (0, 15, 1.0 / 15.0),   # 15 action-unit occurrences
    (15, 17, 1.0),         # valence, arousal
    (17, 25, 1.0 / 8.0),   # 8 facial-expression probabilities
)
#: Feature size the challenge FRDist needs (25-d emotion).
EMOTION_DIM = 25


def fr_corr(pred, listener, neighbours, convention: str = "challenge") -> float:
    """FRCorr: mean over speakers of the summed best CCC of each generated reaction.

    ``FRCorr = mean_k sum_i max_{j: A[k,j]=1} CCC(listener[j], pred[k, i])``; the
    ``"reactface"`` convention multiplies by 10 and uses CCC eps 1e-50 (computed in float64:
    NumPy 1's result; under NumPy 2 the repository's float32 arithmetic underflows that eps
    and returns NaN for a dim that is constant, with equal means, in both sequences).

    Parameters
    ----------
    pred : np.ndarray
        ``(N, M, T, D)`` generated reactions.
    listener : np.ndarray
        ``(N_L, T, D)`` real listener reactions.
    neighbours : np.ndarray
        ``(N, N_L)`` 0/1 appropriateness matrix; every row needs at least one 1.
    convention : str
        ``"challenge"`` or ``"reactface"``.

    Returns
    -------
    float
        Higher is better; range ``[-M, M]`` (times 10 for ``"reactface"``).
    """
    check_convention(convention)
    pred = check_pred(pred)
    listener = check_listener(listener, pred)
    a = check_neighbours(neighbours, pred.shape[0], listener.shape[0])
    eps = CCC_EPS[convention]
    t = pred.shape[2]
    y = np.asarray(listener, dtype=np.float64)
    mean_y = y.mean(axis=1)  # (N_L, D)
    cy = (y - mean_y[:, None, :]).transpose(0, 2, 1)  # (N_L, D, T)
    sd_y = np.sqrt(np.einsum("ndt,ndt->nd", cy, cy) / t)
    del y
    per_speaker = np.empty(pred.shape[0])
    for k in range(pred.shape[0]):
        js = np.flatnonzero(a[k])
        x = np.asarray(pred[k], dtype=np.float64)  # (M, T, D)
        mean_x = x.mean(axis=1)
        cx = (x - mean_x[:, None, :]).transpose(2, 0, 1)  # (D, M, T)
        sd_x = np.sqrt(np.einsum("dmt,dmt->md", cx, cx) / t)
        cov = np.matmul(cx, cy[js].transpose(1, 2, 0)) / t  # (D, M, J)
        values = ccc_from_moments(cov.transpose(1, 2, 0), mean_x[:, None, :], sd_x[:, None, :],
                                  mean_y[js][None], sd_y[js][None], eps)  # (M, J, D)
        per_speaker[k] = values.mean(axis=2).max(axis=1).sum()
    result = float(per_speaker.mean())
    return result * 10.0 if convention == "reactface" else result


def _neighbour_pairs(a: np.ndarray, m: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pair indices grouped by ``(k, i)``: flat pred index, listener index, group starts."""
    index_x, index_y, sizes = [], [], []
    for k in range(a.shape[0]):
        js = np.flatnonzero(a[k])
        index_x.append(np.repeat(k * m + np.arange(m), js.size))
        index_y.append(np.tile(js, m))
        sizes.append(np.full(m, js.size))
    sizes = np.concatenate(sizes)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    return np.concatenate(index_x), np.concatenate(index_y), starts


def fr_dist(pred, listener, neighbours, convention: str = "challenge",
            workers: int | None = None, batch_size: int = DEFAULT_BATCH_SIZE) -> float:
    """FRDist: mean over speakers of the summed DTW to the closest appropriate reaction.

    ``FRDist = mean_k sum_i min_{j: A[k,j]=1} d(pred[k, i], listener[j])`` with, for
    ``"challenge"``, ``d = DTW(AU)/15 + DTW(VA) + DTW(FE)/8`` on 25-d emotion, and for
    ``"reactface"``, ``d = DTW(all dims)`` and the result times 10. DTW is unconstrained with a
    squared-Euclidean local cost and a square root of the optimal total
    (:mod:`reactface_ros.metrics.time_warping`); as in both code bases the inputs are cast to
    float32 first. Only pairs with ``A[k, j] == 1`` are computed.

    Parameters
    ----------
    pred : np.ndarray
        ``(N, M, T, D)`` generated reactions (``D = 25`` for ``"challenge"``).
    listener : np.ndarray
        ``(N_L, T, D)`` real listener reactions.
    neighbours : np.ndarray
        ``(N, N_L)`` 0/1 appropriateness matrix; every row needs at least one 1.
    convention : str
        ``"challenge"`` or ``"reactface"``.
    workers : int, optional
        DTW threads (``None``: the CPUs available, at most 8).
    batch_size : int
        Sequence pairs per vectorised DTW batch.

    Returns
    -------
    float
        Lower is better.
    """
    check_convention(convention)
    pred = check_pred(pred)
    listener = check_listener(listener, pred)
    a = check_neighbours(neighbours, pred.shape[0], listener.shape[0])
    n, m, t, d = pred.shape
    if convention == "challenge" and d != EMOTION_DIM:
        raise ValueError(f"the challenge FRDist is a weighted DTW on the {EMOTION_DIM}-d emotion "
                         f"features (15 AU + 2 VA + 8 FE), got D = {d}; use "
                         "convention='reactface' for a plain DTW over any features")
    x = np.asarray(pred, dtype=np.float32).reshape(n * m, t, d)
    y = np.asarray(listener, dtype=np.float32)
    index_x, index_y, starts = _neighbour_pairs(a, m)
    groups = EMOTION_DTW_GROUPS if convention == "challenge" else ((0, d, 1.0),)
    distance = np.zeros(index_x.size)
    for start, stop, weight in groups:
        distance += weight * dtw_pairs(x[:, :, start:stop], y[:, :, start:stop], index_x,
                                       index_y, batch_size=batch_size, workers=workers)
    best = np.minimum.reduceat(distance, starts).reshape(n, m)
    result = float(best.sum(axis=1).mean())
    return result * 10.0 if convention == "reactface" else result
