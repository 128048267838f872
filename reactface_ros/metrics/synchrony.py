"""FRSyn: synchrony between each generated reaction and its speaker (time-lagged correlation).

For a generated reaction ``x`` (``(T, D)``) and its speaker ``y``, for every lag ``l`` in
``-L..L`` (``L = 49``: two seconds at 25 fps, as the official code) the score is the mean over
dims of the Pearson correlation of the two shifted sequences (``l > 0``: ``x[l:]`` vs
``y[:-l]``, the reaction following the speaker by ``l`` frames; ``l < 0``: ``x[:l]`` vs
``y[-l:]``). The offset is ``L - argmax`` (position of the best lag), and FRSyn is the mean
``|offset|`` in frames. Lower is better.

Known defects of the official code (``compute_TLCC_mp`` / ``compute_FRSyn_mp``), which published
numbers contain and ``first_sample_only=True`` reproduces:

1. its multiprocessing version returns inside the loop over samples, so only the FIRST generated
   reaction of each speaker is scored (its single-process version averages all ``N * M``);
2. a dim that is constant inside a lagged window has an undefined correlation (NaN), which makes
   that lag's mean NaN, and ``torch.argmax`` returns the index of the FIRST NaN. One constant
   dim anywhere (an action unit that never fires in a speaker clip, a constant predictor) thus
   pins the offset to ``49`` whatever the real synchrony.

By default every sample is scored and a constant-window dim contributes a correlation of 0 (as
the CCC does); when no lag correlates at all (e.g. a constant predictor) the first lag wins
and the offset is the maximum, ``L``.

The cross sums behind every lagged correlation come from one matrix product per speaker (against
windows of the zero-padded speaker sequence) and the window sums from prefix sums, so all
``99`` lags, ``M`` samples and ``D`` dims are scored at once.
"""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from reactface_ros.metrics._checks import as_array, check_pred

#: Largest lag of the official code: ``int(2 s * 25 fps - 1)``.
DEFAULT_MAX_LAG = 49


def _run_lengths(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lengths of the constant run at the start and at the end of each series (last axis)."""
    t = x.shape[-1]
    diff_head = x != x[..., :1]
    head = np.where(diff_head.any(axis=-1), diff_head.argmax(axis=-1), t)
    diff_tail = x[..., ::-1] != x[..., -1:]
    tail = np.where(diff_tail.any(axis=-1), diff_tail.argmax(axis=-1), t)
    return head, tail


def lagged_correlations(x: np.ndarray, y: np.ndarray, max_lag: int = DEFAULT_MAX_LAG,
                        constant_as_nan: bool = False) -> np.ndarray:
    """Pearson correlation per dim of ``x`` against ``y`` at every lag ``-max_lag..max_lag``.

    Parameters
    ----------
    x : np.ndarray
        ``(S, T, D)`` reactions (all for the same speaker).
    y : np.ndarray
        ``(T, D)`` speaker sequence.
    max_lag : int
        Largest lag ``L`` in frames.
    constant_as_nan : bool
        A dim constant within a lagged window gives NaN (as ``np.corrcoef``) instead of 0.

    Returns
    -------
    np.ndarray
        ``(S, 2 L + 1, D)`` correlations, lag ``l`` at index ``l + L``.
    """
    s_count, t, d = x.shape
    lags = np.arange(-max_lag, max_lag + 1)
    n_overlap = (t - np.abs(lags)).astype(np.float64)  # (Q,)
    # Correlations are shift invariant: centring whole series first limits cancellation.
    xc = (x - x.mean(axis=1, keepdims=True)).transpose(2, 0, 1)  # (D, S, T)
    yc = (y - y.mean(axis=0, keepdims=True)).T  # (D, T)
    # Speaker windows z_l[t] = y[t - l] (0 outside the clip) for every lag, as (D, T, Q).
    padded = np.pad(yc, ((0, 0), (max_lag, max_lag)))
    z = np.ascontiguousarray(sliding_window_view(padded, t, axis=-1)[:, ::-1, :]
                             .transpose(0, 2, 1))
    # Window sums of x over t in [max(0, l), min(T, T + l)) from prefix sums.
    start, stop = np.maximum(0, lags), np.minimum(t, t + lags)
    csum = np.concatenate([np.zeros((d, s_count, 1)), np.cumsum(xc, axis=-1)], axis=-1)
    csq = np.concatenate([np.zeros((d, s_count, 1)), np.cumsum(xc * xc, axis=-1)], axis=-1)
    sxy = np.matmul(xc, z)  # (D, S, Q)
    sx = csum[..., stop] - csum[..., start]
    sxx = csq[..., stop] - csq[..., start]
    sy = z.sum(axis=1)[:, None, :]  # (D, 1, Q)
    syy = (z * z).sum(axis=1)[:, None, :]
    cov = sxy - sx * sy / n_overlap
    var_x = sxx - sx * sx / n_overlap
    var_y = syy - sy * sy / n_overlap
    # Exact constancy of each window from run lengths (sums cannot tell 0 from 1e-17).
    head_x, tail_x = _run_lengths(x.transpose(2, 0, 1))  # (D, S)
    head_y, tail_y = _run_lengths(y.T)  # (D,)
    positive = lags >= 0
    const_x = np.where(positive, n_overlap <= tail_x[..., None], n_overlap <= head_x[..., None])
    const_y = np.where(positive, n_overlap <= head_y[:, None], n_overlap <= tail_y[:, None])
    constant = const_x | const_y[:, None, :]
    denom = var_x * var_y
    ok = ~constant & (denom > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(ok, cov / np.sqrt(np.where(ok, denom, 1.0)), 0.0)
    r = np.clip(r, -1.0, 1.0)
    if constant_as_nan:
        r[constant] = np.nan
    return r.transpose(1, 2, 0)


def fr_syn(pred, speaker, first_sample_only: bool = False,
           official_nan_rule: bool | None = None, max_lag: int = DEFAULT_MAX_LAG) -> float:
    """FRSyn: mean absolute offset (frames) of the best-correlated lag. Lower is better.

    Parameters
    ----------
    pred : np.ndarray
        ``(N, M, T, D)`` generated reactions.
    speaker : np.ndarray
        ``(N, T, D)`` speaker behaviour, same features as ``pred``.
    first_sample_only : bool
        Reproduce the official multiprocessing code: score only ``pred[:, 0]`` and use its
        first-NaN argmax rule (both documented defects).
    official_nan_rule : bool, optional
        Override the NaN rule alone (``True``: constant-window dim -> NaN, first NaN lag wins,
        inputs cast to float32 as the official code does; ``False``: such a dim counts as 0).
        ``None`` follows ``first_sample_only``; ``first_sample_only=False,
        official_nan_rule=True`` reproduces the official single-process ``compute_TLCC``.
    max_lag : int
        Largest lag in frames (49 in the official code).

    Returns
    -------
    float
        Mean ``|offset|`` in frames, in ``[0, max_lag]``.
    """
    pred = check_pred(pred)
    speaker = as_array(speaker, "speaker", "(N, T, D)", 3)
    n, m, t, d = pred.shape
    if speaker.shape != (n, t, d):
        raise ValueError(f"speaker must have shape (N, T, D) = {(n, t, d)} to match pred, got "
                         f"{speaker.shape}")
    if int(max_lag) != max_lag or max_lag < 0:
        raise ValueError(f"max_lag must be a non-negative integer, got {max_lag!r}")
    max_lag = int(max_lag)
    if t < max_lag + 2:
        raise ValueError(f"fr_syn needs T >= max_lag + 2 = {max_lag + 2} frames so every lagged "
                         f"window has 2 frames, got T = {t}")
    nan_rule = first_sample_only if official_nan_rule is None else bool(official_nan_rule)
    dtype = np.float32 if nan_rule else np.float64
    samples = 1 if first_sample_only else m
    offsets = np.empty((n, samples))
    for k in range(n):
        x = np.asarray(pred[k, :samples], dtype=dtype).astype(np.float64)
        y = np.asarray(speaker[k], dtype=dtype).astype(np.float64)
        r = lagged_correlations(x, y, max_lag, constant_as_nan=nan_rule)  # (S, Q, D)
        if nan_rule:
            # The official code: per-dim values into a float32 tensor, mean, torch.argmax (which
            # returns the first NaN when there is one).
            score = r.astype(np.float32).mean(axis=2, dtype=np.float64).astype(np.float32)
            isnan = np.isnan(score)
            best = np.where(isnan.any(axis=1), isnan.argmax(axis=1),
                            np.nan_to_num(score, nan=-np.inf).argmax(axis=1))
        else:
            best = r.mean(axis=2).argmax(axis=1)
        offsets[k] = np.abs(max_lag - best)
    return float(offsets.mean())
