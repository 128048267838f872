"""Checkpoints: ``model.safetensors`` (every weight and the mean face) + ``config.json``.

Loading validates the config (values and their types) and every tensor's name, shape, dtype
and finiteness before touching the model and names each mismatch; nothing is ever unpickled.
Saving refuses non-finite weights and writes each file atomically.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch

from reactface_ros.model.config import ReactFaceConfig

WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "config.json"


class CheckpointError(ValueError):
    """A checkpoint is missing, corrupt or does not match its config."""


def save_checkpoint(model: torch.nn.Module, path: str | Path) -> Path:
    """Save ``model`` (a ReactFace) into directory ``path``; returns the directory."""
    from safetensors.torch import save_file

    from reactface_ros.atomic import atomic_path, write_text

    out = Path(path)
    tensors = {name: t.detach().to("cpu").contiguous().clone()
               for name, t in model.state_dict().items()}
    bad = nonfinite_tensors(tensors)
    if bad:
        raise CheckpointError(f"refusing to save a checkpoint with non-finite weights "
                              f"({_names(bad)}); the training diverged (lower lr)")
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / WEIGHTS_NAME) as tmp:
        save_file(tensors, str(tmp), metadata={"format": "pt"})
    config = model.config.to_dict()
    write_text(out / CONFIG_NAME, json.dumps(config, indent=2, sort_keys=True) + "\n")
    return out


def nonfinite_tensors(tensors: dict) -> list[str]:
    """Names of the floating-point tensors that hold NaN or Inf."""
    return sorted(name for name, t in tensors.items()
                  if t.is_floating_point() and not bool(torch.isfinite(t).all()))


def _names(names: list[str]) -> str:
    return ", ".join(repr(n) for n in names[:5]) + (f" and {len(names) - 5} more"
                                                    if len(names) > 5 else "")


def read_config(path: str | Path) -> ReactFaceConfig:
    """Read and validate ``config.json`` of checkpoint directory ``path``."""
    cfg_path = Path(path) / CONFIG_NAME
    if not cfg_path.is_file():
        raise CheckpointError(f"no {CONFIG_NAME} in {Path(path)}: a ReactFace checkpoint is a "
                              f"directory written by ReactFace.save_pretrained()")
    try:
        data = json.loads(cfg_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{cfg_path} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise CheckpointError(f"{cfg_path} must hold a JSON object")
    try:
        return ReactFaceConfig.from_dict(data)
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"invalid config in {cfg_path}: {exc}") from exc


def load_checkpoint(path: str | Path, device: str | torch.device = "cpu"):
    """Build a ReactFace from checkpoint directory ``path`` and load its weights.

    Raises
    ------
    CheckpointError
        Missing directory/files, corrupt safetensors, missing or unexpected tensors, or a
        tensor whose shape differs from what the config builds (all named).
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from reactface_ros.model.reactface import ReactFace

    root = Path(path)
    if not root.is_dir():
        raise CheckpointError(f"checkpoint directory {root} does not exist (expected a folder "
                              f"with {WEIGHTS_NAME} and {CONFIG_NAME})")
    config = read_config(root)
    weights = root / WEIGHTS_NAME
    if not weights.is_file():
        raise CheckpointError(f"no {WEIGHTS_NAME} in {root}")
    try:
        tensors = load_file(str(weights))
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{weights} is corrupt or not a safetensors file: {exc}") from exc
    model = ReactFace(config, load_pretrained=False)
    expected = model.state_dict()
    problems = []
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    if missing:
        problems.append(f"missing tensors {missing[:10]}{' ...' if len(missing) > 10 else ''}")
    if unexpected:
        problems.append(f"unexpected tensors {unexpected[:10]}"
                        f"{' ...' if len(unexpected) > 10 else ''}")
    for name in sorted(set(expected) & set(tensors)):
        if tuple(expected[name].shape) != tuple(tensors[name].shape):
            problems.append(f"tensor {name!r} has shape {tuple(tensors[name].shape)} in the "
                            f"file but the config builds {tuple(expected[name].shape)}")
        elif expected[name].is_floating_point() != tensors[name].is_floating_point() or (
                not expected[name].is_floating_point()
                and expected[name].dtype != tensors[name].dtype):
            problems.append(f"tensor {name!r} has dtype {tensors[name].dtype} in the file but "
                            f"the model needs {expected[name].dtype}")
    bad = nonfinite_tensors({n: t for n, t in tensors.items() if n in expected})
    if bad:
        problems.append(f"non-finite (NaN/Inf) values in tensor(s) {_names(bad)}; the "
                        "training that wrote it diverged")
    if problems:
        raise CheckpointError(f"checkpoint {root} does not match its config: "
                              + "; ".join(problems))
    model.load_state_dict(tensors, strict=True)
    return model.to(device).eval()
