"""Alignment-bias attention (paper eq. 17) and the transformer layers built on it.

The alignment bias between a query frame i and a key j is, per head h with ALiBi-style slope
``s_h``::

    video keys (frames):        B_h[i, j] = -s_h * floor((i - j) / p)          for 0 <= i - j
    audio keys (k tokens/frame): B_h[i, j] = -s_h * floor((k i - j) / (k p))    for j <= k i

and ``-inf`` for future keys (causal) and for keys further back than the attention horizon.
Only differences of positions enter, so positions stay well-defined however long a session
runs (absolute indices are int64 and never reach a float).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def alibi_slopes(num_heads: int) -> torch.Tensor:
    """Per-head slopes ``2 ** (-8 (h + 1) / H)``: 1/2 ... 1/256 for 8 heads, ``(H,)``."""
    return torch.tensor([2.0 ** (-8.0 * (h + 1) / num_heads) for h in range(num_heads)])


def alignment_bias(query_pos: torch.Tensor, key_pos: torch.Tensor, period: int,
                   slopes: torch.Tensor, horizon: int | None,
                   tokens_per_frame: int = 1) -> torch.Tensor:
    """Additive attention bias of paper eq. 17 with per-head slopes, causal and horizon-limited.

    Parameters
    ----------
    query_pos : torch.Tensor
        ``(Lq,)`` int64 frame indices of the queries.
    key_pos : torch.Tensor
        ``(Lk,)`` int64 indices of the keys: frames (``tokens_per_frame == 1``) or audio tokens.
    period : int
        p, in frames.
    slopes : torch.Tensor
        ``(H,)`` per-head slopes (all ones gives the paper's plain matrix).
    horizon : int or None
        Keys whose frame ``floor(j / k)`` is ``horizon`` or more frames before the query frame
        are masked; ``None`` for no limit.
    tokens_per_frame : int
        k; 1 for video keys.

    Returns
    -------
    torch.Tensor
        ``(H, Lq, Lk)`` float32 bias with ``-inf`` where attention is not allowed.
    """
    k = tokens_per_frame
    q, j = query_pos[:, None].long(), key_pos[None, :].long()
    dist = k * q - j                                                  # (Lq, Lk)
    allowed = dist >= 0
    if horizon is not None:
        # the key's frame must be one of the last `horizon` frames up to the query frame
        allowed &= (q - torch.div(j, k, rounding_mode="floor")) < horizon
    steps = torch.div(dist.clamp(min=0), k * period, rounding_mode="floor").float()
    bias = -slopes.float().to(steps.device)[:, None, None] * steps[None]
    return bias.masked_fill(~allowed[None], float("-inf"))


def padding_bias(valid: torch.Tensor, num_heads: int, num_queries: int) -> torch.Tensor:
    """Bias ``(B, H, Lq, Lk)`` that is 0 for valid keys and ``-inf`` for padded ones.

    ``valid`` is ``(B, Lk)`` bool.
    """
    b = torch.zeros(valid.shape, dtype=torch.float32, device=valid.device)
    b = b.masked_fill(~valid, float("-inf"))
    return b[:, None, None, :].expand(-1, num_heads, num_queries, -1)


class BiasedAttention(nn.Module):
    """Multi-head attention with an additive bias; keys may be shared by groups of queries.

    Parameters
    ----------
    dim : int
        Model width.
    num_heads : int
        Heads.
    dropout : float
        Attention dropout (training only).
    """

    def __init__(self, dim: int, num_heads: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.num_heads, self.head_dim, self.dropout = num_heads, dim // num_heads, dropout
        self.q = nn.Linear(dim, dim)
        self.kv = nn.Linear(dim, 2 * dim)
        self.out = nn.Linear(dim, dim)

    def forward(self, query: torch.Tensor, memory: torch.Tensor,
                bias: torch.Tensor | None) -> torch.Tensor:
        """Attend ``query`` ``(B * G, Lq, D)`` to ``memory`` ``(B, Lk, D)``.

        The G query groups of each batch element (e.g. the M reaction samples) share that
        element's memory: keys and values are projected once and broadcast.
        ``bias`` is ``(H, Lq, Lk)`` or ``(B * G, H, Lq, Lk)``. Returns ``(B * G, Lq, D)``.
        """
        bg, lq, dim = query.shape
        b, lk, _ = memory.shape
        if bg % b:
            raise ValueError(f"query batch {bg} is not a multiple of memory batch {b}")
        g = bg // b
        q = self.q(query).view(bg, lq, self.num_heads, self.head_dim).transpose(1, 2)
        kv = self.kv(memory).view(b, lk, 2, self.num_heads, self.head_dim)
        k, v = kv[:, :, 0].transpose(1, 2), kv[:, :, 1].transpose(1, 2)   # (B, H, Lk, hd)
        if g > 1:
            k = k[:, None].expand(b, g, *k.shape[1:]).reshape(bg, *k.shape[1:])
            v = v[:, None].expand(b, g, *v.shape[1:]).reshape(bg, *v.shape[1:])
        mask = None if bias is None else bias.to(q.dtype)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask,
                                           dropout_p=self.dropout if self.training else 0.0)
        return self.out(y.transpose(1, 2).reshape(bg, lq, dim))


class FeedForward(nn.Module):
    """Pre-norm position-wise feed-forward block ``x + W2 gelu(W1 norm(x))``."""

    def __init__(self, dim: int, hidden: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.net = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Dropout(dropout),
                                 nn.Linear(hidden, dim), nn.Dropout(dropout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(..., D) -> (..., D)``."""
        return x + self.net(self.norm(x))


class CrossAttentionLayer(nn.Module):
    """Pre-norm cross-attention + feed-forward: ``x`` attends to ``memory`` with a bias."""

    def __init__(self, dim: int, num_heads: int, ff: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.norm_q = nn.LayerNorm(dim)
        self.norm_kv = nn.LayerNorm(dim)
        self.attn = BiasedAttention(dim, num_heads, dropout)
        self.ff = FeedForward(dim, ff, dropout)

    def forward(self, x: torch.Tensor, memory: torch.Tensor,
                bias: torch.Tensor | None) -> torch.Tensor:
        """``x`` ``(B * G, Lq, D)``, ``memory`` ``(B, Lk, D)`` -> ``(B * G, Lq, D)``."""
        x = x + self.attn(self.norm_q(x), self.norm_kv(memory), bias)
        return self.ff(x)


class CausalTransformerLayer(nn.Module):
    """Causal self-attention layer with the alignment bias and a bounded key cache.

    Frame i attends to frames ``i - horizon + 1 .. i``. Streaming passes the cache returned by
    the previous call (the normalised inputs of the last ``horizon - 1`` frames), so calling it
    on a whole sequence or on consecutive chunks gives the same outputs and the cache never
    grows beyond ``horizon - 1`` frames.
    """

    def __init__(self, dim: int, num_heads: int, ff: int, period: int, horizon: int,
                 dropout: float = 0.0) -> None:
        super().__init__()
        self.period, self.horizon = period, horizon
        self.norm = nn.LayerNorm(dim)
        self.attn = BiasedAttention(dim, num_heads, dropout)
        self.ff = FeedForward(dim, ff, dropout)
        self.register_buffer("slopes", alibi_slopes(num_heads), persistent=False)

    def forward(self, x: torch.Tensor, start: int,
                cache: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Run on frames ``start .. start + n - 1``.

        Parameters
        ----------
        x : torch.Tensor
            ``(B, n, D)``.
        start : int
            Absolute index of the first frame (only differences matter).
        cache : torch.Tensor, optional
            ``(B, L, D)`` normalised inputs of frames ``start - L .. start - 1``.

        Returns
        -------
        tuple
            ``(B, n, D)`` outputs and the new cache ``(B, min(L + n, horizon - 1), D)``.
        """
        h = self.norm(x)
        kv = h if cache is None else torch.cat([cache, h], dim=1)
        n, total = x.shape[1], kv.shape[1]
        dev = x.device
        q_pos = torch.arange(start, start + n, device=dev)
        k_pos = torch.arange(start + n - total, start + n, device=dev)
        bias = alignment_bias(q_pos, k_pos, self.period, self.slopes, self.horizon)
        x = x + self.attn(h, kv, bias)
        keep = self.horizon - 1
        return self.ff(x), kv[:, total - min(total, keep):]


def sinusoidal_encoding(positions: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal encodings ``(L, dim)`` of (small, relative) positions ``(L,)``."""
    half = dim // 2
    freq = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32) / half)
    ang = positions.float()[:, None] * freq[None, :]
    enc = torch.zeros(positions.shape[0], dim)
    enc[:, 0:2 * half:2] = torch.sin(ang)
    enc[:, 1:2 * half:2] = torch.cos(ang)
    return enc
