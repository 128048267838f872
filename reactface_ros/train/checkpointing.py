"""Training checkpoints: model, optimiser and progress, without pickle.

A training checkpoint is a folder that :meth:`reactface_ros.model.ReactFace.from_pretrained`
also reads as a model:

* ``model.safetensors`` + ``config.json``: the model (with its mean face), as
  :meth:`~reactface_ros.model.ReactFace.save_pretrained` writes them;
* ``optimizer.safetensors``: every tensor of the optimiser state (``state.<param>.<key>``);
* ``training_state.json``: epoch, step, best validation loss, the optimiser's param groups and
  non-tensor state, the gradient scaler's state and the training config.

Randomness in training is a pure function of ``(seed, step)`` (see :mod:`.loop`), so these
files are all that resuming needs to continue bit for bit.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch

OPTIMIZER_NAME = "optimizer.safetensors"
STATE_NAME = "training_state.json"
#: Version of the training-state layout written here.
STATE_FORMAT_VERSION = 1


class TrainingCheckpointError(ValueError):
    """A training checkpoint is missing, incomplete or does not fit the run."""


def optimizer_to_safetensors(optimizer: torch.optim.Optimizer
                             ) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Split an optimiser state dict into tensors and JSON-serialisable rest.

    Returns
    -------
    tuple
        ``tensors`` (``{"state.<param>.<key>": tensor}``) and ``meta`` (``param_groups`` and
        the non-tensor per-parameter values).
    """
    sd = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for pid, values in sd["state"].items():
        for key, value in values.items():
            if isinstance(value, torch.Tensor):
                tensors[f"state.{pid}.{key}"] = value.detach().to("cpu").contiguous().clone()
            else:
                scalars.setdefault(str(pid), {})[key] = value
    groups = [{k: (list(v) if isinstance(v, tuple) else v) for k, v in g.items()}
              for g in sd["param_groups"]]
    return tensors, {"param_groups": groups, "scalars": scalars}


def optimizer_from_safetensors(tensors: dict[str, torch.Tensor],
                               meta: dict[str, Any]) -> dict[str, Any]:
    """Rebuild an optimiser state dict from :func:`optimizer_to_safetensors` output."""
    state: dict[int, dict[str, Any]] = {}
    for name, value in tensors.items():
        prefix, pid, key = name.split(".", 2)
        if prefix != "state":
            raise TrainingCheckpointError(f"unexpected optimiser tensor {name!r}")
        state.setdefault(int(pid), {})[key] = value
    for pid, values in meta.get("scalars", {}).items():
        state.setdefault(int(pid), {}).update(values)
    groups = []
    for g in meta["param_groups"]:
        g = dict(g)
        if isinstance(g.get("betas"), list):
            g["betas"] = tuple(g["betas"])
        groups.append(g)
    return {"state": state, "param_groups": groups}


def _atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def save_training_checkpoint(path: str | Path, model, optimizer: torch.optim.Optimizer | None,
                             progress: dict[str, Any], scaler=None) -> Path:
    """Write a training checkpoint folder (see the module doc).

    Parameters
    ----------
    path : str or Path
        Folder to (over)write.
    model : ReactFace
        The unwrapped model.
    optimizer : torch.optim.Optimizer or None
        Saved when given (``best`` checkpoints may skip it).
    progress : dict
        JSON-serialisable progress (``epoch``, ``step``, ``best_val``, ``config``, ...).
    scaler : torch.amp.GradScaler, optional
        Gradient scaler whose state is saved.

    Returns
    -------
    Path
        The folder.
    """
    from safetensors.torch import save_file

    out = Path(path)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    state = {"format_version": STATE_FORMAT_VERSION, **progress}
    if optimizer is not None:
        tensors, meta = optimizer_to_safetensors(optimizer)
        tmp = out / (OPTIMIZER_NAME + ".tmp")
        save_file(tensors, str(tmp), metadata={"format": "pt"})
        os.replace(tmp, out / OPTIMIZER_NAME)
        state["optimizer"] = meta
    elif (out / OPTIMIZER_NAME).exists():
        (out / OPTIMIZER_NAME).unlink()
    if scaler is not None and scaler.is_enabled():
        state["scaler"] = {k: (float(v) if isinstance(v, torch.Tensor) else v)
                           for k, v in scaler.state_dict().items()}
    _atomic_write_text(out / STATE_NAME, json.dumps(state, indent=1) + "\n")
    return out


def read_training_state(path: str | Path) -> dict[str, Any]:
    """Read ``training_state.json`` of a checkpoint folder (validated format version)."""
    p = Path(path) / STATE_NAME
    if not p.is_file():
        raise TrainingCheckpointError(
            f"no {STATE_NAME} in {Path(path)}: resume needs a checkpoint written by "
            f"`reactface train` (a plain model folder has no optimiser state)")
    try:
        state = json.loads(p.read_text())
    except json.JSONDecodeError as exc:
        raise TrainingCheckpointError(f"{p} is not valid JSON: {exc}") from exc
    if state.get("format_version") != STATE_FORMAT_VERSION:
        raise TrainingCheckpointError(f"{p} has format_version {state.get('format_version')};"
                                      f" this code reads {STATE_FORMAT_VERSION}")
    return state


def load_training_checkpoint(path: str | Path, model, optimizer: torch.optim.Optimizer,
                             scaler=None) -> dict[str, Any]:
    """Load weights and optimiser state from a training checkpoint into ``model``/``optimizer``.

    Returns
    -------
    dict
        The saved progress (``epoch``, ``step``, ...).
    """
    from safetensors.torch import load_file

    from reactface_ros.model.checkpoint import load_checkpoint

    root = Path(path)
    state = read_training_state(root)
    loaded = load_checkpoint(root, device="cpu")
    if loaded.config.to_dict() != model.config.to_dict():
        raise TrainingCheckpointError(
            f"the model config in {root} differs from the run's model config; resume with the "
            f"same training config, or start a new run with --out")
    model.load_state_dict(loaded.state_dict())
    opt_file = root / OPTIMIZER_NAME
    if "optimizer" not in state or not opt_file.is_file():
        raise TrainingCheckpointError(f"{root} has no optimiser state ({OPTIMIZER_NAME}); "
                                      f"resume from the run's 'last' checkpoint")
    sd = optimizer_from_safetensors(load_file(str(opt_file)), state["optimizer"])
    optimizer.load_state_dict(sd)
    if scaler is not None and "scaler" in state:
        scaler.load_state_dict(state["scaler"])
    return state
