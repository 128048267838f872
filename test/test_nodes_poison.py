"""Poison messages through real rclpy into a running ``reaction`` node: one face-features
message with huge finite values and audio chunks that claim absurd sample rates. The node
rejects them, counts each under the problem's name on /diagnostics, keeps answering every
speaker frame, and never publishes a non-finite reaction or frames that never existed."""
from __future__ import annotations

import threading
import time

import numpy as np
import pytest

pytest.importorskip("rclpy")
pytest.importorskip("reactface_ros.msg")
pytest.importorskip("reactface_ros.streaming")

from test_nodes_graph import write_tiny_checkpoint  # noqa: E402

pytestmark = [pytest.mark.ros, pytest.mark.timeout(120)]

NUM_FRAMES = 60
POISON_FACES = {10: ("blendshapes", 24, 1e30), 20: ("head_translation", 2, -1e30)}
POISON_AUDIO = {15: 1, 25: 4294967295}


def test_poison_face_and_audio_messages_are_rejected_counted_and_harmless(tmp_path, ros_domain):
    import rclpy
    from diagnostic_msgs.msg import DiagnosticArray
    from rclpy.executors import SingleThreadedExecutor

    from reactface_ros.msg import AudioChunk, ReactionFrame, SpeakerFaceFeatures
    from reactface_ros.nodes.conversions import audio_chunk_msg, face_features_msg
    from reactface_ros.nodes.graph import GraphSpec, NodeEntry
    from reactface_ros.nodes.qos import qos_profile
    from reactface_ros.nodes.runner import GraphRunner

    write_tiny_checkpoint(tmp_path / "ckpt")
    graph = GraphSpec("poison", "reaction only", (
        NodeEntry("reaction", "reaction", {"checkpoint": str(tmp_path / "ckpt"), "samples": 2,
                                           "device": "cpu", "idle_flush_s": 0.8,
                                           "input_qos": "reliable"}),),
        params_files=("defaults.yaml", "file.yaml"))
    ctx = rclpy.Context()
    rclpy.init(context=ctx)
    node = rclpy.create_node("poisoner", context=ctx)
    face_pub = node.create_publisher(SpeakerFaceFeatures, "speaker/face_features",
                                     qos_profile("reliable"))
    audio_pub = node.create_publisher(AudioChunk, "speaker/audio", qos_profile("reliable"))
    reactions, diags, lock = [], {}, threading.Lock()

    def on_diag(msg):
        with lock:
            for status in msg.status:
                diags[status.name] = (status.level, status.message,
                                      {kv.key: kv.value for kv in status.values})

    node.create_subscription(ReactionFrame, "listener/reaction", reactions.append,
                             qos_profile("reliable"))
    node.create_subscription(DiagnosticArray, "/diagnostics", on_diag, 100)
    executor = SingleThreadedExecutor(context=ctx)
    executor.add_node(node)
    threading.Thread(target=executor.spin, daemon=True).start()

    runner = GraphRunner(graph).start()
    try:
        assert runner.wait(lambda: face_pub.get_subscription_count() >= 1
                           and audio_pub.get_subscription_count() >= 1, timeout=30)
        t0 = time.time_ns()
        for i in range(NUM_FRAMES):
            stamp = t0 + i * 40_000_000
            vec = np.zeros(59, np.float32)
            vec[24], vec[52], vec[57], vec[58] = 0.3 + 0.2 * np.sin(i / 4), np.pi, 1.84, 1.0
            msg = face_features_msg(vec, frame_index=i, stamp_ns=stamp)
            if i in POISON_FACES:
                field, index, value = POISON_FACES[i]
                values = np.asarray(getattr(msg, field), np.float32).copy()
                values[index] = value
                setattr(msg, field, values)
            face_pub.publish(msg)
            t = (np.arange(640) + i * 640) / 16000
            chunk = audio_chunk_msg(0.2 * np.sin(2 * np.pi * 200 * t), 16000, stamp_ns=stamp)
            if i in POISON_AUDIO:
                chunk = audio_chunk_msg(np.zeros(64, np.float32), POISON_AUDIO[i],
                                        stamp_ns=stamp)
            audio_pub.publish(chunk)
            time.sleep(0.01)
        assert runner.wait(lambda: len({m.frame_index for m in reactions}) >= NUM_FRAMES,
                           timeout=40), sorted({m.frame_index for m in reactions})
        assert runner.wait(lambda: "reaction: input face" in diags
                           and "face_out_of_range" in diags["reaction: input face"][2]
                           and "audio_rate_out_of_range" in diags["reaction: input audio"][2],
                           timeout=10)
        time.sleep(1.5)  # one more diagnostics period: nothing more gets published
        published = runner.nodes["reaction"].frames_out
    finally:
        runner.stop()
        executor.shutdown()
        node.destroy_node()
        ctx.try_shutdown()

    # Every speaker frame answered once (rejected ones filled in), all finite, nothing invented.
    assert sorted({m.frame_index for m in reactions}) == list(range(NUM_FRAMES))
    assert published == NUM_FRAMES
    assert all(np.all(np.isfinite(m.coefficients)) for m in reactions)
    with lock:
        face, audio, inference = (diags["reaction: input face"], diags["reaction: input audio"],
                                  diags["reaction: inference"])
    warn = b"\x01"
    assert face[0] >= warn and int(face[2]["face_out_of_range"]) == 2
    assert int(face[2]["rejected"]) == 2 and "head translation" in face[2]["last_error"]
    assert audio[0] >= warn and int(audio[2]["audio_rate_out_of_range"]) == 2
    assert "plausible" in audio[2]["last_error"]
    assert int(inference[2]["nonfinite_windows"]) == 0
