"""What the VMC and Live Link tests share: a frontal test frame and waiting for packets."""
from __future__ import annotations

import time

import numpy as np

from reactface_ros.geometry import FRONTAL_ROTATION


def frontal_frame(rng=None):
    """A (58,) frame facing the camera; random blendshapes when ``rng`` is given."""
    frame = np.zeros(58)
    if rng is not None:
        frame[:52] = rng.random(52)
    frame[52:55] = FRONTAL_ROTATION
    frame[55:58] = (0.0, 0.0, 1.84)
    return frame


class PacketWaiter:
    """Mixin for loopback receivers that append ``(time, payload)`` to ``self.packets``."""

    def wait_for(self, n, timeout=3.0):
        """Wait until ``n`` packets arrived (or ``timeout`` s); return the packets."""
        end = time.monotonic() + timeout
        while len(self.packets) < n and time.monotonic() < end:
            time.sleep(0.005)
        return self.packets


class TimedSender:
    """Wraps a real sender and records ``(frame index, monotonic send time)`` of each frame.

    The send times show how the player paced the frames independently of how late the
    receiving thread got to them on a loaded machine.
    """

    def __init__(self, sender):
        self.sender = sender
        self.sent: list[tuple[int, float]] = []

    def send_frame(self, coeffs, frame_index=None):
        self.sent.append((frame_index, time.monotonic()))
        return self.sender.send_frame(coeffs, frame_index)


def assert_paced(report, timed: TimedSender, n: int, fps: float):
    """What real-time playback guarantees whatever the load: every frame is played or counted
    as skipped, played frames go out in order, and none goes out before its deadline
    ``t0 + i / fps`` (the player never bursts). That it does not drift or fall behind is
    tested with an injected clock, where lateness is exact."""
    assert report.frames == n and report.played + report.skipped_late == n
    indices = [i for i, _ in timed.sent]
    assert len(indices) == report.played >= 1 and indices[0] == 0
    assert indices == sorted(set(indices))
    t0 = timed.sent[0][1]
    for i, t in timed.sent:
        assert t - t0 >= i / fps - 1e-3, f"frame {i} was sent {i / fps - (t - t0):.3f} s early"
