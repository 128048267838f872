"""Bad files and values on the command line give one line that names the file or value and
what to do, and a non-zero exit (no traceback)."""
from __future__ import annotations

import socket
import subprocess
import sys
import wave

import numpy as np
import pytest

from reactface_ros.constants import NUM_COEFFS


def _cli(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "reactface_ros.cli", *map(str, args)],
                          capture_output=True, text=True, timeout=timeout)


def _one_error_line(proc) -> str:
    assert proc.returncode != 0, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
    lines = [ln for ln in (proc.stdout + proc.stderr).splitlines()
             if ln.startswith(("error", "reactface "))]
    assert len(lines) == 1, proc.stdout + proc.stderr
    return lines[0]


def _wav(path) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(np.zeros(1600, "<i2").tobytes())


def test_synth_video_size_zero(tmp_path):
    line = _one_error_line(_cli("synth", "--out", tmp_path / "d", "--video-size", "0"))
    assert "video_size" in line and "0" in line


def test_absurd_hidden_size_is_refused_before_allocating():
    from reactface_ros.model import ReactFaceConfig

    with pytest.raises(ValueError, match="hidden_size=.*would not fit"):
        ReactFaceConfig(hidden_size=1 << 20, num_heads=8).validate()


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    import torch

    from reactface_ros.model import ReactFace, ReactFaceConfig

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("ck") / "tiny"
    ReactFace(ReactFaceConfig(hidden_size=16, num_heads=2, ff_size=32, latent_size=8,
                              horizon=12, n_mels=16, period=4, window=8)).save_pretrained(path)
    return path


def test_generate_bad_videos_and_the_real_out_path(tmp_path, checkpoint):
    wav = tmp_path / "speech.wav"
    _wav(wav)
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    for video, expected in ((wav, "no video track"), (empty, "cannot decode")):
        line = _one_error_line(_cli("generate", "--checkpoint", checkpoint, "--speaker-video",
                                    video, "--out", tmp_path / "r.npy", "--device", "cpu"))
        assert expected in line and str(video) in line
    from test_bag_recovery import _write_clip

    # A video with no face: a clear warning; --out without .npy writes exactly that path.
    import av

    clip = tmp_path / "grey.mp4"
    with av.open(str(clip), "w") as out:
        vs = out.add_stream("libx264", rate=25)
        vs.width = vs.height = 64
        vs.pix_fmt = "yuv420p"
        for i in range(10):
            frame = av.VideoFrame.from_ndarray(np.full((64, 64, 3), 90, np.uint8),
                                               format="rgb24")
            for packet in vs.encode(frame):
                out.mux(packet)
        for packet in vs.encode():
            out.mux(packet)
    target = tmp_path / "reactions_out"
    proc = _cli("generate", "--checkpoint", checkpoint, "--speaker-video", clip, "--out",
                target, "--device", "cpu")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "no face was found" in proc.stderr
    assert target.is_file() and np.load(target).shape[1:] == (10, NUM_COEFFS)
    assert f"wrote {target}:" in proc.stdout
    del _write_clip


def test_run_with_a_broken_video_is_one_line(tmp_path):
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    line = _one_error_line(_cli("run", "--video", empty))
    assert str(empty) in line and "cannot decode" in line


def test_avatar_to_a_closed_port_says_nothing_is_listening(tmp_path):
    reactions = np.zeros((1, 10, NUM_COEFFS), np.float32)
    reactions[..., 52], reactions[..., 57] = np.pi, 1.84
    np.save(tmp_path / "r.npy", reactions)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    proc = _cli("avatar", "--reactions", tmp_path / "r.npy", "--vmc", f"127.0.0.1:{port}")
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    text = proc.stdout + proc.stderr
    lines = [ln for ln in text.splitlines() if "nothing is listening" in ln]
    assert len(lines) == 1 and str(port) in lines[0], text
    assert "errors=" not in text


def test_inference_threads_are_validated_and_set(tmp_path, checkpoint):
    import torch

    from reactface_ros.streaming import set_cpu_threads

    before = torch.get_num_threads()
    with pytest.raises(ValueError, match="num_threads must be >= 0"):
        set_cpu_threads(-1)
    assert set_cpu_threads(0) == before          # 0 keeps torch's default
    from test_bag_recovery import _write_clip

    clip = tmp_path / "clip.mp4"
    _write_clip(clip, 10)
    line = _one_error_line(_cli("generate", "--checkpoint", checkpoint, "--speaker-video", clip,
                                "--out", tmp_path / "r.npy", "--threads", "-1"))
    assert "--threads must be >= 0" in line and not (tmp_path / "r.npy").exists()


def test_generate_refuses_a_bad_motion_gain(tmp_path, checkpoint):
    from test_bag_recovery import _write_clip

    clip = tmp_path / "clip.mp4"
    _write_clip(clip, 10)
    line = _one_error_line(_cli("generate", "--checkpoint", checkpoint, "--speaker-video", clip,
                                "--out", tmp_path / "r.npy", "--motion-gain", "50"))
    assert "motion_gain must be a number in (0, 10]" in line
    assert not (tmp_path / "r.npy").exists()
