"""``/diagnostics`` helpers: input-health monitors and status builders.

Every node publishes ``diagnostic_msgs/DiagnosticArray`` on ``/diagnostics`` once per second
(like the ROS4HRI reference nodes). A :class:`StreamMonitor` per input tracks its rate, gaps,
rejected messages and silence; a :class:`LatencyTracker` keeps recent processing times.
"""
from __future__ import annotations

import collections
import time
from dataclasses import dataclass, field

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue

OK = DiagnosticStatus.OK
WARN = DiagnosticStatus.WARN
ERROR = DiagnosticStatus.ERROR
STALE = DiagnosticStatus.STALE


@dataclass
class StreamMonitor:
    """Health of one input stream.

    Parameters
    ----------
    name : str
        Human-readable stream name (shown in the status).
    silence_timeout_s : float
        Seconds without a message after which the stream counts as silent.
    """

    name: str
    silence_timeout_s: float = 2.0
    received: int = 0
    rejected: int = 0
    gaps: int = 0
    dropped: int = 0
    skipped_stale: int = 0
    last_stale_age_s: float = 0.0
    last_error: str = ""
    last_receive: float | None = None
    started: float = field(default_factory=time.monotonic)
    _times: collections.deque = field(default_factory=lambda: collections.deque(maxlen=50))
    notes: dict[str, str] = field(default_factory=dict)

    def tick(self) -> None:
        """Record one accepted message."""
        now = time.monotonic()
        self.received += 1
        self.last_receive = now
        self._times.append(now)

    def reject(self, reason: str) -> None:
        """Record a message that could not be used, and why."""
        self.rejected += 1
        self.last_error = reason
        self.last_receive = time.monotonic()

    def gap(self, missing: int = 1) -> None:
        """Record a discontinuity (``missing`` frames or chunks lost)."""
        self.gaps += 1
        self.dropped += int(missing)

    def skip_stale(self, age_s: float) -> None:
        """Record a message skipped because it was ``age_s`` seconds old when its turn came.

        The real-time policy of live graphs: the node had fallen behind the clock.
        """
        self.skipped_stale += 1
        self.last_stale_age_s = float(age_s)
        self.last_receive = time.monotonic()

    @property
    def rate_hz(self) -> float:
        """Messages per second over the recent window."""
        if len(self._times) < 2:
            return 0.0
        span = self._times[-1] - self._times[0]
        return (len(self._times) - 1) / span if span > 0 else 0.0

    def silent_for(self) -> float:
        """Seconds since the last message (since start when none arrived)."""
        ref = self.last_receive if self.last_receive is not None else self.started
        return time.monotonic() - ref

    def is_silent(self) -> bool:
        """True once no message arrived for ``silence_timeout_s``."""
        return self.silent_for() > self.silence_timeout_s

    def status(self, hardware_id: str) -> DiagnosticStatus:
        """Build this stream's ``DiagnosticStatus``."""
        level, message = OK, "ok"
        if self.received == 0 and self.rejected == 0:
            level, message = (WARN, "no message yet") if self.is_silent() else (OK, "waiting")
        elif self.is_silent():
            level, message = WARN, f"silent for {self.silent_for():.1f} s"
        if self.rejected:
            level = max(level, WARN)
            message = f"{self.rejected} rejected ({self.last_error})"
        elif self.gaps and level == OK:
            level, message = WARN, f"{self.gaps} gaps, {self.dropped} missing"
        if self.skipped_stale and level == OK:
            level, message = WARN, (f"falling behind: {self.skipped_stale} stale skipped "
                                    f"(last {self.last_stale_age_s:.2f} s old)")
        values = {"received": self.received, "rejected": self.rejected, "gaps": self.gaps,
                  "missing": self.dropped, "skipped_stale": self.skipped_stale,
                  "rate_hz": f"{self.rate_hz:.2f}",
                  "silent_s": f"{self.silent_for():.2f}", "last_error": self.last_error}
        values.update(self.notes)
        return make_status(self.name, level, message, hardware_id, values)


class LatencyTracker:
    """Recent processing latencies (seconds) with percentiles.

    Parameters
    ----------
    maxlen : int
        How many recent values are kept.
    """

    def __init__(self, maxlen: int = 200) -> None:
        self.values: collections.deque[float] = collections.deque(maxlen=maxlen)
        self.count = 0

    def add(self, seconds: float) -> None:
        """Record one latency in seconds."""
        self.values.append(float(seconds))
        self.count += 1

    def summary(self) -> dict[str, str]:
        """``count``, ``p50_ms``, ``p95_ms``, ``max_ms`` of the recent values."""
        if not self.values:
            return {"count": "0"}
        arr = np.asarray(self.values) * 1e3
        return {"count": str(self.count), "p50_ms": f"{np.percentile(arr, 50):.1f}",
                "p95_ms": f"{np.percentile(arr, 95):.1f}", "max_ms": f"{arr.max():.1f}"}


def make_status(name: str, level, message: str, hardware_id: str,
                values: dict | None = None) -> DiagnosticStatus:
    """Build a ``DiagnosticStatus`` with string key/values."""
    status = DiagnosticStatus()
    status.level = level if isinstance(level, bytes) else bytes([int(level)])
    status.name = name
    status.message = message
    status.hardware_id = hardware_id
    status.values = [KeyValue(key=str(k), value=str(v)) for k, v in (values or {}).items()]
    return status


def max_level(a, b) -> bytes:
    """The more severe of two ``DiagnosticStatus`` levels."""
    return max(bytes(a), bytes(b))


def diagnostic_array(stamp, statuses: list[DiagnosticStatus]) -> DiagnosticArray:
    """Wrap statuses into a ``DiagnosticArray`` stamped ``stamp``."""
    arr = DiagnosticArray()
    arr.header.stamp = stamp
    arr.status = list(statuses)
    return arr
