"""The one typed training configuration, read from YAML and saved with every run.

A YAML file holds the fields of :class:`TrainConfig` at its top level; ``model`` holds
overrides of :class:`reactface_ros.model.ReactFaceConfig` on top of ``model_preset``. Unknown
keys, wrong types and out-of-range values raise :class:`TrainConfigError` naming the key.
"""
from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MODEL_PRESETS = ("cpu_default", "listener_default", "paper")
DEVICES = ("auto", "cpu", "cuda")
AMP_DTYPES = ("bfloat16", "float16")
LR_SCHEDULES = ("constant", "cosine")


class TrainConfigError(ValueError):
    """A training configuration value is missing, unknown or out of range."""


@dataclass
class TrainConfig:
    """Hyper-parameters and bookkeeping of one training run (paper Algorithm 1).

    Attributes
    ----------
    name : str
        Run name (the default output folder is ``runs/<name>``).
    data_root : str or None
        Dataset root (ReactFace or challenge layout); ``--data-root`` overrides it.
    layout : str
        ``"auto"``, ``"reactface"`` or ``"challenge"``.
    train_split, val_split : str
        Split names; ``val_split`` may be ``None`` (no validation, no "best" checkpoint).
    mirror : bool
        Use the mirrored rows (both layouts' convention: ``2P`` rows, roles swapped in the
        second half); ``False`` keeps the ``P`` speaker -> listener rows as listed.
    model_preset : str
        ``"cpu_default"``, ``"listener_default"`` or ``"paper"``
        (:class:`~reactface_ros.model.ReactFaceConfig`).
    model : dict
        Overrides of the preset's model fields.
    epochs : int
        Passes over the training rows.
    max_steps : int or None
        Stop after this many optimiser steps (whatever the epoch).
    batch_size : int
        Rows per step on each process.
    clip_length : int
        Frames per training crop (random position each epoch).
    num_samples : int
        M reactions drawn from one shared speaker encoding per row (>= 2 for L_div).
    teacher_forcing : float
        Probability that a step feeds the real listener reaction as the history the CIE sees
        (all windows in parallel); otherwise the step runs autoregressively, exactly the path
        :meth:`~reactface_ros.model.ReactFace.generate` and the streaming engine compute.
    lr, weight_decay : float
        AdamW learning rate and weight decay.
    betas : list of float
        AdamW betas.
    warmup_steps : int
        Linear learning-rate warm-up from 0 (0: none).
    lr_schedule : str
        ``"constant"`` or ``"cosine"`` (after the warm-up, decay to ``min_lr_ratio * lr`` at
        the last step of ``epochs`` or ``max_steps``).
    min_lr_ratio : float
        Final learning rate of the cosine schedule, as a fraction of ``lr``.
    grad_clip : float or None
        Clip the global gradient norm (``None``: no clipping).
    kl_weight, smooth_weight, diversity_weight : float
        l_kl, l_smo and l_div of ``L = L_rec^a + L_rec^s + l_kl KL + l_smo L_smo + l_div L_div``.
    diversity_sigma : float
        sigma_d of the diversity kernel.
    resting_face_weight : float
        Weight of the resting-face part of ``L_rec^a`` (1: the paper's loss; below 1 the
        movements decide which appropriate reaction a sample is matched to; see
        :func:`reactface_ros.model.losses.appropriate_reconstruction_loss`).
    head_pose_weight : float
        Scale of the head rotation (coefficients 52:55, in the units the losses compare) in
        ``L_rec^a``, ``L_smo`` and ``L_div`` (1: the paper, every coefficient alike). The
        head carries a listener's main backchannel, the nod, in 3 of 58 coefficients; a
        weight above 1 makes a nod count as much in matching and reconstruction as a smile
        does (``config/train/listener_refine.yaml``, ``docs/training.md``).
    envelope_weight : float
        Weight of the head-motion envelope distance in ``L_rec^a`` (0: none): how far the
        head rotation moves around its local mean (a local standard deviation over
        ``envelope_sigma`` frames) in a sample against the same in each appropriate reaction,
        added to their distance before matching. A pointwise loss against listeners who nod
        at different, unknown lags is smallest for a head that does not move; the envelope
        rewards nodding when they nod, a few frames early or late
        (:func:`reactface_ros.model.losses.envelope_distance`).
    envelope_sigma : float
        Width in frames of the envelope's Gaussian smoothing.
    pose_loss : str
        How ``L_rec^a`` compares the head rotation: ``smooth_l1`` (the paper, like every
        coefficient) or ``l2`` (``0.5 x^2``: its optimum is the conditional mean, a head that
        moves when nods are likely, where SmoothL1's median against nods at uncertain times is
        a still head; :func:`reactface_ros.model.losses.elementwise_distance`).
    teacher_forced_target : str
        What a teacher-forced batch is scored against: ``appropriate`` (``L_rec^a`` as in
        free-running batches) or ``own`` (the listener whose history was fed in: the history
        says which of the appropriate reactions is being continued).
    appropriate_matching : str
        ``sample`` (the paper: each sample to its closest appropriate reaction), ``coverage``
        (each appropriate reaction to its closest sample, so the samples cover them),
        ``chamfer`` (the mean of both) or ``wta`` (winner takes all: ``coverage`` plus
        ``matching_relax`` times ``sample``, so samples that win no reaction still learn).
    matching_relax : float
        Weight of the ``sample`` direction in ``wta`` matching.
    own_history : float
        Probability that a step is a scheduled-sampling step: a no-grad autoregressive pass
        makes the model's own history, then one parallel pass with gradients computes every
        window from it (the same reactions as the autoregressive path, at a fraction of the
        cost). Steps that are neither teacher-forced nor own-history run autoregressively.
    neutral_anchor : float
        ``output: anchored`` models: probability that a row's anchor (the listener face the
        reaction is generated around) is the neutral face instead of that listener's own
        resting face, so the model also learns to react from the neutral face it gets by
        default at run time.
    max_appropriate : int
        Appropriate real reactions loaded per row for L_rec^a (the min runs over them).
    seed : int
        Seed of initialisation, crops, order, dropout and sampling noise.
    device : str
        ``"auto"`` (CUDA when available), ``"cpu"`` or ``"cuda"``.
    amp : bool
        Mixed precision on CUDA (ignored on the CPU).
    amp_dtype : str
        ``"bfloat16"`` or ``"float16"`` (the latter with a gradient scaler).
    num_workers : int
        DataLoader worker processes.
    log_every : int
        Steps between rows of the training log.
    checkpoint_every : int
        Epochs between periodic checkpoints (``last`` is written every epoch).
    val_every : int
        Epochs between validations.
    val_clips : int
        Validation rows (spread evenly over the split; 0: all).
    num_threads : int
        CPU threads for torch (0: leave torch's default).
    init_checkpoint : str or None
        Fine-tuning: a checkpoint directory whose weights and normalisation statistics
        initialise the model (its config must build the same model as this one's).
    face_feature_dir : str or None
        Cache folder of speaker face features (``None``: ``<data_root>/face_features``).
    progress : bool
        Show a progress bar.
    tensorboard : bool
        Also log to TensorBoard when ``torch.utils.tensorboard`` works.
    """

    name: str = "cpu_default"
    data_root: str | None = None
    layout: str = "auto"
    train_split: str = "train"
    val_split: str | None = "val"
    mirror: bool = True
    model_preset: str = "cpu_default"
    model: dict[str, Any] = field(default_factory=dict)
    epochs: int = 30
    max_steps: int | None = None
    batch_size: int = 4
    clip_length: int = 200
    num_samples: int = 3
    teacher_forcing: float = 0.0
    own_history: float = 0.0
    neutral_anchor: float = 0.25
    matching_relax: float = 0.1
    lr: float = 2e-5
    weight_decay: float = 0.01
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])
    warmup_steps: int = 0
    lr_schedule: str = "constant"
    min_lr_ratio: float = 0.1
    grad_clip: float | None = 1.0
    kl_weight: float = 1e-5
    smooth_weight: float = 10.0
    diversity_weight: float = 100.0
    diversity_sigma: float = 1.0
    resting_face_weight: float = 1.0
    head_pose_weight: float = 1.0
    envelope_weight: float = 0.0
    envelope_sigma: float = 5.0
    pose_loss: str = "smooth_l1"
    appropriate_matching: str = "sample"
    teacher_forced_target: str = "appropriate"
    max_appropriate: int = 16
    seed: int = 0
    device: str = "auto"
    amp: bool = True
    amp_dtype: str = "bfloat16"
    num_workers: int = 0
    log_every: int = 10
    checkpoint_every: int = 5
    val_every: int = 1
    val_clips: int = 16
    num_threads: int = 0
    init_checkpoint: str | None = None
    face_feature_dir: str | None = None
    progress: bool = True
    tensorboard: bool = True

    def __post_init__(self) -> None:
        """Check types and ranges where the config is made."""
        self.validate()

    # ------------------------------------------------------------------ validation
    def validate(self) -> None:
        """Raise :class:`TrainConfigError` naming the first wrong value."""
        _check_types(self)
        positive = ("epochs", "batch_size", "clip_length", "num_samples", "max_appropriate",
                    "log_every", "checkpoint_every", "val_every")
        for name in positive:
            if getattr(self, name) < 1:
                raise TrainConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("warmup_steps", "num_workers", "val_clips", "num_threads", "seed"):
            if getattr(self, name) < 0:
                raise TrainConfigError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.max_steps is not None and self.max_steps < 1:
            raise TrainConfigError(f"max_steps must be >= 1 or null, got {self.max_steps}")
        if self.num_samples < 2 and self.diversity_weight > 0:
            raise TrainConfigError(
                f"num_samples must be >= 2 when diversity_weight > 0 (L_div compares samples "
                f"drawn from one speaker encoding), got {self.num_samples}; the paper uses 3")
        for name in ("teacher_forcing", "own_history", "neutral_anchor"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise TrainConfigError(f"{name} must be a probability in [0, 1], got "
                                       f"{getattr(self, name)}")
        if self.teacher_forcing + self.own_history > 1.0:
            raise TrainConfigError(f"teacher_forcing + own_history must be at most 1, got "
                                   f"{self.teacher_forcing} + {self.own_history}")
        if self.matching_relax < 0:
            raise TrainConfigError(f"matching_relax must be >= 0, got {self.matching_relax}")
        if not 0 < self.lr < float("inf"):
            raise TrainConfigError(f"lr must be > 0 and finite, got {self.lr}")
        for name in ("weight_decay", "kl_weight", "smooth_weight", "diversity_weight",
                     "resting_face_weight", "head_pose_weight", "envelope_weight"):
            if getattr(self, name) < 0:
                raise TrainConfigError(f"{name} must be >= 0, got {getattr(self, name)}")
        if not 0 < self.envelope_sigma <= 50:
            raise TrainConfigError(f"envelope_sigma must be in (0, 50] frames, got "
                                   f"{self.envelope_sigma}")
        if not self.diversity_sigma > 0:
            raise TrainConfigError(f"diversity_sigma must be > 0, got {self.diversity_sigma}")
        if not 0.0 <= self.min_lr_ratio <= 1.0:
            raise TrainConfigError(f"min_lr_ratio must be in [0, 1], got {self.min_lr_ratio}")
        if self.grad_clip is not None and not self.grad_clip > 0:
            raise TrainConfigError(f"grad_clip must be > 0 or null, got {self.grad_clip}")
        if len(self.betas) != 2 or not all(0.0 <= b < 1.0 for b in self.betas):
            raise TrainConfigError(f"betas must be two numbers in [0, 1), got {self.betas}")
        from reactface_ros.model.losses import MATCHINGS, POSE_LOSSES

        choices = (("model_preset", MODEL_PRESETS), ("device", DEVICES),
                   ("amp_dtype", AMP_DTYPES), ("layout", ("auto", "reactface", "challenge")),
                   ("lr_schedule", LR_SCHEDULES), ("appropriate_matching", MATCHINGS),
                   ("teacher_forced_target", ("appropriate", "own")),
                   ("pose_loss", POSE_LOSSES))
        for name, allowed in choices:
            if getattr(self, name) not in allowed:
                raise TrainConfigError(f"{name} must be one of {allowed}, got "
                                       f"{getattr(self, name)!r}")
        if not self.name or "/" in self.name:
            raise TrainConfigError(f"name must be a non-empty folder name, got {self.name!r}")
        self.model_config()  # the model overrides must make a valid model

    def model_config(self):
        """The :class:`~reactface_ros.model.ReactFaceConfig` this run trains.

        Raises
        ------
        TrainConfigError
            An unknown or invalid key under ``model``.
        """
        from reactface_ros.model import ReactFaceConfig

        known = {f.name for f in dataclasses.fields(ReactFaceConfig)}
        unknown = sorted(set(self.model) - known)
        if unknown:
            raise TrainConfigError(f"unknown keys under model: {unknown}; known model keys: "
                                   f"{sorted(known)}")
        build = {"paper": ReactFaceConfig.paper,
                 "listener_default": ReactFaceConfig.listener_default}.get(
            self.model_preset, ReactFaceConfig.cpu_default)
        from reactface_ros.config_checks import check_field_types

        check_field_types(ReactFaceConfig, self.model, TrainConfigError, "model.")
        try:
            return build(**self.model)
        except (TypeError, ValueError) as exc:
            raise TrainConfigError(f"invalid model settings: {exc}") from exc

    # ------------------------------------------------------------------ (de)serialisation
    def to_dict(self) -> dict[str, Any]:
        """Plain dict (YAML/JSON serialisable)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TrainConfig":
        """Build from a mapping; unknown keys raise :class:`TrainConfigError` naming them."""
        if not isinstance(data, dict):
            raise TrainConfigError(f"a training config must be a mapping of keys to values, got "
                                   f"{type(data).__name__}")
        known = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise TrainConfigError(f"unknown training config keys {unknown}; known keys: "
                                   f"{known}")
        return cls(**data)

    def save(self, path: str | Path) -> None:
        """Write the config as YAML."""
        import yaml

        Path(path).write_text(yaml.safe_dump(self.to_dict(), sort_keys=False))


def load_train_config(path: str | Path, **overrides: Any) -> TrainConfig:
    """Read a YAML training config and apply ``overrides`` (``None`` values are ignored).

    Parameters
    ----------
    path : str or Path
        YAML file with :class:`TrainConfig` fields at the top level.
    **overrides
        Field values that win over the file (e.g. ``data_root`` from the command line).

    Returns
    -------
    TrainConfig
        The validated config.
    """
    import yaml

    p = Path(path)
    if not p.is_file():
        raise TrainConfigError(f"training config {p} does not exist (see config/train/ for "
                               f"cpu_default.yaml and paper.yaml)")
    try:
        data = yaml.safe_load(p.read_text()) or {}
    except yaml.YAMLError as exc:
        raise TrainConfigError(f"{p} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise TrainConfigError(f"{p} must hold a mapping of training config keys")
    data.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return TrainConfig.from_dict(data)
    except TrainConfigError as exc:
        raise TrainConfigError(f"{p}: {exc}") from exc


def _check_types(config: TrainConfig) -> None:
    """Check every field against its annotation (ints accepted where floats are expected)."""
    from reactface_ros.config_checks import value_matches

    hints = typing.get_type_hints(TrainConfig)
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if value_matches(value, hints[f.name]) is False:
            raise TrainConfigError(f"{f.name} must be of type {_type_name(hints[f.name])}, got "
                                   f"{value!r} ({type(value).__name__})")
        if isinstance(value, int) and not isinstance(value, bool) and \
                value_matches(1.5, hints[f.name]) and not value_matches("", hints[f.name]):
            setattr(config, f.name, float(value))   # YAML "1" where a float is expected


def _type_name(hint: Any) -> str:
    args = typing.get_args(hint)
    if typing.get_origin(hint) is not None and typing.get_origin(hint) not in (list, dict):
        return " or ".join(_type_name(a) for a in args)
    return "null" if hint is type(None) else getattr(hint, "__name__", str(hint))
