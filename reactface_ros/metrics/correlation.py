"""Concordance correlation coefficient (CCC) as the REACT metric code computes it.

For two ``(T, D)`` sequences, per dim ``d``: ``r`` = Pearson correlation (0 for a constant
dim, clipped to ``[-1, 1]``), population (ddof = 0) means, variances and standard deviations,

``ccc_d = 2 r sd_x sd_y / (var_x + var_y + (mu_x - mu_y)^2 + eps)``,

and the CCC is the unweighted mean over the D dims. ``eps`` is 1e-8 in the challenge code and
1e-50 in the ReactFace code (see :func:`reactface_ros.metrics.fr_corr`).
"""
from __future__ import annotations

import numpy as np

from reactface_ros.metrics._checks import as_array

#: ``eps`` of the CCC denominator in each convention.
CCC_EPS = {"challenge": 1e-8, "reactface": 1e-50}


def _moments(x: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Means, centred copies and population standard deviations along ``axis``."""
    mean = x.mean(axis=axis, keepdims=True)
    centred = x - mean
    sd = np.sqrt(np.mean(centred * centred, axis=axis, keepdims=True))
    return mean, centred, sd


def ccc_from_moments(cov, mean_x, sd_x, mean_y, sd_y, eps: float) -> np.ndarray:
    """Per-dim CCC from population moments (broadcasting arrays of any matching shape)."""
    sd_xy = sd_x * sd_y
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(sd_xy > 0, cov / np.where(sd_xy > 0, sd_xy, 1.0), 0.0)
    r = np.clip(r, -1.0, 1.0)
    return 2.0 * r * sd_xy / (sd_x ** 2 + sd_y ** 2 + (mean_x - mean_y) ** 2 + eps)


def ccc(x, y, eps: float = CCC_EPS["challenge"], per_dim: bool = False):
    """Concordance correlation coefficient of two ``(T, D)`` sequences.

    Parameters
    ----------
    x, y : np.ndarray
        ``(T, D)`` (or ``(T,)``) sequences of equal shape.
    eps : float
        Added to the denominator (1e-8: challenge code).
    per_dim : bool
        Return the ``(D,)`` per-dim values instead of their mean.

    Returns
    -------
    float or np.ndarray
        Mean CCC over dims, in ``[-1, 1]``; ``(D,)`` when ``per_dim``.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    x = x[:, None] if x.ndim == 1 else x
    y = y[:, None] if y.ndim == 1 else y
    x = as_array(x, "x", "(T, D)", 2)
    y = as_array(y, "y", "(T, D)", 2)
    if x.shape != y.shape:
        raise ValueError(f"x and y must have the same shape (T, D), got {x.shape} and {y.shape}")
    mx, cx, sx = _moments(x, 0)
    my, cy, sy = _moments(y, 0)
    cov = np.mean(cx * cy, axis=0)
    values = ccc_from_moments(cov, mx[0], sx[0], my[0], sy[0], eps)
    return values if per_dim else float(values.mean())
