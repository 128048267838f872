"""Checkpoints: safetensors + JSON round trip, validation errors that name the problem."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from reactface_ros.model import ReactFace, ReactFaceConfig
from reactface_ros.model.checkpoint import CheckpointError

TINY = dict(hidden_size=16, num_heads=2, ff_size=32, latent_size=8, horizon=12, n_mels=16,
            period=4, window=8, dropout=0.0)


@pytest.fixture
def saved(tmp_path):
    torch.manual_seed(0)
    model = ReactFace(ReactFaceConfig(**TINY)).eval()
    model.set_normalisation(np.linspace(0.1, 2.0, 58))
    model.save_pretrained(tmp_path / "ckpt")
    return model, tmp_path / "ckpt"


def test_round_trip(saved):
    model, path = saved
    assert sorted(p.name for p in path.iterdir()) == ["config.json", "model.safetensors"]
    loaded = ReactFace.from_pretrained(path, device="cpu")
    assert loaded.config == model.config
    assert torch.equal(loaded.mean_face, model.mean_face)
    assert "mean_face" in load_file(str(path / "model.safetensors"))
    rng = np.random.default_rng(0)
    audio = rng.standard_normal((1, 16 * 640)).astype(np.float32)
    face = rng.random((1, 16, 59)).astype(np.float32)
    assert torch.equal(loaded.generate(audio, face, num_samples=2, seed=1),
                       model.generate(audio, face, num_samples=2, seed=1))


def test_shape_mismatch_is_named(saved):
    _, path = saved
    cfg = json.loads((path / "config.json").read_text())
    cfg["ff_size"] = 48
    (path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match=r"'cie\.layers\.0\.ff\.net\.0\.weight' has shape "
                                              r"\(32, 16\) in the file but the config builds "
                                              r"\(48, 16\)"):
        ReactFace.from_pretrained(path)


def test_missing_and_unexpected_tensors_are_named(saved):
    _, path = saved
    tensors = load_file(str(path / "model.safetensors"))
    del tensors["slbs.head.weight"]
    tensors["extra.bias"] = torch.zeros(3)
    save_file(tensors, str(path / "model.safetensors"))
    with pytest.raises(CheckpointError) as err:
        ReactFace.from_pretrained(path)
    assert "missing tensors ['slbs.head.weight']" in str(err.value)
    assert "unexpected tensors ['extra.bias']" in str(err.value)


def test_bad_config_values_and_keys(saved):
    _, path = saved
    cfg = json.loads((path / "config.json").read_text())
    (path / "config.json").write_text(json.dumps({**cfg, "windw": 8}))
    with pytest.raises(CheckpointError, match=r"unknown config keys \['windw'\]"):
        ReactFace.from_pretrained(path)
    (path / "config.json").write_text(json.dumps({**cfg, "window": 6}))
    with pytest.raises(CheckpointError, match="multiple of period"):
        ReactFace.from_pretrained(path)
    (path / "config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="not valid JSON"):
        ReactFace.from_pretrained(path)


def test_missing_and_corrupt_files(saved, tmp_path):
    _, path = saved
    with pytest.raises(CheckpointError, match="does not exist"):
        ReactFace.from_pretrained(tmp_path / "nowhere")
    (path / "model.safetensors").write_bytes(b"\x80\x04 not a safetensors file")
    with pytest.raises(CheckpointError, match="corrupt or not a safetensors file"):
        ReactFace.from_pretrained(path)
    (path / "model.safetensors").unlink()
    with pytest.raises(CheckpointError, match="no model.safetensors"):
        ReactFace.from_pretrained(path)
    (path / "config.json").unlink()
    with pytest.raises(CheckpointError, match="no config.json"):
        ReactFace.from_pretrained(path)


def test_standard_normalisation_statistics_travel_in_the_checkpoint(tmp_path):
    model = ReactFace(ReactFaceConfig(**TINY, normalisation="standard")).eval()
    model.set_normalisation(np.linspace(0.1, 2.0, 58), np.linspace(0.05, 0.5, 58))
    model.save_pretrained(tmp_path / "std")
    assert "std_face" in load_file(str(tmp_path / "std" / "model.safetensors"))
    loaded = ReactFace.from_pretrained(tmp_path / "std", device="cpu")
    assert loaded.config.normalisation == "standard"
    assert torch.equal(loaded.std_face, model.std_face)
    assert loaded.to(torch.bfloat16).std_face.dtype == torch.float32
    # A file from a 'standard' model whose std_face went missing is refused by name.
    tensors = load_file(str(tmp_path / "std" / "model.safetensors"))
    del tensors["std_face"]
    save_file(tensors, str(tmp_path / "std" / "model.safetensors"))
    with pytest.raises(CheckpointError, match=r"missing tensors \['std_face'\]"):
        ReactFace.from_pretrained(tmp_path / "std")
