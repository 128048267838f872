"""The reaction node with several tracked faces: it reacts to the one whose mouth moves with
the sound, publishes who that is, turns toward them, and with one face in view answers exactly
as it does on plain face features."""
from __future__ import annotations

import time

import numpy as np
import pytest

pytest.importorskip("rclpy")
pytest.importorskip("reactface_ros.msg")

from test_nodes_io import _Graph, _ros_args  # noqa: E402

from reactface_ros.constants import BLENDSHAPE_INDEX  # noqa: E402

pytestmark = [pytest.mark.ros, pytest.mark.timeout(120)]

T0 = 1_000_000_000_000
FRAMES = 150                     # 6 s: a talks for 3 s, then b


def _inputs(rng):
    """Audio, and per face a (59,) vector per frame whose jaw follows the audio in its turn."""
    env = np.clip(np.convolve(rng.random(FRAMES), np.ones(3) / 3, "same") - 0.3, 0, None)
    audio = np.concatenate([rng.standard_normal(640) * e * 0.2 for e in env]).astype(np.float32)
    faces = {}
    for name, turn in (("a", slice(0, FRAMES // 2)), ("b", slice(FRAMES // 2, FRAMES))):
        vec = np.zeros((FRAMES, 59), np.float32)
        vec[:, 52] = np.pi
        vec[:, 57] = 0.6
        vec[:, -1] = 1.0
        jaw = 0.01 * rng.random(FRAMES)
        jaw[turn] = env[turn]
        vec[:, BLENDSHAPE_INDEX["jawOpen"]] = jaw
        faces[name] = vec
    return audio, faces


def _run(tmp_path, audio, frames, plain=False):
    """Feed the node; ``frames[i]`` is a list of (id, vector, box).

    Returns the reactions, the published active-speaker ids and the node's
    ``reaction: active speaker`` diagnostics (message, values) at the end.
    """
    from std_msgs.msg import String

    from reactface_ros.msg import (AudioChunk, ReactionFrame, SpeakerFaceFeatures,
                                   TrackedFaces)
    from reactface_ros.nodes.conversions import audio_chunk_msg, face_features_msg
    from reactface_ros.nodes.qos import qos_profile
    from reactface_ros.nodes.reaction import ReactionNode

    graph = _Graph(lambda ctx: ReactionNode(context=ctx, parameter_overrides=_ros_args(
        checkpoint=str(tmp_path / "ckpt"), device="cpu", samples=2, seed=5,
        input_qos="reliable", idle_flush_s=0.0, max_lag_s=0.0)))
    try:
        rel = qos_profile("reliable")
        faces_pub = graph.listener.create_publisher(TrackedFaces, "speaker/faces", rel)
        plain_pub = graph.listener.create_publisher(SpeakerFaceFeatures,
                                                    "speaker/face_features", rel)
        audio_pub = graph.listener.create_publisher(AudioChunk, "speaker/audio", rel)
        got, active = [], []
        graph.listener.create_subscription(ReactionFrame, "listener/reaction", got.append, rel)
        graph.listener.create_subscription(String, "speaker/active_speaker",
                                           lambda m: active.append(m.data), rel)
        assert graph.wait(lambda: faces_pub.get_subscription_count() == 1
                          and graph.node.frame_pub.get_subscription_count() == 1
                          and graph.node.group.active_pub.get_subscription_count() == 1)
        for i, faces in enumerate(frames):
            stamp = T0 + i * 40_000_000
            audio_pub.publish(audio_chunk_msg(audio[i * 640:(i + 1) * 640], 16000,
                                              stamp_ns=stamp))
            if plain:
                plain_pub.publish(face_features_msg(faces[0][1], frame_index=i, stamp_ns=stamp))
            else:
                msg = TrackedFaces()
                msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(stamp, 10**9)
                msg.frame_index = i
                msg.ids = [fid for fid, _, _ in faces]
                for _, vec, box in faces:
                    f = face_features_msg(vec, frame_index=i, stamp_ns=stamp)
                    f.xmin, f.ymin, f.xmax, f.ymax = (float(v) for v in box)
                    msg.faces.append(f)
                faces_pub.publish(msg)
            time.sleep(0.02)
        want = (len(frames) // graph.node.stream.model.config.window) * \
            graph.node.stream.model.config.window
        assert graph.wait(lambda: len(got) >= want, timeout=60), (len(got), want)
        if not plain:   # (the first few may go out before the subscription has matched)
            graph.wait(lambda: len(active) == len(frames), timeout=5)
            active[:0] = [None] * (len(frames) - len(active))
        # what /diagnostics shows for the group input (the node's own status builder)
        status = graph.node.group.status(graph.node.get_name())
        diagnostics = (status.message, {kv.key: kv.value for kv in status.values})
    finally:
        graph.close()
    return np.array([m.coefficients for m in got]), active, diagnostics


def test_reaction_node_follows_the_active_speaker_and_one_face_changes_nothing(tmp_path):
    from test_nodes_graph import write_tiny_checkpoint

    write_tiny_checkpoint(tmp_path / "ckpt")
    audio, faces = _inputs(np.random.default_rng(3))
    left, right = np.array([0.05, 0.3, 0.35, 0.7]), np.array([0.65, 0.3, 0.95, 0.7])
    two = [[("face1", faces["a"][i], left), ("face2", faces["b"][i], right)]
           for i in range(FRAMES)]
    reactions, active, (message, values) = _run(tmp_path, audio, two)
    half = FRAMES // 2
    assert active[half - 20:half] == ["face1"] * 20
    assert active[half + 40:] == ["face2"] * (FRAMES - half - 40)
    yaw = reactions[:, 53]
    assert yaw[half - 10:half].mean() < yaw[-10:].mean() - 0.1     # turned left -> right
    # what /diagnostics shows ("reaction: active speaker")
    assert values["active_speaker"] == "face2" and values["faces_in_view"] == "2", values
    assert int(values["speaker_switches"]) >= 1 and "speaker face2" in message

    one = [[("face1", faces["a"][i], right)] for i in range(FRAMES)]
    grouped = _run(tmp_path, audio, one)[0]
    plain = _run(tmp_path, audio, one, plain=True)[0]
    assert grouped.shape == plain.shape
    np.testing.assert_allclose(grouped, plain, atol=1e-5)
