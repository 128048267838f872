"""Training: Algorithm 1 loop, checkpoints and resume, DDP (gloo), face cache, config errors."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from reaction_fixture import make_reaction_dataset
from reactface_ros.data import DatasetConfig, ReactionDataset
from reactface_ros.train import TrainConfig, TrainConfigError, load_train_config, train
from reactface_ros.train.checkpointing import read_training_state
from reactface_ros.train.features import ensure_face_features
from reactface_ros.train.loop import (TrainingRows, batch_loss, build_model, loss_weights,
                                      move_batch, open_split, training_face_statistics)
from reactface_ros.train.run_log import read_log

TINY_MODEL = dict(hidden_size=32, num_heads=4, ff_size=64, latent_size=16, horizon=16,
                  n_mels=20, dropout=0.0)


def tiny_config(root: Path, **overrides) -> TrainConfig:
    base = dict(data_root=str(root), epochs=3, batch_size=4, clip_length=32, lr=3e-3,
                model=dict(TINY_MODEL), log_every=1, progress=False, val_clips=0,
                tensorboard=False, checkpoint_every=1)
    base.update(overrides)
    return TrainConfig(**base)


@pytest.fixture(scope="module")
def dataset_root(tmp_path_factory) -> Path:
    root = make_reaction_dataset(tmp_path_factory.mktemp("dyadic"))
    jobs = []
    for split in ("train", "val"):
        ds = ReactionDataset(root, split, DatasetConfig(load_face_features=False))
        jobs += ds.face_feature_jobs()
    report = ensure_face_features(jobs)
    # Mirrored rows: every clip (4 sessions x (speaker + 2 listeners)) is a speaker once.
    assert report.computed == 12 and report.reused == 0
    return root


def test_feature_cache_is_computed_from_video_and_reused(dataset_root, tmp_path):
    ds = ReactionDataset(dataset_root, "train", DatasetConfig(load_face_features=False))
    jobs = ds.face_feature_jobs()

    def no_analysis():
        raise AssertionError("the cache should have been used")

    report = ensure_face_features(jobs, analyzer_factory=no_analysis)
    assert (report.computed, report.reused) == (0, len(jobs))
    video, cache = jobs[0]
    feats = np.load(cache)
    coeffs = np.load(dataset_root / "3D_FV_files" / (cache.relative_to(
        dataset_root / "face_features").with_suffix(".npy")))
    assert feats.shape == (len(coeffs), 59)
    # The fixture's videos show no face: the features say so, unlike the 3DMM file.
    assert np.all(feats[:, -1] == 0) and not np.allclose(feats[:, :58], coeffs)
    # A damaged cache file is recomputed, the others reused.
    cache.write_bytes(b"not an npy file")
    report = ensure_face_features(jobs)
    assert (report.computed, report.reused) == (1, len(jobs) - 1)
    assert np.array_equal(np.load(cache), feats)


def test_training_reduces_loss_on_a_fixed_batch(dataset_root, tmp_path):
    config = tiny_config(dataset_root, epochs=4, val_split=None)
    ds = open_split(config, "train", training=False)
    rows = TrainingRows(ds, "blendshapes", 112)
    from reactface_ros.data import collate_reactions

    batch = move_batch(collate_reactions([rows[i] for i in range(4)]), torch.device("cpu"))
    model = build_model(config, *training_face_statistics(ds)).eval()
    with torch.no_grad():
        before = batch_loss(model, model, batch, config, teacher_forced=False, seed=1)
    result = train(config, tmp_path / "run")
    assert result.steps == 12 and result.epochs == 4     # 12 rows / 4 per batch x 4 epochs
    from reactface_ros.model import ReactFace

    trained = ReactFace.from_pretrained(tmp_path / "run" / "checkpoints" / "last")
    with torch.no_grad():
        after = batch_loss(trained, trained, batch, config, teacher_forced=False, seed=1)
    # The objective falls well below its start; with l_div = 100 the diversity term drops
    # first, and the speaker reconstruction (same target for every sample) with it.
    assert float(after["total"]) < 0.5 * float(before["total"])
    assert float(after["rec_speaker"]) < 0.5 * float(before["rec_speaker"])
    assert float(after["diversity"]) < float(before["diversity"])
    # The mean face of the training split travels with the weights.
    clips = sorted((dataset_root / "3D_FV_files").rglob("*.npy"))
    train_clips = [c for c in clips if c.parts[-3] in ("s00", "s01", "s02")]
    mean = np.concatenate([np.load(c) for c in train_clips]).mean(0)
    assert np.allclose(trained.mean_face.numpy(), mean, atol=1e-5)
    log = read_log(tmp_path / "run" / "log.csv")
    assert [int(r["step"]) for r in log] == list(range(1, 13))
    assert (tmp_path / "run" / "checkpoints" / "epoch_0004" / "optimizer.safetensors").is_file()
    assert load_train_config(tmp_path / "run" / "train_config.yaml") == config


def test_teacher_forced_batches_can_score_the_listener_they_continue(dataset_root):
    """``teacher_forced_target: own`` scores a teacher-forced batch against the listener whose
    history was fed in; free-running batches keep ``L_rec^a`` over the appropriate set; the
    standard normalisation carries the split's std into the model."""
    from reactface_ros.data import collate_reactions
    from reactface_ros.model.losses import reactface_loss

    own = tiny_config(dataset_root, teacher_forced_target="own",
                      model=dict(TINY_MODEL, normalisation="standard"))
    ds = open_split(own, "train", training=False)
    mean, std = training_face_statistics(ds)
    coeffs = np.concatenate([np.asarray(ds.coefficients(c)) for c in ds.layout.clips()])
    np.testing.assert_allclose(std, coeffs.std(0), rtol=1e-4, atol=1e-6)
    model = build_model(own, mean, std).eval()
    assert torch.equal(model.std_face, torch.from_numpy(np.maximum(std, 1e-3)))
    rows = TrainingRows(ds, "blendshapes", 112)
    batch = move_batch(collate_reactions([rows[i] for i in range(3)]), torch.device("cpu"))
    assert batch["appropriate_listener_3dmm"].shape[1] > 1
    with torch.no_grad():
        got = batch_loss(model, model, batch, own, teacher_forced=True, seed=1)
        out = model(batch["speaker_audio"], batch["speaker_face"], batch["listener_3dmm"],
                    num_samples=own.num_samples, seed=1)
        want = reactface_loss(out, model.normalise(batch["listener_3dmm"])[:, None],
                              model.normalise(batch["speaker_3dmm"]), None,
                              loss_weights(own))
        assert float(got["rec_listener"]) == pytest.approx(float(want["rec_listener"]), rel=1e-5)
        shared = tiny_config(dataset_root, model=dict(TINY_MODEL, normalisation="standard"))
        other = batch_loss(model, model, batch, shared, teacher_forced=True, seed=1)
        assert float(other["rec_listener"]) < float(got["rec_listener"])   # min over more


def test_resume_continues_bit_exactly(dataset_root, tmp_path):
    config = tiny_config(dataset_root, epochs=2, teacher_forcing=0.5, max_steps=5,
                         model=dict(TINY_MODEL, dropout=0.1))
    full = train(config, tmp_path / "full")
    assert full.best_val is not None and (tmp_path / "full/checkpoints/best").is_dir()
    part = train(tiny_config(dataset_root, epochs=2, teacher_forcing=0.5, max_steps=2,
                             model=dict(TINY_MODEL, dropout=0.1)), tmp_path / "part")
    state = read_training_state(tmp_path / "part" / "checkpoints" / "last")
    assert (state["step"], state["epoch"], state["step_in_epoch"]) == (2, 0, 2)
    resumed = train(config, tmp_path / "part", resume=True)
    assert [h["step"] for h in resumed.history] == [3, 4, 5]
    assert {h["teacher_forced"] for h in full.history} == {0.0, 1.0}
    assert part.history + resumed.history == full.history
    from safetensors.torch import load_file

    a = load_file(str(tmp_path / "full/checkpoints/last/model.safetensors"))
    b = load_file(str(tmp_path / "part/checkpoints/last/model.safetensors"))
    assert all(torch.equal(a[k], b[k]) for k in a)
    log = read_log(tmp_path / "part" / "log.csv")
    assert [int(r["step"]) for r in log if r["split"] == "train"] == [1, 2, 3, 4, 5]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_ddp_gloo_two_processes(dataset_root, tmp_path):
    cfg = tiny_config(dataset_root, epochs=1, val_split=None, batch_size=2)
    cfg.save(tmp_path / "tiny.yaml")
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
         "--master_addr", "127.0.0.1", "--master_port", str(_free_port()),
         "-m", "reactface_ros.cli", "train", "--config", str(tmp_path / "tiny.yaml"),
         "--out", str(tmp_path / "ddp"), "--max-steps", "2", "--no-progress"],
        capture_output=True, text=True, timeout=150, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    state = read_training_state(tmp_path / "ddp" / "checkpoints" / "last")
    assert state["step"] == 2 and state["step_in_epoch"] == 2
    log = read_log(tmp_path / "ddp" / "log.csv")
    assert [int(r["step"]) for r in log] == [1, 2]     # one writer: rank 0
    assert "trained 2 steps" in proc.stdout


def test_bad_config_values_are_named(tmp_path, dataset_root):
    def load(text: str):
        p = tmp_path / "c.yaml"
        p.write_text(text)
        return load_train_config(p)

    with pytest.raises(TrainConfigError, match="unknown training config keys.*learning_rate"):
        load("learning_rate: 0.1\n")
    with pytest.raises(TrainConfigError, match="lr must be > 0"):
        load("lr: -1\n")
    with pytest.raises(TrainConfigError, match="epochs must be of type int"):
        load("epochs: many\n")
    with pytest.raises(TrainConfigError, match="num_samples must be >= 2"):
        load("num_samples: 1\n")
    with pytest.raises(TrainConfigError, match="window w .* multiple of period"):
        load("model: {window: 12}\n")
    with pytest.raises(TrainConfigError, match="unknown keys under model.*hidden"):
        load("model: {hidden: 64}\n")
    with pytest.raises(TrainConfigError, match="teacher_forcing"):
        load("teacher_forcing: 2\n")
    with pytest.raises(TrainConfigError, match=r"appropriate_matching must be one of .*chamfer"):
        load("appropriate_matching: nearest\n")
    with pytest.raises(TrainConfigError, match="normalisation must be one of"):
        load("model: {normalisation: zscore}\n")
    with pytest.raises(TrainConfigError, match="does not exist"):
        load_train_config(tmp_path / "missing.yaml")
    assert load("lr: 1\n").lr == 1.0 and isinstance(load("lr: 1\n").lr, float)
    with pytest.raises(TrainConfigError, match="data_root is not set"):
        train(TrainConfig(), tmp_path / "x")
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        train(tiny_config(dataset_root), tmp_path / "nothing", resume=True)
    from reactface_ros.cli import main

    (tmp_path / "bad.yaml").write_text("batch_size: 0\n")
    assert main(["train", "--config", str(tmp_path / "bad.yaml")]) == 1


@pytest.mark.parametrize("name", ["cpu_default", "paper", "listener_default",
                                  "listener_finetune"])
def test_shipped_configs_are_valid(repo_root, name):
    config = load_train_config(repo_root / "config" / "train" / f"{name}.yaml")
    assert config.model_config().face_encoder in ("blendshapes", "conv3d")
    if name.startswith("listener"):
        model = config.model_config()
        assert (model.output, model.personas) == ("anchored", config.num_samples)
    if name == "paper":
        assert (config.kl_weight, config.smooth_weight, config.diversity_weight,
                config.lr) == (1e-5, 10.0, 100.0, 2e-5)
        assert config.num_samples == 3


def test_learning_rate_schedule(dataset_root):
    from reactface_ros.train.loop import learning_rate

    cfg = tiny_config(dataset_root, lr=1e-3, warmup_steps=10, lr_schedule="cosine",
                      min_lr_ratio=0.1)
    lrs = [learning_rate(cfg, s, 110) for s in range(110)]
    assert lrs[0] == pytest.approx(1e-4) and lrs[9] == pytest.approx(1e-3)
    assert lrs[10] == pytest.approx(1e-3) and lrs[-1] == pytest.approx(1e-4)
    assert all(a >= b for a, b in zip(lrs[10:], lrs[11:]))        # decays monotonically
    assert learning_rate(tiny_config(dataset_root, lr=1e-3), 50, 110) == 1e-3
    with pytest.raises(TrainConfigError, match="lr_schedule must be one of"):
        tiny_config(dataset_root, lr_schedule="linear")


def test_listener_model_trains_and_fine_tunes(dataset_root, tmp_path):
    """The anchored persona model trains on the generation path (with own-history steps too),
    saves motion_std, and a fine-tune starts exactly from its weights."""
    from reactface_ros.model import ReactFace

    cfg = tiny_config(dataset_root, model_preset="listener_default",
                      model=dict(TINY_MODEL, cie_pool=8), num_samples=2, epochs=1,
                      appropriate_matching="hungarian", own_history=0.5, diversity_sigma=100.0)
    train(cfg, tmp_path / "base")
    base = ReactFace.from_pretrained(tmp_path / "base" / "checkpoints" / "last")
    assert base.anchored and float(base.motion_std.min()) > 0
    # motion_gain only changes what generation emits: a fine-tune with another gain still
    # starts from the weights, and its checkpoint keeps the gain it was given
    fine = tiny_config(dataset_root, model_preset="listener_default",
                       model=dict(TINY_MODEL, cie_pool=8, motion_gain=2.0), num_samples=2,
                       epochs=1, lr=1e-12,
                       diversity_sigma=100.0,
                       init_checkpoint=str(tmp_path / "base" / "checkpoints" / "last"))
    train(fine, tmp_path / "fine")
    tuned = ReactFace.from_pretrained(tmp_path / "fine" / "checkpoints" / "last")
    for (name, a), b in zip(base.state_dict().items(), tuned.state_dict().values()):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=0, msg=name)
    assert tuned.config.motion_gain == 2.0 and base.config.motion_gain == 1.0
    other = tiny_config(dataset_root, model_preset="listener_default",
                        model=dict(TINY_MODEL, cie_pool=8, personas=3), num_samples=2, epochs=1,
                        diversity_sigma=100.0,
                        init_checkpoint=str(tmp_path / "base" / "checkpoints" / "last"))
    with pytest.raises(TrainConfigError, match="differs in \\['personas'\\]"):
        train(other, tmp_path / "other")


def test_head_pose_weight_scales_only_the_head_rotation_in_the_losses(dataset_root):
    from reactface_ros.constants import ROTATION_SLICE
    from reactface_ros.train.loop import weight_head_pose

    x = torch.randn(2, 3, 5, 58)
    y = weight_head_pose(x, 4.0)
    assert torch.equal(y[..., ROTATION_SLICE], 4.0 * x[..., ROTATION_SLICE])
    keep = torch.ones(58, dtype=torch.bool)
    keep[ROTATION_SLICE] = False
    assert torch.equal(y[..., keep], x[..., keep])
    with pytest.raises(TrainConfigError, match="head_pose_weight must be >= 0"):
        TrainConfig(head_pose_weight=-1.0).validate()
    # In a training batch: the weighted loss differs from the paper's only through the head.
    config = tiny_config(dataset_root, epochs=1)
    ds = open_split(config, "train", training=False)
    rows = TrainingRows(ds, "blendshapes", 112)
    from reactface_ros.data import collate_reactions

    batch = move_batch(collate_reactions([rows[i] for i in range(2)]), torch.device("cpu"))
    model = build_model(config, *training_face_statistics(ds)).eval()
    plain = batch_loss(model, model, batch, config, teacher_forced=False, seed=0)
    config.head_pose_weight = 3.0
    heavy = batch_loss(model, model, batch, config, teacher_forced=False, seed=0)
    assert torch.equal(plain["rec_speaker"], heavy["rec_speaker"])
    assert float(heavy["rec_listener"].detach()) > float(plain["rec_listener"].detach())


@pytest.mark.parametrize("path", sorted((Path(__file__).resolve().parents[1] / "config" / "train")
                                        .glob("*.yaml")), ids=lambda p: p.stem)
def test_shipped_train_configs_load_and_round_trip(path, tmp_path):
    """Every shipped training config is valid (types, ranges, loss settings) and saves back
    to itself, so a typo in a key or value fails here rather than an hour into a run."""
    config = load_train_config(path)
    assert config.name == path.stem
    config.save(tmp_path / "again.yaml")
    assert load_train_config(tmp_path / "again.yaml") == config
