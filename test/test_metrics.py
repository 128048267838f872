"""REACT metrics: hand-worked values, straightforward reference implementations, defects, errors."""
import math

import numpy as np
import pytest
import scipy.linalg

from reactface_ros.metrics import (ccc, dtw, dtw_pairs, fr_corr, fr_dist, fr_div, fr_dvs, fr_syn,
                                   fr_var, frechet_distance, lagged_correlations)


# ---------------------------------------------------------------------------------------------
# Straightforward references, written from the formulas (loops, np.corrcoef).
# ---------------------------------------------------------------------------------------------

def ref_ccc(x, y, eps=1e-8):
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    values = []
    for d in range(x.shape[1]):
        with np.errstate(divide="ignore", invalid="ignore"):
            r = np.corrcoef(x[:, d], y[:, d])[0, 1]
        r = 0.0 if not np.isfinite(r) else float(np.clip(r, -1, 1))
        num = 2 * r * np.std(x[:, d]) * np.std(y[:, d])
        den = np.var(x[:, d]) + np.var(y[:, d]) + (x[:, d].mean() - y[:, d].mean()) ** 2
        values.append(num / (den + eps))
    return float(np.mean(values))


def ref_dtw(a, b):
    n, m = len(a), len(b)
    acc = np.full((n + 1, m + 1), np.inf)
    acc[0, 0] = 0.0
    for i in range(n):
        for j in range(m):
            cost = float(((a[i] - b[j]) ** 2).sum())
            acc[i + 1, j + 1] = cost + min(acc[i, j], acc[i, j + 1], acc[i + 1, j])
    return math.sqrt(acc[n, m])


def ref_offset(x, y, max_lag, nan_rule):
    """|offset| of one reaction as the official calculate_tlcc computes it."""
    rs = []
    for lag in range(-max_lag, max_lag + 1):
        if lag > 0:
            xa, ya = x[lag:], y[:-lag]
        elif lag < 0:
            xa, ya = x[:lag], y[-lag:]
        else:
            xa, ya = x, y
        per_dim = []
        for d in range(x.shape[1]):
            if np.all(xa[:, d] == xa[0, d]) or np.all(ya[:, d] == ya[0, d]):
                per_dim.append(np.nan if nan_rule else 0.0)
            else:
                per_dim.append(np.corrcoef(xa[:, d], ya[:, d])[0, 1])
        rs.append(np.mean(per_dim))
    rs = np.asarray(rs)
    best = int(np.flatnonzero(np.isnan(rs))[0]) if np.isnan(rs).any() else int(np.argmax(rs))
    return abs(max_lag - best)


def smooth_noise(rng, shape, width=5):
    """Random sequences smoothed along axis -2 (time), so lagged correlations have a peak."""
    x = rng.normal(size=shape)
    kernel = np.ones(width) / width
    return np.apply_along_axis(lambda v: np.convolve(v, kernel, mode="same"), -2, x)


# ---------------------------------------------------------------------------------------------
# CCC
# ---------------------------------------------------------------------------------------------

def test_ccc_by_hand():
    x = np.array([1.0, 2.0, 3.0])
    # y = 2x: r = 1, sd_x sd_y = 4/3, var 2/3 + 8/3, mean gap 2 -> (8/3) / (22/3) = 4/11.
    assert ccc(x, 2 * x) == pytest.approx(8 / 22, abs=1e-8)
    assert ccc(x, x) == pytest.approx(1.0, abs=1e-7)
    assert ccc(x, -x + 4) == pytest.approx(-1.0, abs=1e-7)
    # A constant dim counts as r = 0; the mean runs over both dims.
    two = np.stack([x, np.ones(3)], axis=1)
    assert ccc(two, two) == pytest.approx(0.5, abs=1e-7)


def test_ccc_matches_direct_formula():
    rng = np.random.default_rng(1)
    for _ in range(5):
        x = rng.normal(size=(40, 6))
        y = 0.5 * x + rng.normal(size=(40, 6)) + rng.normal(size=6)
        assert ccc(x, y) == pytest.approx(ref_ccc(x, y), abs=1e-12)
        assert ccc(x, y) == pytest.approx(ccc(y, x), abs=1e-12)


# ---------------------------------------------------------------------------------------------
# DTW
# ---------------------------------------------------------------------------------------------

def test_dtw_by_hand():
    a, b = np.array([2.0, 4.0, 6.0]), np.array([1.0, 2.0, 3.0])
    # Cost rows [1 0 1], [9 4 1], [25 16 9]; best path 1 + 0 + 1 + 9 = 11.
    assert dtw(a, b) == pytest.approx(math.sqrt(11.0), abs=1e-12)
    assert dtw([1.0, 2.0, 3.0], [3.0, 2.0, 1.0]) == pytest.approx(math.sqrt(8.0), abs=1e-12)
    assert dtw(a, a) == pytest.approx(0.0, abs=1e-7)


@pytest.mark.parametrize("n, m", [(1, 1), (1, 6), (6, 1), (9, 9), (13, 7), (7, 20)])
def test_dtw_matches_dynamic_program(n, m):
    rng = np.random.default_rng(n * 100 + m)
    a, b = rng.normal(size=(n, 3)), rng.normal(size=(m, 3))
    assert dtw(a, b) == pytest.approx(ref_dtw(a, b), rel=1e-10, abs=1e-9)


def test_dtw_pairs_batches_and_threads_agree_with_reference():
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(5, 17, 4)), rng.normal(size=(4, 17, 4))
    ix, iy = rng.integers(0, 5, 11), rng.integers(0, 4, 11)
    expected = [ref_dtw(x[i], y[j]) for i, j in zip(ix, iy)]
    for batch_size, workers in ((1, 1), (4, 1), (4, 2), (16, 2)):
        got = dtw_pairs(x, y, ix, iy, batch_size=batch_size, workers=workers)
        np.testing.assert_allclose(got, expected, rtol=1e-10)


# ---------------------------------------------------------------------------------------------
# FRCorr / FRDist
# ---------------------------------------------------------------------------------------------

RISE = np.array([1.0, 2.0, 3.0])


def _tiny_case():
    listener = np.stack([RISE, RISE[::-1]])[:, :, None]  # (2, 3, 1)
    pred = np.stack([RISE, 2 * RISE])[None, :, :, None]  # (1, 2, 3, 1)
    return pred, listener


def test_fr_corr_by_hand():
    pred, listener = _tiny_case()
    # Sample 0 equals listener 0 (CCC 1); sample 1 = 2 x listener 0 (CCC 4/11). SUM over M.
    both = np.array([[1, 1]])
    assert fr_corr(pred, listener, both) == pytest.approx(1 + 4 / 11, abs=1e-7)
    assert fr_corr(pred, listener, both, convention="reactface") == pytest.approx(
        10 * (1 + 4 / 11), abs=1e-6)
    # Only the falling reaction is appropriate: CCC -1 and -4/11.
    assert fr_corr(pred, listener, np.array([[0, 1]])) == pytest.approx(-(1 + 4 / 11), abs=1e-7)


def test_fr_dist_by_hand():
    pred, listener = _tiny_case()
    # reactface: plain DTW x10: sample 0 -> min(0, sqrt 8) = 0; sample 1 -> min(sqrt 11, sqrt 30).
    value = fr_dist(pred, listener, np.array([[1, 1]]), convention="reactface")
    assert value == pytest.approx(10 * math.sqrt(11.0), abs=1e-6)
    # challenge: weighted DTW on 25-d emotion; put the sequences into one dim of each group.
    pred25 = np.zeros((1, 1, 3, 25))
    lis25 = np.zeros((1, 3, 25))
    pred25[0, 0, :, 0], lis25[0, :, 0] = 2 * RISE, RISE  # AU: sqrt(11) / 15
    pred25[0, 0, :, 15], lis25[0, :, 15] = RISE, RISE[::-1]  # VA: sqrt(8)
    pred25[0, 0, :, 17], lis25[0, :, 17] = RISE, RISE  # FE: 0
    expected = math.sqrt(11.0) / 15 + math.sqrt(8.0)
    assert fr_dist(pred25, lis25, np.ones((1, 1))) == pytest.approx(expected, abs=1e-6)


def test_fr_corr_and_fr_dist_match_loop_references():
    rng = np.random.default_rng(3)
    n, m, n_l, t = 3, 2, 4, 10
    pred = rng.random((n, m, t, 25)).astype(np.float32)
    listener = rng.random((n_l, t, 25)).astype(np.float32)
    listener[1, :, 3] = 0.0  # a constant dim
    a = np.array([[1, 0, 1, 0], [0, 1, 1, 1], [1, 0, 0, 0]])
    corr = np.mean([sum(max(ref_ccc(listener[j], pred[k, i]) for j in np.flatnonzero(a[k]))
                        for i in range(m)) for k in range(n)])
    assert fr_corr(pred, listener, a) == pytest.approx(corr, abs=1e-9)
    groups = [(0, 15, 1 / 15), (15, 17, 1.0), (17, 25, 1 / 8)]
    dist = np.mean([sum(min(sum(w * ref_dtw(pred[k, i][:, s:e].astype(np.float64),
                                            listener[j][:, s:e].astype(np.float64))
                                for s, e, w in groups)
                            for j in np.flatnonzero(a[k])) for i in range(m)) for k in range(n)])
    assert fr_dist(pred, listener, a, workers=2, batch_size=3) == pytest.approx(dist, rel=1e-9)


# ---------------------------------------------------------------------------------------------
# Diversity
# ---------------------------------------------------------------------------------------------

def test_diversity_by_hand():
    x0, x1 = np.zeros((1, 2)), np.array([[1.0, 3.0]])
    # MSE(x0, x1) = (1 + 9) / 2 = 5 for both ordered pairs.
    assert fr_div(np.stack([x0, x1])[None]) == pytest.approx(5.0)
    # M = 3 with a repeat: ordered pairs 5, 0, 5 (twice each) -> 10 / 3.
    assert fr_div(np.stack([x0, x1, x0])[None]) == pytest.approx(10 / 3)
    assert fr_div(np.stack([x0])[None]) == 0.0
    assert fr_dvs(np.stack([x0, x1])[:, None]) == pytest.approx(5.0)
    assert fr_dvs(x1[None, None]) == 0.0
    # Variance over time, ddof = 1: [1, 2, 3] -> 1, constant -> 0; mean 0.5.
    seq = np.stack([RISE, np.zeros(3)], axis=1)  # (3, 2)
    assert fr_var(seq[None, None]) == pytest.approx(0.5)


def test_diversity_matches_pairwise_definition():
    rng = np.random.default_rng(4)
    pred = rng.normal(size=(4, 3, 6, 5))
    n, m = pred.shape[:2]

    def mse(a, b):
        return np.mean((a - b) ** 2)

    div = np.mean([np.mean([mse(pred[k, i], pred[k, j]) for i in range(m) for j in range(m)
                            if i != j]) for k in range(n)])
    dvs = np.mean([mse(pred[k, i], pred[q, i]) for i in range(m) for k in range(n)
                   for q in range(n) if k != q])
    var = np.mean(pred.var(axis=2, ddof=1))
    assert fr_div(pred) == pytest.approx(div, rel=1e-12)
    assert fr_dvs(pred) == pytest.approx(dvs, rel=1e-12)
    assert fr_var(pred) == pytest.approx(var, rel=1e-12)


# ---------------------------------------------------------------------------------------------
# FRSyn
# ---------------------------------------------------------------------------------------------

def test_fr_syn_lag_convention():
    rng = np.random.default_rng(5)
    t, lag = 120, 5
    speaker = smooth_noise(rng, (2, t, 3))
    pred = np.empty((2, 2, t, 3))
    # The reaction follows the speaker by `lag` frames: pred[t] = speaker[t - lag].
    pred[:, :, lag:] = speaker[:, None, :-lag]
    pred[:, :, :lag] = rng.normal(size=(2, 2, lag, 3))
    assert fr_syn(pred, speaker, max_lag=20) == pytest.approx(lag)
    r = lagged_correlations(pred[0], speaker[0], max_lag=20)
    assert r.shape == (2, 41, 3)
    assert int(r.mean(axis=2)[0].argmax()) - 20 == lag  # index l + L holds lag l
    assert fr_syn(pred[:, :, :, :], speaker, max_lag=20, first_sample_only=True) == lag


def test_fr_syn_matches_reference_both_rules():
    rng = np.random.default_rng(6)
    t, max_lag = 60, 12
    speaker = smooth_noise(rng, (3, t, 4))
    pred = smooth_noise(rng, (3, 2, t, 4))
    speaker[1, :, 2] = 0.0  # a speaker dim that never moves (an AU that never fires)
    pred[2, 0, : t - 5, 1] = 0.3  # a predicted dim constant in every long prefix window
    for nan_rule in (False, True):
        expected = np.mean([ref_offset(pred[k, i], speaker[k], max_lag, nan_rule)
                            for k in range(3) for i in range(2)])
        got = fr_syn(pred, speaker, max_lag=max_lag, official_nan_rule=nan_rule)
        assert got == pytest.approx(expected)
    first = np.mean([ref_offset(pred[k, 0], speaker[k], max_lag, True) for k in range(3)])
    assert fr_syn(pred, speaker, max_lag=max_lag, first_sample_only=True) == pytest.approx(first)


def test_fr_syn_official_defects():
    rng = np.random.default_rng(7)
    t = 150
    speaker = smooth_noise(rng, (2, t, 3))
    # A constant predictor: every lag is NaN in the official code -> first NaN -> offset 49.
    constant = np.full((2, 3, t, 3), 0.25)
    assert fr_syn(constant, speaker, first_sample_only=True) == 49.0
    # A perfectly synchronous predictor, but one speaker dim is constant: the official rule
    # pins it to 49; the default scores the true lag 0.
    pred = np.repeat(speaker[:, None], 2, axis=1).copy()
    speaker_flat = speaker.copy()
    speaker_flat[:, :, 1] = 0.0
    pred[:, :, :, 1] = rng.normal(size=(2, 2, t))
    assert fr_syn(pred, speaker_flat) == 0.0
    assert fr_syn(pred, speaker_flat, first_sample_only=True) == 49.0
    # Only the first sample counts in the official multiprocessing version.
    mixed = pred.copy()
    mixed[:, 1] = 0.25  # second sample constant
    assert fr_syn(mixed, speaker_flat, official_nan_rule=False) == pytest.approx(49.0 / 2)
    assert fr_syn(mixed, speaker, first_sample_only=True) == 0.0


# ---------------------------------------------------------------------------------------------
# Frechet distance
# ---------------------------------------------------------------------------------------------

def test_frechet_distance():
    rng = np.random.default_rng(8)
    a = rng.normal(size=(400, 5))
    b = rng.normal(size=(300, 5)) @ rng.normal(size=(5, 5)) + 2.0
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-8)
    # Against the textbook formula with scipy's matrix square root.
    mu_a, mu_b = a.mean(0), b.mean(0)
    s_a, s_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = scipy.linalg.sqrtm(s_a @ s_b).real
    expected = np.sum((mu_a - mu_b) ** 2) + np.trace(s_a + s_b - 2 * covmean)
    assert frechet_distance(a, b) == pytest.approx(expected, rel=1e-8)
    # 1-d by hand: (mu_a - mu_b)^2 + (sd_a - sd_b)^2.
    x = np.array([[0.0], [2.0]])  # mean 1, var 2
    y = np.array([[3.0], [11.0]])  # mean 7, var 32
    assert frechet_distance(x, y) == pytest.approx(36 + (math.sqrt(2) - math.sqrt(32)) ** 2)
    # Translation adds ||v||^2.
    assert frechet_distance(a, a + 3.0) == pytest.approx(5 * 9.0, rel=1e-8)


# ---------------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------------

def test_shape_and_value_errors():
    pred = np.zeros((2, 3, 60, 25))
    listener = np.zeros((4, 60, 25))
    a = np.ones((2, 4))
    with pytest.raises(ValueError, match=r"pred must have shape \(N, M, T, D\)"):
        fr_corr(pred[0], listener, a)
    with pytest.raises(ValueError, match=r"neighbours must have shape .* \(2, 4\)"):
        fr_corr(pred, listener, np.ones((4, 2)))
    with pytest.raises(ValueError, match="rows 1 have no appropriate"):
        fr_dist(pred, listener, np.array([[1, 0, 0, 0], [0, 0, 0, 0]]))
    with pytest.raises(ValueError, match="only 0 and 1"):
        fr_corr(pred, listener, 2 * a)
    with pytest.raises(ValueError, match=r"listener frames and dims"):
        fr_corr(pred, listener[:, :50], a)
    with pytest.raises(ValueError, match="25-d emotion"):
        fr_dist(np.zeros((2, 3, 60, 58)), np.zeros((4, 60, 58)), a)
    with pytest.raises(ValueError, match="convention"):
        fr_corr(pred, listener, a, convention="paper")
    bad = pred.copy()
    bad[0, 0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="pred holds 1 NaN/Inf"):
        fr_div(bad)
    with pytest.raises(ValueError, match=r"speaker must have shape \(N, T, D\)"):
        fr_syn(pred, np.zeros((3, 60, 25)))
    with pytest.raises(ValueError, match="T >= max_lag"):
        fr_syn(pred[:, :, :40], np.zeros((2, 40, 25)))
    with pytest.raises(ValueError, match="at least 2 frames"):
        fr_var(pred[:, :, :1])
    with pytest.raises(ValueError, match="same feature size"):
        frechet_distance(np.zeros((3, 2)), np.zeros((3, 4)))
    with pytest.raises(ValueError, match="at least 2 vectors"):
        frechet_distance(np.zeros((1, 2)), np.zeros((3, 2)))
    with pytest.raises(TypeError, match="numeric array"):
        fr_var("not an array")
