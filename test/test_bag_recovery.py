"""Recordings that were killed or cut short still read back: a real ``reactface run --record``
killed with SIGKILL (no summary, no footer) and truncated copies are read by a streaming reader
(``bag-eval`` says how much it recovered) and ``reactface bag-repair`` writes an indexed copy."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import warnings

import numpy as np
import pytest

pytest.importorskip("rclpy")
pytest.importorskip("reactface_ros.msg")
pytest.importorskip("mcap_ros2")

from test_bag_eval import M, T, _write_bag  # noqa: E402

from reactface_ros.constants import NUM_COEFFS  # noqa: E402


def _indexed_ok(path) -> bool:
    from mcap.reader import make_reader

    with open(path, "rb") as f:
        try:
            return make_reader(f).get_summary() is not None
        except Exception:
            return False


def _known_bag(tmp_path):
    rng = np.random.default_rng(0)
    speaker = rng.uniform(0, 1, (T, NUM_COEFFS)).astype(np.float32)
    pred = np.stack([np.roll(speaker, 3, axis=0) for _ in range(M)]).astype(np.float32)
    bag = tmp_path / "full.mcap"
    from reactface_ros.nodes import recorder

    class Chunky(recorder.McapBagWriter):        # a chunk per message, as after many flushes
        def __init__(self, path):
            super().__init__(path, flush_interval_s=0.0)

    mp = pytest.MonkeyPatch()
    mp.setattr(recorder, "McapBagWriter", Chunky)
    try:
        _write_bag(bag, pred, speaker, np.full(T, 100_000_000), np.arange(T))
    finally:
        mp.undo()
    return bag


@pytest.mark.parametrize("keep", [0.9, 0.6])
def test_truncated_bag_is_read_by_streaming_and_repaired(tmp_path, keep, capsys):
    from reactface_ros.bag_io import read_bag
    from reactface_ros.cli import main

    full = _known_bag(tmp_path)
    data = full.read_bytes()
    cut = tmp_path / "cut.mcap"
    cut.write_bytes(data[:int(len(data) * keep)])
    assert not _indexed_ok(cut)
    messages, report = read_bag(cut, ["/listener/reaction"])
    assert not report.indexed and not report.complete and report.error
    assert 0 < len(messages) <= T
    assert [m.frame_index for _, _, m in messages] == list(range(len(messages)))

    assert main(["bag-eval", str(cut), "--out", str(tmp_path / "eval"), "--no-plots"]) == 0
    out = capsys.readouterr().out
    assert "not indexed" in out and "recovered" in out and "bag-repair" in out
    summary = json.loads((tmp_path / "eval" / "summary.json").read_text())
    assert summary["bag_read"]["indexed"] is False
    assert summary["reaction_frames"] == len(messages)

    fixed = tmp_path / "fixed.mcap"
    assert main(["bag-repair", str(cut), str(fixed)]) == 0
    assert "indexed" in capsys.readouterr().out
    assert _indexed_ok(fixed)
    again, report2 = read_bag(fixed, ["/listener/reaction"])
    assert report2.indexed and len(again) == len(messages)


def test_bag_repair_errors_are_one_line(tmp_path, capsys):
    from reactface_ros.cli import main

    junk = tmp_path / "junk.mcap"
    junk.write_bytes(b"not an mcap at all")
    assert main(["bag-repair", str(junk), str(tmp_path / "out.mcap")]) == 1
    assert "not a readable MCAP" in capsys.readouterr().out
    assert not (tmp_path / "out.mcap").exists()
    assert main(["bag-repair", str(tmp_path / "none.mcap"), str(tmp_path / "o.mcap")]) == 1
    assert "not found" in capsys.readouterr().out


def _write_clip(path, frames: int = 100, size: int = 128, audio_track: bool = True) -> None:
    import av

    from reactface_ros.render import make_renderer

    face = np.zeros(NUM_COEFFS, np.float32)
    face[52], face[57] = np.pi, 1.84
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        renderer = make_renderer("mesh", size)
        images = []
        for i in range(6):
            c = face.copy()
            c[24] = 0.06 * i
            images.append(renderer.render(c))
        renderer.close()
    sr = 16000
    t = np.arange(frames * sr // 25) / sr
    audio = (0.3 * np.sin(2 * np.pi * 180 * t) * 32767).astype(np.int16)[None]
    with av.open(str(path), "w") as out:
        vs = out.add_stream("libx264", rate=25)
        vs.width = vs.height = size
        vs.pix_fmt = "yuv420p"
        aus = out.add_stream("pcm_s16le", rate=sr, layout="mono") if audio_track else None
        for i in range(frames):
            for packet in vs.encode(av.VideoFrame.from_ndarray(images[i % 6], format="rgb24")):
                out.mux(packet)
        for packet in vs.encode():
            out.mux(packet)
        if aus is None:
            return
        frame = av.AudioFrame.from_ndarray(audio, format="s16", layout="mono")
        frame.sample_rate = sr
        for packet in aus.encode(frame):
            out.mux(packet)
        for packet in aus.encode():
            out.mux(packet)


@pytest.mark.ros
@pytest.mark.timeout(240)
def test_sigkilled_recording_is_evaluated_and_repaired(tmp_path, ros_domain, capsys):
    """SIGKILL on ``reactface run --record``: the bag has no footer; bag-eval still scores the
    reactions recorded so far and bag-repair makes an indexed copy rosbags can open."""
    from test_nodes_graph import write_tiny_checkpoint

    from reactface_ros.bag_io import read_bag
    from reactface_ros.cli import main

    write_tiny_checkpoint(tmp_path / "ckpt")
    _write_clip(tmp_path / "clip.mp4")
    bag = tmp_path / "S.mcap"
    proc = subprocess.Popen(
        [sys.executable, "-m", "reactface_ros.cli", "run", "--video", str(tmp_path / "clip.mp4"),
         "--checkpoint", str(tmp_path / "ckpt"), "--device", "cpu", "--samples", "2",
         "--record", str(bag), "--param", "media_source.loop=true"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ros_domain,
        start_new_session=True)
    try:
        deadline = time.monotonic() + 180
        seen = 0
        while time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.5)
            if bag.exists() and bag.stat().st_size > 0:
                try:
                    seen = len(read_bag(bag, ["/listener/reaction"])[0])
                except ValueError:
                    seen = 0
                if seen >= 20:
                    break
        assert proc.poll() is None, "the recording ended by itself"
        assert seen >= 20, seen
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)

    assert not _indexed_ok(bag), "a killed recording has no summary"
    from rosbags.highlevel import AnyReader

    with pytest.raises(Exception):   # what other readers make of it
        with AnyReader([bag]) as reader:
            list(reader.messages())
    capsys.readouterr()
    assert main(["bag-eval", str(bag), "--out", str(tmp_path / "eval"), "--no-plots"]) == 0
    out = capsys.readouterr().out
    assert "recovered" in out
    summary = json.loads((tmp_path / "eval" / "summary.json").read_text())
    assert summary["reaction_frames"] >= seen
    assert summary["metrics"]["num_samples"] == 2

    fixed = tmp_path / "fixed.mcap"
    assert main(["bag-repair", str(bag), str(fixed)]) == 0
    with AnyReader([fixed]) as reader:
        conns = [c for c in reader.connections if c.topic == "/listener/reaction"]
        assert sum(1 for _ in reader.messages(conns)) == summary["reaction_frames"]


def test_a_stopping_recorder_first_records_what_is_queued():
    """``drain_received``: after Ctrl-C the recorder keeps handling callbacks while messages
    still arrive (here: five more spins bring one each) and stops once nothing has come for
    the quiet time; a node without a drain budget is not spun at all."""
    import time

    from reactface_ros.nodes.common import drain_received

    class Node:
        DRAIN_ON_STOP_S = 3.0

        def __init__(self, queued):
            self.queued, self.written = queued, 0

        def received_count(self):
            return self.written

    class Executor:
        def __init__(self, node):
            self.node, self.spins = node, 0

        def spin_once(self, timeout_sec):
            self.spins += 1
            if self.node.queued:
                self.node.queued -= 1
                self.node.written += 1
            else:
                time.sleep(timeout_sec)

    node = Node(queued=5)
    executor = Executor(node)
    start = time.monotonic()
    assert drain_received(executor, node) == 5
    assert node.queued == 0 and time.monotonic() - start < 2.0
    other = Node(queued=5)
    other.DRAIN_ON_STOP_S = 0.0
    idle = Executor(other)
    assert drain_received(idle, other) == 0 and idle.spins == 0
