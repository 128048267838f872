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
