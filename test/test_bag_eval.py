"""``reactface bag-eval`` on a bag with known contents: frames aligned by index (whatever the
message order), metrics equal to the metrics library on the same arrays, latency percentiles
from the recorded receive times."""
from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("rclpy")
pytest.importorskip("reactface_ros.msg")
pytest.importorskip("mcap_ros2")

from reactface_ros.constants import NUM_COEFFS  # noqa: E402

T, M = 60, 3
T0 = 1_800_000_000_000_000_000


def _write_bag(path, pred, speaker, latency_ns, order):
    from rclpy.serialization import serialize_message

    from reactface_ros.nodes.conversions import (face_features_msg, reaction_frame_msg,
                                                 reaction_samples_msg)
    from reactface_ros.nodes.recorder import McapBagWriter

    writer = McapBagWriter(path)
    topics = {"/listener/reaction": "reactface_ros/msg/ReactionFrame",
              "/listener/reaction_samples": "reactface_ros/msg/ReactionSamples",
              "/speaker/face_features": "reactface_ros/msg/SpeakerFaceFeatures",
              "/diagnostics": "diagnostic_msgs/msg/DiagnosticArray"}
    for topic, msg_type in topics.items():
        writer.add_topic(topic, msg_type)
    for i in order:
        stamp = T0 + i * 40_000_000
        vec = np.concatenate([speaker[i], [1.0]]).astype(np.float32)
        face = face_features_msg(vec, frame_index=i, stamp_ns=stamp)
        writer.write("/speaker/face_features", serialize_message(face), stamp + 5, stamp + 5)
        samples = reaction_samples_msg(pred[:, i], frame_index=i, selected_sample=1,
                                       stamp_ns=stamp)
        frame = reaction_frame_msg(pred[1, i], frame_index=i, sample_index=1, num_samples=M,
                                   stamp_ns=stamp)
        t = stamp + int(latency_ns[i])
        writer.write("/listener/reaction_samples", serialize_message(samples), t, t)
        writer.write("/listener/reaction", serialize_message(frame), t, t)
    writer.close()


def test_bag_eval_scores_a_known_session(tmp_path):
    from reactface_ros.cli import main
    from reactface_ros.metrics import fr_div, fr_syn, fr_var

    rng = np.random.default_rng(0)
    speaker = rng.standard_normal((T, NUM_COEFFS)).astype(np.float32)
    # Sample k follows the speaker 3 frames late, plus noise.
    pred = np.stack([np.roll(speaker, 3, axis=0) + 0.3 * rng.standard_normal(speaker.shape)
                     for _ in range(M)]).astype(np.float32)
    latency_ns = rng.integers(50_000_000, 400_000_000, T)
    order = rng.permutation(T)  # recorded out of order: evaluation must align by frame_index
    bag = tmp_path / "session.mcap"
    _write_bag(bag, pred, speaker, latency_ns, order)

    out = tmp_path / "eval"
    assert main(["bag-eval", str(bag), "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    metrics = summary["metrics"]
    assert metrics["frames"] == T and metrics["num_samples"] == M
    assert metrics["FRDiv"] == pytest.approx(fr_div(pred[None]), rel=1e-6)
    assert metrics["FRVar"] == pytest.approx(fr_var(pred[None]), rel=1e-6)
    assert metrics["FRSyn"] == pytest.approx(fr_syn(pred[None], speaker[None],
                                                    max_lag=metrics["FRSyn_max_lag"]))
    lat = summary["latency"]["reaction"]
    ms = latency_ns / 1e6
    assert lat["count"] == T
    assert lat["p50_ms"] == pytest.approx(np.percentile(ms, 50), abs=1e-3)
    assert lat["p95_ms"] == pytest.approx(np.percentile(ms, 95), abs=1e-3)
    assert lat["max_ms"] == pytest.approx(ms.max(), abs=1e-3)
    assert summary["missing_reaction_frames"] == 0 and summary["reaction_frames"] == T
    assert summary["latency"]["listener_image"] == {"count": 0}
    for name in ("latency.png", "curves.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bag_eval_errors_name_the_problem(tmp_path, capsys):
    from reactface_ros.cli import main
    from reactface_ros.nodes.recorder import McapBagWriter

    assert main(["bag-eval", str(tmp_path / "nope.mcap"), "--out", str(tmp_path)]) == 1
    assert "not found" in capsys.readouterr().out
    not_mcap = tmp_path / "x.mcap"
    not_mcap.write_text("hello")
    assert main(["bag-eval", str(not_mcap), "--out", str(tmp_path)]) == 1
    assert "not a readable MCAP" in capsys.readouterr().out
    empty = tmp_path / "empty.mcap"
    writer = McapBagWriter(empty)
    writer.add_topic("/listener/reaction", "reactface_ros/msg/ReactionFrame")
    writer.close()
    assert main(["bag-eval", str(empty), "--out", str(tmp_path)]) == 1
    text = capsys.readouterr().out
    assert "no messages on /listener/reaction_samples" in text and "/listener/reaction" in text
