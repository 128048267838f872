"""Evaluation: the streaming engine on every clip, baselines, metrics.json, table and plots."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from reaction_fixture import make_reaction_dataset
from reactface_ros.data import DatasetConfig, ReactionDataset
from reactface_ros.evaluate import EvaluationConfig, evaluate_checkpoint, stream_clip
from reactface_ros.evaluate.baselines import (TrainingReference, mirror_baseline, nearest_rows,
                                              random_baseline, retrieval_baseline)
from reactface_ros.model import ReactFace, ReactFaceConfig
from reactface_ros.train.features import ensure_face_features

TINY = dict(hidden_size=32, num_heads=4, ff_size=64, latent_size=16, horizon=16, n_mels=20)
METHODS = ["ReactFace (streaming)", "Mirror", "Random", "NN motion", "NN audio",
           "Real listener (reference)"]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = make_reaction_dataset(tmp_path_factory.mktemp("dyadic"), seed=3)
    ensure_face_features(ReactionDataset(root, "val", DatasetConfig(
        load_face_features=False)).face_feature_jobs())
    torch.manual_seed(0)
    model = ReactFace(ReactFaceConfig(**TINY))
    model.set_normalisation(np.load(root / "3D_FV_files/site/s00/listener1/1.npy").mean(0))
    ckpt = tmp_path_factory.mktemp("ckpt")
    model.save_pretrained(ckpt)
    return root, ckpt


def test_evaluation_writes_metrics_table_and_plots(setup, tmp_path):
    root, ckpt = setup
    out = tmp_path / "eval"
    result = evaluate_checkpoint(ckpt, root, out, EvaluationConfig(num_samples=3,
                                                                   progress=False))
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["rows"] == 4 and saved["frames"] == 64 and saved["num_samples"] == 3
    assert list(saved["metrics"]) == METHODS
    for name in METHODS:
        assert set(saved["metrics"][name]["3dmm"]) == {
            "FRCorr", "FRDiv", "FRDvs", "FRVar", "FRSyn"}
        assert set(saved["metrics"][name]["emotion"]) == {
            "FRCorr", "FRDist", "FRDiv", "FRDvs", "FRVar", "FRSyn"}
        assert all(np.isfinite(v) for v in saved["metrics"][name]["3dmm"].values())
    m = saved["metrics"]
    # Mirror copies the speaker: no diversity between samples, perfect synchrony.
    assert m["Mirror"]["3dmm"]["FRDiv"] == 0 and m["Mirror"]["3dmm"]["FRSyn"] == 0
    # Sampling from the model gives different reactions; a seeded Random baseline too.
    assert m["ReactFace (streaming)"]["3dmm"]["FRDiv"] > 0 and m["Random"]["3dmm"]["FRDiv"] > 0
    # The real reaction is the FRCorr ceiling (CCC <= 1 per sample, x10, M = 3).
    ref = m["Real listener (reference)"]["3dmm"]["FRCorr"]
    assert ref <= 30.0 + 1e-9 and all(ref >= m[x]["3dmm"]["FRCorr"] for x in METHODS)
    assert saved["streaming"]["clips"] == 3      # 4 rows, 3 distinct speaker clips
    table = (out / "metrics.md").read_text()
    for name in METHODS:
        assert f"| {name} |" in table
    # Listed and mirrored rows are also scored apart (2 rows each); FRCorr is a mean over rows,
    # so the halves average to the whole.
    by_dir = saved["metrics_by_direction"]
    assert list(by_dir) == ["speaker_to_listener", "listener_to_speaker"]
    for name in METHODS:
        halves = [by_dir[d][name]["3dmm"]["FRCorr"] for d in by_dir]
        assert np.mean(halves) == pytest.approx(m[name]["3dmm"]["FRCorr"], rel=1e-6, abs=1e-9)
    assert "## By direction" in table and "| mirrored rows (the speaker as the reaction) |" in table
    assert saved["appropriate_spread"]["rows"] >= 2 and saved["appropriate_spread"]["3dmm"] > 0
    assert "FRDiv of the real reactions appropriate to a row" in table
    for png in ("reaction_curves.png", "sample_spread.png", "metric_bars.png"):
        data = (out / png).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
    assert result["plots"] == ["reaction_curves.png", "sample_spread.png", "metric_bars.png"]


def test_streamed_reactions_match_whole_sequence_generation(setup):
    root, ckpt = setup
    model = ReactFace.from_pretrained(ckpt)
    ds = ReactionDataset(root, "val", DatasetConfig(load_face_features=False))
    face = np.load(ds.face_features_path(ds.rows[0].speaker))
    audio = ds.speaker_audio(ds.rows[0].speaker)[:len(face) * 640]
    streamed = stream_clip(model, audio, face, num_samples=2, seed=5)
    whole = model.generate(torch.from_numpy(audio)[None], torch.from_numpy(face)[None],
                           num_samples=2, seed=5)[0].numpy()
    assert streamed.shape == whole.shape == (2, len(face), 58)
    np.testing.assert_allclose(streamed, whole, atol=1e-4)


def test_baselines(setup):
    root, _ = setup
    train = ReactionDataset(root, "train", DatasetConfig(load_face_features=False))
    ref = TrainingReference.from_dataset(train)
    frames = np.concatenate([np.load(p) for p in sorted((root / "3D_FV_files").rglob("*.npy"))
                             if p.parts[-3] in ("s00", "s01", "s02")])
    np.testing.assert_allclose(ref.mean, frames.mean(0), atol=1e-5)
    speakers = np.stack([np.asarray(train.coefficients(r.speaker)) for r in train.rows[:3]])
    assert np.array_equal(mirror_baseline(speakers, 4)[:, 2], speakers)
    rnd = random_baseline(ref, 50, 4, 64, seed=0)
    assert rnd.shape == (50, 4, 64, 58)
    np.testing.assert_allclose(rnd.reshape(-1, 58).mean(0), ref.mean, atol=0.05)
    np.testing.assert_allclose(rnd.reshape(-1, 58).std(0), ref.std, rtol=0.05, atol=1e-4)
    # A training speaker's own descriptor retrieves the listeners of its own rows first.
    k = 1
    nn = nearest_rows(ref.motion[k], ref.motion, 2)
    same = [j for j, r in enumerate(train.rows) if r.speaker == train.rows[k].speaker]
    assert set(nn) <= set(same) and k in nn
    got = retrieval_baseline(ref, ref.audio[[k]], ref.audio, 2, 64)
    assert any(np.array_equal(got[0, 0], ref.listeners[j][:64]) for j in same)


def test_bad_checkpoint_and_values_give_clear_errors(setup, tmp_path, capsys):
    root, _ = setup
    from reactface_ros.cli import main

    rc = main(["evaluate", "--checkpoint", str(tmp_path / "none"), "--data-root", str(root),
               "--out", str(tmp_path / "o")])
    assert rc == 1 and "does not exist" in capsys.readouterr().err
    with pytest.raises(ValueError, match="num_samples"):
        EvaluationConfig(num_samples=0)
    assert not Path(tmp_path / "o" / "metrics.json").exists()
    # this checkpoint predicts coefficients, not motion around a face: no gain to set
    rc = main(["evaluate", "--checkpoint", str(setup[1]), "--data-root", str(root),
               "--out", str(tmp_path / "g"), "--motion-gain", "2"])
    assert rc == 1 and "anchored" in capsys.readouterr().err
    assert not Path(tmp_path / "g" / "metrics.json").exists()


def test_speaker_to_listener_rows_only(setup, tmp_path):
    root, ckpt = setup
    result = evaluate_checkpoint(ckpt, root, tmp_path, EvaluationConfig(
        num_samples=2, mirror=False, fr_dist=False, plots=False, progress=False))
    assert result["rows"] == 2 and result["mirrored"] is False
    assert result["streaming"]["clips"] == 1          # both listed pairs share the speaker
    assert "FRDist" not in result["metrics"]["Random"]["emotion"]
    # Every listener coefficient moves in the fixture: the real reaction has CCC 1 with itself.
    ref = result["metrics"]["Real listener (reference)"]["3dmm"]["FRCorr"]
    assert ref == pytest.approx(2 * 10.0)
    assert "speaker -> listener only" in (tmp_path / "metrics.md").read_text()
    assert result["metrics_by_direction"] is None     # no mirrored rows: nothing to split


def test_scoring_a_subset_of_rows_keeps_every_appropriate_reaction():
    """Rows scored apart still find their appropriate reactions among all rows' listeners, and
    the per-row metrics of a partition average to the whole."""
    from reactface_ros.evaluate.scoring import score_partition, score_reactions

    rng = np.random.default_rng(7)
    n, m, t = 4, 3, 60
    listeners = rng.uniform(0.1, 0.9, (n, t, 58)).astype(np.float32)
    speakers = rng.uniform(0.1, 0.9, (n, t, 58)).astype(np.float32)
    pred = rng.uniform(0.1, 0.9, (n, m, t, 58)).astype(np.float32)
    pred[0, 0] = listeners[3]               # row 0 gets row 3's reaction, appropriate to it
    a = np.array([[1, 0, 0, 1], [0, 1, 0, 0], [0, 0, 1, 1], [1, 0, 1, 1]])
    whole = score_reactions(pred, listeners, speakers, a)
    first = score_reactions(pred, listeners, speakers, a, rows=np.array([0, 1]))
    rest = score_reactions(pred, listeners, speakers, a, rows=np.array([2, 3]))
    for space in ("3dmm", "emotion"):
        for key in ("FRCorr", "FRDiv", "FRVar", "FRSyn") + (("FRDist",) if space == "emotion"
                                                            else ()):
            assert (first[space][key] + rest[space][key]) / 2 == pytest.approx(
                whole[space][key], rel=1e-6, abs=1e-9), (space, key)
    # the copied reaction scores CCC 1 only if row 0 still sees row 3's listener
    alone = score_reactions(pred, listeners, speakers, a, rows=np.array([0]), with_fr_dist=False)
    assert alone["3dmm"]["FRCorr"] > 10.0 * 0.9
    with pytest.raises(ValueError, match="rows"):
        score_reactions(pred, listeners, speakers, a, rows=np.array([], int))
    # what evaluate uses: the parts scored once, the whole derived from them (and FRDvs)
    derived, parts = score_partition(pred, listeners, speakers, a,
                                     [np.array([0, 1]), np.array([2, 3])])
    assert parts == [first, rest]
    for space in ("3dmm", "emotion"):
        assert derived[space].keys() == whole[space].keys()
        for key, value in whole[space].items():
            assert derived[space][key] == pytest.approx(value, rel=1e-6, abs=1e-9), (space, key)
    with pytest.raises(ValueError, match="partition"):
        score_partition(pred, listeners, speakers, a, [np.array([0, 1]), np.array([1, 2])])


def test_appropriate_spread_is_fr_div_among_the_real_appropriate_reactions():
    """Rows 0-1 are appropriate to each other, row 2 to nothing: the spread is the FRDiv of
    rows 0 and 1 as two samples (both rows see the same pair), and row 2 is left out."""
    from reactface_ros.evaluate.runner import appropriate_spread
    from reactface_ros.metrics import fr_div

    rng = np.random.default_rng(3)
    listeners = rng.uniform(0.1, 0.9, (3, 40, 58)).astype(np.float32)
    neighbours = np.array([[1, 1, 0], [1, 1, 0], [0, 0, 1]])
    out = appropriate_spread(listeners, neighbours)
    assert out["rows"] == 2
    assert out["3dmm"] == pytest.approx(fr_div(listeners[None, :2]), rel=1e-6)
    assert out["emotion"] > 0
    # the same reactions moved onto one resting face keep only their motion: smaller
    moved = appropriate_spread(listeners, neighbours, np.full((3, 58), 0.5, np.float32))
    assert 0 < moved["3dmm"] <= out["3dmm"]
    assert appropriate_spread(listeners, np.eye(3))["rows"] == 0
