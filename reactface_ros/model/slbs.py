"""SLBS: speaker-listener behaviour synchronisation (VIM then MIM) and the coefficient head.

VIM: the new listener frames cross-attend to the speaker's face features; MIM: to the
speaker's audio tokens; both with the causal alignment bias of paper eq. 17.
"""
from __future__ import annotations

import torch
from torch import nn

from reactface_ros.model.attention import CrossAttentionLayer, alibi_slopes, alignment_bias
from reactface_ros.model.config import ReactFaceConfig


class SLBS(nn.Module):
    """Visual (VIM) then multi-modal audio (MIM) interaction layers, then a 58-d head."""

    def __init__(self, config: ReactFaceConfig) -> None:
        super().__init__()
        d = config.hidden_size
        self.period, self.horizon = config.period, config.horizon
        self.k = config.audio_tokens_per_frame
        self.vim = nn.ModuleList(
            CrossAttentionLayer(d, config.num_heads, config.ff_size, config.dropout)
            for _ in range(config.slbs_layers))
        self.mim = nn.ModuleList(
            CrossAttentionLayer(d, config.num_heads, config.ff_size, config.dropout)
            for _ in range(config.slbs_layers))
        self.norm = nn.LayerNorm(d)
        self.head = nn.Linear(d, config.num_coeffs)
        self.register_buffer("slopes", alibi_slopes(config.num_heads), persistent=False)

    def forward(self, motion: torch.Tensor, query_pos: torch.Tensor, face: torch.Tensor,
                face_pos: torch.Tensor, audio: torch.Tensor,
                audio_pos: torch.Tensor) -> torch.Tensor:
        """Synchronise listener motion with the speaker.

        Parameters
        ----------
        motion : torch.Tensor
            ``(B * M, n, D)`` listener motion features of frames ``query_pos`` ``(n,)``.
        face, face_pos : torch.Tensor
            ``(B, Lf, D)`` speaker face features of frames ``face_pos`` ``(Lf,)``.
        audio, audio_pos : torch.Tensor
            ``(B, La, D)`` speaker audio tokens with token indices ``audio_pos`` ``(La,)``.

        Returns
        -------
        torch.Tensor
            ``(B * M, n, 58)`` normalised coefficients.
        """
        bias_v = alignment_bias(query_pos, face_pos, self.period, self.slopes, self.horizon)
        bias_a = alignment_bias(query_pos, audio_pos, self.period, self.slopes, self.horizon,
                                self.k)
        x = motion
        for vim, mim in zip(self.vim, self.mim):
            x = vim(x, face, bias_v)
            x = mim(x, audio, bias_a)
        return self.head(self.norm(x))
