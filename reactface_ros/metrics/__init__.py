"""REACT challenge metrics on NumPy arrays, in the two conventions users compare against.

Shapes: ``pred`` ``(N, M, T, D)`` generated reactions (``M`` per speaker clip), ``listener``
``(N_L, T, D)`` real listener reactions, ``speaker`` ``(N, T, D)`` real speaker behaviour,
``neighbours`` ``(N, N_L)`` 0/1 with ``neighbours[k, j] == 1`` when ``listener[j]`` is an
appropriate reaction to speaker ``k``.

* Appropriateness: :func:`fr_corr` (FRCorr), :func:`fr_dist` (FRDist), with
  ``convention="challenge"`` (REACT 2023/2024 challenge code) or ``"reactface"`` (ReactFace
  repository scaling).
* Diversity: :func:`fr_div` (FRDiv / S-MSE), :func:`fr_dvs` (FRDvs), :func:`fr_var` (FRVar).
* Synchrony: :func:`fr_syn` (FRSyn, time-lagged cross-correlation).
* Realism: :func:`frechet_distance` (the core of FID / FVD on any features).
* Helpers: :func:`ccc`, :func:`dtw`, :func:`dtw_pairs`.
"""
from reactface_ros.metrics.appropriateness import EMOTION_DTW_GROUPS, fr_corr, fr_dist
from reactface_ros.metrics.correlation import ccc
from reactface_ros.metrics.diversity import fr_div, fr_dvs, fr_var
from reactface_ros.metrics.time_warping import dtw, dtw_pairs
from reactface_ros.metrics.realism import frechet_distance, frechet_distance_from_moments
from reactface_ros.metrics.synchrony import fr_syn, lagged_correlations

__all__ = ["EMOTION_DTW_GROUPS", "ccc", "dtw", "dtw_pairs", "fr_corr", "fr_dist", "fr_div",
           "fr_dvs", "fr_syn", "fr_var", "frechet_distance", "frechet_distance_from_moments",
           "lagged_correlations"]
