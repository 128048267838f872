"""Real-time playback of a listener reaction to avatar senders.

Frame ``i`` is due at ``t0 + i / fps`` on a monotonic clock, so pacing never drifts however
long a send or a sleep takes; a frame that is already more than ``max_lag_frames`` periods
late when its turn comes is skipped (and counted) so the avatar stays in time with the audio
it reacts to rather than playing in slow motion.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Callable, Protocol, Sequence

import numpy as np

from reactface_ros.constants import FPS, NUM_COEFFS


class FrameSender(Protocol):
    """Anything with ``send_frame(coeffs (58,), frame_index) -> bool`` (VMC, Live Link)."""

    def send_frame(self, coeffs: np.ndarray, frame_index: int) -> bool:
        """Send one frame."""


class FramePacer:
    """Wait for frame deadlines ``start + i / fps`` on a monotonic clock.

    Parameters
    ----------
    fps : float
        Frames per second, > 0.
    clock : callable
        Monotonic seconds (``time.monotonic``; injectable for tests).
    sleep : callable
        Sleep function (``time.sleep``; injectable for tests).
    """

    def __init__(self, fps: float, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        if not fps > 0:
            raise ValueError(f"fps must be > 0, got {fps}")
        self.period = 1.0 / float(fps)
        self.clock = clock
        self.sleep = sleep
        self.start: float | None = None

    def wait(self, frame_index: int) -> float:
        """Sleep until frame ``frame_index`` is due; return how late it is then (seconds).

        The first call fixes the start time.
        """
        now = self.clock()
        if self.start is None:
            self.start = now
        due = self.start + frame_index * self.period
        while now < due:
            self.sleep(due - now)
            now = self.clock()
        return now - due


@dataclass
class PlaybackReport:
    """What a playback did.

    Attributes
    ----------
    frames : int
        Frames in the sequence.
    played : int
        Frames handed to the senders.
    skipped_late : int
        Frames skipped because playback had fallen behind.
    duration_s : float
        Wall time from the first frame to the last.
    """

    frames: int = 0
    played: int = 0
    skipped_late: int = 0
    duration_s: float = 0.0


def play_reaction(frames: np.ndarray, senders: Sequence[FrameSender], fps: float = FPS,
                  max_lag_frames: float = 2.0, stop: threading.Event | None = None,
                  pacer: FramePacer | None = None) -> PlaybackReport:
    """Play one reaction to every sender in real time.

    Parameters
    ----------
    frames : np.ndarray
        ``(T, 58)`` coefficients.
    senders : sequence of FrameSender
        Each gets ``send_frame(frames[i], i)`` for every played frame.
    fps : float
        Playback rate.
    max_lag_frames : float
        A frame later than this many periods is skipped.
    stop : threading.Event, optional
        Set it to end playback early.
    pacer : FramePacer, optional
        Clock and sleep to use (a real-time one by default).

    Returns
    -------
    PlaybackReport
    """
    frames = np.asarray(frames)
    if frames.ndim != 2 or frames.shape[1] != NUM_COEFFS:
        raise ValueError(f"expected frames of shape (T, {NUM_COEFFS}), got {frames.shape}")
    pacer = pacer or FramePacer(fps)
    report = PlaybackReport(frames=len(frames))
    max_lag = max_lag_frames * pacer.period
    for i, frame in enumerate(frames):
        if stop is not None and stop.is_set():
            break
        lateness = pacer.wait(i)
        if i > 0 and lateness > max_lag:
            report.skipped_late += 1
            continue
        for sender in senders:
            sender.send_frame(frame, i)
        report.played += 1
    if pacer.start is not None:
        report.duration_s = pacer.clock() - pacer.start
    return report
