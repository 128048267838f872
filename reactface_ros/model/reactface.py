"""The ReactFace model: MSBEA -> AFRG -> SLBS, with whole-sequence and streaming paths.

Shapes: B batch, M reaction samples, T frames (25 fps), w window, D hidden, Z latent,
k audio tokens per frame, H attention horizon (frames). Coefficients are FaceVerse
``(..., 58)``; inside the model they are centred on ``mean_face`` (a buffer saved in the
checkpoint) and, with ``normalisation: standard``, divided by ``std_face`` (another buffer);
every public output is de-normalised.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from torch import nn

from reactface_ros.constants import (FACE_FEATURE_DIM, NUM_BLENDSHAPES, NUM_COEFFS,
                                     SAMPLES_PER_FRAME)
from reactface_ros.listener_face import neutral_listener_face
from reactface_ros.model.afrg import (ContextIntegrationEncoder, ListenerReactionDecoder,
                                      interpolate_latents, momentum_update)
from reactface_ros.model.attention import sinusoidal_encoding
from reactface_ros.model.config import ReactFaceConfig
from reactface_ros.model.encoders import State
from reactface_ros.model.msbea import MSBEA, SpeakerFeatures
from reactface_ros.model.slbs import SLBS


#: Floor of ``std_face``: a coefficient constant in the training data is not blown up.
MIN_STD = 1e-3

#: ``output: anchored``: largest head-pose offset from the anchor, per coefficient (rotation
#: pitch / yaw / roll in rad, translation x / y / z in FaceVerse units); a listener's head
#: moves well within it.
POSE_RANGE = (0.6, 0.6, 0.6, 0.25, 0.25, 0.4)

#: Anchor blendshapes are kept this far inside [0, 1] before taking their logit.
ANCHOR_EPS = 5e-3

#: Percentile of each blendshape over a clip taken as that listener's resting value: expression
#: episodes (smiles, blinks, frowns) raise activations, so a low percentile finds the rest.
REST_PERCENTILE = 0.1


def neutral_face() -> np.ndarray:
    """A neutral frontal face ``(58,)``: zero blendshapes, rotation (pi, 0, 0), t (0, 0, 1.84)."""
    return neutral_listener_face()


def resting_face(reactions: torch.Tensor) -> torch.Tensor:
    """A listener's resting face from its reaction ``(..., T, 58)`` -> ``(..., 58)``.

    Blendshapes: the :data:`REST_PERCENTILE` quantile over time; head pose: the median.
    """
    r = reactions.float()
    nb = NUM_BLENDSHAPES
    blend = torch.quantile(r[..., :nb], REST_PERCENTILE, dim=-2)
    pose = torch.quantile(r[..., nb:], 0.5, dim=-2)
    return torch.cat([blend, pose], dim=-1)


def window_noise(seed: int, batch_index: int, window_index: int, num_samples: int,
                 size: int) -> np.ndarray:
    """Standard-normal noise ``(M, Z)`` float32 for one window, a pure function of its indices.

    Both the whole-sequence and the streaming paths draw the noise of window n of batch
    element b from here, so equal seeds give equal reactions on any device and chunking.
    """
    rng = np.random.default_rng([int(seed), int(batch_index), int(window_index)])
    return rng.standard_normal((num_samples, size)).astype(np.float32)


@dataclass
class ReactFaceOutput:
    """What the training losses need (all coefficients normalised, i.e. minus the mean face).

    Attributes
    ----------
    reactions : torch.Tensor
        ``(B, M, T, 58)`` generated listener reactions.
    mu, logvar : torch.Tensor
        ``(B, M, N, Z)`` CIE distribution of each of the N = ceil(T / w) windows.
    speaker_reconstruction : torch.Tensor
        ``(B, T, 58)`` auxiliary reconstruction of the speaker's own coefficients.
    """

    reactions: torch.Tensor
    mu: torch.Tensor
    logvar: torch.Tensor
    speaker_reconstruction: torch.Tensor


@dataclass
class StreamState:
    """Bounded state of one streaming session (sizes independent of the session length).

    Attributes
    ----------
    speaker : dict or None
        Encoder caches (a fixed number of past samples / frames per layer).
    face_keys : torch.Tensor
        ``(1, <= H + w - 1, D)`` speaker face features VIM can still see.
    audio_keys : torch.Tensor
        ``(1, <= k (H + w - 1), D)`` speaker audio tokens MIM can still see.
    past : torch.Tensor
        ``(M, <= H, D)`` past listener features (reaction embedding + speaker features).
    z_prev : torch.Tensor or None
        ``(M, Z)`` latent of the previous window.
    next_frame : int
        Index of the first frame of the next window.
    anchor : torch.Tensor or None
        ``(M, 58)`` the listener's resting face (``output: anchored``).
    slots : torch.Tensor or None
        ``(M,)`` persona slot of each sample.
    e_prev : torch.Tensor or None
        ``(M, Z)`` running noise (``noise: smooth``).
    """

    speaker: State | None
    face_keys: torch.Tensor
    audio_keys: torch.Tensor
    past: torch.Tensor
    z_prev: torch.Tensor | None
    next_frame: int = 0
    anchor: torch.Tensor | None = None
    slots: torch.Tensor | None = None
    e_prev: torch.Tensor | None = None

    def tensor_sizes(self) -> dict[str, tuple[int, ...]]:
        """Shapes of the history buffers (for checking memory stays bounded)."""
        return {"face_keys": tuple(self.face_keys.shape),
                "audio_keys": tuple(self.audio_keys.shape), "past": tuple(self.past.shape)}


class ReactFace(nn.Module):
    """Online multiple appropriate facial reaction generation (Luo et al., ReactFace).

    Parameters
    ----------
    config : ReactFaceConfig, optional
        Hyper-parameters (default: :meth:`ReactFaceConfig.cpu_default`).
    load_pretrained : bool
        Load the pretrained wav2vec2 named in the config (False when a checkpoint provides
        every weight).
    """

    def __init__(self, config: ReactFaceConfig | None = None,
                 load_pretrained: bool = True) -> None:
        super().__init__()
        self.config = config = config or ReactFaceConfig()
        config.validate()
        d = config.hidden_size
        self.speaker = MSBEA(config, load_pretrained)
        self.listener_embed = nn.Linear(config.num_coeffs, d)
        self.cie = ContextIntegrationEncoder(config)
        self.lrd = ListenerReactionDecoder(config)
        self.slbs = SLBS(config)
        self.register_buffer("mean_face", torch.from_numpy(neutral_face()))
        if config.normalisation == "standard":
            self.register_buffer("std_face", torch.ones(NUM_COEFFS))
        if config.output == "anchored":
            self.register_buffer("motion_std", torch.ones(NUM_COEFFS))
            self.register_buffer("pose_range", torch.tensor(POSE_RANGE), persistent=False)
            self.anchor_embed = nn.Linear(config.num_coeffs, d)
        if config.context_path:
            self.context = nn.Linear(d, d)
        if config.personas:
            # Spread apart at initialisation so the slots start out different.
            self.persona = nn.Parameter(torch.randn(config.personas, d) * 0.5)
        self.register_buffer("history_pe",
                             sinusoidal_encoding(torch.arange(config.horizon + 1), d),
                             persistent=False)

    # ------------------------------------------------------------------ housekeeping
    def _apply(self, fn, recurse=True):  # noqa: D401 - torch internal hook
        # Keep the normalisation statistics in float32 whatever dtype the weights are cast to.
        stats = {k: v for k, v in self._buffers.items()
                 if k in ("mean_face", "std_face", "motion_std", "pose_range")}
        out = super()._apply(fn, recurse)
        for k, v in stats.items():
            self._buffers[k] = v.to(self._buffers[k].device, torch.float32)
        return out

    @property
    def device(self) -> torch.device:
        """Device of the weights."""
        return self.mean_face.device

    @property
    def dtype(self) -> torch.dtype:
        """Floating dtype of the weights."""
        return self.listener_embed.weight.dtype

    def set_normalisation(self, mean_face: np.ndarray, std_face: np.ndarray | None = None) -> None:
        """Set the training statistics outputs are normalised with.

        Parameters
        ----------
        mean_face : np.ndarray
            ``(58,)`` mean face (e.g. the training set's).
        std_face : np.ndarray, optional
            ``(58,)`` per-coefficient standard deviation; required (and only accepted) with
            ``normalisation: standard``. Values below 1e-3 are raised to 1e-3.
        """
        m = np.asarray(mean_face, dtype=np.float32)
        if m.shape != (NUM_COEFFS,) or not np.all(np.isfinite(m)):
            raise ValueError(f"mean_face must be a finite array of shape ({NUM_COEFFS},), "
                             f"got shape {m.shape}")
        standard = self.config.normalisation == "standard"
        if standard != (std_face is not None):
            raise ValueError("std_face is required with normalisation 'standard' and not used "
                             f"with 'mean' (this model: {self.config.normalisation!r})")
        if standard:
            sd = np.asarray(std_face, dtype=np.float32)
            if sd.shape != (NUM_COEFFS,) or not np.all(np.isfinite(sd)) or np.any(sd < 0):
                raise ValueError(f"std_face must be a finite, non-negative array of shape "
                                 f"({NUM_COEFFS},), got shape {sd.shape}")
            self.std_face.copy_(torch.from_numpy(np.maximum(sd, MIN_STD)))
        self.mean_face.copy_(torch.from_numpy(m))

    def set_normalisation_from_data(self, coefficients: np.ndarray) -> np.ndarray:
        """Set the statistics from training coefficients ``(..., 58)``; returns the mean face.

        Frames with any non-finite value are ignored.
        """
        c = np.asarray(coefficients, dtype=np.float64)
        if c.ndim < 1 or c.shape[-1] != NUM_COEFFS:
            raise ValueError(f"coefficients must have shape (..., {NUM_COEFFS}), got {c.shape}")
        flat = c.reshape(-1, NUM_COEFFS)
        flat = flat[np.isfinite(flat).all(axis=1)]
        if flat.shape[0] == 0:
            raise ValueError("no finite coefficient frames to average")
        mean = flat.mean(axis=0).astype(np.float32)
        std = flat.std(axis=0) if self.config.normalisation == "standard" else None
        self.set_normalisation(mean, std)
        return mean

    def _scale(self) -> torch.Tensor | float:
        return self.std_face if self.config.normalisation == "standard" else 1.0

    def normalise(self, coeffs: torch.Tensor) -> torch.Tensor:
        """``(..., 58)`` FaceVerse coefficients minus the mean face (and over ``std_face``)."""
        return (coeffs.float() - self.mean_face) / self._scale()

    def denormalise(self, coeffs: torch.Tensor) -> torch.Tensor:
        """Inverse of :meth:`normalise` (float32)."""
        return coeffs.float() * self._scale() + self.mean_face

    # ------------------------------------------------------------------ inputs
    def prepare_face(self, face: torch.Tensor | np.ndarray) -> torch.Tensor:
        """Validate and normalise speaker face input for the face encoder.

        ``blendshapes``: ``(B, T, 59)`` features; rows with non-finite values or a face-found
        flag below 0.5 become "no face" (zeros, flag 0); otherwise the 58 coefficient-like
        values are normalised like the coefficients (:meth:`normalise`). ``conv3d``:
        ``(B, T, 3, S, S)`` crops, uint8 or float in [0, 1], scaled to [-1, 1].
        """
        x = torch.as_tensor(face).to(self.device)
        cfg = self.config
        if cfg.face_encoder == "blendshapes":
            if x.ndim != 3 or x.shape[-1] != FACE_FEATURE_DIM:
                raise ValueError(f"blendshapes face input must be (B, T, {FACE_FEATURE_DIM}) "
                                 f"features, got shape {tuple(x.shape)}")
            x = x.float()
            ok = torch.isfinite(x).all(dim=-1, keepdim=True) & (x[..., -1:] > 0.5)
            centred = self.normalise(torch.nan_to_num(x[..., :NUM_COEFFS]))
            coeffs = torch.where(ok, centred, torch.zeros_like(centred))
            return torch.cat([coeffs, ok.float()], dim=-1).to(self.dtype)
        s = cfg.crop_size
        if x.ndim != 5 or tuple(x.shape[2:]) != (3, s, s):
            raise ValueError(f"conv3d face input must be (B, T, 3, {s}, {s}) crops, got shape "
                             f"{tuple(x.shape)}")
        x = x.float() / 255.0 if x.dtype == torch.uint8 else torch.nan_to_num(x.float())
        return ((x - 0.5) / 0.5).to(self.dtype)

    def prepare_audio(self, audio: torch.Tensor | np.ndarray, num_frames: int) -> torch.Tensor:
        """``(B, N)`` 16 kHz audio -> ``(B, num_frames * 640)`` float32, zero-padded/trimmed.

        Non-finite samples become 0.
        """
        a = torch.as_tensor(audio).to(self.device)
        if a.ndim != 2:
            raise ValueError(f"speaker_audio must be (B, N_samples) at 16 kHz, got shape "
                             f"{tuple(a.shape)}")
        a = torch.nan_to_num(a.float(), nan=0.0, posinf=0.0, neginf=0.0)
        need = num_frames * SAMPLES_PER_FRAME
        if a.shape[1] < need:
            a = torch.cat([a, a.new_zeros(a.shape[0], need - a.shape[1])], dim=1)
        return a[:, :need]

    def _pad_frames(self, face: torch.Tensor, audio: torch.Tensor,
                    frames: int) -> tuple[torch.Tensor, torch.Tensor]:
        # Extend to whole windows by repeating the last face frame and adding silence; by
        # causality this never changes the frames that are kept.
        extra = frames - face.shape[1]
        if extra > 0:
            face = torch.cat([face, face[:, -1:].expand(-1, extra, *face.shape[2:])], dim=1)
        return face, self.prepare_audio(audio, frames)

    # ------------------------------------------------------------------ building blocks
    def encode_speaker(self, audio: torch.Tensor, face: torch.Tensor, start: int = 0,
                       state: State | None = None,
                       chunk_frames: int | None = None) -> tuple[SpeakerFeatures, State]:
        """Encode prepared speaker input of n frames, optionally in chunks (bounded memory).

        ``audio`` ``(B, n * 640)``, ``face`` prepared ``(B, n, ...)``; see :class:`MSBEA`.
        """
        n = face.shape[1]
        chunk = n if not chunk_frames else chunk_frames
        parts = []
        for c0 in range(0, n, chunk):
            c1 = min(n, c0 + chunk)
            feats, state = self.speaker(audio[:, c0 * SAMPLES_PER_FRAME:c1 * SAMPLES_PER_FRAME],
                                        face[:, c0:c1], start + c0, state)
            parts.append(feats)
        return SpeakerFeatures.cat(parts), state

    def _past_features(self, reactions: torch.Tensor, fused: torch.Tensor,
                       num_samples: int) -> torch.Tensor:
        """Listener history features ``(B M, n, D)``.

        From normalised reactions ``(B M, n, 58)`` (motion with ``output: anchored``) and
        speaker features ``(B, n, D)`` of the same frames.
        """
        return (self.listener_embed(reactions.to(self.dtype))
                + fused.repeat_interleave(num_samples, dim=0))

    # ------------------------------------------------------------------ anchor and personas
    @property
    def anchored(self) -> bool:
        """Whether the model predicts motion relative to the listener's face (``anchored``)."""
        return self.config.output == "anchored"

    def set_motion_scale(self, motion_std: np.ndarray) -> None:
        """Set ``motion_std`` ``(58,)``, the training listeners' motion spread (``anchored``).

        Values below 1e-3 are raised to 1e-3.
        """
        if not self.anchored:
            raise ValueError("motion_std is only used with output 'anchored' "
                             f"(this model: {self.config.output!r})")
        sd = np.asarray(motion_std, dtype=np.float32)
        if sd.shape != (NUM_COEFFS,) or not np.all(np.isfinite(sd)) or np.any(sd < 0):
            raise ValueError(f"motion_std must be a finite, non-negative array of shape "
                             f"({NUM_COEFFS},), got shape {sd.shape}")
        self.motion_std.copy_(torch.from_numpy(np.maximum(sd, MIN_STD)))

    def prepare_anchor(self, listener_face: torch.Tensor | np.ndarray | None,
                       batch: int) -> torch.Tensor:
        """The listener's resting face ``(B, 58)`` float32 (default: :func:`neutral_face`).

        ``listener_face`` is ``(58,)`` (shared) or ``(B, 58)`` FaceVerse coefficients: finite,
        blendshapes in [0, 1].
        """
        if listener_face is None:
            return self.mean_face.new_tensor(neutral_face())[None].expand(batch, -1)
        a = torch.as_tensor(listener_face).to(self.device, torch.float32)
        if a.ndim == 1:
            a = a[None].expand(batch, -1)
        if a.shape != (batch, NUM_COEFFS):
            raise ValueError(f"listener_face must be ({NUM_COEFFS},) or ({batch}, {NUM_COEFFS}) "
                             f"FaceVerse coefficients, got shape {tuple(a.shape)}")
        if not bool(torch.isfinite(a).all()):
            raise ValueError("listener_face has non-finite values")
        bs = a[:, :NUM_BLENDSHAPES]
        if bool(((bs < -1e-3) | (bs > 1 + 1e-3)).any()):
            raise ValueError("listener_face blendshapes must lie in [0, 1] (the first 52 "
                             "values are ARKit blendshape activations)")
        return a

    def set_motion_gain(self, gain: float) -> None:
        """Set how expressive the emitted reactions are (:attr:`ReactFaceConfig.motion_gain`).

        Raises ``ValueError`` for a value out of range or a model without anchored output.
        """
        if isinstance(gain, bool) or not isinstance(gain, (int, float, np.floating)):
            raise ValueError(f"motion_gain must be a number, got {gain!r}")
        self.config = replace(self.config, motion_gain=float(gain))

    def persona_slots(self, num_samples: int, persona: int | None) -> torch.Tensor | None:
        """Slot index ``(M,)`` of each sample: ``m mod personas``, or ``persona`` for all.

        ``None`` when the model has no persona slots.
        """
        p = self.config.personas
        if persona is not None:
            if isinstance(persona, bool) or not isinstance(persona, (int, np.integer)) \
                    or not 0 <= persona < max(p, 1) or p == 0:
                raise ValueError(f"persona must be an integer in [0, {p}) for this model "
                                 f"(it has {p} persona slots), got {persona!r}"
                                 if p else "this model has no persona slots "
                                 "(config personas: 0); leave persona unset")
            return torch.full((num_samples,), int(persona), device=self.device,
                              dtype=torch.long)
        if not p:
            return None
        return torch.arange(num_samples, device=self.device) % p

    def _condition(self, ctx: torch.Tensor, anchor: torch.Tensor,
                   slots: torch.Tensor | None) -> torch.Tensor | None:
        """LRD condition ``(N, D)`` from context ``(N, D)``, anchor ``(N, 58)``, slots ``(N,)``."""
        parts = []
        if self.config.context_path:
            parts.append(self.context(ctx))
        if self.anchored:
            parts.append(self.anchor_embed(self.normalise(anchor).to(self.dtype)))
        if slots is not None:
            parts.append(self.persona[slots].to(ctx.dtype))
        if not parts:
            return None
        return torch.stack(parts).sum(0)

    def _compose(self, head: torch.Tensor, anchor: torch.Tensor) -> torch.Tensor:
        """Head output ``(N, n, 58)`` -> normalised reactions ``(N, n, 58)``.

        ``coefficients``: the head output itself. ``anchored``: blendshapes
        ``sigmoid(logit(anchor) + u)`` (in [0, 1] whatever u), pose ``anchor + range *
        tanh(u * motion_std / range)``, returned as motion ``(coeffs - anchor) / motion_std``.
        """
        if not self.anchored:
            return head
        u = head.float()
        a = anchor[:, None, :]
        nb = NUM_BLENDSHAPES
        blend = torch.sigmoid(torch.logit(a[..., :nb].clamp(ANCHOR_EPS, 1 - ANCHOR_EPS))
                              + u[..., :nb])
        rng = self.pose_range
        pose = a[..., nb:] + rng * torch.tanh(u[..., nb:] * self.motion_std[nb:] / rng)
        return (torch.cat([blend, pose], dim=-1) - a) / self.motion_std

    def reaction_coefficients(self, reactions: torch.Tensor,
                              anchor: torch.Tensor) -> torch.Tensor:
        """Normalised reactions ``(N, n, 58)`` -> FaceVerse coefficients (float32).

        ``anchor`` ``(N, 58)`` is used with ``output: anchored`` only.
        """
        if not self.anchored:
            return self.denormalise(reactions)
        out = reactions.float() * self.motion_std + anchor[:, None, :]
        # The composition keeps blendshapes inside [0, 1]; this only removes the float
        # rounding (~1e-7) of going through motion units and back.
        out[..., :NUM_BLENDSHAPES] = out[..., :NUM_BLENDSHAPES].clamp(0.0, 1.0)
        return out

    def reaction_targets(self, coeffs: torch.Tensor) -> torch.Tensor:
        """Real reactions ``(..., T, 58)`` -> what the losses and the history compare.

        ``coefficients``: :meth:`normalise`. ``anchored``: each reaction's motion relative to
        its own resting face (:func:`resting_face`), over ``motion_std``.
        """
        c = coeffs.to(self.device).float()
        if not self.anchored:
            return self.normalise(c)
        return (c - resting_face(c)[..., None, :]) / self.motion_std

    # ------------------------------------------------------------------ noise and latents
    def _noise(self, seed: int | None, batch: int, window_index: int,
               num_samples: int) -> torch.Tensor:
        """eps ``(B M, Z)`` of window ``window_index`` (``noise: session``: window 0's)."""
        z = self.config.latent_size
        if self.config.noise == "session":
            window_index = 0
        if seed is None:
            return torch.randn(batch * num_samples, z, device=self.device, dtype=self.dtype)
        eps = np.concatenate([window_noise(seed, b, window_index, num_samples, z)
                              for b in range(batch)])
        return torch.from_numpy(eps).to(self.device, self.dtype)

    def _all_noise(self, seed: int | None, batch: int, num_windows: int,
                   num_samples: int) -> torch.Tensor:
        """eps ``(B M, N, Z)`` of every window (one draw, shared by both training passes)."""
        if self.config.noise == "session":
            eps = self._noise(seed, batch, 0, num_samples)
            return eps[:, None].expand(-1, num_windows, -1)
        return torch.stack([self._noise(seed, batch, n, num_samples)
                            for n in range(num_windows)], dim=1)

    def _latent(self, mu: torch.Tensor, logvar: torch.Tensor, eps: torch.Tensor,
                z_prev: torch.Tensor | None,
                e_prev: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``z_t`` (and the running noise ``e_t`` with ``noise: smooth``), each ``(N, Z)``."""
        a = self.config.momentum
        sigma = torch.exp(0.5 * logvar)
        if self.config.noise == "smooth":
            e = eps if e_prev is None else a * e_prev + math.sqrt(1.0 - a * a) * eps
            return mu + sigma * e, e
        return momentum_update(z_prev, mu + sigma * eps, a), None

    def _decode_window(self, past: torch.Tensor, z_prev: torch.Tensor | None,
                       e_prev: torch.Tensor | None, eps: torch.Tensor, start: int,
                       face_keys: torch.Tensor, audio_keys: torch.Tensor,
                       anchor: torch.Tensor, slots: torch.Tensor | None,
                       gain: float = 1.0) -> tuple:
        """Generate frames ``start .. start + w - 1`` for every sample.

        ``past`` ``(B M, L, D)`` covers frames ``start - L .. start - 1``; ``face_keys``
        ``(B, Lf, D)`` and ``audio_keys`` ``(B, La, D)`` end at the window's last frame;
        ``anchor`` ``(B M, 58)``, ``slots`` ``(B M,)`` or None. Returns normalised reactions
        ``(B M, w, 58)`` (what the history keeps), ``z``, ``e`` (or None), ``mu``, ``logvar``
        ``(B M, Z)`` and the emitted reactions ``(B M, w, 58)``: the same with the head
        output times ``gain`` (:attr:`ReactFaceConfig.motion_gain`).
        """
        cfg = self.config
        w, k = cfg.window, cfg.audio_tokens_per_frame
        length = past.shape[1]
        pool = cfg.cie_pool
        offsets = torch.arange(length, 0, -pool, device=past.device)
        if pool > 1:   # the history is always whole windows, so whole tokens
            past = past.reshape(past.shape[0], length // pool, pool, past.shape[-1]).mean(dim=2)
        mu, logvar, ctx = self.cie(past + self.history_pe[offsets].to(past.dtype)[None])
        z, e = self._latent(mu, logvar, eps, z_prev, e_prev)
        latents = interpolate_latents(z if z_prev is None else z_prev, z, w)
        motion = self.lrd(latents, self._condition(ctx, anchor, slots))
        end = start + w
        dev = past.device
        head = self.slbs(
            motion, torch.arange(start, end, device=dev),
            face_keys, torch.arange(end - face_keys.shape[1], end, device=dev),
            audio_keys, torch.arange(k * end - audio_keys.shape[1], k * end, device=dev))
        r = self._compose(head, anchor)
        emitted = r if gain == 1.0 else self._compose(head * gain, anchor)
        return r, z, e, mu, logvar, emitted

    def _key_range(self, start: int) -> int:
        """First frame whose speaker features the window starting at ``start`` can see."""
        return max(0, start - self.config.horizon + 1)

    # ------------------------------------------------------------------ whole sequence
    def _encode_padded(self, audio: torch.Tensor, face: torch.Tensor,
                       chunk_frames: int | None) -> tuple[SpeakerFeatures, int, int]:
        """Speaker features over whole windows; returns them, T and the number of windows."""
        w = self.config.window
        t = face.shape[1]
        n_win = -(-t // w)
        face, audio = self._pad_frames(face, audio, n_win * w)
        feats, _ = self.encode_speaker(audio, face, 0, None, chunk_frames)
        return feats, t, n_win

    def _autoregressive(self, feats: SpeakerFeatures, t: int, n_win: int, num_samples: int,
                        eps: torch.Tensor, anchor: torch.Tensor,
                        slots: torch.Tensor | None, gain: float = 1.0) -> ReactFaceOutput:
        """Window by window on the model's own history (what streaming computes).

        ``eps`` ``(B M, N, Z)``, ``anchor`` ``(B M, 58)``, ``slots`` ``(B M,)`` or None;
        ``gain`` scales the returned reactions' motion (never the history; training: 1).
        """
        cfg = self.config
        w, k, h = cfg.window, cfg.audio_tokens_per_frame, cfg.horizon
        b = feats.fused.shape[0]
        past = feats.fused.new_zeros(b * num_samples, 0, cfg.hidden_size)
        z_prev = e_prev = None
        outs, mus, logvars = [], [], []
        for n in range(n_win):
            s = n * w
            lo = self._key_range(s)
            r, z_prev, e_prev, mu, lv, emitted = self._decode_window(
                past, z_prev, e_prev, eps[:, n], s,
                feats.face[:, lo:s + w], feats.audio[:, k * lo:k * (s + w)], anchor, slots,
                gain)
            outs.append(emitted)
            mus.append(mu)
            logvars.append(lv)
            new = self._past_features(r, feats.fused[:, s:s + w], num_samples)
            past = torch.cat([past, new], dim=1)[:, -h:]
        m = num_samples
        reactions = torch.cat(outs, dim=1)[:, :t].reshape(b, m, t, -1)
        recon = self.speaker.speaker_head(feats.fused[:, :t])
        return ReactFaceOutput(reactions, torch.stack(mus, 1).reshape(b, m, n_win, -1),
                               torch.stack(logvars, 1).reshape(b, m, n_win, -1), recon)

    def _teacher_forced(self, feats: SpeakerFeatures, t: int, n_win: int,
                        history: torch.Tensor, num_samples: int, eps: torch.Tensor,
                        anchor: torch.Tensor, slots: torch.Tensor | None) -> ReactFaceOutput:
        """Every window in parallel from a given listener history.

        ``history`` ``(B, Mh, T', 58)`` normalised reactions (Mh = 1: one real listener shared
        by the M samples; Mh = M: each sample's own history); ``eps`` ``(B M, N, Z)``. With the
        model's own (eval-mode) output as history this equals :meth:`_autoregressive`.
        """
        cfg = self.config
        w, k, h = cfg.window, cfg.audio_tokens_per_frame, cfg.horizon
        b = feats.fused.shape[0]
        m = num_samples
        tp = n_win * w
        mh = history.shape[1]
        lis = history.to(self.device)
        if lis.shape[2] < tp:
            lis = torch.cat([lis, lis[:, :, -1:].expand(-1, -1, tp - lis.shape[2], -1)], dim=2)
        lis = lis[:, :, :tp]
        hist = (self.listener_embed(lis.to(self.dtype)) + feats.fused[:, None])  # (B,Mh,Tp,D)
        d = hist.shape[-1]
        hist = hist.reshape(b * mh, tp, d)
        padded = torch.cat([hist.new_zeros(b * mh, h, d), hist], dim=1)
        windows = padded[:, :(n_win - 1) * w + h].unfold(1, h, w)             # (BMh, N, D, H)
        windows = windows.permute(0, 1, 3, 2).reshape(b * mh * n_win, h, d)
        q = torch.arange(h, device=hist.device)
        starts = torch.arange(n_win, device=hist.device)[:, None] * w
        valid = (starts - h + q[None, :] >= 0).repeat(b * mh, 1)                 # (BMh N, H)
        pool = cfg.cie_pool
        if pool > 1:   # tokens are whole windows: all valid or all padding
            windows = windows.reshape(windows.shape[0], h // pool, pool, d).mean(dim=2)
            valid, q = valid[:, ::pool], q[::pool]
        pe = self.history_pe[h - q].to(hist.dtype)
        mu, logvar, ctx = self.cie(windows + pe[None], valid)
        mu, logvar, ctx = (x.reshape(b, mh, n_win, -1).expand(b, m, n_win, -1)
                           for x in (mu, logvar, ctx))
        eps = eps.reshape(b, m, n_win, -1)
        z_prev = e_prev = None
        latents = []
        for n in range(n_win):
            z, e_prev = self._latent(mu[:, :, n], logvar[:, :, n], eps[:, :, n], z_prev, e_prev)
            latents.append(interpolate_latents((z if z_prev is None else z_prev).reshape(b * m, -1),
                                               z.reshape(b * m, -1), w))
            z_prev = z
        lat = torch.stack(latents, dim=1).reshape(b * m * n_win, w, -1)
        rep = (lambda x: x[:, None].expand(-1, n_win, *x.shape[1:]).reshape(
            b * m * n_win, *x.shape[1:]))
        cond = self._condition(ctx.reshape(b * m * n_win, d), rep(anchor),
                               None if slots is None else rep(slots))
        motion = self.lrd(lat, cond).reshape(b * m, tp, d)
        pos = torch.arange(tp, device=hist.device)
        head = self.slbs(motion, pos, feats.face, pos, feats.audio,
                         torch.arange(k * tp, device=hist.device))
        reactions = self._compose(head, anchor)
        recon = self.speaker.speaker_head(feats.fused[:, :t])
        return ReactFaceOutput(reactions[:, :t].reshape(b, m, t, -1), mu, logvar, recon)

    def _sampling_inputs(self, batch: int, num_samples: int, listener_face, persona
                         ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Anchor ``(B M, 58)`` and slots ``(B M,)`` (or None) of a batch."""
        anchor = self.prepare_anchor(listener_face, batch).repeat_interleave(num_samples, 0)
        slots = self.persona_slots(num_samples, persona)
        if slots is not None:
            slots = slots.repeat(batch)
        return anchor, slots

    def forward(self, speaker_audio: torch.Tensor, speaker_face: torch.Tensor,
                listener_reaction: torch.Tensor | None = None, num_samples: int = 1,
                seed: int | None = None, chunk_frames: int | None = None,
                listener_face: torch.Tensor | None = None, own_history: bool = False,
                persona: int | None = None) -> ReactFaceOutput:
        """Training forward over whole sequences.

        Parameters
        ----------
        speaker_audio : torch.Tensor
            ``(B, N)`` 16 kHz float audio (zero-padded / trimmed to ``T * 640`` samples).
        speaker_face : torch.Tensor
            ``(B, T, 59)`` features or ``(B, T, 3, S, S)`` crops.
        listener_reaction : torch.Tensor, optional
            ``(B, T, 58)`` de-normalised real listener reactions. Given: teacher forcing, the
            history each window's CIE sees is the real reaction (all windows in parallel).
            ``None``: autoregressive, exactly what :meth:`generate` and streaming compute.
        num_samples : int
            M samples drawn from one shared speaker encoding.
        seed : int, optional
            Noise seed (``None``: fresh random noise).
        chunk_frames : int, optional
            Encode the speaker in chunks of this many frames (same result, less memory).
        listener_face : torch.Tensor, optional
            ``(B, 58)`` or ``(58,)`` anchor (listener resting face; ``output: anchored``).
        own_history : bool
            Scheduled sampling in one parallel pass: a no-grad autoregressive pass produces
            the model's own history, then every window is computed in parallel (with
            gradients) from that history and the same noise. In ``eval()`` mode the result
            equals the autoregressive path; ``listener_reaction`` must be None.
        persona : int, optional
            Slot for every sample (default: sample m uses slot ``m mod personas``).

        Returns
        -------
        ReactFaceOutput
            Normalised reactions ``(B, M, T, 58)`` (motion over ``motion_std`` with
            ``output: anchored``), CIE ``mu``/``logvar`` and the speaker reconstruction.
        """
        self._check_samples(num_samples, seed)
        face = self.prepare_face(speaker_face)
        b = face.shape[0]
        anchor, slots = self._sampling_inputs(b, num_samples, listener_face, persona)
        feats, t, n_win = self._encode_padded(speaker_audio, face, chunk_frames)
        eps = self._all_noise(seed, b, n_win, num_samples)
        if listener_reaction is None and not own_history:
            return self._autoregressive(feats, t, n_win, num_samples, eps, anchor, slots)
        if own_history:
            if listener_reaction is not None:
                raise ValueError("own_history and listener_reaction are exclusive")
            with torch.no_grad():
                detached = SpeakerFeatures(feats.audio.detach(), feats.face.detach(),
                                           feats.fused.detach())
                own = self._autoregressive(detached, t, n_win, num_samples, eps, anchor, slots)
            return self._teacher_forced(feats, t, n_win, own.reactions.detach(), num_samples,
                                        eps, anchor, slots)
        lis = torch.as_tensor(listener_reaction)
        if lis.ndim != 3 or lis.shape[0] != face.shape[0] or lis.shape[1] != face.shape[1] \
                or lis.shape[2] != NUM_COEFFS:
            raise ValueError(f"listener_reaction must be (B, T, {NUM_COEFFS}) matching the "
                             f"speaker face (B, T) = {tuple(face.shape[:2])}, got "
                             f"{tuple(lis.shape)}")
        history = self.reaction_targets(lis)[:, None]
        return self._teacher_forced(feats, t, n_win, history, num_samples, eps, anchor, slots)

    @staticmethod
    def _check_samples(num_samples: int, seed: int | None) -> None:
        if not isinstance(num_samples, int) or num_samples < 1:
            raise ValueError(f"num_samples must be a positive integer, got {num_samples!r}")
        if seed is not None and (not isinstance(seed, (int, np.integer)) or seed < 0):
            raise ValueError(f"seed must be a non-negative integer or None, got {seed!r}")

    @torch.no_grad()
    def generate(self, speaker_audio: torch.Tensor | np.ndarray,
                 speaker_face: torch.Tensor | np.ndarray, num_samples: int = 1,
                 seed: int = 0, chunk_frames: int | None = 256,
                 listener_face: torch.Tensor | np.ndarray | None = None,
                 persona: int | None = None) -> torch.Tensor:
        """Generate M listener reactions for whole speaker sequences.

        Parameters
        ----------
        speaker_audio : array-like
            ``(B, N_samples)`` float32 audio at 16 kHz.
        speaker_face : array-like
            ``(B, T, 59)`` face features or ``(B, T, 3, S, S)`` crops.
        num_samples : int
            M.
        seed : int
            Seed; equal seeds give equal reactions, also in :class:`ReactionStream`.
        chunk_frames : int, optional
            Speaker-encoding chunk (bounded memory; the result does not depend on it).
        listener_face : array-like, optional
            ``(58,)`` or ``(B, 58)`` the listener's resting face (``output: anchored``;
            default :func:`neutral_face`).
        persona : int, optional
            Persona slot of every sample (default: sample m uses slot ``m mod personas``).

        Returns
        -------
        torch.Tensor
            ``(B, M, T, 58)`` float32 de-normalised FaceVerse coefficients.
        """
        self._check_samples(num_samples, seed)
        face = self.prepare_face(speaker_face)
        b = face.shape[0]
        anchor, slots = self._sampling_inputs(b, num_samples, listener_face, persona)
        feats, t, n_win = self._encode_padded(speaker_audio, face, chunk_frames)
        out = self._autoregressive(feats, t, n_win, num_samples,
                                   self._all_noise(seed, b, n_win, num_samples), anchor, slots,
                                   self.config.motion_gain)
        r = out.reactions.reshape(b * num_samples, t, -1)
        return self.reaction_coefficients(r, anchor).reshape(b, num_samples, t, -1)

    # ------------------------------------------------------------------ streaming
    def init_stream(self, num_samples: int,
                    listener_face: torch.Tensor | np.ndarray | None = None,
                    persona: int | None = None) -> StreamState:
        """Fresh :class:`StreamState` for M samples (anchor and persona as in :meth:`generate`)."""
        cfg = self.config
        d, dev, dt = cfg.hidden_size, self.device, self.dtype
        anchor, slots = self._sampling_inputs(1, num_samples, listener_face, persona)
        return StreamState(None, torch.zeros(1, 0, d, device=dev, dtype=dt),
                           torch.zeros(1, 0, d, device=dev, dtype=dt),
                           torch.zeros(num_samples, 0, d, device=dev, dtype=dt), None, 0,
                           anchor=anchor, slots=slots)

    @torch.no_grad()
    def stream_window(self, audio: torch.Tensor, face: torch.Tensor, state: StreamState,
                      num_samples: int, seed: int) -> tuple[torch.Tensor, StreamState]:
        """Generate the next window from that window's speaker input only.

        Parameters
        ----------
        audio : torch.Tensor
            ``(1, w * 640)`` 16 kHz samples of the window's frames.
        face : torch.Tensor
            ``(1, w, 59)`` features or ``(1, w, 3, S, S)`` crops (unprepared).
        state : StreamState
            From :meth:`init_stream` or the previous call (updated in place and returned).

        Returns
        -------
        tuple
            ``(M, w, 58)`` float32 de-normalised reactions and the state.
        """
        cfg = self.config
        w, k, h = cfg.window, cfg.audio_tokens_per_frame, cfg.horizon
        s = state.next_frame
        feats, state.speaker = self.speaker(self.prepare_audio(audio, w),
                                            self.prepare_face(face), s, state.speaker)
        state.face_keys = torch.cat([state.face_keys, feats.face], 1)[:, -(h + w - 1):]
        state.audio_keys = torch.cat([state.audio_keys, feats.audio], 1)[:, -k * (h + w - 1):]
        r, state.z_prev, state.e_prev, _, _, emitted = self._decode_window(
            state.past, state.z_prev, state.e_prev, self._noise(seed, 1, s // w, num_samples),
            s, state.face_keys, state.audio_keys, state.anchor, state.slots,
            self.config.motion_gain)
        new = self._past_features(r, feats.fused, num_samples)
        state.past = torch.cat([state.past, new], dim=1)[:, -h:]
        state.next_frame = s + w
        return self.reaction_coefficients(emitted, state.anchor), state

    # ------------------------------------------------------------------ checkpoints
    def save_pretrained(self, path: str | Path) -> None:
        """Write ``model.safetensors`` and ``config.json`` into directory ``path``."""
        from reactface_ros.model.checkpoint import save_checkpoint

        save_checkpoint(self, path)

    @classmethod
    def from_pretrained(cls, path: str | Path,
                        device: str | torch.device = "cpu") -> "ReactFace":
        """Load a model written by :meth:`save_pretrained` (validated; no pickle)."""
        from reactface_ros.model.checkpoint import load_checkpoint

        return load_checkpoint(path, device=device)
