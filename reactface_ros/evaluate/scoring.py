"""Scoring ``(N, M, T, 58)`` reactions with the REACT metrics, in both feature spaces.

* ``3dmm``: the ReactFace repository's convention on the 58 FaceVerse coefficients (FRCorr x10
  and summed over M; FRDiv, FRDvs, FRVar and FRSyn on the same coefficients);
* ``emotion``: the challenge convention on 25-d emotion vectors. Generated reactions are 3DMM,
  so every sequence (generated, real listener and speaker alike) is converted with the same
  rules, :func:`reactface_ros.data.emotion_from_coefficients`, to keep the comparison fair.

FRSyn scores every sample (not the official code's first-sample-only defect).
"""
from __future__ import annotations

from typing import Any

import numpy as np

#: Metrics per feature space, with "higher is better" flags.
METRICS_3DMM: tuple[tuple[str, bool], ...] = (
    ("FRCorr", True), ("FRDiv", True), ("FRDvs", True), ("FRVar", True), ("FRSyn", False))
METRICS_EMOTION: tuple[tuple[str, bool], ...] = (
    ("FRCorr", True), ("FRDist", False), ("FRDiv", True), ("FRDvs", True), ("FRVar", True),
    ("FRSyn", False))


def to_emotion(coefficients: np.ndarray) -> np.ndarray:
    """``(..., T, 58)`` -> ``(..., T, 25)`` emotion vectors (package rules)."""
    from reactface_ros.data import emotion_from_coefficients

    c = np.asarray(coefficients, np.float32)
    flat = c.reshape(-1, c.shape[-2], c.shape[-1])
    out = np.stack([emotion_from_coefficients(x) for x in flat])
    return out.reshape(c.shape[:-1] + (out.shape[-1],)).astype(np.float32)


def score_reactions(pred: np.ndarray, listener: np.ndarray, speaker: np.ndarray,
                    neighbours: np.ndarray, with_fr_dist: bool = True,
                    rows: np.ndarray | None = None) -> dict[str, Any]:
    """All metrics of one method (of every row, or of the rows ``rows``).

    Parameters
    ----------
    pred : np.ndarray
        ``(N, M, T, 58)`` generated reactions (de-normalised FaceVerse coefficients).
    listener : np.ndarray
        ``(N, T, 58)`` real listener reaction of every row.
    speaker : np.ndarray
        ``(N, T, 58)`` speaker of every row.
    neighbours : np.ndarray
        ``(N, N)`` 0/1 appropriateness matrix.
    with_fr_dist : bool
        Compute the (DTW-based, slowest) FRDist.
    rows : np.ndarray, optional
        Indices of the rows to score (default: all). Each scored row still finds its
        appropriate reactions among every row's real listener reaction, so the values of a
        partition of the rows average (by row count) to the all-rows value for every metric
        except FRDvs (which pairs rows).

    Returns
    -------
    dict
        ``{"3dmm": {...}, "emotion": {...}}`` metric values (floats).
    """
    from reactface_ros.metrics import fr_corr, fr_dist, fr_div, fr_dvs, fr_syn, fr_var

    a = np.asarray(neighbours) > 0
    # The official lag range is +-49 frames; clips shorter than 51 frames use what fits.
    lag = min(49, pred.shape[2] - 2)
    a = a | np.eye(len(a), dtype=bool)
    if rows is not None:
        rows = np.asarray(rows, dtype=int)
        if rows.ndim != 1 or len(rows) == 0:
            raise ValueError("rows must be a non-empty 1-d array of row indices")
        pred, speaker, a = pred[rows], np.asarray(speaker)[rows], a[rows]
    out: dict[str, Any] = {"3dmm": {
        "FRCorr": fr_corr(pred, listener, a, convention="reactface"),
        "FRDiv": fr_div(pred), "FRDvs": fr_dvs(pred), "FRVar": fr_var(pred),
        "FRSyn": fr_syn(pred, speaker, max_lag=lag)}}
    e_pred, e_lis, e_spk = to_emotion(pred), to_emotion(listener), to_emotion(speaker)
    emo = {"FRCorr": fr_corr(e_pred, e_lis, a, convention="challenge")}
    if with_fr_dist:
        emo["FRDist"] = fr_dist(e_pred, e_lis, a, convention="challenge")
    emo.update(FRDiv=fr_div(e_pred), FRDvs=fr_dvs(e_pred), FRVar=fr_var(e_pred),
               FRSyn=fr_syn(e_pred, e_spk, max_lag=lag))
    out["emotion"] = emo
    return {space: {k: float(v) for k, v in values.items()} for space, values in out.items()}


#: Metrics that are means over rows (each row has M samples): over a partition of the rows,
#: the all-rows value is the row-weighted mean of the parts' values. FRDvs pairs rows.
ROW_MEAN_METRICS = ("FRCorr", "FRDist", "FRDiv", "FRVar", "FRSyn")


def score_partition(pred: np.ndarray, listener: np.ndarray, speaker: np.ndarray,
                    neighbours: np.ndarray, parts: list[np.ndarray],
                    with_fr_dist: bool = True) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """All metrics of one method on every row and on each part of a partition of the rows.

    Each part is scored once with :func:`score_reactions` (``rows``); the all-rows values of
    :data:`ROW_MEAN_METRICS` are the row-weighted means of the parts' (so FRDist's DTW runs
    once per row, not twice) and only FRDvs is computed over all rows.

    Returns ``(all_rows, [part_0, part_1, ...])``, each like :func:`score_reactions`.
    """
    from reactface_ros.metrics import fr_dvs

    parts = [np.asarray(idx, dtype=int) for idx in parts]
    if sorted(np.concatenate(parts).tolist()) != list(range(len(pred))):
        raise ValueError("parts must partition the rows 0 .. N-1")
    scored = [score_reactions(pred, listener, speaker, neighbours, with_fr_dist, rows=idx)
              for idx in parts]
    dvs = {"3dmm": fr_dvs(pred), "emotion": fr_dvs(to_emotion(pred))}
    whole: dict[str, Any] = {}
    for space, values in scored[0].items():
        whole[space] = {key: (float(dvs[space]) if key not in ROW_MEAN_METRICS else
                              float(sum(len(idx) * s[space][key] for idx, s in zip(parts, scored))
                                    / len(pred)))
                        for key in values}
    return whole, scored
