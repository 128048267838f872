"""`reactface demo`, the main job, end to end: real nodes, real DDS, a real bag and video."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

pytestmark = [pytest.mark.ros, pytest.mark.slow]


@pytest.fixture(scope="module")
def random_checkpoint(tmp_path_factory):
    torch = pytest.importorskip("torch")
    from reactface_ros.model import ReactFace, ReactFaceConfig

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("ckpt") / "random_init"
    ReactFace(ReactFaceConfig()).save_pretrained(path)
    return path


def test_demo_runs_the_graph_and_writes_every_output(tmp_path, random_checkpoint, ros_domain):
    out = tmp_path / "demo"
    # Field checks make every image message a Python loop over its bytes: realistic speed
    # needs them off (the message tests run with them on).
    env = {k: v for k, v in ros_domain.items() if k != "ROS_PYTHON_CHECK_FIELDS"}
    proc = subprocess.run(
        [sys.executable, "-m", "reactface_ros.cli", "demo", "--out", str(out),
         "--checkpoint", str(random_checkpoint), "--samples", "3", "--show", "2"],
        env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert f"outputs in {out}" in proc.stdout
    log = proc.stdout[-4000:] + proc.stderr[-4000:]

    reactions = np.load(out / "reactions.npy")
    frames = json.loads((out / "summary.json").read_text())["frames"]
    assert reactions.shape == (3, frames, 58) and np.isfinite(reactions).all()
    # The bundled clip is 12 s at 25 fps: every speaker frame is answered.
    assert frames == 300
    # Samples differ from each other (the model samples a distribution).
    assert np.abs(reactions[0] - reactions[1]).mean() > 1e-4

    summary = json.loads((out / "summary.json").read_text())
    assert summary["samples"] == 3 and summary["missing_reaction_frames"] == 0, log
    # On a loaded machine face analysis may drop camera-style (best-effort) images; the
    # reaction node still answers every frame. Most frames must have been analysed.
    assert summary["speaker_frames_with_features"] >= 0.8 * frames
    assert summary["reaction_latency_ms"]["p50_ms"] > 0
    assert summary["latency_budget_ms"] == pytest.approx(8 / 25 * 1000 + 100)
    # What the renderer had to clamp is reported (0 for an anchored model, whose faces are
    # valid by construction: test_listener_model.py; this checkpoint is a random-init one).
    assert set(summary["clamped_values"]) == {"blendshapes", "translation"}, log
    assert all(isinstance(v, int) and v >= 0 for v in summary["clamped_values"].values())
    # CPU per frame of every node process while streaming (start-up excluded): each did work
    # (more than nothing) and none used more CPU per frame than the clip's whole run allows.
    cpu = summary["cpu_ms_per_frame"]
    assert {"media_source", "face_analysis", "reaction", "render", "recorder"} <= set(cpu), log
    assert all(0 < v < 1e3 * summary["graph_wall_s"] / frames * 2 for v in cpu.values()), cpu
    assert "CPU per speaker frame while streaming" in proc.stdout

    import av

    with av.open(str(out / "listener.mp4")) as container:
        video = container.streams.video[0]
        assert container.streams.audio, "listener.mp4 has no audio track"
        decoded = sum(1 for _ in container.decode(video))
        # speaker | 2 listeners side by side
        assert video.codec_context.width == 3 * 256
    assert decoded == frames

    from rosbags.highlevel import AnyReader

    with AnyReader([out / "session.mcap"]) as reader:
        counts = {c.topic: c.msgcount for c in reader.connections}
    assert counts["/listener/reaction_samples"] == frames
    assert counts["/speaker/face_features"] == summary["speaker_frames_with_features"]
    assert counts["/listener/image"] == frames
