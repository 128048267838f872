"""Training ReactFace (paper Algorithm 1) on a dyadic dataset, on one process or under DDP.

Per step, for a batch of rows (speaker audio ``(B, T * 640)``, speaker face features
``(B, T, 59)``, the appropriate real listener reactions ``(B, K, T, 58)``):

1. the speaker is encoded once and M = ``num_samples`` reactions ``(B, M, T, 58)`` are drawn
   from that shared encoding by the model's whole-sequence forward. Without teacher forcing
   this is exactly what :meth:`~reactface_ros.model.ReactFace.generate` and the streaming
   engine compute (same windows, horizon and positions);
2. ``L = L_rec^a + L_rec^s + l_kl KL + l_smo L_smo + l_div L_div`` with the model's loss
   functions (:func:`reactface_ros.model.losses.reactface_loss`), ``L_rec^a`` the min over the
   appropriate real reactions;
3. one AdamW step.

Every random choice (initialisation, crops, order, teacher forcing, dropout, sampling noise) is
a function of ``(seed, epoch, step, rank)``, so a resumed run continues exactly like an
uninterrupted one. The mean face is computed from the training split and stored in the model.
"""
from __future__ import annotations

import math
import os
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from reactface_ros.train.checkpointing import (load_training_checkpoint,
                                               save_training_checkpoint)
from reactface_ros.train.config import TrainConfig, TrainConfigError
from reactface_ros.train.features import crop_cache_path, ensure_face_features
from reactface_ros.train.run_log import TrainingLogger

LOSS_TERMS = ("total", "rec_listener", "rec_speaker", "kl", "smooth", "diversity")


# ---------------------------------------------------------------------------- processes
@dataclass
class DistEnv:
    """Where this process sits in a (possibly single-process) run.

    Attributes
    ----------
    rank, world_size, local_rank : int
        As set by ``torchrun`` (0, 1, 0 without it).
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """Whether this process writes logs and checkpoints."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        """Whether more than one process trains."""
        return self.world_size > 1

    @classmethod
    def from_environment(cls) -> "DistEnv":
        """Read ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK`` (set by ``torchrun``)."""
        return cls(int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)),
                   int(os.environ.get("LOCAL_RANK", 0)))

    def barrier(self) -> None:
        """Wait for every process (no-op on one process)."""
        if self.distributed:
            torch.distributed.barrier()


def resolve_device(name: str, env: DistEnv) -> torch.device:
    """``"auto"``/``"cpu"``/``"cuda"`` -> a device (``cuda:<local_rank>`` under DDP)."""
    if name == "cuda" and not torch.cuda.is_available():
        raise TrainConfigError("device is 'cuda' but torch sees no CUDA device; use device: "
                               "auto or cpu")
    if name == "cuda" or (name == "auto" and torch.cuda.is_available()):
        return torch.device("cuda", env.local_rank if env.distributed else 0)
    return torch.device("cpu")


def step_seed(seed: int, step: int, rank: int = 0, stream: int = 0) -> int:
    """A 62-bit seed that depends only on its arguments."""
    rng = np.random.default_rng([int(seed), int(step), int(rank), int(stream)])
    return int(rng.integers(0, 2 ** 62))


def epoch_batches(num_rows: int, batch_size: int, seed: int, epoch: int,
                  env: DistEnv | None = None) -> list[list[int]]:
    """Batches of one epoch for this process: a seeded permutation, split between processes.

    The permutation is padded (by wrapping) to a multiple of the number of processes, so all
    processes run the same number of steps.
    """
    env = env or DistEnv()
    order = np.random.default_rng([int(seed), int(epoch), 17]).permutation(num_rows)
    pad = (-len(order)) % env.world_size
    order = np.concatenate([order, order[:pad]])[env.rank::env.world_size]
    return [order[i:i + batch_size].tolist() for i in range(0, len(order), batch_size)]


# ---------------------------------------------------------------------------- data
class TrainingRows(Dataset):
    """A :class:`~reactface_ros.data.ReactionDataset` plus the face input the model reads.

    Adds ``speaker_face``: the cached ``(T, 59)`` face features (``blendshapes``) or the cached
    ``(T, 3, S, S)`` uint8 crops (``conv3d``), at the item's crop.
    """

    def __init__(self, dataset, face_encoder: str, crop_size: int) -> None:
        self.dataset = dataset
        self.face_encoder, self.crop_size = face_encoder, crop_size

    def __len__(self) -> int:
        """Rows of the wrapped dataset."""
        return len(self.dataset)

    def __getitem__(self, index: int) -> dict[str, Any]:
        """The dataset item with ``speaker_face`` added."""
        item = self.dataset[index]
        t = item["speaker_3dmm"].shape[0]
        path = Path(item["speaker_face_features_path"])
        if self.face_encoder == "conv3d":
            src = crop_cache_path(path, self.crop_size)
        else:
            src = path
        if not src.is_file():
            raise FileNotFoundError(f"face-feature cache {src} is missing; training computes it "
                                    f"from the speaker video before the first epoch")
        a = np.load(src, mmap_mode="r", allow_pickle=False)
        s = item["start"]
        seg = np.array(a[s:s + t])
        if len(seg) < t:   # video shorter than the coefficients: hold the last frame
            seg = np.concatenate([seg, np.repeat(seg[-1:], t - len(seg), axis=0)])
        item["speaker_face"] = torch.from_numpy(np.ascontiguousarray(seg))
        item.pop("speaker_face_features", None)
        return item


def open_split(config: TrainConfig, split: str, training: bool):
    """The split as a :class:`~reactface_ros.data.ReactionDataset` for training/validation."""
    from reactface_ros.data import DatasetConfig, ReactionDataset

    cfg = DatasetConfig(layout=config.layout, clip_length=config.clip_length,
                        mirror=config.mirror,
                        random_crop=training, seed=config.seed, load_emotion=False,
                        load_appropriate=True, max_appropriate=config.max_appropriate,
                        load_face_features=False, face_feature_dir=config.face_feature_dir)
    return ReactionDataset(config.data_root, split, cfg)


def training_face_statistics(dataset) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation ``(58,)`` over every frame of every clip of a split.

    Speakers and listeners alike; the model normalises its inputs and outputs with them.
    """
    total, squares, count = None, None, 0
    for clip in dataset.layout.clips():
        c = np.asarray(dataset.coefficients(clip), dtype=np.float64)
        total = c.sum(0) if total is None else total + c.sum(0)
        squares = (c * c).sum(0) if squares is None else squares + (c * c).sum(0)
        count += len(c)
    if not count:
        raise ValueError("the training split has no frames to compute the mean face from")
    mean = total / count
    std = np.sqrt(np.maximum(squares / count - mean * mean, 0.0))
    return mean.astype(np.float32), std.astype(np.float32)


def training_motion_statistics(dataset) -> np.ndarray:
    """Spread ``(58,)`` of every clip's motion around its own resting face, over a split.

    The motion of a clip is its coefficients minus
    :func:`~reactface_ros.model.reactface.resting_face` of the whole clip; ``output:
    anchored`` models divide motion by this (``motion_std``).
    """
    from reactface_ros.model.reactface import resting_face

    squares, count = None, 0
    for clip in dataset.layout.clips():
        c = torch.from_numpy(np.array(dataset.coefficients(clip), dtype=np.float32))
        motion = (c - resting_face(c)[None]).double().numpy()
        sq = (motion * motion).sum(0)
        squares = sq if squares is None else squares + sq
        count += len(c)
    if not count:
        raise ValueError("the training split has no frames to compute the motion spread from")
    return np.sqrt(squares / count).astype(np.float32)


def move_batch(batch: dict[str, Any], device: torch.device) -> dict[str, Any]:
    """Tensors of a collated batch on ``device`` (face crops stay uint8)."""
    return {k: (v.to(device, non_blocking=True) if isinstance(v, torch.Tensor) else v)
            for k, v in batch.items()}


# ---------------------------------------------------------------------------- loss
def loss_weights(config: TrainConfig):
    """The :class:`~reactface_ros.model.losses.LossWeights` of a config."""
    from reactface_ros.model.losses import LossWeights

    return LossWeights(kl=config.kl_weight, smooth=config.smooth_weight,
                       diversity=config.diversity_weight, diversity_sigma=config.diversity_sigma,
                       resting_face=config.resting_face_weight,
                       matching=config.appropriate_matching,
                       matching_relax=config.matching_relax,
                       envelope=config.envelope_weight, envelope_sigma=config.envelope_sigma,
                       pose_loss=config.pose_loss)


def batch_anchor(module, batch: dict[str, Any], neutral_prob: float = 0.0,
                 rng: np.random.Generator | None = None) -> torch.Tensor | None:
    """Anchor faces ``(B, 58)`` of a batch: each row's listener resting face.

    With probability ``neutral_prob`` (drawn from ``rng``) a row gets the neutral face
    instead. ``None`` for models without ``output: anchored``.
    """
    from reactface_ros.constants import NUM_BLENDSHAPES
    from reactface_ros.model.reactface import neutral_face, resting_face

    if not module.anchored:
        return None
    anchor = resting_face(batch["listener_3dmm"].to(module.device))
    # Data whose expression coefficients leave [0, 1] (fitted 3DMMs can) still gives a valid
    # anchor; the targets keep their own values.
    anchor[:, :NUM_BLENDSHAPES] = anchor[:, :NUM_BLENDSHAPES].clamp(0.0, 1.0)
    if neutral_prob > 0 and rng is not None:
        pick = torch.from_numpy(rng.random(anchor.shape[0]) < neutral_prob).to(anchor.device)
        neutral = anchor.new_tensor(neutral_face())[None].expand_as(anchor)
        anchor = torch.where(pick[:, None], neutral, anchor)
    return anchor


def batch_loss(model, module, batch: dict[str, Any], config: TrainConfig,
               teacher_forced: bool, seed: int | None = None, own_history: bool = False,
               rng: np.random.Generator | None = None) -> dict[str, torch.Tensor]:
    """The five loss terms and their total for one batch.

    Parameters
    ----------
    model : torch.nn.Module
        What to call (the DDP wrapper in distributed training).
    module : ReactFace
        The model itself (normalisation).
    batch : dict
        Collated, on the model's device.
    config : TrainConfig
        Loss weights and M.
    teacher_forced : bool
        Feed the real listener reaction as the CIE history.
    seed : int, optional
        Fixed sampling noise (validation); ``None`` draws from torch's generator.
    own_history : bool
        Scheduled sampling: the model's own history, all windows in one parallel pass.
    rng : np.random.Generator, optional
        Draws which rows get the neutral anchor (``neutral_anchor``); ``None``: none do.
    """
    from reactface_ros.model.losses import reactface_loss

    listener = batch["listener_3dmm"] if teacher_forced else None
    anchor = batch_anchor(module, batch, config.neutral_anchor, rng)
    out = model(batch["speaker_audio"], batch["speaker_face"], listener,
                num_samples=config.num_samples, seed=seed, listener_face=anchor,
                own_history=own_history and not teacher_forced)
    out.reactions = out.reactions.float()
    out.speaker_reconstruction = out.speaker_reconstruction.float()
    out.mu, out.logvar = out.mu.float(), out.logvar.float()
    if teacher_forced and config.teacher_forced_target == "own":
        appropriate, valid = module.reaction_targets(batch["listener_3dmm"])[:, None], None
    else:
        appropriate = module.reaction_targets(batch["appropriate_listener_3dmm"])
        valid = batch["appropriate_mask"]
    if config.head_pose_weight != 1.0:
        out.reactions, appropriate = (weight_head_pose(x, config.head_pose_weight)
                                      for x in (out.reactions, appropriate))
    return reactface_loss(out, appropriate, module.normalise(batch["speaker_3dmm"]), valid,
                          loss_weights(config))


def weight_head_pose(reactions: torch.Tensor, weight: float) -> torch.Tensor:
    """``reactions`` (``(..., 58)``, loss units) with the head rotation scaled by ``weight``."""
    from reactface_ros.constants import ROTATION_SLICE

    scale = reactions.new_ones(reactions.shape[-1])
    scale[ROTATION_SLICE] = weight
    return reactions * scale


@torch.no_grad()
def validation_loss(module, loader, config: TrainConfig, device: torch.device,
                    seed: int) -> dict[str, float]:
    """Mean loss terms over a loader, autoregressive (the generation path), fixed noise."""
    was_training = module.training
    module.eval()
    sums = {k: 0.0 for k in LOSS_TERMS}
    n = 0
    for batch in loader:
        batch = move_batch(batch, device)
        terms = batch_loss(module, module, batch, config, teacher_forced=False, seed=seed)
        b = batch["speaker_audio"].shape[0]
        for k in LOSS_TERMS:
            sums[k] += float(terms[k]) * b
        n += b
    module.train(was_training)
    return {k: v / max(n, 1) for k, v in sums.items()}


# ---------------------------------------------------------------------------- the run
@dataclass
class TrainResult:
    """What :func:`train` did.

    Attributes
    ----------
    run_dir : Path
        Output folder.
    steps : int
        Optimiser steps done in total (including before a resume).
    epochs : int
        Completed epochs.
    history : list of dict
        Per step of this call: ``step``, ``epoch`` and every loss term (float).
    validation : list of dict
        Per validation: ``epoch``, ``step`` and the loss terms.
    best_val : float or None
        Lowest validation total loss.
    """

    run_dir: Path
    steps: int = 0
    epochs: int = 0
    history: list[dict[str, float]] = field(default_factory=list)
    validation: list[dict[str, float]] = field(default_factory=list)
    best_val: float | None = None


def check_finite_step(loss, model, step: int, lr: float) -> None:
    """Stop training at the first non-finite loss (before the update) or weight (after it).

    Raises
    ------
    FloatingPointError
        Naming the step and the likely cause; no checkpoint of this state is written.
    """
    if loss is not None and not bool(torch.isfinite(loss.detach()).all()):
        raise FloatingPointError(f"the training loss is {float(loss.detach())} at step {step} "
                                 f"(lr {lr:g}): the run diverged or a batch holds NaN/Inf; "
                                 "lower lr, set grad_clip or check the data. Stopped before "
                                 "the update; the last finite checkpoint is kept")
    if model is not None:
        norms = torch._foreach_norm([p.detach() for p in model.parameters()])
        if norms and not bool(torch.isfinite(torch.stack(norms)).all()):
            raise FloatingPointError(f"the update at step {step} (lr {lr:g}) made the weights "
                                     "non-finite: lower lr or set grad_clip. No checkpoint of "
                                     "this state is written")


def learning_rate(config: TrainConfig, step: int, total_steps: int) -> float:
    """Learning rate of (0-based) ``step``: linear warm-up, then constant or cosine decay."""
    if config.warmup_steps and step < config.warmup_steps:
        return config.lr * (step + 1) / config.warmup_steps
    if config.lr_schedule == "constant":
        return config.lr
    span = max(1, total_steps - config.warmup_steps - 1)
    progress = min(1.0, (step - config.warmup_steps) / span)
    low = config.min_lr_ratio
    return config.lr * (low + (1.0 - low) * 0.5 * (1.0 + math.cos(math.pi * progress)))


def _autocast(device: torch.device, config: TrainConfig):
    if device.type == "cuda" and config.amp:
        dtype = torch.bfloat16 if config.amp_dtype == "bfloat16" else torch.float16
        return torch.autocast("cuda", dtype=dtype)
    return nullcontext()


def build_model(config: TrainConfig, mean_face: np.ndarray, std_face: np.ndarray | None = None,
                motion_std: np.ndarray | None = None):
    """A freshly initialised ReactFace (seeded) with the training face statistics.

    ``std_face`` is used only when the model normalises with ``standard``, ``motion_std``
    (required then) only with ``output: anchored``.
    """
    from reactface_ros.model import ReactFace

    torch.manual_seed(config.seed)
    model = ReactFace(config.model_config())
    standard = model.config.normalisation == "standard"
    model.set_normalisation(mean_face, std_face if standard else None)
    if model.anchored:
        if motion_std is None:
            raise ValueError("an output: anchored model needs motion_std (the training "
                             "split's motion spread, training_motion_statistics)")
        model.set_motion_scale(motion_std)
    return model


#: Model config fields that change what a model emits at run time, not the model itself:
#: a checkpoint that differs only in these still initialises the model.
INFERENCE_ONLY_FIELDS = ("motion_gain",)


def init_from_checkpoint(model, path: str | Path) -> None:
    """Copy the weights and statistics of the checkpoint at ``path`` into ``model``.

    Raises :class:`TrainConfigError` when the checkpoint's config builds another model
    (:data:`INFERENCE_ONLY_FIELDS` may differ).
    """
    from reactface_ros.model.checkpoint import load_checkpoint

    source = load_checkpoint(path)
    mine, theirs = model.config.to_dict(), source.config.to_dict()
    differ = sorted(k for k in mine if mine[k] != theirs.get(k)
                    and k not in INFERENCE_ONLY_FIELDS)
    if differ:
        raise TrainConfigError(f"init_checkpoint {path} was trained with another model config "
                               f"(differs in {differ}); fine-tune with the same model settings")
    model.load_state_dict(source.state_dict(), strict=True)


def train(config: TrainConfig, out_dir: str | Path | None = None, resume: bool = False,
          env: DistEnv | None = None) -> TrainResult:
    """Train a ReactFace model; write logs and checkpoints under ``out_dir``.

    Parameters
    ----------
    config : TrainConfig
        The run's configuration (``data_root`` must be set).
    out_dir : str or Path, optional
        Run folder (default ``runs/<config.name>``).
    resume : bool
        Continue from ``<out_dir>/checkpoints/last``.
    env : DistEnv, optional
        Process placement (default: from the ``torchrun`` environment; a process group is
        created when ``WORLD_SIZE > 1``).

    Returns
    -------
    TrainResult
        Steps, per-step losses and validation results of this call.
    """
    if not config.data_root:
        raise TrainConfigError("data_root is not set: give --data-root DIR or data_root: in the "
                               "config (a dataset in the ReactFace or challenge layout, e.g. "
                               "one written by `reactface synth`)")
    env = env or DistEnv.from_environment()
    run_dir = Path(out_dir) if out_dir is not None else Path("runs") / config.name
    device = resolve_device(config.device, env)
    own_group = False
    if env.distributed and not torch.distributed.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        if device.type == "cuda":
            torch.cuda.set_device(device)
        torch.distributed.init_process_group(backend=backend)
        own_group = True
    try:
        return _train(config, run_dir, resume, env, device)
    finally:
        if own_group:
            torch.distributed.destroy_process_group()


def _train(config: TrainConfig, run_dir: Path, resume: bool, env: DistEnv,
           device: torch.device) -> TrainResult:
    from tqdm import tqdm

    from reactface_ros.data import collate_reactions

    if config.num_threads:
        torch.set_num_threads(config.num_threads)
    model_cfg = config.model_config()
    last_dir = run_dir / "checkpoints" / "last"
    if resume and not last_dir.is_dir():
        raise FileNotFoundError(f"--resume: no checkpoint at {last_dir}; train without "
                                f"--resume first")
    if env.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        config.save(run_dir / "train_config.yaml")

    train_ds = open_split(config, config.train_split, training=True)
    val_ds = open_split(config, config.val_split, training=False) if config.val_split else None
    crop = model_cfg.crop_size if model_cfg.face_encoder == "conv3d" else None
    if env.is_main:
        jobs = train_ds.face_feature_jobs() + (val_ds.face_feature_jobs() if val_ds else [])
        ensure_face_features(jobs, crop, progress=config.progress)
    env.barrier()

    motion_std = (training_motion_statistics(train_ds)
                  if model_cfg.output == "anchored" else None)
    model = build_model(config, *training_face_statistics(train_ds), motion_std)
    if config.init_checkpoint:
        init_from_checkpoint(model, config.init_checkpoint)
    model = model.to(device)
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, betas=tuple(config.betas),
                                  weight_decay=config.weight_decay)
    scaler = torch.amp.GradScaler("cuda", enabled=(device.type == "cuda" and config.amp
                                                   and config.amp_dtype == "float16"))
    step, epoch, skip, best_val = 0, 0, 0, None
    if resume:
        progress = load_training_checkpoint(last_dir, model, optimizer, scaler)
        step, epoch = int(progress["step"]), int(progress["epoch"])
        skip, best_val = int(progress.get("step_in_epoch", 0)), progress.get("best_val")
    net: torch.nn.Module = model
    if env.distributed:
        from torch.nn.parallel import DistributedDataParallel

        net = DistributedDataParallel(model, device_ids=[device.index]
                                      if device.type == "cuda" else None)

    rows = TrainingRows(train_ds, model_cfg.face_encoder, model_cfg.crop_size)
    val_loader = None
    if val_ds is not None:
        n_val = len(val_ds) if not config.val_clips else min(config.val_clips, len(val_ds))
        picks = np.unique(np.linspace(0, len(val_ds) - 1, n_val).round().astype(int))
        val_rows = TrainingRows(val_ds, model_cfg.face_encoder, model_cfg.crop_size)
        val_loader = DataLoader(torch.utils.data.Subset(val_rows, picks.tolist()),
                                batch_size=config.batch_size, collate_fn=collate_reactions)
    logger = TrainingLogger(run_dir, config.tensorboard, append=resume) if env.is_main else None
    result = TrainResult(run_dir, steps=step, epochs=epoch, best_val=best_val)
    progress_info = {"config": config.to_dict()}
    steps_per_epoch = len(epoch_batches(len(rows), config.batch_size, config.seed, 0, env))
    total_steps = steps_per_epoch * config.epochs
    if config.max_steps is not None:
        total_steps = min(total_steps, config.max_steps)
    stop = False
    window: dict[str, list[float]] = {k: [] for k in LOSS_TERMS}
    t_window = time.monotonic()
    try:
        while epoch < config.epochs and not stop:
            train_ds.set_epoch(epoch)
            batches = epoch_batches(len(rows), config.batch_size, config.seed, epoch, env)
            loader = DataLoader(rows, batch_sampler=batches[skip:], collate_fn=collate_reactions,
                                num_workers=config.num_workers)
            bar = tqdm(loader, total=len(batches), initial=skip, desc=f"epoch {epoch + 1}",
                       unit="step", disable=not (config.progress and env.is_main),
                       dynamic_ncols=True)
            in_epoch = skip
            for batch in bar:
                batch = move_batch(batch, device)
                rng = np.random.default_rng([config.seed, step, 1])
                draw = rng.random()
                teacher = bool(draw < config.teacher_forcing)
                own = (not teacher) and draw < config.teacher_forcing + config.own_history
                torch.manual_seed(step_seed(config.seed, step, env.rank))
                lr = learning_rate(config, step, total_steps)
                for group in optimizer.param_groups:
                    group["lr"] = lr
                with _autocast(device, config):
                    terms = batch_loss(net, model, batch, config, teacher, own_history=own,
                                       rng=rng)
                check_finite_step(terms["total"], None, step + 1, lr)
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(terms["total"]).backward()
                if config.grad_clip is not None:
                    scaler.unscale_(optimizer)
                    torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
                scaler.step(optimizer)
                scaler.update()
                check_finite_step(None, model, step + 1, lr)
                step += 1
                in_epoch += 1
                values = {k: float(terms[k].detach()) for k in LOSS_TERMS}
                if not math.isfinite(values["total"]):
                    raise FloatingPointError(f"the training loss became {values['total']} at "
                                             f"step {step}; lower lr or check the data")
                result.history.append({"step": step, "epoch": epoch + 1,
                                       "teacher_forced": float(teacher),
                                       "own_history": float(own), **values})
                for k in LOSS_TERMS:
                    window[k].append(values[k])
                bar.set_postfix(loss=f"{values['total']:.4f}")
                if logger is not None and step % config.log_every == 0:
                    now = time.monotonic()
                    logger.log({"split": "train", "epoch": epoch + 1, "step": step, "lr": lr,
                                "teacher_forced": float(teacher), "seconds": now - t_window,
                                **{k: float(np.mean(v)) for k, v in window.items()}})
                    window = {k: [] for k in LOSS_TERMS}
                    t_window = now
                if config.max_steps is not None and step >= config.max_steps:
                    stop = True
                    break
            bar.close()
            skip = 0
            if not stop or in_epoch == len(batches):
                epoch += 1
                in_epoch = 0
            result.steps, result.epochs = step, epoch
            finished_epoch = in_epoch == 0
            if finished_epoch and val_loader is not None and env.is_main and \
                    (epoch % config.val_every == 0 or epoch == config.epochs or stop):
                val = validation_loss(model, val_loader, config, device, seed=config.seed)
                result.validation.append({"epoch": epoch, "step": step, **val})
                if logger is not None:
                    logger.log({"split": "val", "epoch": epoch, "step": step, "lr": lr, **val})
                if best_val is None or val["total"] < best_val:
                    best_val = val["total"]
                    save_training_checkpoint(run_dir / "checkpoints" / "best", model, None,
                                             {**progress_info, "epoch": epoch, "step": step,
                                              "step_in_epoch": 0, "best_val": best_val,
                                              "val": val})
            result.best_val = best_val
            if env.is_main:
                state = {**progress_info, "epoch": epoch, "step": step,
                         "step_in_epoch": in_epoch, "best_val": best_val}
                save_training_checkpoint(last_dir, model, optimizer, state, scaler)
                if finished_epoch and epoch % config.checkpoint_every == 0:
                    save_training_checkpoint(run_dir / "checkpoints" / f"epoch_{epoch:04d}",
                                             model, optimizer, state, scaler)
            env.barrier()
    finally:
        if logger is not None:
            logger.close()
    return result
