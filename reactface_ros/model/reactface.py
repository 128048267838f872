"""The ReactFace model: MSBEA -> AFRG -> SLBS, with whole-sequence and streaming paths.

Shapes: B batch, M reaction samples, T frames (25 fps), w window, D hidden, Z latent,
k audio tokens per frame, H attention horizon (frames). Coefficients are FaceVerse
``(..., 58)``; inside the model they are centred on ``mean_face`` (a buffer saved in the
checkpoint) and, with ``normalisation: standard``, divided by ``std_face`` (another buffer);
every public output is de-normalised.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from reactface_ros.constants import (FACE_FEATURE_DIM, NUM_BLENDSHAPES, NUM_COEFFS,
                                     SAMPLES_PER_FRAME)
from reactface_ros.model.afrg import (ContextIntegrationEncoder, ListenerReactionDecoder,
                                      interpolate_latents, momentum_update)
from reactface_ros.model.attention import sinusoidal_encoding
from reactface_ros.model.config import ReactFaceConfig
from reactface_ros.model.encoders import State
from reactface_ros.model.msbea import MSBEA, SpeakerFeatures
from reactface_ros.model.slbs import SLBS


#: Floor of ``std_face``: a coefficient constant in the training data is not blown up.
MIN_STD = 1e-3


def neutral_face() -> np.ndarray:
    """A neutral frontal face ``(58,)``: zero blendshapes, rotation (pi, 0, 0), t (0, 0, 1.84)."""
    face = np.zeros(NUM_COEFFS, dtype=np.float32)
    face[NUM_BLENDSHAPES] = np.pi
    face[NUM_COEFFS - 1] = 1.84
    return face


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
    """

    speaker: State | None
    face_keys: torch.Tensor
    audio_keys: torch.Tensor
    past: torch.Tensor
    z_prev: torch.Tensor | None
    next_frame: int = 0

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
        self.register_buffer("history_pe",
                             sinusoidal_encoding(torch.arange(config.horizon + 1), d),
                             persistent=False)

    # ------------------------------------------------------------------ housekeeping
    def _apply(self, fn, recurse=True):  # noqa: D401 - torch internal hook
        # Keep the normalisation statistics in float32 whatever dtype the weights are cast to.
        stats = {k: v for k, v in self._buffers.items() if k in ("mean_face", "std_face")}
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

        From reactions ``(B M, n, 58)`` and speaker features ``(B, n, D)`` of the same frames.
        """
        return (self.listener_embed(reactions.to(self.dtype))
                + fused.repeat_interleave(num_samples, dim=0))

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

    def _decode_window(self, past: torch.Tensor, z_prev: torch.Tensor | None,
                       eps: torch.Tensor, start: int, face_keys: torch.Tensor,
                       audio_keys: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Generate frames ``start .. start + w - 1`` for every sample.

        ``past`` ``(B M, L, D)`` covers frames ``start - L .. start - 1``; ``face_keys``
        ``(B, Lf, D)`` and ``audio_keys`` ``(B, La, D)`` end at the window's last frame.
        Returns reactions ``(B M, w, 58)``, ``z``, ``mu``, ``logvar`` ``(B M, Z)``.
        """
        cfg = self.config
        w, k = cfg.window, cfg.audio_tokens_per_frame
        length = past.shape[1]
        offsets = torch.arange(length, 0, -1, device=past.device)
        mu, logvar = self.cie(past + self.history_pe[offsets].to(past.dtype)[None])
        z_star = mu + torch.exp(0.5 * logvar) * eps
        z = momentum_update(z_prev, z_star, cfg.momentum)
        latents = interpolate_latents(z if z_prev is None else z_prev, z, w)
        motion = self.lrd(latents)
        end = start + w
        dev = past.device
        reactions = self.slbs(
            motion, torch.arange(start, end, device=dev),
            face_keys, torch.arange(end - face_keys.shape[1], end, device=dev),
            audio_keys, torch.arange(k * end - audio_keys.shape[1], k * end, device=dev))
        return reactions, z, mu, logvar

    def _key_range(self, start: int) -> int:
        """First frame whose speaker features the window starting at ``start`` can see."""
        return max(0, start - self.config.horizon + 1)

    # ------------------------------------------------------------------ whole sequence
    def _autoregressive(self, audio: torch.Tensor, face: torch.Tensor, num_samples: int,
                        seed: int | None, chunk_frames: int | None) -> ReactFaceOutput:
        cfg = self.config
        w, k, h = cfg.window, cfg.audio_tokens_per_frame, cfg.horizon
        b, t = face.shape[:2]
        n_win = -(-t // w)
        face, audio = self._pad_frames(face, audio, n_win * w)
        feats, _ = self.encode_speaker(audio, face, 0, None, chunk_frames)
        past = feats.fused.new_zeros(b * num_samples, 0, cfg.hidden_size)
        z_prev = None
        outs, mus, logvars = [], [], []
        session_eps = self._noise(seed, b, 0, num_samples) if cfg.noise == "session" else None
        for n in range(n_win):
            s = n * w
            lo = self._key_range(s)
            eps = session_eps if session_eps is not None else self._noise(seed, b, n,
                                                                          num_samples)
            r, z_prev, mu, lv = self._decode_window(
                past, z_prev, eps, s,
                feats.face[:, lo:s + w], feats.audio[:, k * lo:k * (s + w)])
            outs.append(r)
            mus.append(mu)
            logvars.append(lv)
            new = self._past_features(r, feats.fused[:, s:s + w], num_samples)
            past = torch.cat([past, new], dim=1)[:, -h:]
        m = num_samples
        reactions = torch.cat(outs, dim=1)[:, :t].reshape(b, m, t, -1)
        recon = self.speaker.speaker_head(feats.fused[:, :t])
        return ReactFaceOutput(reactions, torch.stack(mus, 1).reshape(b, m, n_win, -1),
                               torch.stack(logvars, 1).reshape(b, m, n_win, -1), recon)

    def _teacher_forced(self, audio: torch.Tensor, face: torch.Tensor,
                        listener: torch.Tensor, num_samples: int, seed: int | None,
                        chunk_frames: int | None) -> ReactFaceOutput:
        cfg = self.config
        w, k, h = cfg.window, cfg.audio_tokens_per_frame, cfg.horizon
        b, t = face.shape[:2]
        m = num_samples
        n_win = -(-t // w)
        tp = n_win * w
        face, audio = self._pad_frames(face, audio, tp)
        feats, _ = self.encode_speaker(audio, face, 0, None, chunk_frames)
        lis = self.normalise(listener.to(self.device))
        if lis.shape[1] < tp:
            lis = torch.cat([lis, lis[:, -1:].expand(-1, tp - lis.shape[1], -1)], dim=1)
        hist = self.listener_embed(lis.to(self.dtype)) + feats.fused          # (B, Tp, D)
        d = hist.shape[-1]
        padded = torch.cat([hist.new_zeros(b, h, d), hist], dim=1)
        windows = padded[:, :(n_win - 1) * w + h].unfold(1, h, w)             # (B, N, D, H)
        windows = windows.permute(0, 1, 3, 2).reshape(b * n_win, h, d)
        q = torch.arange(h, device=hist.device)
        starts = torch.arange(n_win, device=hist.device)[:, None] * w
        valid = (starts - h + q[None, :] >= 0).repeat(b, 1)                     # (B N, H)
        pe = self.history_pe[h - q].to(hist.dtype)
        mu, logvar = self.cie(windows + pe[None], valid)
        mu = mu.reshape(b, 1, n_win, -1).expand(b, m, n_win, -1)
        logvar = logvar.reshape(b, 1, n_win, -1).expand(b, m, n_win, -1)
        if cfg.noise == "session":
            eps = self._noise(seed, b, 0, m).reshape(b, m, 1, -1).expand(-1, -1, n_win, -1)
        else:
            eps = torch.stack([self._noise(seed, b, n, m).reshape(b, m, -1)
                               for n in range(n_win)], dim=2)
        z_star = mu + torch.exp(0.5 * logvar) * eps
        z_prev, latents = None, []
        for n in range(n_win):
            z = momentum_update(z_prev, z_star[:, :, n], cfg.momentum)
            latents.append(interpolate_latents((z if z_prev is None else z_prev).reshape(b * m, -1),
                                               z.reshape(b * m, -1), w))
            z_prev = z
        lat = torch.stack(latents, dim=1).reshape(b * m * n_win, w, -1)
        motion = self.lrd(lat).reshape(b * m, tp, d)
        pos = torch.arange(tp, device=hist.device)
        reactions = self.slbs(motion, pos, feats.face, pos, feats.audio,
                              torch.arange(k * tp, device=hist.device))
        recon = self.speaker.speaker_head(feats.fused[:, :t])
        return ReactFaceOutput(reactions[:, :t].reshape(b, m, t, -1), mu, logvar, recon)

    def forward(self, speaker_audio: torch.Tensor, speaker_face: torch.Tensor,
                listener_reaction: torch.Tensor | None = None, num_samples: int = 1,
                seed: int | None = None, chunk_frames: int | None = None) -> ReactFaceOutput:
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

        Returns
        -------
        ReactFaceOutput
            Normalised reactions ``(B, M, T, 58)``, CIE ``mu``/``logvar`` and the speaker
            reconstruction.
        """
        self._check_samples(num_samples, seed)
        face = self.prepare_face(speaker_face)
        if listener_reaction is None:
            return self._autoregressive(speaker_audio, face, num_samples, seed, chunk_frames)
        lis = torch.as_tensor(listener_reaction)
        if lis.ndim != 3 or lis.shape[0] != face.shape[0] or lis.shape[1] != face.shape[1] \
                or lis.shape[2] != NUM_COEFFS:
            raise ValueError(f"listener_reaction must be (B, T, {NUM_COEFFS}) matching the "
                             f"speaker face (B, T) = {tuple(face.shape[:2])}, got "
                             f"{tuple(lis.shape)}")
        return self._teacher_forced(speaker_audio, face, lis, num_samples, seed, chunk_frames)

    @staticmethod
    def _check_samples(num_samples: int, seed: int | None) -> None:
        if not isinstance(num_samples, int) or num_samples < 1:
            raise ValueError(f"num_samples must be a positive integer, got {num_samples!r}")
        if seed is not None and (not isinstance(seed, (int, np.integer)) or seed < 0):
            raise ValueError(f"seed must be a non-negative integer or None, got {seed!r}")

    @torch.no_grad()
    def generate(self, speaker_audio: torch.Tensor | np.ndarray,
                 speaker_face: torch.Tensor | np.ndarray, num_samples: int = 1,
                 seed: int = 0, chunk_frames: int | None = 256) -> torch.Tensor:
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

        Returns
        -------
        torch.Tensor
            ``(B, M, T, 58)`` float32 de-normalised FaceVerse coefficients.
        """
        self._check_samples(num_samples, seed)
        out = self._autoregressive(speaker_audio, self.prepare_face(speaker_face),
                                   num_samples, seed, chunk_frames)
        return self.denormalise(out.reactions)

    # ------------------------------------------------------------------ streaming
    def init_stream(self, num_samples: int) -> StreamState:
        """Fresh :class:`StreamState` for M samples."""
        cfg = self.config
        d, dev, dt = cfg.hidden_size, self.device, self.dtype
        return StreamState(None, torch.zeros(1, 0, d, device=dev, dtype=dt),
                           torch.zeros(1, 0, d, device=dev, dtype=dt),
                           torch.zeros(num_samples, 0, d, device=dev, dtype=dt), None, 0)

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
        r, state.z_prev, _, _ = self._decode_window(
            state.past, state.z_prev, self._noise(seed, 1, s // w, num_samples), s,
            state.face_keys, state.audio_keys)
        new = self._past_features(r, feats.fused, num_samples)
        state.past = torch.cat([state.past, new], dim=1)[:, -h:]
        state.next_frame = s + w
        return self.denormalise(r), state

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
