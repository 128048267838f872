"""Truly online ReactFace: push speaker audio and face input as it arrives, get reactions.

:class:`ReactionStream` places every input on one timeline (25 fps frame slots, 16 kHz audio)
using the caller's timestamps, and as soon as the w frames of the next window and their audio
are complete it generates that window's M reactions with
:meth:`reactface_ros.model.ReactFace.stream_window`. Each input frame and audio sample is
encoded once; all history lives in fixed-size buffers, so a window costs the same in minute 60
as in minute 1. Given the same inputs, config, weights and seed, the frames equal those of
:meth:`~reactface_ros.model.ReactFace.generate` (to float rounding, 1e-5).

Input policy (all counted in :attr:`ReactionStream.health`):

* The time origin is the stamp of the first push (audio or face) after construction or
  :meth:`~ReactionStream.reset`. Frame slot n covers ``origin + n / 25`` s.
* Face input: a frame goes to slot ``round((stamp - origin) * 25)``. A frame whose slot is
  already filled (a duplicate, a higher camera rate, or a frame that arrives after the slot
  was filled in) is dropped. Skipped slots are filled by repeating the last face input (before
  any face: "no face"), flagged in :attr:`ReactionWindow.repeated`. ``None`` means no face in
  view (face-found flag 0); non-finite feature values count as no face.
* Audio: chunks of any size, any sample rate (resampled to 16 kHz), mono or
  ``(n, channels)`` (averaged), float or integer PCM. Non-finite samples become 0. A chunk is
  appended where the previous one ended as long as its stamp agrees within
  ``drift_tolerance_s``; beyond that (clock drift, a gap, an overlap) the audio is re-synced to
  the stamp: gaps become silence, overlapping samples are dropped.
* One modality may run ahead of the other by at most ``max_lag_s``; past that the lagging one
  is filled in (audio with silence, face slots by repetition) so reactions keep flowing.
  ``max_lag_s=None`` waits forever (offline replay).
* Caller errors raise ``ValueError``: wrong shapes or sizes, non-finite or decreasing stamps,
  a non-positive sample rate.
* Implausible input (:mod:`reactface_ros.input_checks`) raises
  :class:`~reactface_ros.input_checks.InputError` (a ``ValueError``) and is counted in
  :attr:`ReactionStream.health` under the problem's name: finite face features out of range
  (``face_out_of_range``), a sample rate outside 4-384 kHz (``audio_rate_out_of_range``), a
  chunk longer than 10 s (``audio_chunk_too_long``). The rejected input leaves no trace.
* The model state never becomes non-finite: a window whose reactions or state are not finite
  is not returned, counted in ``nonfinite_windows``, and the state before it is kept (the
  timeline moves on by one window).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace

import numpy as np
import torch

from reactface_ros.constants import (AUDIO_SAMPLE_RATE, FACE_FEATURE_DIM, FPS,
                                     SAMPLES_PER_FRAME)
from reactface_ros.input_checks import InputError, check_audio_chunk, check_face_features
from reactface_ros.model.audio import StreamingResampler, to_mono_float


@dataclass
class ReactionWindow:
    """M sampled reactions for one window of w frames.

    Attributes
    ----------
    start_frame : int
        Frame slot index of the window's first frame.
    reactions : np.ndarray
        ``(M, n, 58)`` float32 de-normalised FaceVerse coefficients (n = w except for the
        final window returned by :meth:`ReactionStream.flush`).
    stamps : np.ndarray
        ``(n,)`` float64 time (s, the caller's clock) of each frame slot.
    repeated : np.ndarray
        ``(n,)`` bool, True where the speaker face input was filled in (no frame arrived).
    """

    start_frame: int
    reactions: np.ndarray
    stamps: np.ndarray
    repeated: np.ndarray


@dataclass
class StreamHealth:
    """Counters of what the stream received and how it repaired its input."""

    windows: int = 0
    frames_received: int = 0
    frames_dropped: int = 0
    frames_repeated: int = 0
    no_face_frames: int = 0
    nonfinite_face_frames: int = 0
    audio_chunks: int = 0
    audio_samples_16k: int = 0
    nonfinite_audio_samples: int = 0
    audio_resyncs: int = 0
    audio_gap_samples: int = 0
    audio_overlap_samples: int = 0
    audio_filled_samples: int = 0
    face_out_of_range: int = 0
    audio_rate_out_of_range: int = 0
    audio_chunk_too_long: int = 0
    nonfinite_windows: int = 0

    def as_dict(self) -> dict[str, int]:
        """Counters as a plain dict."""
        return asdict(self)


def set_cpu_threads(num_threads: int) -> int:
    """Set torch's intra-op threads for CPU inference; return the number in use.

    One window of the CPU models is small (about 10 ms of work for M = 10): with more
    threads, torch's workers spin-wait between the many small operations, which costs about
    twice the CPU time on an idle machine and, when other processes share the cores (a
    robot always runs other software), makes a window 5-20x slower (measured:
    ``benchmarks/bench_streaming.py --threads``). ``num_threads`` 0 keeps torch's default
    (one per core), for large models on many cores.
    """
    if num_threads < 0:
        raise ValueError(f"num_threads must be >= 0 (0: torch's default), got {num_threads}")
    if num_threads:
        torch.set_num_threads(int(num_threads))
    return torch.get_num_threads()


def state_is_finite(state) -> bool:
    """True when every tensor of a stream state (histories, latent, encoder caches) is finite."""
    def finite(value) -> bool:
        if isinstance(value, torch.Tensor):
            return not value.is_floating_point() or bool(torch.isfinite(value).all())
        if isinstance(value, dict):
            return all(finite(v) for v in value.values())
        if isinstance(value, (list, tuple)):
            return all(finite(v) for v in value)
        return True
    return all(finite(getattr(state, k)) for k in
               ("speaker", "face_keys", "audio_keys", "past", "z_prev", "e_prev"))


def _finite_stamp(stamp: float, what: str) -> float:
    try:
        value = float(stamp)
    except (TypeError, ValueError):
        raise ValueError(f"{what} stamp must be a number of seconds, got {stamp!r}") from None
    if not math.isfinite(value):
        raise ValueError(f"{what} stamp must be finite, got {stamp!r}")
    return value


class ReactionStream:
    """Online listener-reaction generation over pushed speaker audio and face input.

    Parameters
    ----------
    model : ReactFace
        The model (put in ``eval()`` mode; moved to ``device`` when given).
    num_samples : int
        M reactions per window (one batch sharing one speaker encoding).
    seed : int
        Noise seed; the same seed reproduces the same reactions.
    device : str or torch.device, optional
        Where to run (default: the model's device).
    max_lag_s : float or None
        How far one modality may run ahead before the other is filled in (see module doc).
    drift_tolerance_s : float
        Audio stamps within this distance of the running sample clock are treated as jitter.
    listener_face : np.ndarray, optional
        ``(58,)`` the listener's (robot's or avatar's) resting face the reactions move around
        (models with ``output: anchored``; default the neutral face).
    persona : int, optional
        Persona slot every sample uses (models with persona slots); default: sample m uses
        slot ``m mod personas``.
    """

    def __init__(self, model, num_samples: int = 10, seed: int = 0,
                 device: str | torch.device | None = None, max_lag_s: float | None = 0.5,
                 drift_tolerance_s: float = 0.04, listener_face: np.ndarray | None = None,
                 persona: int | None = None) -> None:
        if not isinstance(num_samples, int) or num_samples < 1:
            raise ValueError(f"num_samples must be a positive integer, got {num_samples!r}")
        if not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
        if max_lag_s is not None and not max_lag_s > 0:
            raise ValueError(f"max_lag_s must be positive or None, got {max_lag_s!r}")
        if not drift_tolerance_s >= 0:
            raise ValueError(f"drift_tolerance_s must be >= 0, got {drift_tolerance_s!r}")
        self.model = model if device is None else model.to(device)
        self.model.eval()
        self.config = model.config
        self.num_samples, self.seed = num_samples, int(seed)
        self.listener_face = None if listener_face is None else \
            np.asarray(listener_face, dtype=np.float32)
        self.persona = persona
        self.max_lag_s, self.drift_tolerance_s = max_lag_s, drift_tolerance_s
        self.window = self.config.window
        self._conv3d = self.config.face_encoder == "conv3d"
        self.reset()

    # ------------------------------------------------------------------ state
    def reset(self) -> None:
        """Forget everything: new timeline origin, empty buffers, counters at zero."""
        self.health = StreamHealth()
        self.state = self.model.init_stream(self.num_samples, self.listener_face, self.persona)
        self.origin: float | None = None
        self._faces: list[np.ndarray] = []      # pending face inputs of frames >= next window
        self._repeated: list[bool] = []
        self._last_face = self._no_face()
        self._last_face_stamp = -math.inf
        self._audio = np.zeros(0, dtype=np.float32)   # pending 16 kHz samples
        self._audio_written = 0                       # 16 kHz samples placed on the timeline
        self._resampler: StreamingResampler | None = None
        self._segment_pos = 0          # timeline position of the current resampler segment
        self._segment_out = 0          # samples the segment has produced
        self._segment_stamp = 0.0
        self._segment_in = 0           # input samples of the segment
        self._last_audio_stamp = -math.inf

    @property
    def next_frame(self) -> int:
        """Index of the first frame of the next window to be generated."""
        return self.state.next_frame

    @property
    def frames_filled(self) -> int:
        """Frame slots filled so far (generated or pending)."""
        return self.state.next_frame + len(self._faces)

    def _set_origin(self, stamp: float) -> None:
        if self.origin is None:
            self.origin = stamp

    def _no_face(self) -> np.ndarray:
        if self._conv3d:
            s = self.config.crop_size
            return np.zeros((3, s, s), dtype=np.float32)
        return np.zeros(FACE_FEATURE_DIM, dtype=np.float32)

    # ------------------------------------------------------------------ face input
    def _check_face(self, face: np.ndarray | None) -> np.ndarray:
        if face is None:
            self.health.no_face_frames += 1
            return self._no_face()
        x = np.asarray(face)
        if self._conv3d:
            s = self.config.crop_size
            if x.shape == (s, s, 3):
                x = x.transpose(2, 0, 1)
            if x.shape != (3, s, s):
                raise ValueError(f"conv3d stream expects a face crop ({s}, {s}, 3) or "
                                 f"(3, {s}, {s}), got shape {x.shape}; resize crops to "
                                 f"crop_size={s}")
            x = x.astype(np.float32) / 255.0 if x.dtype == np.uint8 else x.astype(np.float32)
            if not np.all(np.isfinite(x)):
                self.health.nonfinite_face_frames += 1
                x = np.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0)
            return x
        if x.shape != (FACE_FEATURE_DIM,):
            raise ValueError(f"blendshapes stream expects face features of shape "
                             f"({FACE_FEATURE_DIM},) (FaceFeatures.to_vector()), got {x.shape}")
        x = self._checked(check_face_features, x)
        if not np.all(np.isfinite(x)):
            self.health.nonfinite_face_frames += 1
        if not (np.all(np.isfinite(x)) and x[-1] > 0.5):
            self.health.no_face_frames += 1
        return x

    def _checked(self, check, *args):
        """Run an :mod:`~reactface_ros.input_checks` check; count what it rejects."""
        try:
            return check(*args)
        except InputError as exc:
            setattr(self.health, exc.problem, getattr(self.health, exc.problem) + 1)
            raise

    def _fill_faces(self, upto: int) -> None:
        """Fill face slots up to (excluding) ``upto`` by repeating the last input."""
        while self.frames_filled < upto:
            self._faces.append(self._last_face)
            self._repeated.append(True)
            self.health.frames_repeated += 1

    def push_face(self, face: np.ndarray | None, stamp: float) -> list[ReactionWindow]:
        """Push one speaker face input.

        Parameters
        ----------
        face : np.ndarray or None
            ``(59,)`` face features (``blendshapes``) or a ``(S, S, 3)`` / ``(3, S, S)`` crop,
            uint8 or float in [0, 1] (``conv3d``); ``None`` when no face is in view.
        stamp : float
            Capture time in seconds (non-decreasing).

        Returns
        -------
        list of ReactionWindow
            Windows completed by this input (usually zero or one).
        """
        stamp = _finite_stamp(stamp, "face")
        if stamp < self._last_face_stamp:
            raise ValueError(f"face stamps must not decrease: got {stamp} after "
                             f"{self._last_face_stamp}")
        x = self._check_face(face)
        self._last_face_stamp = stamp
        self._set_origin(stamp)
        self.health.frames_received += 1
        slot = int(round((stamp - self.origin) * FPS))
        if slot < self.frames_filled:
            self.health.frames_dropped += 1
        else:
            self._fill_faces(slot)
            self._faces.append(x)
            self._repeated.append(False)
            self._last_face = x
        self._apply_lag_policy()
        return self._emit()

    # ------------------------------------------------------------------ audio input
    def _place_audio(self, pos: int, samples: np.ndarray) -> None:
        """Write 16 kHz ``samples`` starting at timeline position ``pos``."""
        if pos > self._audio_written:
            gap = pos - self._audio_written
            self.health.audio_gap_samples += gap
            self._append_audio(np.zeros(gap, dtype=np.float32))
        elif pos < self._audio_written:
            overlap = min(self._audio_written - pos, samples.size)
            self.health.audio_overlap_samples += overlap
            samples = samples[overlap:]
        self._append_audio(samples.astype(np.float32))

    def _append_audio(self, samples: np.ndarray) -> None:
        self._audio = np.concatenate([self._audio, samples])
        self._audio_written += samples.size
        self.health.audio_samples_16k += samples.size

    def _flush_resampler(self) -> None:
        if self._resampler is not None:
            tail = self._resampler.flush()
            self._place_audio(self._segment_pos + self._segment_out, tail)
            self._segment_out += tail.size
            self._resampler = None

    def push_audio(self, samples: np.ndarray, sample_rate: int,
                   stamp: float) -> list[ReactionWindow]:
        """Push one speaker audio chunk.

        Parameters
        ----------
        samples : np.ndarray
            ``(n,)`` or ``(n, channels)``; float in [-1, 1] or integer PCM. Any n >= 0.
        sample_rate : int
            Hz, any positive rate; resampled to 16 kHz.
        stamp : float
            Capture time (s) of the chunk's first sample (non-decreasing).

        Returns
        -------
        list of ReactionWindow
            Windows completed by this input.
        """
        stamp = _finite_stamp(stamp, "audio")
        if stamp < self._last_audio_stamp:
            raise ValueError(f"audio stamps must not decrease: got {stamp} after "
                             f"{self._last_audio_stamp}")
        if not isinstance(sample_rate, (int, np.integer)) or sample_rate <= 0:
            raise ValueError(f"sample_rate must be a positive integer (Hz), got {sample_rate!r}")
        mono = to_mono_float(samples)
        self._checked(check_audio_chunk, mono.size, sample_rate)
        bad = ~np.isfinite(mono)
        if bad.any():
            self.health.nonfinite_audio_samples += int(bad.sum())
            mono = np.where(bad, 0.0, mono)
        self._last_audio_stamp = stamp
        self._set_origin(stamp)
        self.health.audio_chunks += 1
        rs = self._resampler
        expected = (self._segment_stamp + self._segment_in / rs.rate) if rs else None
        if rs is None or rs.rate != sample_rate or \
                abs(stamp - expected) > self.drift_tolerance_s:
            if rs is not None:
                self.health.audio_resyncs += 1
            self._flush_resampler()
            self._resampler = StreamingResampler(int(sample_rate))
            self._segment_stamp, self._segment_in, self._segment_out = stamp, 0, 0
            self._segment_pos = int(round((stamp - self.origin) * AUDIO_SAMPLE_RATE))
        out = self._resampler.process(mono)
        self._place_audio(self._segment_pos + self._segment_out, out)
        self._segment_out += out.size
        self._segment_in += mono.size
        self._apply_lag_policy()
        return self._emit()

    # ------------------------------------------------------------------ windows
    def _apply_lag_policy(self) -> None:
        if self.max_lag_s is None:
            return
        video_s = self.frames_filled / FPS
        audio_s = self._audio_written / AUDIO_SAMPLE_RATE
        if video_s - audio_s > self.max_lag_s:
            target = int(round((video_s - self.max_lag_s) * AUDIO_SAMPLE_RATE))
            fill = target - self._audio_written
            self.health.audio_filled_samples += fill
            self._append_audio(np.zeros(fill, dtype=np.float32))
        elif audio_s - video_s > self.max_lag_s:
            self._fill_faces(int(math.floor((audio_s - self.max_lag_s) * FPS)))

    def _emit(self) -> list[ReactionWindow]:
        out = []
        w = self.window
        while len(self._faces) >= w and self._audio.size >= w * SAMPLES_PER_FRAME:
            out.append(self._generate(w))
        return [win for win in out if win is not None]

    def _generate(self, real: int) -> ReactionWindow | None:
        w = self.window
        n_audio = w * SAMPLES_PER_FRAME
        faces = np.stack(self._faces[:w])
        repeated = np.array(self._repeated[:w], dtype=bool)
        audio = self._audio[:n_audio]
        if audio.size < n_audio:
            audio = np.concatenate([audio, np.zeros(n_audio - audio.size, np.float32)])
        del self._faces[:w], self._repeated[:w]
        self._audio = self._audio[n_audio:]
        dev = self.model.device
        start = self.state.next_frame
        saved = replace(self.state)
        reactions, self.state = self.model.stream_window(
            torch.from_numpy(np.ascontiguousarray(audio))[None].to(dev),
            torch.from_numpy(faces)[None].to(dev), self.state, self.num_samples, self.seed)
        if not (bool(torch.isfinite(reactions).all()) and state_is_finite(self.state)):
            # Never let a non-finite value into the history: keep the state before this
            # window and move the timeline on; the window is not returned.
            self.state = replace(saved, next_frame=start + w)
            self.health.nonfinite_windows += 1
            return None
        self.health.windows += 1
        stamps = self.origin + (start + np.arange(real)) / FPS
        return ReactionWindow(start, reactions[:, :real].cpu().numpy().astype(np.float32),
                              stamps, repeated[:real])

    def flush(self) -> list[ReactionWindow]:
        """End of input: generate every pending frame, completing the last window.

        The final window is completed by repeating the last face input and adding silence; by
        causality the returned (real) frames are the same as if the inputs had continued.
        """
        self._flush_resampler()
        return self._complete()

    def peek(self) -> list[ReactionWindow]:
        """Reactions for every pending frame now, without ending the session.

        Generates what :meth:`flush` would (pending frames, the missing audio as silence) on a
        copy of the state and leaves the stream as it was: when input resumes, the windows
        it completes cover the peeked frames again. By causality a peeked frame equals the
        one generated later as long as the audio it lacked stays silence; the caller decides
        which copy to use (the ``reaction`` node publishes each frame once).
        """
        saved = (replace(self.state), list(self._faces), list(self._repeated), self._audio,
                 self._audio_written, replace(self.health))
        try:
            return self._complete()
        finally:
            (self.state, self._faces, self._repeated, self._audio, self._audio_written,
             self.health) = saved

    @property
    def timeline_end(self) -> float | None:
        """Caller time (s) up to which face slots or audio are filled; None before input."""
        if self.origin is None:
            return None
        return self.origin + max(self.frames_filled / FPS,
                                 self._audio_written / AUDIO_SAMPLE_RATE)

    def _complete(self) -> list[ReactionWindow]:
        """Generate every pending frame; missing audio becomes silence.

        The last window is completed by repetition and only its real frames are returned.
        """
        need = len(self._faces) * SAMPLES_PER_FRAME - self._audio.size
        if need > 0:                         # audio ended early (or never came): silence
            self.health.audio_filled_samples += need
            self._append_audio(np.zeros(need, dtype=np.float32))
        out = self._emit()
        pending = len(self._faces)
        if pending:
            self._fill_faces(self.state.next_frame + self.window)
            self.health.frames_repeated -= self.window - pending   # padding, not real frames
            last = self._generate(pending)
            if last is not None:
                out.append(last)
        return out

    def buffer_sizes(self) -> dict[str, tuple[int, ...]]:
        """Shapes of every history buffer (bounded; for tests and diagnostics)."""
        sizes = self.state.tensor_sizes()
        sizes["pending_audio"] = (int(self._audio.size),)
        sizes["pending_faces"] = (len(self._faces),)
        return sizes
