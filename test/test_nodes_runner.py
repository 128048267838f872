"""The runner's two other ways of running the graph: one process per node (fast, simulated
time, clean Ctrl-C shutdown), and a restart of the reaction node in the middle of a session."""
from __future__ import annotations

import threading
import time

import numpy as np
import pytest

pytest.importorskip("rclpy")
pytest.importorskip("reactface_ros.msg")
pytest.importorskip("reactface_ros.streaming")

from test_nodes_graph import ns, read_bag, write_speaker_clip, write_tiny_checkpoint  # noqa: E402

pytestmark = [pytest.mark.ros, pytest.mark.timeout(420)]


class _Probe:
    """A node in its own context that counts the reaction frames seen on the graph."""

    def __init__(self):
        import rclpy
        from rclpy.executors import SingleThreadedExecutor

        from reactface_ros.msg import ReactionFrame
        from reactface_ros.nodes.qos import qos_profile

        self.ctx = rclpy.Context()
        rclpy.init(context=self.ctx)
        self.node = rclpy.create_node("probe", context=self.ctx)
        self.indices: list[int] = []
        self.node.create_subscription(ReactionFrame, "/listener/reaction",
                                      lambda m: self.indices.append(m.frame_index),
                                      qos_profile("history"))
        self.executor = SingleThreadedExecutor(context=self.ctx)
        self.executor.add_node(self.node)
        threading.Thread(target=self.executor.spin, daemon=True).start()

    def close(self):
        self.executor.shutdown()
        self.node.destroy_node()
        self.ctx.try_shutdown()


FAST_FRAMES = 300  # 12 s of video: long enough for a slow consumer to fall far behind


@pytest.fixture(scope="module")
def assets(tmp_path_factory):
    root = tmp_path_factory.mktemp("runner_assets")
    write_speaker_clip(root / "speaker.mp4", num_frames=75, size=128)
    write_speaker_clip(root / "long.mp4", num_frames=FAST_FRAMES, size=128)
    write_tiny_checkpoint(root / "ckpt")
    return root


def test_one_process_per_node_fast_mode_is_lossless(assets, tmp_path, ros_domain):
    """Fast mode with one process per node: the source keeps pace with the slowest consumer
    (render, after reaction), so every frame reaches every topic and the bag."""
    from reactface_ros.nodes.graph import get_graph, with_recorder
    from reactface_ros.nodes.runner import GraphRunner

    bag = tmp_path / "fast.mcap"
    graph = with_recorder(get_graph("file"), str(bag))
    args = {"video": str(assets / "long.mp4"), "checkpoint": str(assets / "ckpt"),
            "samples": "2", "device": "cpu", "mode": "fast", "use_sim_time": "true"}
    probe = _Probe()
    # The render node at its default size is the slowest consumer here.
    runner = GraphRunner(graph, args, processes=True)
    runner.start()
    try:
        ok = runner.wait(lambda: len(set(probe.indices)) >= FAST_FRAMES, timeout=300, poll=0.5)
        alive = runner.alive()
    finally:
        codes = runner.stop(timeout=30)
        probe.close()
    assert ok, f"{len(set(probe.indices))} of {FAST_FRAMES} frames answered"
    assert all(alive.values()), alive
    assert codes == {name: 0 for name in runner.procs}, codes  # clean Ctrl-C everywhere
    topics = read_bag(bag)
    counts = {name: len(topics.get(name, [])) for name in (
        "/speaker/image", "/speaker/audio", "/speaker/face_features", "/listener/reaction",
        "/listener/reaction_samples", "/listener/image", "/clock")}
    assert counts == {name: FAST_FRAMES for name in counts}, counts
    assert len(topics["/speaker/face_crop"]) >= FAST_FRAMES - 5  # crops of frames with a face
    images = [m for _, m in topics["/speaker/image"]]
    frames = [m for _, m in topics["/listener/reaction"]]
    clock = [ns(m.clock) for _, m in topics["/clock"]]
    # Simulated time: /clock steps one frame at a time along the media timeline.
    assert clock == [ns(m.header.stamp) for m in images]
    assert sorted(m.frame_index for m in frames) == list(range(FAST_FRAMES))
    stamps = [ns(m.header.stamp) for m in images]
    assert all(ns(m.header.stamp) == stamps[m.frame_index] for m in frames)
    # One session: the reaction node never saw a jump in the input.
    assert [ns(m.header.stamp) for _, m in topics["/listener/image"]] == stamps


def test_reaction_node_restart_mid_session(assets, tmp_path, ros_domain):
    from reactface_ros.nodes.graph import get_graph, with_recorder
    from reactface_ros.nodes.runner import GraphRunner

    bag = tmp_path / "restart.mcap"
    graph = with_recorder(get_graph("file"), str(bag))
    args = {"video": str(assets / "speaker.mp4"), "checkpoint": str(assets / "ckpt"),
            "samples": "2", "device": "cpu"}
    runner = GraphRunner(graph, args, overrides={"reaction": {"idle_flush_s": 0.5},
                                                 "render": {"size": 64}})
    runner.start()
    try:
        assert runner.wait(lambda: runner.nodes["reaction"].frames_out >= 16, timeout=30)
        old = runner.nodes["reaction"]
        runner.restart("reaction")
        before = old.frames_out
        source = runner.nodes["media_source"]
        assert runner.wait(source.done.is_set, timeout=30)
        # Done once the inputs have been quiet for longer than idle_flush_s.
        assert runner.wait(lambda: runner.nodes["reaction"].face_in.silent_for() > 1.5,
                           timeout=15)
        after = runner.nodes["reaction"].frames_out
        time.sleep(0.3)
    finally:
        runner.stop()
    assert after > 0
    topics = read_bag(bag)
    images = [m for _, m in topics["/speaker/image"]]
    faces = [m for _, m in topics["/speaker/face_features"]]
    frames = [m for _, m in topics["/listener/reaction"]]
    # Upstream and the recording are untouched by the restart.
    assert len(images) == len(faces) == 75
    indices = [m.frame_index for m in frames]
    assert len(indices) == len(set(indices)) == before + after
    # Reactions before the restart are frames 0.., after it they resume later, in step with
    # the speaker frames (indices and stamps come from the speaker stream, not a new count).
    first_run, second_run = sorted(indices)[:before], sorted(indices)[before:]
    assert first_run == list(range(before))
    assert second_run == list(range(second_run[0], 75)) and second_run[0] > before
    stamps = [ns(m.header.stamp) for m in images]
    assert all(ns(m.header.stamp) == stamps[m.frame_index] for m in frames)
    assert np.all([np.all(np.isfinite(m.coefficients)) for m in frames])
