"""Tolerant MCAP reading: complete, unindexed (a killed recording) and truncated files.

A recording that is killed (SIGKILL, power loss) leaves an MCAP file without its summary and
footer, and possibly with a half-written last record. Seeking readers (and ``rosbags``) refuse
such a file; every record before the damage is still there. :func:`read_bag` reads an intact
file through its index and falls back to a streaming read that keeps every complete record
and stops at the first damaged one, and says how much it recovered (:class:`BagReport`).
:func:`repair_bag` writes an indexed copy (the same as ``mcap recover IN -o OUT`` of the
``mcap`` command-line tool).

No ROS imports: messages are decoded from the definitions embedded in the file.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

MCAP_MAGIC = b"\x89MCAP0\r\n"


@dataclass
class BagReport:
    """How a bag was read.

    Attributes
    ----------
    path : Path
        The ``.mcap`` file read.
    indexed : bool
        Read through its summary/index (an intact file).
    complete : bool
        The whole file was read (False: reading stopped at damage, see ``error``).
    messages : int
        Messages found (all topics).
    topic_counts : dict
        Topic -> messages found.
    undecodable : int
        Messages of wanted topics that could not be decoded (skipped).
    error : str
        What stopped the read of a damaged file ("" when none).
    """

    path: Path
    indexed: bool = True
    complete: bool = True
    messages: int = 0
    topic_counts: dict = field(default_factory=dict)
    undecodable: int = 0
    error: str = ""

    @property
    def recovered(self) -> bool:
        """True when the file was not intact and its messages were recovered by streaming."""
        return not self.indexed

    def describe(self) -> str:
        """One line: what was read, and how."""
        if self.indexed:
            return f"{self.path}: {self.messages} messages (indexed)"
        how = "complete" if self.complete else f"stopped at damage: {self.error}"
        return (f"{self.path} is not indexed (an interrupted recording?): recovered "
                f"{self.messages} messages by a streaming read ({how}); `reactface bag-repair "
                f"{self.path.name} FIXED.mcap` writes an indexed copy")


def resolve_bag_path(path: str | Path) -> Path:
    """The ``.mcap`` file of ``path`` (a file, or a rosbag2 directory holding one)."""
    path = Path(path)
    if path.is_dir():
        files = sorted(path.glob("*.mcap"))
        if not files:
            raise FileNotFoundError(f"{path} is a directory without an .mcap file")
        path = files[0]
    if not path.is_file():
        raise FileNotFoundError(f"bag {path} not found")
    return path


_READ_ERRORS = (struct.error, EOFError, ValueError, KeyError, OSError)


def _mcap_errors() -> tuple:
    from mcap.exceptions import McapError

    return (McapError,) + _READ_ERRORS


def _indexed(path: Path, wanted, decoders, report: BagReport) -> list | None:
    """Messages through the index, or None when the file has no usable summary."""
    from mcap.reader import make_reader

    out = []
    with open(path, "rb") as f:
        try:
            reader = make_reader(f, decoder_factories=decoders)
            summary = reader.get_summary()
        except _mcap_errors():
            return None
        if summary is None or summary.statistics is None or not summary.chunk_indexes and \
                summary.statistics.message_count:
            return None
        counts = summary.statistics.channel_message_counts
        report.topic_counts = {}
        for cid, channel in summary.channels.items():
            if counts.get(cid, 0):
                report.topic_counts[channel.topic] = (report.topic_counts.get(channel.topic, 0)
                                                      + counts[cid])
        report.messages = int(summary.statistics.message_count)
        try:
            for _, channel, message, msg in reader.iter_decoded_messages(topics=wanted):
                out.append((channel.topic, message.log_time, msg))
        except _mcap_errors():
            return None
    return out


def iter_records(path: Path, report: BagReport) -> Iterable:
    """Every complete record of ``path`` in file order; stops (noted in ``report``) at damage."""
    from mcap.stream_reader import StreamReader

    with open(path, "rb") as f:
        if f.read(len(MCAP_MAGIC)) != MCAP_MAGIC:
            raise ValueError(f"{path} is not a readable MCAP file: no MCAP magic at its start")
        f.seek(0)
        try:
            yield from StreamReader(f, record_size_limit=1 << 30).records
        except _mcap_errors() as exc:
            report.complete = False
            report.error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _streamed(path: Path, wanted, decoders, report: BagReport) -> list:
    from mcap.records import Channel, Message, Schema

    report.indexed = False
    report.topic_counts, report.messages = {}, 0
    schemas, channels, decode, out = {}, {}, {}, []
    for record in iter_records(path, report):
        if isinstance(record, Schema):
            schemas[record.id] = record
        elif isinstance(record, Channel):
            channels[record.id] = record
        elif isinstance(record, Message):
            channel = channels.get(record.channel_id)
            if channel is None:
                continue
            report.messages += 1
            report.topic_counts[channel.topic] = report.topic_counts.get(channel.topic, 0) + 1
            if wanted is not None and channel.topic not in wanted:
                continue
            try:
                if channel.id not in decode:
                    decode[channel.id] = _decoder(decoders, channel, schemas)
                out.append((channel.topic, record.log_time, decode[channel.id](record.data)))
            except Exception:  # a damaged message: skip it, count it
                report.undecodable += 1
    return out


def _decoder(decoders, channel, schemas):
    schema = schemas.get(channel.schema_id)
    for factory in decoders:
        fn = factory.decoder_for(channel.message_encoding, schema)
        if fn is not None:
            return fn
    raise ValueError(f"no decoder for {channel.message_encoding} on {channel.topic}")


def read_bag(path: str | Path, topics: Iterable[str] | None = None) -> tuple[list, BagReport]:
    """Decode the messages of ``topics`` (all when None) from an MCAP file, however damaged.

    Returns
    -------
    tuple
        ``[(topic, log_time_ns, message), ...]`` and the :class:`BagReport`.

    Raises
    ------
    FileNotFoundError
        No such file.
    ValueError
        Not an MCAP file, or nothing at all could be read from it.
    """
    from mcap_ros2.decoder import DecoderFactory

    path = resolve_bag_path(path)
    report = BagReport(path)
    wanted = None if topics is None else list(topics)
    decoders = [DecoderFactory()]
    out = _indexed(path, wanted, decoders, report)
    if out is None:
        out = _streamed(path, None if wanted is None else set(wanted), decoders, report)
        if report.messages == 0 and not report.complete:
            raise ValueError(f"{path} is not a readable MCAP file: it holds no complete message "
                             f"(cut off before its first chunk was written: {report.error})")
    return out, report


def repair_bag(src: str | Path, dst: str | Path) -> BagReport:
    """Write an indexed copy of ``src`` (every complete record) to ``dst``, atomically."""
    from mcap.records import Attachment, Channel, Header, Message, Metadata, Schema
    from mcap.writer import Writer

    from reactface_ros.atomic import atomic_path

    src = resolve_bag_path(src)
    report = BagReport(src, indexed=False)
    with atomic_path(dst) as tmp, open(tmp, "wb") as f:
        writer = None
        schema_ids, channel_ids = {}, {}
        for record in iter_records(src, report):
            if isinstance(record, Header):
                writer = Writer(f, compression=_compression())
                writer.start(profile=record.profile, library=record.library or "reactface_ros")
            if writer is None:
                raise ValueError(f"{src} has no MCAP header record")
            if isinstance(record, Schema) and record.id not in schema_ids:
                schema_ids[record.id] = writer.register_schema(record.name, record.encoding,
                                                               record.data)
            elif isinstance(record, Channel) and record.id not in channel_ids:
                channel_ids[record.id] = writer.register_channel(
                    record.topic, record.message_encoding, schema_ids.get(record.schema_id, 0),
                    dict(record.metadata))
            elif isinstance(record, Message) and record.channel_id in channel_ids:
                writer.add_message(channel_ids[record.channel_id], record.log_time,
                                   record.data, record.publish_time, record.sequence)
                report.messages += 1
            elif isinstance(record, Attachment):
                writer.add_attachment(record.create_time, record.log_time, record.name,
                                      record.media_type, record.data)
            elif isinstance(record, Metadata):
                writer.add_metadata(record.name, dict(record.metadata))
        if writer is None:
            raise ValueError(f"{src} is not a readable MCAP file: {report.error}")
        writer.finish()
    return report


def _compression():
    from mcap.writer import CompressionType

    try:
        import zstandard  # noqa: F401

        return CompressionType.ZSTD
    except ImportError:
        return CompressionType.NONE
