"""AFRG: appropriate facial reaction generation (CIE, sampling, momentum, interpolation, LRD).

* CIE (context integration encoder): learned mu / sigma tokens plus the past listener-reaction
  features (fused with the speaker features of the same frames, with relative sinusoidal
  positions) go through a transformer encoder; the outputs at the two token positions give
  ``N(mu_t, sigma_t)``.
* ``z*_t = mu_t + sigma_t * eps`` (reparameterised), ``z_t = a z_{t-w} + (1 - a) z*_t`` (paper
  eq. 10), and linear interpolation of ``[z_{t-w}, z_t]`` to w latents (eq. 11).
* LRD (listener reaction decoder): sinusoidal positions of the w frames attend to the latents.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from reactface_ros.model.attention import (CrossAttentionLayer, padding_bias,
                                           sinusoidal_encoding)
from reactface_ros.model.config import ReactFaceConfig


def momentum_update(z_prev: torch.Tensor | None, z_star: torch.Tensor,
                    momentum: float) -> torch.Tensor:
    """Paper eq. 10: ``z_t = a z_{t-w} + (1 - a) z*_t``; the first window takes ``z*_t``."""
    if z_prev is None:
        return z_star
    return momentum * z_prev + (1.0 - momentum) * z_star


def interpolation_weights(window: int) -> torch.Tensor:
    """Weights ``lambda_i`` ``(w,)`` of ``z_t`` in latent i (eq. 11, ``align_corners=False``).

    Latent i sits at source position ``(i + 0.5) * 2 / w - 0.5`` between ``z_{t-w}`` (0) and
    ``z_t`` (1), clamped to [0, 1].
    """
    i = torch.arange(window, dtype=torch.float64)
    return ((i + 0.5) * 2.0 / window - 0.5).clamp(0.0, 1.0).float()


def interpolate_latents(z_prev: torch.Tensor, z: torch.Tensor, window: int) -> torch.Tensor:
    """Linearly interpolate ``[z_prev, z]`` ``(N, Z)`` each into w latents ``(N, w, Z)``."""
    lam = interpolation_weights(window).to(z.device, z.dtype)[None, :, None]
    return (1.0 - lam) * z_prev[:, None, :] + lam * z[:, None, :]


class ContextIntegrationEncoder(nn.Module):
    """CIE: a transformer encoder over ``[mu token, sigma token, past features]``."""

    def __init__(self, config: ReactFaceConfig) -> None:
        super().__init__()
        d = config.hidden_size
        self.num_heads = config.num_heads
        self.tokens = nn.Parameter(torch.randn(2, d) * 0.02)
        self.layers = nn.ModuleList(
            CrossAttentionLayer(d, config.num_heads, config.ff_size, config.dropout)
            for _ in range(config.cie_layers))
        self.norm = nn.LayerNorm(d)
        self.mu = nn.Linear(d, config.latent_size)
        self.logvar = nn.Linear(d, config.latent_size)
        self.max_sigma = config.max_sigma

    def forward(self, past: torch.Tensor,
                valid: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Distribution of the next window's latent.

        Parameters
        ----------
        past : torch.Tensor
            ``(N, L, D)`` past features (positions already added); L may be 0.
        valid : torch.Tensor, optional
            ``(N, L)`` bool, False for padding.

        Returns
        -------
        tuple
            ``mu`` and ``logvar``, each ``(N, Z)``, and the context ``(N, D)`` (the normalised
            output at the mu token, deterministic).
        """
        n = past.shape[0]
        x = torch.cat([self.tokens.to(past.dtype)[None].expand(n, -1, -1), past], dim=1)
        bias = None
        if valid is not None:
            full = torch.cat([valid.new_ones(n, 2), valid], dim=1)
            bias = padding_bias(full, self.num_heads, x.shape[1])
        for layer in self.layers:
            x = layer(x, x, bias)
        x = self.norm(x)
        logvar = self.logvar(x[:, 1])
        if self.max_sigma is not None:
            # sigma = max_sigma * sigmoid(raw), written in log space for stability.
            logvar = 2.0 * (math.log(self.max_sigma) + F.logsigmoid(logvar))
        return self.mu(x[:, 0]), logvar, x[:, 0]


class ListenerReactionDecoder(nn.Module):
    """LRD: sinusoidal positions of the w window frames cross-attend to the w latents."""

    def __init__(self, config: ReactFaceConfig) -> None:
        super().__init__()
        d = config.hidden_size
        self.in_proj = nn.Linear(config.latent_size, d)
        self.register_buffer("positions", sinusoidal_encoding(torch.arange(config.window), d),
                             persistent=False)
        self.layers = nn.ModuleList(
            CrossAttentionLayer(d, config.num_heads, config.ff_size, config.dropout)
            for _ in range(config.lrd_layers))

    def forward(self, latents: torch.Tensor,
                condition: torch.Tensor | None = None) -> torch.Tensor:
        """``(N, w, Z)`` latents -> ``(N, w, D)`` listener motion features.

        ``condition`` ``(N, D)`` (optional: deterministic context, anchor face and persona
        slot embeddings) is added to every query and memory position.
        """
        pos = self.positions.to(latents.dtype)[None]
        memory = self.in_proj(latents) + pos
        x = pos.expand(latents.shape[0], -1, -1)
        if condition is not None:
            memory = memory + condition[:, None]
            x = x + condition[:, None]
        for layer in self.layers:
            x = layer(x, memory, None)
        return x
