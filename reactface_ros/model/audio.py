"""Audio front end: streaming resampling to 16 kHz and causal log-mel features.

Everything here gives the same numbers whether a signal is processed at once or in chunks of
any size, which is what lets the streaming engine equal the whole-sequence path.
"""
from __future__ import annotations

import numpy as np
import torch

from reactface_ros.constants import AUDIO_SAMPLE_RATE

#: One-sided width of the windowed-sinc resampling kernel, in input samples (at the lower of
#: the two rates).
RESAMPLE_HALF_WIDTH = 16
#: More channels than this in ``(n, channels)`` audio is taken as a transposed array.
MAX_CHANNELS = 32
#: Output samples x kernel taps computed at once by the resampler (bounds its memory).
_EMIT_BLOCK_ELEMENTS = 1 << 18


def to_mono_float(samples: np.ndarray) -> np.ndarray:
    """Convert ``(n,)`` or ``(n, channels)`` audio of any numeric dtype to mono float64.

    Integer PCM is scaled to [-1, 1) (int16 by 32768, int32 by 2**31, uint8 centred on 128).

    Raises
    ------
    ValueError
        For more than two dimensions, a non-numeric dtype, zero or more than
        :data:`MAX_CHANNELS` channels (planar ``(channels, n)`` audio must be transposed).
    """
    a = np.asarray(samples)
    if a.ndim not in (1, 2):
        raise ValueError(f"audio samples must have shape (n,) or (n, channels), got {a.shape}")
    if a.ndim == 2 and a.shape[1] == 0:
        raise ValueError("audio samples have zero channels")
    if a.ndim == 2 and a.shape[1] > MAX_CHANNELS:
        raise ValueError(f"audio samples of shape {a.shape} would have {a.shape[1]} channels; "
                         f"expected (n, channels): transpose planar (channels, n) audio")
    if a.dtype == np.uint8:
        a = (a.astype(np.float64) - 128.0) / 128.0
    elif np.issubdtype(a.dtype, np.integer):
        a = a.astype(np.float64) / float(-np.iinfo(a.dtype).min)
    elif np.issubdtype(a.dtype, np.floating):
        a = a.astype(np.float64)
    else:
        raise ValueError(f"audio samples must be numeric, got dtype {a.dtype}")
    if a.ndim == 2:
        a = a.mean(axis=1)
    return a


class StreamingResampler:
    """Windowed-sinc resampler from any rate to 16 kHz that works on chunks of any size.

    Output sample m (time m / 16000 s) is a Hann-windowed sinc interpolation of the input
    around position ``m * rate / 16000``, low-passed at the lower Nyquist frequency. Each
    output uses exactly the same input samples and weights however the input is chunked, so
    chunked and one-shot resampling are identical. Outputs need
    :data:`RESAMPLE_HALF_WIDTH` input samples of look-ahead (1 ms at 16 kHz); :meth:`flush`
    releases the tail by zero-padding. At 16 kHz input the samples pass through unchanged.

    Parameters
    ----------
    rate : int
        Input sample rate in Hz.
    """

    def __init__(self, rate: int) -> None:
        if not isinstance(rate, (int, np.integer)) or rate <= 0:
            raise ValueError(f"sample_rate must be a positive integer (Hz), got {rate!r}")
        self.rate = int(rate)
        self.passthrough = self.rate == AUDIO_SAMPLE_RATE
        self.cutoff = min(1.0, AUDIO_SAMPLE_RATE / self.rate)
        # Kernel half width in input samples, widened when decimating.
        self.half = int(np.ceil(RESAMPLE_HALF_WIDTH / self.cutoff))
        self._buffer = np.zeros(self.half, dtype=np.float64)  # zero history before sample 0
        self._buffer_start = -self.half                       # input index of _buffer[0]
        self._received = 0                                    # input samples seen
        self._next_out = 0                                    # next output sample index

    def _ready_outputs(self, available: int) -> int:
        # Output m needs input indices up to floor(m * rate / 16000) + half.
        last_in = available - 1 - self.half
        if last_in < 0:
            return self._next_out
        return (last_in * AUDIO_SAMPLE_RATE) // self.rate + 1

    def _emit(self, end_out: int) -> np.ndarray:
        # In blocks, so memory stays bounded (block x taps) whatever the chunk size and rate.
        start, parts = self._next_out, []
        while start < end_out:
            stop = min(end_out, start + max(1, _EMIT_BLOCK_ELEMENTS // (2 * self.half)))
            parts.append(self._emit_block(start, stop))
            start = stop
        self._next_out = max(self._next_out, end_out)
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.float64)

    def _emit_block(self, first: int, end_out: int) -> np.ndarray:
        m = np.arange(first, end_out, dtype=np.int64)
        num = m * self.rate
        base = num // AUDIO_SAMPLE_RATE
        frac = (num % AUDIO_SAMPLE_RATE) / AUDIO_SAMPLE_RATE
        taps = np.arange(-self.half + 1, self.half + 1, dtype=np.int64)
        idx = base[:, None] + taps[None, :]                  # input indices
        x = (frac[:, None] - taps[None, :]).astype(np.float64)  # distance to each tap
        window = 0.5 + 0.5 * np.cos(np.pi * np.clip(x / self.half, -1.0, 1.0))
        weights = self.cutoff * np.sinc(self.cutoff * x) * window
        values = self._buffer[idx - self._buffer_start]
        return (values * weights).sum(axis=1)

    def _trim(self) -> None:
        # Keep only the input that future outputs can still reach.
        first_needed = (self._next_out * self.rate) // AUDIO_SAMPLE_RATE - self.half + 1
        drop = first_needed - self._buffer_start
        if drop > 0:
            self._buffer = self._buffer[drop:]
            self._buffer_start += drop

    def process(self, samples: np.ndarray) -> np.ndarray:
        """Resample one mono float chunk ``(n,)``; returns the 16 kHz samples now complete."""
        x = np.asarray(samples, dtype=np.float64)
        if self.passthrough:
            self._received += x.size
            self._next_out += x.size
            return x.copy()
        self._buffer = np.concatenate([self._buffer, x])
        self._received += x.size
        out = self._emit(self._ready_outputs(self._received))
        self._trim()
        return out

    def flush(self) -> np.ndarray:
        """Emit the remaining outputs (up to the input's duration), zero-padding the tail."""
        if self.passthrough:
            return np.zeros(0, dtype=np.float64)
        total_out = -(-self._received * AUDIO_SAMPLE_RATE // self.rate)
        self._buffer = np.concatenate([self._buffer, np.zeros(self.half + 1)])
        out = self._emit(total_out)
        self._trim()
        return out


def resample_to_16k(samples: np.ndarray, rate: int) -> np.ndarray:
    """Resample a whole signal ``(n,)`` or ``(n, channels)`` to 16 kHz mono float32.

    Equal to feeding :class:`StreamingResampler` the same signal in any chunking.
    """
    rs = StreamingResampler(rate)
    mono = to_mono_float(samples)
    return np.concatenate([rs.process(mono), rs.flush()]).astype(np.float32)


def hz_to_mel(f: np.ndarray) -> np.ndarray:
    """HTK mel scale."""
    return 2595.0 * np.log10(1.0 + np.asarray(f, dtype=np.float64) / 700.0)


def mel_to_hz(m: np.ndarray) -> np.ndarray:
    """Inverse of :func:`hz_to_mel`."""
    return 700.0 * (10.0 ** (np.asarray(m, dtype=np.float64) / 2595.0) - 1.0)


def mel_filterbank(n_mels: int, n_fft: int, sample_rate: int = AUDIO_SAMPLE_RATE,
                   f_min: float = 0.0, f_max: float | None = None) -> np.ndarray:
    """Triangular mel filterbank ``(n_mels, n_fft // 2 + 1)`` (HTK scale, area-normalised).

    Each filter rises from the previous band edge to its centre and falls to the next, with
    the Slaney-style ``2 / (f_hi - f_lo)`` scaling so every band has equal area.
    """
    f_max = sample_rate / 2.0 if f_max is None else f_max
    freqs = np.linspace(0.0, sample_rate / 2.0, n_fft // 2 + 1)
    edges = mel_to_hz(np.linspace(hz_to_mel(f_min), hz_to_mel(f_max), n_mels + 2))
    lo, centre, hi = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (freqs[None, :] - lo) / (centre - lo)
    falling = (hi - freqs[None, :]) / (hi - centre)
    bank = np.maximum(0.0, np.minimum(rising, falling))
    bank *= (2.0 / (hi - lo))
    return bank.astype(np.float32)


class CausalLogMel(torch.nn.Module):
    """Causal log-mel features: frame m ends exactly at sample ``hop * (m + 1)``.

    Each STFT frame covers the ``win`` samples that end at the end of its hop, so no feature
    looks past its own time; the first frames see zeros before the start of the session.

    Parameters
    ----------
    n_mels : int
        Mel bands.
    hop : int
        Hop in samples (160 = 10 ms at 16 kHz).
    win : int
        Window and FFT length in samples (400 = 25 ms).
    """

    def __init__(self, n_mels: int = 80, hop: int = 160, win: int = 400) -> None:
        super().__init__()
        self.hop, self.win = hop, win
        self.register_buffer("window", torch.hann_window(win), persistent=False)
        self.register_buffer("filterbank", torch.from_numpy(mel_filterbank(n_mels, win)),
                             persistent=False)

    @property
    def context(self) -> int:
        """Samples of history a chunk needs before its first hop (``win - hop``)."""
        return self.win - self.hop

    def forward(self, audio: torch.Tensor, history: torch.Tensor | None = None) -> torch.Tensor:
        """Log-mel of ``audio``.

        Parameters
        ----------
        audio : torch.Tensor
            ``(B, N)`` 16 kHz samples, N a multiple of ``hop``.
        history : torch.Tensor, optional
            ``(B, win - hop)`` samples that precede ``audio`` (zeros at the session start).

        Returns
        -------
        torch.Tensor
            ``(B, N // hop, n_mels)`` float32 log-mel features.
        """
        if audio.shape[1] % self.hop:
            raise ValueError(f"audio length {audio.shape[1]} must be a multiple of {self.hop}")
        audio = audio.float()
        if history is None:
            history = audio.new_zeros(audio.shape[0], self.context)
        x = torch.cat([history.float(), audio], dim=1)
        # float32 whatever dtype the model was cast to
        spec = torch.stft(x, n_fft=self.win, hop_length=self.hop, win_length=self.win,
                          window=self.window.float(), center=False, return_complex=True)
        power = spec.real ** 2 + spec.imag ** 2                  # (B, F, frames)
        mel = torch.einsum("mf,bft->btm", self.filterbank.float(), power)
        return torch.log(mel + 1e-6)
