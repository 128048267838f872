"""Live Link Face sender against a decoder written from the documented packet layout."""
import socket
import struct
import threading
import time

import numpy as np
import pytest

from reactface_ros.avatar import LiveLinkConfig, LiveLinkSender, play_reaction
from reactface_ros.avatar.head_pose import HeadPoseConfig
from reactface_ros.constants import BLENDSHAPE_INDEX, LIVELINK_BLENDSHAPE_NAMES
from reactface_ros.geometry import FRONTAL_ROTATION

from avatar_helpers import PacketWaiter, TimedSender, assert_paced, frontal_frame


def decode(packet: bytes) -> dict:
    """Decode one packet: uint32 LE version, '$' + 36-char id, int32 BE name length + name,
    int32 frame, float32 sub-frame, int32 fps, int32 denominator (BE), uint8 count, BE floats."""
    (version,) = struct.unpack_from("<I", packet, 0)
    assert packet[4:5] == b"$"
    device_id = packet[5:41].decode("ascii")
    (name_len,) = struct.unpack_from(">i", packet, 41)
    name = packet[45:45 + name_len].decode("utf-8")
    at = 45 + name_len
    frame, subframe, fps, denominator = struct.unpack_from(">ifii", packet, at)
    count = packet[at + 16]
    values = struct.unpack_from(f">{count}f", packet, at + 17)
    assert len(packet) == at + 17 + 4 * count, "trailing or missing bytes"
    return {"version": version, "device_id": device_id, "name": name, "frame": frame,
            "subframe": subframe, "fps": fps, "denominator": denominator, "count": count,
            "values": np.array(values)}


def decode_as_unreal_strings(packet: bytes) -> dict:
    """The other reading of the same bytes: uint8 version, then length-prefixed strings."""
    version = packet[0]
    (id_len,) = struct.unpack_from(">i", packet, 1)
    device_id = packet[5:5 + id_len].decode()
    (name_len,) = struct.unpack_from(">i", packet, 5 + id_len)
    name = packet[9 + id_len:9 + id_len + name_len].decode()
    return {"version": version, "device_id": device_id, "name": name}


class Receiver(PacketWaiter):
    """A plain UDP socket on a free loopback port, read by a bounded thread."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.05)
        self.port = self.sock.getsockname()[1]
        self.packets = []  # (arrival time, bytes)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self):
        deadline = time.monotonic() + 20.0
        while not self._stop.is_set() and time.monotonic() < deadline:
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            self.packets.append((time.monotonic(), data))

    def close(self):
        self._stop.set()
        self._thread.join(timeout=2)
        self.sock.close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def test_packets_follow_the_layout_and_map_blendshapes_by_name(receiver):
    rng = np.random.default_rng(0)
    frames = [frontal_frame(rng) for _ in range(4)]
    frames[2][BLENDSHAPE_INDEX["mouthSmileLeft"]] = 1.4
    cfg = LiveLinkConfig(subject_name="Listener Ä", fps=25, eye_angle_rad=0.0)
    with LiveLinkSender("127.0.0.1", receiver.port, cfg) as sender:
        for i, f in enumerate(frames):
            assert sender.send_frame(f, 100 + i)
        packets = receiver.wait_for(4)
        device_id = sender.device_id
    assert len(packets) == 4
    for (_, raw), frame, number in zip(packets, frames, range(100, 104)):
        d = decode(raw)
        assert d["version"] == 6 and d["device_id"] == device_id and len(device_id) == 36
        assert d["name"] == "Listener Ä"
        assert (d["frame"], d["subframe"], d["fps"], d["denominator"]) == (number, 0.0, 25, 1)
        assert d["count"] == 61
        for j, name in enumerate(LIVELINK_BLENDSHAPE_NAMES):
            expected = np.clip(frame[BLENDSHAPE_INDEX[name]], 0, 1)
            assert d["values"][j] == pytest.approx(expected, abs=1e-6), name
        np.testing.assert_allclose(d["values"][52:], 0, atol=1e-6)   # frontal head, no eyes
        alt = decode_as_unreal_strings(raw)
        assert alt == {"version": 6, "device_id": device_id, "name": "Listener Ä"}
    assert decode(packets[2][1])["values"][23] == 1.0   # mouthSmileLeft, clamped
    assert decode(packets[0][1])["values"][17] == pytest.approx(
        frames[0][BLENDSHAPE_INDEX["jawOpen"]], abs=1e-6)


def test_head_and_eye_angles(receiver):
    turn = frontal_frame()
    turn[52:55] = FRONTAL_ROTATION + (0.0, 0.3, 0.0)   # toward the subject's right
    nod = frontal_frame()
    nod[52:55] = FRONTAL_ROTATION + (0.2, 0.0, 0.0)    # chin down
    eyes = frontal_frame()
    eyes[BLENDSHAPE_INDEX["eyeLookOutLeft"]] = 1.0      # both eyes to the subject's left
    eyes[BLENDSHAPE_INDEX["eyeLookInRight"]] = 1.0
    eyes[BLENDSHAPE_INDEX["eyeLookDownLeft"]] = 0.5
    cfg = LiveLinkConfig(eye_angle_rad=0.5)
    with LiveLinkSender("127.0.0.1", receiver.port, cfg) as sender:
        for f in (turn, nod, eyes):
            sender.send_frame(f)
        with LiveLinkSender("127.0.0.1", receiver.port, LiveLinkConfig(
                head_pose=HeadPoseConfig(angle_signs=(1, -1, -1)), angle_scale=2.0)) as mirror:
            mirror.send_frame(turn)
        values = [decode(raw)["values"] for _, raw in receiver.wait_for(4)]
    # Yaw is positive toward the subject's left, so a turn to the right is negative.
    np.testing.assert_allclose(values[0][52:55], [-0.3, 0, 0], atol=1e-6)
    np.testing.assert_allclose(values[1][52:55], [0, 0.2, 0], atol=1e-6)
    np.testing.assert_allclose(values[2][55:61], [0.5, 0.25, 0, 0.5, 0, 0], atol=1e-6)
    assert values[3][52] == pytest.approx(0.6, abs=1e-6)


def test_frame_numbers_count_up_and_the_player_keeps_the_rate(receiver):
    fps, n = 40.0, 24
    frames = np.tile(frontal_frame(), (n, 1))
    frames[:, BLENDSHAPE_INDEX["jawOpen"]] = np.linspace(0, 1, n)
    with LiveLinkSender("127.0.0.1", receiver.port, LiveLinkConfig(fps=40)) as sender:
        timed = TimedSender(sender)
        report = play_reaction(frames, [timed], fps=fps)
        packets = receiver.wait_for(report.played, timeout=10.0)
    assert_paced(report, timed, n, fps)
    assert len(packets) == report.played
    decoded = [decode(raw) for _, raw in packets]
    # The Live Link frame number is the played frame's index: skipped frames leave gaps.
    assert [d["frame"] for d in decoded] == [i for i, _ in timed.sent]
    for d in decoded:
        assert d["values"][17] == pytest.approx(frames[d["frame"], 24], abs=1e-6)
        assert d["fps"] == 40
    with LiveLinkSender("127.0.0.1", receiver.port) as sender:   # default numbering
        sender.send_frame(frames[0])
        sender.send_frame(frames[1])
        last = [decode(raw)["frame"] for _, raw in receiver.wait_for(len(packets) + 2)[-2:]]
    assert last == [0, 1]


def test_bad_input_is_rejected_with_a_reason_and_never_blocks(receiver):
    bad = frontal_frame()
    bad[BLENDSHAPE_INDEX["jawOpen"]] = np.inf
    with LiveLinkSender("127.0.0.1", receiver.port) as sender:
        assert not sender.send_frame(bad, 42)
        assert sender.stats.rejected == 1
        assert "frame 42" in sender.stats.last_error and "jawOpen" in sender.stats.last_error
        with pytest.raises(ValueError, match=r"\(58,\)"):
            sender.send_frame(np.zeros(61))
    time.sleep(0.05)
    assert receiver.packets == []
    with pytest.raises(ValueError, match="36-character"):
        LiveLinkSender("127.0.0.1", receiver.port, LiveLinkConfig(device_id="short"))
    port = receiver.port
    receiver.close()
    with LiveLinkSender("127.0.0.1", port) as sender:
        start = time.monotonic()
        for i in range(200):
            sender.send_frame(frontal_frame(), i)
        assert time.monotonic() - start < 1.0
        assert sender.stats.errors > 0 and sender.stats.sent + sender.stats.errors == 200
