"""MSBEA: multi-modal speaker behaviour encoding and alignment.

Audio tokens (k per frame) and face features are encoded causally, each frame's face feature
attends to its own k audio tokens only (point-to-point modality alignment), a causal
horizon-limited transformer mixes the fused features over time, and an auxiliary head
reconstructs the speaker's own 58 coefficients (loss ``L_rec^s``).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from reactface_ros.model.attention import CausalTransformerLayer, CrossAttentionLayer
from reactface_ros.model.config import ReactFaceConfig
from reactface_ros.model.encoders import (BlendshapeFaceEncoder, Conv3dFaceEncoder,
                                          LogMelAudioEncoder, State, Wav2Vec2AudioEncoder)


@dataclass
class SpeakerFeatures:
    """Speaker encodings of n frames.

    Attributes
    ----------
    audio : torch.Tensor
        ``(B, k n, D)`` audio tokens (keys of MIM).
    face : torch.Tensor
        ``(B, n, D)`` face features (keys of VIM).
    fused : torch.Tensor
        ``(B, n, D)`` aligned and temporally mixed speaker features.
    """

    audio: torch.Tensor
    face: torch.Tensor
    fused: torch.Tensor

    @staticmethod
    def cat(parts: list["SpeakerFeatures"]) -> "SpeakerFeatures":
        """Concatenate consecutive chunks along time."""
        return SpeakerFeatures(torch.cat([p.audio for p in parts], 1),
                               torch.cat([p.face for p in parts], 1),
                               torch.cat([p.fused for p in parts], 1))


class MSBEA(nn.Module):
    """Speaker encoder: A-Enc, F-Enc, point-to-point alignment, speaker transformer.

    Parameters
    ----------
    config : ReactFaceConfig
        Model configuration.
    load_pretrained : bool
        Load ``config.wav2vec2_path`` (False when the weights come from a checkpoint).
    """

    def __init__(self, config: ReactFaceConfig, load_pretrained: bool = True) -> None:
        super().__init__()
        self.k = config.audio_tokens_per_frame
        d = config.hidden_size
        if config.audio_encoder == "logmel":
            self.audio_encoder: nn.Module = LogMelAudioEncoder(config)
        else:
            self.audio_encoder = Wav2Vec2AudioEncoder(config, load_pretrained)
        if config.face_encoder == "blendshapes":
            self.face_encoder: nn.Module = BlendshapeFaceEncoder(config)
        else:
            self.face_encoder = Conv3dFaceEncoder(config)
        self.alignment = CrossAttentionLayer(d, config.num_heads, config.ff_size, config.dropout)
        self.layers = nn.ModuleList(
            CausalTransformerLayer(d, config.num_heads, config.ff_size, config.period,
                                   config.horizon, config.dropout)
            for _ in range(config.speaker_layers))
        self.speaker_head = nn.Linear(d, config.num_coeffs)

    def forward(self, audio: torch.Tensor, face: torch.Tensor, start: int,
                state: State | None = None) -> tuple[SpeakerFeatures, State]:
        """Encode frames ``start .. start + n - 1``.

        Parameters
        ----------
        audio : torch.Tensor
            ``(B, n * 640)`` 16 kHz samples of those frames.
        face : torch.Tensor
            ``(B, n, 59)`` prepared features or ``(B, n, 3, S, S)`` prepared crops.
        start : int
            Absolute index of the first frame.
        state : dict, optional
            State returned by the previous call (``None`` at the session start).

        Returns
        -------
        tuple
            :class:`SpeakerFeatures` and the new state.
        """
        st = state or {}
        a, a_state = self.audio_encoder(audio, st.get("audio"))
        if isinstance(self.face_encoder, Conv3dFaceEncoder):
            f, f_state = self.face_encoder(face, start, st.get("face"))
        else:
            f, f_state = self.face_encoder(face, st.get("face"))
        b, n, d = f.shape
        if a.shape[1] != self.k * n:
            raise ValueError(f"audio gave {a.shape[1]} tokens for {n} frames "
                             f"(expected {self.k * n})")
        # point-to-point alignment: frame i attends only to its own tokens k i .. k i + k - 1
        fused = self.alignment(f.reshape(b * n, 1, d), a.reshape(b * n, self.k, d), None)
        x = fused.reshape(b, n, d)
        caches = []
        for i, layer in enumerate(self.layers):
            x, c = layer(x, start, st["layers"][i] if "layers" in st else None)
            caches.append(c)
        return SpeakerFeatures(a, f, x), {"audio": a_state, "face": f_state, "layers": caches}
