"""Shape and value checks shared by the metrics; every error names the array and the problem."""
from __future__ import annotations

import numpy as np

CONVENTIONS = ("challenge", "reactface")


def as_array(x, name: str, shape_doc: str, ndim: int, dtype=None) -> np.ndarray:
    """Return ``x`` as an array with ``ndim`` dimensions, finite, non-empty."""
    if isinstance(x, (str, bytes)) or x is None:
        raise TypeError(f"{name} must be a numeric array of shape {shape_doc}, "
                        f"got {type(x).__name__}")
    if hasattr(x, "detach") and hasattr(x, "cpu"):  # a torch tensor, without importing torch
        x = x.detach().cpu().numpy()
    arr = np.asarray(x) if dtype is None else np.asarray(x, dtype=dtype)
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number)
                                   or arr.dtype == np.bool_):
        raise TypeError(f"{name} must be a numeric array of shape {shape_doc}, "
                        f"got dtype {arr.dtype}")
    if arr.ndim != ndim:
        raise ValueError(f"{name} must have shape {shape_doc} ({ndim} dims), got {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} is empty: shape {arr.shape} (expected {shape_doc})")
    if np.issubdtype(arr.dtype, np.floating) and not np.all(np.isfinite(arr)):
        bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
        raise ValueError(f"{name} holds {bad} NaN/Inf values; metrics need finite inputs")
    return arr


def check_convention(convention: str) -> str:
    """Validate a metric convention name."""
    if convention not in CONVENTIONS:
        raise ValueError(f"convention must be one of {CONVENTIONS}, got {convention!r}")
    return convention


def check_pred(pred) -> np.ndarray:
    """``pred`` as an ``(N, M, T, D)`` array."""
    return as_array(pred, "pred", "(N, M, T, D)", 4)


def check_neighbours(neighbours, n_speakers: int, n_listeners: int) -> np.ndarray:
    """``neighbours`` as an ``(N, N_L)`` boolean matrix with at least one 1 per row."""
    a = as_array(neighbours, "neighbours", "(N, N_L)", 2)
    if a.shape != (n_speakers, n_listeners):
        raise ValueError(f"neighbours must have shape (N, N_L) = ({n_speakers}, {n_listeners}) "
                         f"to match pred and listener, got {a.shape}")
    if not np.all((a == 0) | (a == 1)):
        raise ValueError("neighbours must hold only 0 and 1 (A[k, j] == 1: listener reaction j "
                         "is appropriate for speaker k)")
    a = a.astype(bool)
    empty = np.flatnonzero(~a.any(axis=1))
    if empty.size:
        shown = ", ".join(str(int(k)) for k in empty[:10])
        raise ValueError(f"neighbours rows {shown}{' ...' if empty.size > 10 else ''} have no "
                         "appropriate listener reaction (all zeros); every speaker needs at "
                         "least one")
    return a


def check_listener(listener, pred: np.ndarray) -> np.ndarray:
    """``listener`` as an ``(N_L, T, D)`` array whose ``T`` and ``D`` match ``pred``."""
    y = as_array(listener, "listener", "(N_L, T, D)", 3)
    if y.shape[1:] != pred.shape[2:]:
        raise ValueError(f"listener frames and dims (T, D) = {y.shape[1:]} do not match pred's "
                         f"{pred.shape[2:]}")
    return y
