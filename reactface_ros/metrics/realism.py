"""FRRea: the Frechet distance core of FID / FVD, on any feature vectors.

The challenge scores realism with FID (Inception pool3 features of every 30th rendered frame)
and ReactFace with FVD (I3D logits averaged over time). Both are the Frechet distance between
Gaussians fitted to two feature sets:

``||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2))``.

The network weights are not part of this package; pass the features of whatever network you
use.
"""
from __future__ import annotations

import numpy as np

from reactface_ros.metrics._checks import as_array


def _sqrt_psd(cov: np.ndarray) -> np.ndarray:
    """Symmetric square root of a positive semi-definite matrix."""
    w, v = np.linalg.eigh(cov)
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def frechet_distance_from_moments(mu_a, cov_a, mu_b, cov_b) -> float:
    """Frechet distance between two Gaussians given their means and covariances.

    ``Tr((S_a S_b)^(1/2))`` is computed as the sum of the square roots of the eigenvalues of the
    symmetric PSD matrix ``S_a^(1/2) S_b S_a^(1/2)`` (same eigenvalues), which is stable for
    singular covariances where ``scipy.linalg.sqrtm`` needs an epsilon.

    Parameters
    ----------
    mu_a, mu_b : np.ndarray
        ``(F,)`` means.
    cov_a, cov_b : np.ndarray
        ``(F, F)`` covariances.

    Returns
    -------
    float
        The squared Frechet (2-Wasserstein) distance, >= 0.
    """
    mu_a = np.asarray(mu_a, dtype=np.float64).reshape(-1)
    mu_b = np.asarray(mu_b, dtype=np.float64).reshape(-1)
    f = mu_a.size
    cov_a = np.asarray(cov_a, dtype=np.float64)
    cov_b = np.asarray(cov_b, dtype=np.float64)
    for name, c in (("cov_a", cov_a), ("cov_b", cov_b)):
        if c.shape != (f, f):
            raise ValueError(f"{name} must have shape (F, F) = ({f}, {f}), got {c.shape}")
    if mu_b.size != f:
        raise ValueError(f"mu_a and mu_b must have the same size, got {f} and {mu_b.size}")
    cov_a = 0.5 * (cov_a + cov_a.T)
    cov_b = 0.5 * (cov_b + cov_b.T)
    root_a = _sqrt_psd(cov_a)
    eig = np.linalg.eigvalsh(root_a @ cov_b @ root_a)
    trace_sqrt = float(np.sqrt(np.clip(eig, 0.0, None)).sum())
    diff = mu_a - mu_b
    value = float(diff @ diff + np.trace(cov_a) + np.trace(cov_b) - 2.0 * trace_sqrt)
    return max(value, 0.0)


def frechet_distance(features_a, features_b) -> float:
    """Frechet distance between two sets of feature vectors (FID/FVD core).

    Parameters
    ----------
    features_a : np.ndarray
        ``(n_a, F)`` features of one set (e.g. rendered generated reactions), ``n_a >= 2``.
    features_b : np.ndarray
        ``(n_b, F)`` features of the other (e.g. real listener videos), ``n_b >= 2``.

    Returns
    -------
    float
        ``||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2))`` with unbiased (ddof = 1)
        covariances, as pytorch-fid and the FVD code use. 0 for identical sets.
    """
    a = as_array(features_a, "features_a", "(n_a, F)", 2)
    b = as_array(features_b, "features_b", "(n_b, F)", 2)
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"features_a and features_b must have the same feature size F, got "
                         f"{a.shape[1]} and {b.shape[1]}")
    for name, x in (("features_a", a), ("features_b", b)):
        if x.shape[0] < 2:
            raise ValueError(f"{name} needs at least 2 vectors to estimate a covariance, got "
                             f"{x.shape[0]}")
    a = a.astype(np.float64)
    b = b.astype(np.float64)
    f = a.shape[1]
    return frechet_distance_from_moments(a.mean(0), np.cov(a, rowvar=False).reshape(f, f),
                                         b.mean(0), np.cov(b, rowvar=False).reshape(f, f))
