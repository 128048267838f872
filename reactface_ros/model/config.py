"""The one typed configuration of a ReactFace model (saved inside every checkpoint).

Two presets:

* :meth:`ReactFaceConfig.cpu_default` (also ``ReactFaceConfig()``): ``logmel`` audio encoder,
  ``blendshapes`` face encoder, hidden size 128, 8 heads, period p = 8, window w = 8, k = 2
  audio tokens per video frame. Runs many times faster than real time on two CPU cores.
* :meth:`ReactFaceConfig.paper`: the paper's modalities, a wav2vec2-base-size audio encoder and
  the 3D-conv + transformer face encoder on 224 x 224 crops.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from reactface_ros.constants import FACE_FEATURE_DIM, NUM_COEFFS, SAMPLES_PER_FRAME

AUDIO_ENCODERS = ("logmel", "wav2vec2")
FACE_ENCODERS = ("blendshapes", "conv3d")
NORMALISATIONS = ("mean", "standard")
NOISES = ("window", "session", "smooth")
OUTPUTS = ("coefficients", "anchored")
#: Largest ``motion_gain`` (beyond it the blendshapes mostly saturate at 0 or 1).
MAX_MOTION_GAIN = 10.0

#: Version of the checkpoint layout this code writes (stored in ``config.json``).
CONFIG_FORMAT_VERSION = 1


@dataclass
class ReactFaceConfig:
    """Hyper-parameters of :class:`reactface_ros.model.ReactFace`.

    Attributes
    ----------
    audio_encoder : str
        ``"logmel"`` (light causal encoder on log-mel features) or ``"wav2vec2"``.
    face_encoder : str
        ``"blendshapes"`` (per-frame (59,) speaker face features) or ``"conv3d"`` (causal
        3D-conv + transformer over ``(3, crop_size, crop_size)`` face crops).
    hidden_size : int
        Model width d.
    num_heads : int
        Attention heads; head h uses the ALiBi-style slope ``2 ** (-8 (h + 1) / num_heads)``.
    ff_size : int
        Feed-forward width in every transformer layer.
    latent_size : int
        Size of the CIE latent z.
    period : int
        Period p of the alignment bias (paper eq. 17), in frames.
    window : int
        Frames w generated per window; must be a multiple of ``period``.
    audio_tokens_per_frame : int
        k, audio tokens per video frame (2: 20 ms tokens at 25 fps).
    horizon : int
        Attention horizon in video frames: every attention over time (speaker transformer, face
        transformer, CIE history, VIM) sees at most the last ``horizon`` frames, MIM the last
        ``k * horizon`` audio tokens. Used identically in training, whole-sequence generation
        and streaming.
    momentum : float
        a in ``z_t = a z_{t-w} + (1 - a) z*_t``. 0.9 is what the public code uses; the paper
        text says 0.999.
    noise : str
        How the noise of ``z*_t = mu_t + sigma_t eps`` is drawn: ``window`` (the paper: a fresh
        eps for every window), ``session`` (one eps per sample for the whole session, so a
        sample keeps its character and only ``mu_t``, ``sigma_t`` move with the context) or
        ``smooth`` (the momentum acts on the noise instead of the latent:
        ``e_t = a e_{t-w} + sqrt(1 - a^2) eps_t``, ``z_t = mu_t + sigma_t e_t``, so ``mu_t``
        reaches the decoder at once while each sample's noise still drifts slowly).
    max_sigma : float or None
        Bound on the CIE's sigma (``sigma = max_sigma * sigmoid(.)``); ``None``: unbounded, as
        the paper.
    output : str
        ``coefficients`` (the paper: the head predicts normalised coefficients) or
        ``anchored``: the head predicts motion relative to the listener's own resting face
        (the *anchor*, an input), blendshapes through a sigmoid in logit space around the
        anchor (always in [0, 1]) and head pose as a tanh-bounded offset from it; losses and
        the listener history then work on motion divided by ``motion_std`` (a buffer computed
        from the training listeners' motion and saved in the checkpoint).
    personas : int
        Learned sample slots (0: none, the paper). Sample m uses slot ``m mod personas``, or
        every sample the slot a caller picks, so a robot can keep one consistent character;
        trained by winner-takes-all matching, each slot specialises in one kind of
        appropriate reaction.
    motion_gain : float
        ``output: anchored`` only: how expressive the emitted reactions are. Every sample's
        head output (its motion in logit / tanh units around the anchor, so still valid) is
        multiplied by this before it is emitted; what the model keeps as its own history is
        the unscaled reaction it was trained on, so the gain changes the size of a smile or a
        nod, never when it happens. Training ignores it (1.0: the reactions as trained).
        Regression to appropriate reactions that vary in timing shrinks motion; a gain
        chosen on validation data undoes that shrinkage (global variance compensation, as in
        statistical speech synthesis).
    cie_pool : int
        Frames averaged into one CIE history token (1: one token per past frame, as the
        paper). ``window`` pools each past window into one token: the CIE, re-run every
        window, then attends over ``horizon / window`` tokens instead of ``horizon``, which
        is most of the cost of generating (and of training on the generation path).
    context_path : bool
        Feed the CIE's context (its output at the mu token) to the listener reaction decoder
        directly, so speaker and history reach the decoder without passing through the noisy
        latent.
    normalisation : str
        How coefficients are normalised inside the model: ``mean`` (the paper's code: minus the
        training mean face) or ``standard`` (minus the mean face, divided by the training
        per-coefficient standard deviation ``std_face``, a buffer then saved in the
        checkpoint). ``standard`` weighs every coefficient equally in the losses, as the
        per-coefficient metrics (FRCorr's CCC, FRSyn's Pearson) do; with ``mean`` the head pose,
        gaze and resting brows, whose values spread most between people, outweigh smiles.
    dropout : float
        Dropout in attention and feed-forward layers (inactive in ``eval()``).
    speaker_layers, cie_layers, lrd_layers, slbs_layers, face_transformer_layers : int
        Depths of the speaker transformer (MSBEA), CIE, LRD, SLBS and conv3d face transformer.
    n_mels, logmel_layers, logmel_kernel : int
        ``logmel`` encoder: mel bands, causal conv layers and their temporal kernel (tokens).
    blendshape_layers, blendshape_kernel : int
        ``blendshapes`` encoder: causal conv layers and their temporal kernel (frames).
    wav2vec2_path : str or None
        Local directory (or cache name) of a pretrained Wav2Vec2Model, used when a new model is
        built; ``None`` builds a random-init one from ``wav2vec2_arch``.
    wav2vec2_arch : dict or None
        ``Wav2Vec2Config`` as a dict; filled in from the pretrained model so a checkpoint can be
        rebuilt without the original directory. ``None`` means wav2vec2-base size.
    wav2vec2_context_frames : int
        Audio context (video frames) each frame's wav2vec2 pass sees, ending at that frame's end
        (wav2vec2 is bidirectional; a bounded, frame-ending context keeps it causal).
    wav2vec2_freeze_feature_encoder : bool
        Freeze the CNN feature encoder.
    wav2vec2_frozen_layers : int
        Freeze this many transformer layers, counted from the bottom.
    crop_size : int
        Face crop side for ``conv3d`` (224 like the paper, or 112).
    conv3d_channels : list of int
        Channels of the 3D-conv stages (each halves the spatial size).
    conv3d_temporal_kernel : int
        Temporal kernel of every 3D conv (causal: left context only).
    """

    audio_encoder: str = "logmel"
    face_encoder: str = "blendshapes"
    hidden_size: int = 128
    num_heads: int = 8
    ff_size: int = 256
    latent_size: int = 128
    period: int = 8
    window: int = 8
    audio_tokens_per_frame: int = 2
    horizon: int = 128
    momentum: float = 0.9
    noise: str = "window"
    max_sigma: float | None = None
    output: str = "coefficients"
    personas: int = 0
    motion_gain: float = 1.0
    context_path: bool = False
    cie_pool: int = 1
    normalisation: str = "mean"
    dropout: float = 0.1
    speaker_layers: int = 1
    cie_layers: int = 2
    lrd_layers: int = 1
    slbs_layers: int = 1
    face_transformer_layers: int = 2
    n_mels: int = 80
    logmel_layers: int = 3
    logmel_kernel: int = 3
    blendshape_layers: int = 2
    blendshape_kernel: int = 3
    wav2vec2_path: str | None = None
    wav2vec2_arch: dict[str, Any] | None = None
    wav2vec2_context_frames: int = 25
    wav2vec2_freeze_feature_encoder: bool = True
    wav2vec2_frozen_layers: int = 0
    crop_size: int = 112
    conv3d_channels: list[int] = field(default_factory=lambda: [32, 64, 128, 128])
    conv3d_temporal_kernel: int = 3
    num_coeffs: int = NUM_COEFFS
    face_feature_dim: int = FACE_FEATURE_DIM

    def __post_init__(self) -> None:
        """Validate on construction so a bad config fails where it is made."""
        self.conv3d_channels = [int(c) for c in self.conv3d_channels]
        self.validate()

    @classmethod
    def cpu_default(cls, **overrides: Any) -> "ReactFaceConfig":
        """The CPU default: ``logmel`` + ``blendshapes``, d = 128, 8 heads, p = w = 8, k = 2."""
        return cls(**overrides)

    @classmethod
    def listener_default(cls, **overrides: Any) -> "ReactFaceConfig":
        """The CPU modalities with what makes the listener react (see ``docs/model.md``).

        Anchored output (motion relative to the listener's own face, valid by construction),
        standard normalisation, 4 persona slots, the deterministic context path, smooth noise
        with a bounded sigma, one CIE history token per past window.
        """
        base: dict[str, Any] = dict(output="anchored", normalisation="standard", personas=4,
                                    context_path=True, noise="smooth", max_sigma=0.5,
                                    cie_pool=8)
        base.update(overrides)
        return cls(**base)

    @classmethod
    def paper(cls, **overrides: Any) -> "ReactFaceConfig":
        """The paper's setup: wav2vec2-base-size audio, 3D-conv face encoder on 224 crops."""
        base: dict[str, Any] = dict(audio_encoder="wav2vec2", face_encoder="conv3d",
                                    crop_size=224, conv3d_channels=[64, 128, 256, 256])
        base.update(overrides)
        return cls(**base)

    @property
    def samples_per_token(self) -> int:
        """16 kHz audio samples per audio token (320 for k = 2)."""
        return SAMPLES_PER_FRAME // self.audio_tokens_per_frame

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first inconsistent value."""
        if self.audio_encoder not in AUDIO_ENCODERS:
            raise ValueError(f"audio_encoder must be one of {AUDIO_ENCODERS}, "
                             f"got {self.audio_encoder!r}")
        if self.face_encoder not in FACE_ENCODERS:
            raise ValueError(f"face_encoder must be one of {FACE_ENCODERS}, "
                             f"got {self.face_encoder!r}")
        for name in ("hidden_size", "num_heads", "ff_size", "latent_size", "period", "window",
                     "audio_tokens_per_frame", "horizon", "n_mels", "logmel_kernel",
                     "blendshape_kernel", "crop_size", "conv3d_temporal_kernel",
                     "wav2vec2_context_frames"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        for name in ("speaker_layers", "cie_layers", "lrd_layers", "slbs_layers",
                     "face_transformer_layers", "logmel_layers", "blendshape_layers",
                     "wav2vec2_frozen_layers"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
        if self.slbs_layers < 1 or self.lrd_layers < 1 or self.cie_layers < 1:
            raise ValueError("cie_layers, lrd_layers and slbs_layers must be at least 1")
        if self.hidden_size > 16384 or self.ff_size > 65536 or self.latent_size > 16384:
            raise ValueError(f"hidden_size={self.hidden_size}, ff_size={self.ff_size}, "
                             f"latent_size={self.latent_size} would not fit in memory; use "
                             "hidden_size <= 16384 (the paper uses 512)")
        if self.hidden_size % self.num_heads:
            raise ValueError(f"hidden_size ({self.hidden_size}) must be divisible by "
                             f"num_heads ({self.num_heads})")
        if self.window % self.period:
            suggestion = self.period * max(1, round(self.window / self.period))
            raise ValueError(f"window w ({self.window}) must be a multiple of period p "
                             f"({self.period}); choose e.g. window={suggestion}")
        if SAMPLES_PER_FRAME % self.audio_tokens_per_frame:
            raise ValueError(f"audio_tokens_per_frame must divide {SAMPLES_PER_FRAME}, "
                             f"got {self.audio_tokens_per_frame}")
        if self.audio_encoder == "logmel" and self.samples_per_token % 2:
            raise ValueError("logmel needs an even number of samples per audio token "
                             "(two mel hops per token)")
        if self.audio_encoder == "wav2vec2" and self.audio_tokens_per_frame != 2:
            raise ValueError("wav2vec2 produces 50 tokens/s: audio_tokens_per_frame must be 2")
        if not (0.0 <= self.momentum < 1.0) or not math.isfinite(self.momentum):
            raise ValueError(f"momentum must be in [0, 1), got {self.momentum}")
        if self.noise not in NOISES:
            raise ValueError(f"noise must be one of {NOISES}, got {self.noise!r}")
        if self.max_sigma is not None and (isinstance(self.max_sigma, bool)
                                           or not isinstance(self.max_sigma, (int, float))
                                           or not 0 < self.max_sigma < math.inf):
            raise ValueError(f"max_sigma must be a positive number or null, got "
                             f"{self.max_sigma!r}")
        if self.output not in OUTPUTS:
            raise ValueError(f"output must be one of {OUTPUTS}, got {self.output!r}")
        if isinstance(self.personas, bool) or not isinstance(self.personas, int) \
                or self.personas < 0:
            raise ValueError(f"personas must be a non-negative integer, got {self.personas!r}")
        if isinstance(self.motion_gain, bool) or not isinstance(self.motion_gain, (int, float)) \
                or not 0.0 < self.motion_gain <= MAX_MOTION_GAIN:
            raise ValueError(f"motion_gain must be a number in (0, {MAX_MOTION_GAIN:g}], got "
                             f"{self.motion_gain!r}")
        if self.motion_gain != 1.0 and self.output != "anchored":
            raise ValueError("motion_gain scales motion around the listener's face: it needs "
                             "output 'anchored' (leave it at 1.0 for output "
                             f"{self.output!r})")
        if isinstance(self.cie_pool, bool) or not isinstance(self.cie_pool, int) \
                or self.cie_pool < 1 or self.window % self.cie_pool \
                or self.horizon % self.cie_pool:
            raise ValueError(f"cie_pool must be a positive integer dividing window "
                             f"({self.window}) and horizon ({self.horizon}), got "
                             f"{self.cie_pool!r}")
        if not isinstance(self.context_path, bool):
            raise ValueError(f"context_path must be true or false, got {self.context_path!r}")
        if self.normalisation not in NORMALISATIONS:
            raise ValueError(f"normalisation must be one of {NORMALISATIONS}, "
                             f"got {self.normalisation!r}")
        if not (0.0 <= self.dropout < 1.0):
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.face_encoder == "conv3d":
            if not self.conv3d_channels:
                raise ValueError("conv3d_channels must list at least one stage")
            if self.crop_size % (2 ** len(self.conv3d_channels)):
                raise ValueError(f"crop_size {self.crop_size} must be divisible by "
                                 f"2 ** len(conv3d_channels) = {2 ** len(self.conv3d_channels)}")
        if self.num_coeffs != NUM_COEFFS or self.face_feature_dim != FACE_FEATURE_DIM:
            raise ValueError(f"num_coeffs must be {NUM_COEFFS} and face_feature_dim "
                             f"{FACE_FEATURE_DIM} (FaceVerse layout, see constants.py)")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-serialisable dict (with ``format_version``)."""
        out = dataclasses.asdict(self)
        out["format_version"] = CONFIG_FORMAT_VERSION
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ReactFaceConfig":
        """Build from :meth:`to_dict` output; unknown keys raise ``ValueError`` naming them."""
        data = dict(data)
        version = data.pop("format_version", CONFIG_FORMAT_VERSION)
        if version != CONFIG_FORMAT_VERSION:
            raise ValueError(f"config format_version {version} is not supported "
                             f"(this code reads version {CONFIG_FORMAT_VERSION})")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown config keys {unknown}; known keys: {sorted(known)}")
        from reactface_ros.config_checks import check_field_types

        check_field_types(cls, data)
        return cls(**data)
