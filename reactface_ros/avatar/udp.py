"""A UDP datagram sender that never blocks and never raises in the per-frame path.

Avatar receivers come and go (an app restarts, a robot reboots). Sends use a non-blocking,
connected socket: a full buffer counts as a *drop*, an error reported by the network stack
(e.g. "connection refused" after an ICMP port-unreachable from a closed port) counts as an
*error*; both are logged at most once per ``log_interval_s`` and never raised. Only bad
configuration (an unresolvable host, an invalid port) raises, at construction.
"""
from __future__ import annotations

import logging
import socket
import time
from dataclasses import dataclass, field

from reactface_ros.avatar.validation import InvalidFrameError

logger = logging.getLogger(__name__)


def parse_host_port(text: str, default_port: int) -> tuple[str, int]:
    """Parse ``"host:port"``, ``"host"`` or ``":port"`` (IPv6 as ``"[::1]:port"``).

    Raises a ``ValueError`` naming the expected form.
    """
    text = text.strip()
    host, port = text, str(default_port)
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise ValueError(f"bad address {text!r}: expected '[ipv6]:port'")
        host, rest = text[1:end], text[end + 1:]
        if rest.startswith(":"):
            port = rest[1:]
    elif text.count(":") == 1:
        host, port = text.split(":")
    host = host or "127.0.0.1"
    try:
        port_number = int(port)
    except ValueError:
        raise ValueError(f"bad address {text!r}: expected HOST:PORT with a numeric port") from None
    if not 0 < port_number < 65536:
        raise ValueError(f"bad address {text!r}: port must be in 1..65535")
    return host, port_number


@dataclass
class SenderStats:
    """Counters of one sender.

    Attributes
    ----------
    sent : int
        Datagrams handed to the network stack.
    dropped : int
        Datagrams not sent because the socket buffer was full.
    errors : int
        Sends that failed with a network error (target unreachable, refused, ...).
    rejected : int
        Frames not sent because their coefficients were invalid (NaN/Inf, absurd values).
    clamped : int
        Blendshape values clamped into range, over all frames.
    last_error : str
        The most recent error or rejection message ("" if none).
    refused : int
        Sends refused because nothing listens on the port (also counted in ``errors``).
    """

    sent: int = 0
    dropped: int = 0
    errors: int = 0
    rejected: int = 0
    clamped: int = 0
    last_error: str = field(default="")
    refused: int = 0

    def as_dict(self) -> dict:
        """Plain dict (for diagnostics and logs)."""
        return {"sent": self.sent, "dropped": self.dropped, "errors": self.errors,
                "rejected": self.rejected, "clamped": self.clamped,
                "last_error": self.last_error}


class UdpSender:
    """Non-blocking UDP datagrams to one ``host:port``.

    Parameters
    ----------
    host, port : str, int
        Destination; resolved once here (raises ``ValueError`` if it cannot be).
    stats : SenderStats, optional
        Counters to update (a new one by default).
    log_interval_s : float
        At most one warning per this many seconds.
    """

    def __init__(self, host: str, port: int, stats: SenderStats | None = None,
                 log_interval_s: float = 5.0) -> None:
        if not 0 < int(port) < 65536:
            raise ValueError(f"port must be in 1..65535, got {port}")
        try:
            infos = socket.getaddrinfo(host, int(port), type=socket.SOCK_DGRAM)
        except socket.gaierror as exc:
            raise ValueError(f"cannot resolve avatar host {host!r}: {exc}") from exc
        family, _, proto, _, address = infos[0]
        self.address = address
        self.stats = stats if stats is not None else SenderStats()
        self._log_interval = log_interval_s
        self._last_log = -float("inf")
        self._sock = socket.socket(family, socket.SOCK_DGRAM, proto)
        self._sock.setblocking(False)
        # connect() on UDP only fixes the destination (it does not block); it also lets the
        # stack report ICMP errors, which are counted instead of silently lost.
        try:
            self._sock.connect(address)
        except OSError as exc:
            self._sock.close()
            raise ValueError(f"cannot use avatar address {host}:{port}: {exc}") from exc

    def send(self, payload: bytes) -> bool:
        """Send one datagram; return whether it was handed to the network stack."""
        try:
            self._sock.send(payload)
        except BlockingIOError:
            self.stats.dropped += 1
            self._warn("socket buffer full, frame dropped")
            return False
        except ConnectionRefusedError:
            self.stats.errors += 1
            self.stats.refused += 1
            self.stats.last_error = (f"nothing is listening on {self.address[0]}:"
                                     f"{self.address[1]} (UDP, connection refused); start "
                                     "the avatar application or check the port")
            if self.stats.refused == 1:          # said once, not per frame
                logger.warning("%s", self.stats.last_error)
            return False
        except OSError as exc:
            self.stats.errors += 1
            self._warn(f"send to {self.address[0]}:{self.address[1]} failed: {exc}")
            return False
        self.stats.sent += 1
        return True

    def _warn(self, message: str) -> None:
        self.stats.last_error = message
        now = time.monotonic()
        if now - self._last_log >= self._log_interval:
            self._last_log = now
            logger.warning("%s (sent=%d dropped=%d errors=%d)", message, self.stats.sent,
                           self.stats.dropped, self.stats.errors)

    def close(self) -> None:
        """Close the socket (idempotent)."""
        self._sock.close()


class FrameSender:
    """What the avatar senders share: a non-blocking socket, counters and the head pose.

    Subclasses implement ``encode_frame`` and ``send_frame`` (which calls :meth:`_send`).

    Parameters
    ----------
    host, port :
        Receiver address.
    head :
        The sender's :class:`~reactface_ros.avatar.head_pose.HeadPoseConverter`.
    """

    def __init__(self, host: str, port: int, head) -> None:
        self.head = head
        self.stats = SenderStats()
        self._udp = UdpSender(host, port, self.stats)

    def _send(self, encode) -> bool:
        """Encode with ``encode()`` and send; an invalid frame is counted, never raised."""
        try:
            payload = encode()
        except InvalidFrameError as exc:
            self.stats.rejected += 1
            self.stats.last_error = str(exc)
            return False
        return self._udp.send(payload)

    def send_rest(self) -> bool:
        """Send a calm face (zero blendshapes, reference head pose), e.g. when playback ends."""
        return self.send_frame(self.head.rest_frame())

    @property
    def address(self) -> tuple:
        """The resolved ``(host, port)`` this sender sends to."""
        return self._udp.address

    def close(self) -> None:
        """Close the socket."""
        self._udp.close()

    def __enter__(self):
        """Use as a context manager that closes the socket."""
        return self

    def __exit__(self, *exc) -> None:
        """Close on leaving the ``with`` block."""
        self.close()
