"""``recorder`` node: writes topics into an MCAP rosbag2 file without ``ros2 bag``.

Messages are taken as serialized CDR (raw subscriptions) and written unchanged, with the
message definitions embedded as ``ros2msg`` schemas, so ``ros2 bag info/play``, Foxglove,
PlotJuggler, ``rosbags`` and ``mcap-ros2-support`` read the file. Users with a ROS install
can equally run ``ros2 bag record -s mcap``. The recorder subscribes when it is constructed:
start it (and wait for discovery, see :class:`~.media_source.MediaSourceNode`) before the
source so that nothing is lost.
"""
from __future__ import annotations

import threading
import time
from pathlib import Path

from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

from . import diagnostics as diag
from .common import DIAGNOSTICS_TOPIC, ParamSpec, ReactfaceNode, msg_class, run_node

#: Custom message types of this package (definitions read from the ``msg/`` files).
PACKAGE_MSG_TYPES = ("ReactionFrame", "ReactionSamples", "AudioChunk", "SpeakerFaceFeatures",
                     "TrackedFaces")


def _msg_dirs() -> list[Path]:
    dirs = []
    try:
        from ament_index_python.packages import get_package_share_directory

        dirs.append(Path(get_package_share_directory("reactface_ros")) / "msg")
    except Exception:  # no ament index: fall back to the source tree
        pass
    dirs.append(Path(__file__).resolve().parents[2] / "msg")
    return dirs


def bag_typestore():
    """A ``rosbags`` typestore with the Jazzy types and this package's messages.

    Raises
    ------
    FileNotFoundError
        When the ``.msg`` files of this package are neither installed nor in the source tree.
    """
    from rosbags.typesys import Stores, get_types_from_msg, get_typestore

    store = get_typestore(Stores.ROS2_JAZZY)
    types = {}
    for name in PACKAGE_MSG_TYPES:
        for d in _msg_dirs():
            path = d / f"{name}.msg"
            if path.is_file():
                types.update(get_types_from_msg(path.read_text(), f"reactface_ros/msg/{name}"))
                break
        else:
            raise FileNotFoundError(f"{name}.msg not found in {', '.join(map(str, _msg_dirs()))};"
                                    " build and install the package (make setup)")
    store.register(types)
    return store


def parse_topic_entry(entry: str) -> tuple[str, str, str]:
    """Split ``"topic=pkg/msg/Type[@qos]"`` into ``(topic, type, qos)``.

    ``qos`` is ``reliable`` (default), ``sensor_data`` (best effort, for publishers that use
    sensor-data QoS: a reliable subscription would not match them) or ``history`` (transient
    local, for publishers that keep history: messages sent before the recorder matched are
    still recorded; such a subscription does not match volatile publishers).
    """
    if "=" not in entry:
        raise ValueError(f"recorder topic entry {entry!r} must look like "
                         "'name=pkg/msg/Type' or 'name=pkg/msg/Type@sensor_data'")
    topic, rest = entry.split("=", 1)
    msg_type, _, qos = rest.partition("@")
    qos = qos or "reliable"
    if qos not in ("reliable", "sensor_data", "history"):
        raise ValueError(f"recorder topic entry {entry!r}: qos must be reliable, sensor_data "
                         "or history")
    if msg_type.count("/") != 2:
        raise ValueError(f"recorder topic entry {entry!r}: type must be pkg/msg/Type")
    return topic.strip(), msg_type.strip(), qos


class McapBagWriter:
    """Append serialized ROS 2 messages to an MCAP file with embedded definitions.

    Parameters
    ----------
    path : str or Path
        Output ``.mcap`` file (parent directories are created; an existing file is replaced).
    compression : str
        ``"zstd"`` (default, when the ``zstandard`` module exists) or ``"none"``.
    flush_interval_s : float
        Finish the chunk in progress and flush the file at least this often, so a recording
        that is killed loses at most this much (its complete part reads back with
        :func:`reactface_ros.bag_io.read_bag` or ``reactface bag-repair``).
    """

    def __init__(self, path: str | Path, compression: str = "zstd",
                 flush_interval_s: float = 1.0) -> None:
        from mcap.writer import CompressionType, Writer

        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if compression == "zstd":
            try:
                import zstandard  # noqa: F401
                comp = CompressionType.ZSTD
            except ImportError:
                comp = CompressionType.NONE
        else:
            comp = CompressionType.NONE
        self._file = open(self.path, "wb")
        self._writer = Writer(self._file, compression=comp)
        self._writer.start(profile="ros2", library="reactface_ros recorder")
        self._store = bag_typestore()
        self._schemas: dict[str, int] = {}
        self._channels: dict[str, int] = {}
        self._lock = threading.Lock()
        self.counts: dict[str, int] = {}
        self.closed = False
        self.flush_interval_s = float(flush_interval_s)
        self._last_flush = time.monotonic()

    def add_topic(self, topic: str, msg_type: str) -> None:
        """Register a channel for ``topic`` carrying ``msg_type`` (``pkg/msg/Type``)."""
        with self._lock:
            if topic in self._channels:
                return
            if msg_type not in self._schemas:
                msgdef, _ = self._store.generate_msgdef(msg_type, ros_version=2)
                self._schemas[msg_type] = self._writer.register_schema(
                    name=msg_type, encoding="ros2msg", data=msgdef.encode())
            self._channels[topic] = self._writer.register_channel(
                topic=topic, message_encoding="cdr", schema_id=self._schemas[msg_type])
            self.counts[topic] = 0

    def write(self, topic: str, data: bytes, log_time_ns: int, publish_time_ns: int) -> None:
        """Append one serialized message (``add_topic`` first)."""
        with self._lock:
            if self.closed:
                return
            self._writer.add_message(self._channels[topic], log_time=int(log_time_ns),
                                     data=bytes(data), publish_time=int(publish_time_ns),
                                     sequence=self.counts[topic])
            self.counts[topic] += 1
            if time.monotonic() - self._last_flush >= self.flush_interval_s:
                self._writer.flush()
                self._last_flush = time.monotonic()

    def close(self) -> None:
        """Finish the file (summary, index). Safe to call twice."""
        with self._lock:
            if self.closed:
                return
            self.closed = True
            self._writer.finish()
            self._file.close()


class RecorderNode(ReactfaceNode):
    """Records the configured topics into one MCAP file."""

    NODE_NAME = "recorder"
    PARAMS = (
        ParamSpec("path", "session.mcap", "output MCAP file (replaced if it exists)"),
        ParamSpec("topics", [""], "topics to record, each 'name=pkg/msg/Type' with an optional "
                  "'@sensor_data' suffix (best-effort publishers) or '@history' suffix "
                  "(transient-local publishers: their earlier messages are recorded too)"),
        ParamSpec("discover", False, "also record topics that appear later (checked every "
                  "second; their first messages are missed)"),
        ParamSpec("compression", "zstd", "chunk compression: zstd or none"),
    )
    TOPICS = (DIAGNOSTICS_TOPIC,)
    #: On Ctrl-C, first record what is already queued (see ``common.drain_received``).
    DRAIN_ON_STOP_S = 3.0

    def __init__(self, topics: list[str] | None = None, path: str | None = None,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        entries = [e for e in (topics if topics is not None else self.param("topics")) if e]
        self.writer = McapBagWriter(path or self.param("path"), self.param("compression"))
        self._subs = {}
        self.started = time.monotonic()
        for entry in entries:
            self.add_topic(*parse_topic_entry(entry))
        if self.param("discover"):
            self.steady_timer(1.0, self._discover)
        self.get_logger().info(f"recording {len(self._subs)} topics into {self.writer.path}")

    def add_topic(self, topic: str, msg_type: str, qos: str = "reliable") -> None:
        """Subscribe to ``topic`` and record it."""
        resolved = self.resolve_topic_name(topic)
        if resolved in self._subs:
            return
        self.writer.add_topic(resolved, msg_type)
        profile = QoSProfile(
            history=HistoryPolicy.KEEP_LAST, depth=1000,
            reliability=(ReliabilityPolicy.BEST_EFFORT if qos == "sensor_data"
                         else ReliabilityPolicy.RELIABLE),
            durability=(DurabilityPolicy.TRANSIENT_LOCAL if qos == "history"
                        else DurabilityPolicy.VOLATILE))
        self._subs[resolved] = self.create_subscription(
            msg_class(msg_type), resolved, lambda data, t=resolved: self._on_message(t, data),
            profile, raw=True)

    def received_count(self) -> int:
        """Messages written so far, all topics."""
        return int(sum(self.writer.counts.values()))

    def _on_message(self, topic: str, data: bytes) -> None:
        now = self.get_clock().now().nanoseconds
        self.writer.write(topic, data, now, now)

    def _discover(self) -> None:
        for name, types in self.get_topic_names_and_types():
            if name not in self._subs and types and name not in ("/rosout", "/parameter_events"):
                try:
                    self.add_topic(name, types[0])
                except Exception as exc:  # unknown type: say so once, keep recording the rest
                    self._subs[name] = None
                    self.get_logger().warning(f"cannot record {name} [{types[0]}]: {exc}")

    def subscribed(self) -> list[str]:
        """Resolved names of the recorded topics."""
        return [k for k, v in self._subs.items() if v is not None]

    def diagnostic_statuses(self) -> list:
        """One status: message counts per topic."""
        return [diag.make_status("recorder: bag", diag.OK, str(self.writer.path), self.get_name(),
                                 dict(self.writer.counts))]

    def close(self) -> None:
        """Finish the MCAP file."""
        self.writer.close()


def main(args: list[str] | None = None) -> int:
    """Run the recorder node."""
    return run_node(RecorderNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
