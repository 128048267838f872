"""Training and checkpoints never carry NaN silently: a diverging run stops at the first
non-finite step and writes no non-finite checkpoint, loading validates dtypes and finiteness
(naming the tensor), and a config value of the wrong type names its key and expected type."""
from __future__ import annotations

import json
import math

import pytest
import torch

from reactface_ros.model import ReactFace, ReactFaceConfig
from reactface_ros.model.checkpoint import CheckpointError, load_checkpoint, read_config

TINY = dict(hidden_size=16, num_heads=2, ff_size=32, latent_size=8, horizon=12, n_mels=16,
            period=4, window=8, dropout=0.0)


def _tiny_checkpoint(path):
    torch.manual_seed(0)
    ReactFace(ReactFaceConfig(**TINY)).save_pretrained(path)
    return path


def test_diverging_training_stops_at_the_first_non_finite_step(tmp_path, dataset_root, capsys):
    from test_train import tiny_config

    from reactface_ros.cli import main
    from reactface_ros.train import train

    config = tiny_config(dataset_root, epochs=2, lr=1e30, max_steps=None)
    with pytest.raises(FloatingPointError, match=r"at step \d+.*lower lr") as info:
        train(config, tmp_path / "run")
    assert "step" in str(info.value)
    for weights in (tmp_path / "run").rglob("model.safetensors"):
        ckpt = load_checkpoint(weights.parent)          # validated: finite, or it raises
        assert all(torch.isfinite(t).all() for t in ckpt.state_dict().values())
    # The command line: one line, exit 1.
    config.save(tmp_path / "diverge.yaml")
    capsys.readouterr()
    assert main(["train", "--config", str(tmp_path / "diverge.yaml"), "--out",
                 str(tmp_path / "cli")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "step" in err[0] and "lower lr" in err[0]


def test_infinite_lr_is_a_config_error(tmp_path):
    from reactface_ros.train import TrainConfigError, load_train_config

    (tmp_path / "c.yaml").write_text("lr: .inf\n")
    with pytest.raises(TrainConfigError, match="lr must be > 0 and finite"):
        load_train_config(tmp_path / "c.yaml")


def test_non_finite_weights_are_never_saved_nor_loaded(tmp_path):
    from safetensors.torch import load_file, save_file

    model = ReactFace(ReactFaceConfig(**TINY))
    with torch.no_grad():
        next(model.parameters()).fill_(float("nan"))
    with pytest.raises(CheckpointError, match="non-finite"):
        model.save_pretrained(tmp_path / "nan")
    assert not (tmp_path / "nan" / "model.safetensors").exists()

    path = _tiny_checkpoint(tmp_path / "ok")
    tensors = load_file(str(path / "model.safetensors"))
    name = sorted(n for n, t in tensors.items() if t.is_floating_point())[3]
    tensors[name] = torch.full_like(tensors[name], float("nan"))
    save_file(tensors, str(path / "model.safetensors"))
    with pytest.raises(CheckpointError, match=f"non-finite.*{name}"):
        load_checkpoint(path)

    path = _tiny_checkpoint(tmp_path / "int8")
    tensors = load_file(str(path / "model.safetensors"))
    tensors[name] = tensors[name].to(torch.int8)
    save_file(tensors, str(path / "model.safetensors"))
    with pytest.raises(CheckpointError, match=f"{name}.*dtype torch.int8"):
        load_checkpoint(path)


def test_generate_with_a_nan_checkpoint_is_a_one_line_error(tmp_path, capsys):
    from safetensors.torch import load_file, save_file

    from reactface_ros.cli import main

    path = _tiny_checkpoint(tmp_path / "ckpt")
    tensors = load_file(str(path / "model.safetensors"))
    tensors = {n: (t * float("nan") if t.is_floating_point() else t) for n, t in tensors.items()}
    save_file(tensors, str(path / "model.safetensors"))
    video = tmp_path / "v.mp4"
    from test_bag_recovery import _write_clip

    _write_clip(video, frames=10, size=64)
    code = main(["generate", "--checkpoint", str(path), "--speaker-video", str(video),
                 "--out", str(tmp_path / "r.npy"), "--device", "cpu"])
    assert code != 0 and not (tmp_path / "r.npy").exists()
    assert "non-finite" in capsys.readouterr().err


@pytest.mark.parametrize("key,value,expected", [
    ("momentum", "0.9", "momentum must be a number, got '0.9'"),
    ("hidden_size", 32.5, "hidden_size must be an integer"),
    ("conv3d_channels", [8, "16"], "conv3d_channels must be a list of integers"),
    ("momentum", math.inf, "momentum must be a finite number"),
])
def test_config_values_of_the_wrong_type_name_the_key(tmp_path, key, value, expected):
    path = _tiny_checkpoint(tmp_path / "ckpt")
    data = json.loads((path / "config.json").read_text())
    data[key] = value
    (path / "config.json").write_text(json.dumps(data))
    with pytest.raises(CheckpointError, match=expected):
        read_config(path)


def test_training_model_overrides_are_type_checked(tmp_path):
    from reactface_ros.train import TrainConfigError, load_train_config

    (tmp_path / "c.yaml").write_text("model: {momentum: '0.9'}\n")
    with pytest.raises(TrainConfigError, match="model.momentum must be a number"):
        load_train_config(tmp_path / "c.yaml")


@pytest.fixture(scope="module")
def dataset_root(tmp_path_factory):
    from test_train import dataset_root as make

    return make.__wrapped__(tmp_path_factory)


def test_a_corrupt_speaker_video_stops_training_with_one_line_naming_it(
        tmp_path, dataset_root, capsys):
    import shutil

    from test_train import tiny_config

    from reactface_ros.cli import main
    from reactface_ros.data import DatasetConfig, ReactionDataset

    root = tmp_path / "data"
    shutil.copytree(dataset_root, root, ignore=shutil.ignore_patterns("face_features"))
    video, _ = ReactionDataset(root, "train", DatasetConfig(load_face_features=False)
                               ).face_feature_jobs()[0]
    video.write_bytes(b"\x00\x00\x00\x18ftypmp42 truncated")
    tiny_config(root, epochs=1, max_steps=1).save(tmp_path / "c.yaml")
    capsys.readouterr()
    assert main(["train", "--config", str(tmp_path / "c.yaml"), "--out",
                 str(tmp_path / "run")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(video) in err[0] and "cannot decode" in err[0], err
    assert not list((tmp_path / "run").rglob("model.safetensors"))
