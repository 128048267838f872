"""Outputs are never half-written and earlier results are never lost: an interrupted render
keeps the previous video, ``demo --out`` over an earlier run checks the new input first, and
the in-process demo counts (and publishes) the clip's last window."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from reactface_ros.constants import NUM_COEFFS


def _reactions(path, frames: int) -> None:
    base = np.zeros((1, frames, NUM_COEFFS), np.float32)
    base[..., 52], base[..., 57] = np.pi, 1.84
    base[..., 24] = 0.3 + 0.2 * np.sin(np.arange(frames) / 5.0)
    np.save(path, base)


def test_atomic_path_keeps_the_old_file_on_error(tmp_path):
    from reactface_ros.atomic import atomic_path, save_npy

    target = tmp_path / "x.bin"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            assert tmp.suffix == ".bin" and tmp.parent == tmp_path
            tmp.write_bytes(b"half")
            raise RuntimeError("interrupted")
    assert target.read_bytes() == b"old" and sorted(os.listdir(tmp_path)) == ["x.bin"]
    out = save_npy(tmp_path / "r", np.zeros(3))
    assert out.name == "r" and np.load(out).shape == (3,)      # exactly the path asked for


def test_interrupted_render_keeps_the_previous_video(tmp_path):
    """SIGTERM in the middle of `reactface render --out X.mp4` over a good X.mp4."""
    short, long_ = tmp_path / "short.npy", tmp_path / "long.npy"
    _reactions(short, 10)
    _reactions(long_, 3000)
    video = tmp_path / "X.mp4"
    cmd = [sys.executable, "-m", "reactface_ros.cli", "render", "--backend", "numpy",
           "--size", "64", "--no-progress", "--out", str(video)]
    subprocess.run(cmd + ["--reactions", str(short)], check=True, capture_output=True,
                   timeout=300)
    good = video.read_bytes()
    proc = subprocess.Popen(cmd + ["--reactions", str(long_)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 240
        partial = []
        while time.monotonic() < deadline and proc.poll() is None and not partial:
            partial = [p for p in tmp_path.iterdir() if ".partial-" in p.name
                       and p.stat().st_size > 0]
            time.sleep(0.05)
        assert partial and proc.poll() is None, "the render was not caught mid-write"
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode != 0
    assert video.read_bytes() == good                         # the old file, untouched
    assert not [p for p in tmp_path.iterdir() if ".partial-" in p.name]   # no leftovers


def test_render_bad_inputs_are_one_line_errors(tmp_path):
    from reactface_ros.cli import main

    _reactions(tmp_path / "r.npy", 5)
    wav = tmp_path / "a.wav"
    import wave

    with wave.open(str(wav), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(np.zeros(1600, "<i2").tobytes())
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    for video, expected in ((wav, "no video track"), (empty, "cannot decode")):
        proc = subprocess.run([sys.executable, "-m", "reactface_ros.cli", "render",
                               "--reactions", str(tmp_path / "r.npy"), "--speaker-video",
                               str(video), "--out", str(tmp_path / "o.mp4")],
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode != 0
        lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("error")]
        assert len(lines) == 1 and expected in lines[0] and str(video) in lines[0]
        assert "Traceback" not in proc.stderr
    # NaN audio
    nan_wav = tmp_path / "nan.wav"
    import av

    with av.open(str(nan_wav), "w") as out:
        stream = out.add_stream("pcm_f32le", rate=16000, layout="mono")
        frame = av.AudioFrame.from_ndarray(np.full((1, 1600), np.nan, np.float32),
                                           format="flt", layout="mono")
        frame.sample_rate = 16000
        for packet in stream.encode(frame):
            out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    assert main(["render", "--reactions", str(tmp_path / "r.npy"), "--audio", str(nan_wav),
                 "--backend", "numpy", "--size", "32", "--no-progress",
                 "--out", str(tmp_path / "o.mp4")]) == 2
    assert not (tmp_path / "o.mp4").exists()


@pytest.mark.ros
@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.parametrize("with_audio", [True, False])
def test_in_process_demo_answers_and_counts_the_last_window(tmp_path, ros_domain, with_audio):
    from test_bag_recovery import _write_clip
    from test_nodes_graph import write_tiny_checkpoint

    write_tiny_checkpoint(tmp_path / "ckpt")
    clip = tmp_path / "clip.mp4"
    _write_clip(clip, frames=50, audio_track=with_audio)
    out = tmp_path / "demo"
    env = {k: v for k, v in ros_domain.items() if k != "ROS_PYTHON_CHECK_FIELDS"}
    base = [sys.executable, "-m", "reactface_ros.cli", "demo", "--out", str(out),
            "--checkpoint", str(tmp_path / "ckpt"), "--samples", "2", "--show", "1",
            "--device", "cpu", "--in-process"]
    proc = subprocess.run(base + ["--video", str(clip)], env=env, capture_output=True,
                          text=True, timeout=500)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["frames"] == 50 and summary["missing_reaction_frames"] == 0
    assert "50 of 50 speaker frames answered" in proc.stdout
    assert np.load(out / "reactions.npy").shape == (2, 50, 58)
    if not with_audio:
        return
    # Over the earlier run with an empty mp4: one line, nothing of the earlier run touched.
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    proc = subprocess.run(base + ["--video", str(empty)], env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr and str(empty) in proc.stderr
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before
