"""Causal speaker encoders (the A-Enc and F-Enc of MSBEA), each with a streaming state.

Every encoder maps a chunk of frames plus the state left by the previous chunk to features
and a new state: calling it once on a whole sequence (state ``None``) or on consecutive chunks
gives the same features. States have a fixed size, so a chunk costs the same however long the
session has run.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from reactface_ros.constants import SAMPLES_PER_FRAME
from reactface_ros.model.attention import CausalTransformerLayer
from reactface_ros.model.audio import CausalLogMel
from reactface_ros.model.config import ReactFaceConfig

State = dict[str, Any]


class CausalConv1d(nn.Module):
    """Temporal convolution over ``(B, n, C)`` that sees only the current and past steps."""

    def __init__(self, c_in: int, c_out: int, kernel: int) -> None:
        super().__init__()
        self.kernel = kernel
        self.conv = nn.Conv1d(c_in, c_out, kernel)

    def forward(self, x: torch.Tensor,
                cache: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """``x`` ``(B, n, C_in)``, cache ``(B, kernel - 1, C_in)`` -> ``(B, n, C_out)``, cache."""
        if cache is None:
            cache = x.new_zeros(x.shape[0], self.kernel - 1, x.shape[2])
        xx = torch.cat([cache, x], dim=1)
        y = self.conv(xx.transpose(1, 2)).transpose(1, 2)
        return y, xx[:, xx.shape[1] - (self.kernel - 1):]


class CausalConvStack(nn.Module):
    """Residual stack ``x + gelu(conv(norm(x)))`` of causal 1-D convolutions, then a norm."""

    def __init__(self, dim: int, layers: int, kernel: int) -> None:
        super().__init__()
        self.norms = nn.ModuleList(nn.LayerNorm(dim) for _ in range(layers))
        self.convs = nn.ModuleList(CausalConv1d(dim, dim, kernel) for _ in range(layers))
        self.act = nn.GELU()
        self.out_norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor,
                caches: list[torch.Tensor] | None) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """``(B, n, D)`` -> ``(B, n, D)`` and the per-layer caches."""
        new = []
        for i, (norm, conv) in enumerate(zip(self.norms, self.convs)):
            y, c = conv(norm(x), None if caches is None else caches[i])
            x = x + self.act(y)
            new.append(c)
        return self.out_norm(x), new


class LogMelAudioEncoder(nn.Module):
    """Light causal audio encoder: log-mel (10 ms hops) -> k tokens per frame -> causal convs.

    Token t covers the two mel hops ending at sample ``320 (t + 1)`` (k = 2), so a frame's k
    tokens depend only on audio up to the end of that frame.
    """

    def __init__(self, config: ReactFaceConfig) -> None:
        super().__init__()
        self.k = config.audio_tokens_per_frame
        hop = config.samples_per_token // 2
        self.mel = CausalLogMel(config.n_mels, hop=hop, win=max(400, hop))
        self.in_norm = nn.LayerNorm(2 * config.n_mels)
        self.proj = nn.Linear(2 * config.n_mels, config.hidden_size)
        self.convs = CausalConvStack(config.hidden_size, config.logmel_layers,
                                     config.logmel_kernel)

    def forward(self, audio: torch.Tensor,
                state: State | None = None) -> tuple[torch.Tensor, State]:
        """Encode ``(B, n * 640)`` 16 kHz samples into ``(B, k n, D)`` tokens."""
        hist = None if state is None else state["history"]
        mel = self.mel(audio, hist)                                # (B, 2 k n, n_mels)
        b, steps, m = mel.shape
        tokens = mel.reshape(b, steps // 2, 2 * m)
        dtype = self.proj.weight.dtype
        x = self.proj(self.in_norm(tokens.to(dtype)))
        x, caches = self.convs(x, None if state is None else state["convs"])
        ctx = self.mel.context
        prev = audio.new_zeros(audio.shape[0], ctx) if hist is None else hist
        history = torch.cat([prev.float(), audio.float()], dim=1)[:, -ctx:]
        return x, {"history": history, "convs": caches}


class Wav2Vec2AudioEncoder(nn.Module):
    """wav2vec 2.0 run on a bounded context that ends at each frame's end; k = 2 tokens/frame.

    wav2vec 2.0 attends in both directions and normalises over its whole input, so running it
    once over a clip would let frame t see the future. Instead each frame gets its own pass
    over the ``wav2vec2_context_frames`` frames of audio ending at that frame (plus the 80
    samples its first convolution needs), normalised like ``Wav2Vec2FeatureExtractor`` does,
    and keeps the last two tokens. The frames of a chunk run as one batch.
    """

    def __init__(self, config: ReactFaceConfig, load_pretrained: bool = True) -> None:
        super().__init__()
        from transformers import Wav2Vec2Config, Wav2Vec2Model

        if config.wav2vec2_path and load_pretrained:
            self.wav2vec2 = Wav2Vec2Model.from_pretrained(config.wav2vec2_path)
            config.wav2vec2_arch = self.wav2vec2.config.to_dict()
        else:
            arch = Wav2Vec2Config(**(config.wav2vec2_arch or {}))
            self.wav2vec2 = Wav2Vec2Model(arch)
            config.wav2vec2_arch = arch.to_dict()
        w2v_cfg = self.wav2vec2.config
        strides = 1
        for s in w2v_cfg.conv_stride:
            strides *= s
        if strides != config.samples_per_token:
            raise ValueError(f"wav2vec2 total stride {strides} != {config.samples_per_token} "
                             "samples per audio token")
        receptive = 1
        for kern, s in zip(reversed(w2v_cfg.conv_kernel), reversed(w2v_cfg.conv_stride)):
            receptive = (receptive - 1) * s + kern
        self.extra = receptive - strides                      # 80 for the base CNN
        self.context = config.wav2vec2_context_frames * SAMPLES_PER_FRAME + self.extra
        if config.wav2vec2_freeze_feature_encoder:
            for p in self.wav2vec2.feature_extractor.parameters():
                p.requires_grad_(False)
        layers = self.wav2vec2.encoder.layers
        if config.wav2vec2_frozen_layers > len(layers):
            raise ValueError(f"wav2vec2_frozen_layers={config.wav2vec2_frozen_layers} but the "
                             f"model has {len(layers)} transformer layers")
        for layer in layers[:config.wav2vec2_frozen_layers]:
            for p in layer.parameters():
                p.requires_grad_(False)
        self.proj = nn.Linear(w2v_cfg.hidden_size, config.hidden_size)

    def forward(self, audio: torch.Tensor,
                state: State | None = None) -> tuple[torch.Tensor, State]:
        """Encode ``(B, n * 640)`` 16 kHz samples into ``(B, 2 n, D)`` tokens."""
        b, length = audio.shape
        n = length // SAMPLES_PER_FRAME
        keep = self.context - SAMPLES_PER_FRAME
        hist = audio.new_zeros(b, keep) if state is None else state["history"]
        x = torch.cat([hist.to(audio.dtype), audio], dim=1).float()
        ctx = x.unfold(1, self.context, SAMPLES_PER_FRAME).reshape(b * n, self.context)
        ctx = (ctx - ctx.mean(dim=1, keepdim=True)) / torch.sqrt(
            ctx.var(dim=1, keepdim=True, unbiased=False) + 1e-7)
        dtype = self.proj.weight.dtype
        hidden = self.wav2vec2(ctx.to(dtype)).last_hidden_state         # (B n, tokens, Hw)
        tokens = hidden[:, -2:].reshape(b, 2 * n, hidden.shape[-1])
        return self.proj(tokens), {"history": x[:, x.shape[1] - keep:]}


class BlendshapeFaceEncoder(nn.Module):
    """Per-frame speaker face features ``(59,)`` -> d, then causal temporal convolutions.

    The input is already centred on the mean face and zeroed where no face was found (see
    :meth:`reactface_ros.model.ReactFace.prepare_face`); the face-found flag stays a feature.
    """

    def __init__(self, config: ReactFaceConfig) -> None:
        super().__init__()
        self.proj = nn.Linear(config.face_feature_dim, config.hidden_size)
        self.convs = CausalConvStack(config.hidden_size, config.blendshape_layers,
                                     config.blendshape_kernel)

    def forward(self, face: torch.Tensor,
                state: State | None = None) -> tuple[torch.Tensor, State]:
        """``(B, n, 59)`` -> ``(B, n, D)``."""
        x = self.proj(face)
        x, caches = self.convs(x, None if state is None else state["convs"])
        return x, {"convs": caches}


class CausalConv3d(nn.Module):
    """3-D convolution over ``(B, C, n, H, W)`` with left-only temporal context."""

    def __init__(self, c_in: int, c_out: int, t_kernel: int) -> None:
        super().__init__()
        self.t_kernel = t_kernel
        self.conv = nn.Conv3d(c_in, c_out, (t_kernel, 3, 3), stride=(1, 2, 2),
                              padding=(0, 1, 1))

    def forward(self, x: torch.Tensor,
                cache: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """Convolve; cache holds the previous ``t_kernel - 1`` input frames."""
        if cache is None:
            cache = x.new_zeros(x.shape[0], x.shape[1], self.t_kernel - 1, *x.shape[3:])
        xx = torch.cat([cache, x], dim=2)
        return self.conv(xx), xx[:, :, xx.shape[2] - (self.t_kernel - 1):]


class Conv3dFaceEncoder(nn.Module):
    """The paper's F-Enc made causal: 3-D convs over face crops, then a causal transformer.

    Normalisation is per frame (GroupNorm on each frame's feature map), never over the clip.
    """

    def __init__(self, config: ReactFaceConfig) -> None:
        super().__init__()
        self.convs = nn.ModuleList()
        self.norms = nn.ModuleList()
        c_in = 3
        for c in config.conv3d_channels:
            self.convs.append(CausalConv3d(c_in, c, config.conv3d_temporal_kernel))
            self.norms.append(nn.GroupNorm(min(8, c), c))
            c_in = c
        self.act = nn.GELU()
        self.proj = nn.Linear(c_in, config.hidden_size)
        self.layers = nn.ModuleList(
            CausalTransformerLayer(config.hidden_size, config.num_heads, config.ff_size,
                                   config.period, config.horizon, config.dropout)
            for _ in range(config.face_transformer_layers))

    def forward(self, crops: torch.Tensor, start: int,
                state: State | None = None) -> tuple[torch.Tensor, State]:
        """``(B, n, 3, S, S)`` crops (centred, scaled) -> ``(B, n, D)``."""
        b, n = crops.shape[:2]
        x = crops.transpose(1, 2)                                   # (B, 3, n, S, S)
        conv_caches, layer_caches = [], []
        for i, (conv, norm) in enumerate(zip(self.convs, self.norms)):
            x, c = conv(x, None if state is None else state["convs"][i])
            conv_caches.append(c)
            c_out, hh, ww = x.shape[1], x.shape[3], x.shape[4]
            frames = x.transpose(1, 2).reshape(b * n, c_out, hh, ww)
            frames = self.act(norm(frames))
            x = frames.reshape(b, n, c_out, hh, ww).transpose(1, 2)
        x = self.proj(x.mean(dim=(3, 4)).transpose(1, 2))           # (B, n, D)
        for i, layer in enumerate(self.layers):
            x, c = layer(x, start, None if state is None else state["layers"][i])
            layer_caches.append(c)
        return x, {"convs": conv_caches, "layers": layer_caches}
