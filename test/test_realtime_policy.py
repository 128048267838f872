"""The live graph's real-time policy (README "Real-time policy"): a node that has fallen behind
the clock skips inputs older than its ``max_age_s`` and counts them in ``/diagnostics``, instead
of working through seconds of backlog; with ``max_age_s: 0`` (file and fast modes) it
processes every input. Driven through real rclpy, with an artificially slowed node and with
stamps in the past, never with timing thresholds."""
from __future__ import annotations

import threading
import time

import numpy as np
import pytest

pytest.importorskip("rclpy")
pytest.importorskip("reactface_ros.msg")

from test_nodes_io import _Graph, _ros_args  # noqa: E402

from reactface_ros.constants import NUM_COEFFS  # noqa: E402

pytestmark = [pytest.mark.ros, pytest.mark.timeout(120)]


def _frame(i: int, stamp_ns: int):
    from reactface_ros.nodes.conversions import reaction_frame_msg

    coeffs = np.zeros(NUM_COEFFS, np.float32)
    coeffs[52], coeffs[57] = np.pi, 1.84
    coeffs[24] = 0.02 * (i % 10)  # jawOpen
    return reaction_frame_msg(coeffs, frame_index=i, sample_index=0, num_samples=1,
                              stamp_ns=stamp_ns)


def _now_ns(node) -> int:
    return node.get_clock().now().nanoseconds


def _diag_values(monitor) -> dict:
    return {kv.key: kv.value for kv in monitor.status("test").values}


@pytest.mark.parametrize("max_age_s", [0.5, 0.0])
def test_render_skips_reactions_older_than_max_age(ros_domain, max_age_s):
    from sensor_msgs.msg import Image

    from reactface_ros.msg import ReactionFrame
    from reactface_ros.nodes.conversions import stamp_to_ns
    from reactface_ros.nodes.diagnostics import WARN
    from reactface_ros.nodes.qos import qos_profile
    from reactface_ros.nodes.render import RenderNode

    g = _Graph(lambda ctx: RenderNode(context=ctx, parameter_overrides=_ros_args(
        size=64, max_age_s=max_age_s)))
    images: list[int] = []
    try:
        g.listener.create_subscription(Image, "listener/image",
                                       lambda m: images.append(stamp_to_ns(m.header.stamp)),
                                       qos_profile("history"))
        pub = g.listener.create_publisher(ReactionFrame, "listener/reaction",
                                          qos_profile("reliable"))
        assert g.wait(lambda: pub.get_subscription_count() > 0)
        now = _now_ns(g.node)
        old = [now - 3_000_000_000 + i * 40_000_000 for i in range(5)]    # 3 s behind
        fresh = [now + i * 40_000_000 for i in range(5)]
        for i, stamp in enumerate(old + fresh):
            pub.publish(_frame(i, stamp))
        want = 5 if max_age_s else 10
        assert g.wait(lambda: len(images) >= want and g.node.reactions.received
                      + g.node.reactions.skipped_stale >= 10)
        time.sleep(0.2)
        monitor = g.node.reactions
        status = monitor.status("render")
    finally:
        g.close()
    if max_age_s:
        assert sorted(images) == fresh
        assert monitor.skipped_stale == 5 and monitor.received == 5
        assert status.level == WARN and "stale" in status.message
        assert {kv.key: kv.value for kv in status.values}["skipped_stale"] == "5"
    else:
        assert sorted(images) == old + fresh and monitor.skipped_stale == 0


def test_a_slowed_render_node_drops_its_backlog_not_the_reactions(ros_domain):
    """The renderer stalls on its first frame while 30 reactions queue up (a busy CPU). When
    it resumes, the queued reactions are older than max_age_s: they are skipped and counted,
    the next fresh one is rendered at once, and every reaction still reached the other
    subscribers (avatar, recorder): only the listener's picture is dropped."""
    from sensor_msgs.msg import Image

    from reactface_ros.msg import ReactionFrame
    from reactface_ros.nodes.conversions import stamp_to_ns
    from reactface_ros.nodes.qos import qos_profile
    from reactface_ros.nodes.render import RenderNode

    max_age_s = 0.5
    g = _Graph(lambda ctx: RenderNode(context=ctx, parameter_overrides=_ros_args(
        size=64, max_age_s=max_age_s)))
    gate, entered = threading.Event(), threading.Event()
    real_render = g.node.renderer.render

    def slow_render(coeffs):
        if not gate.is_set():
            entered.set()
            gate.wait(30)
        return real_render(coeffs)

    g.node.renderer.render = slow_render
    images, reactions = [], []
    try:
        g.listener.create_subscription(Image, "listener/image",
                                       lambda m: images.append(stamp_to_ns(m.header.stamp)),
                                       qos_profile("history"))
        g.listener.create_subscription(ReactionFrame, "listener/reaction",
                                       lambda m: reactions.append(m.frame_index),
                                       qos_profile("reliable"))
        pub = g.listener.create_publisher(ReactionFrame, "listener/reaction",
                                          qos_profile("reliable"))
        assert g.wait(lambda: pub.get_subscription_count() >= 2)
        stamps = []
        for i in range(31):
            stamps.append(_now_ns(g.node))
            pub.publish(_frame(i, stamps[-1]))
            if i == 0:
                assert entered.wait(30), "the renderer never got the first frame"
        assert g.wait(lambda: len(reactions) == 31)   # delivered while render is stalled
        time.sleep(2 * max_age_s)                     # every queued frame is now stale
        gate.set()
        assert g.wait(lambda: g.node.reactions.skipped_stale == 30)
        late = _now_ns(g.node)
        pub.publish(_frame(31, late))
        assert g.wait(lambda: late in images)
        monitor = g.node.reactions
    finally:
        gate.set()
        g.close()
    assert images == [stamps[0], late]
    assert monitor.skipped_stale == 30 and monitor.last_stale_age_s > max_age_s
    assert sorted(reactions) == list(range(32))


def test_face_analysis_skips_stale_images_and_keeps_frame_accounting(ros_domain):
    from sensor_msgs.msg import Image

    from reactface_ros.msg import SpeakerFaceFeatures
    from reactface_ros.nodes.conversions import numpy_to_image
    from reactface_ros.nodes.face_analysis import FaceAnalysisNode
    from reactface_ros.nodes.qos import qos_profile

    g = _Graph(lambda ctx: FaceAnalysisNode(context=ctx, parameter_overrides=_ros_args(
        input_qos="reliable", max_age_s=0.5)))
    features: list[int] = []
    try:
        g.listener.create_subscription(SpeakerFaceFeatures, "speaker/face_features",
                                       lambda m: features.append(m.frame_index),
                                       qos_profile("history"))
        pub = g.listener.create_publisher(Image, "speaker/image", qos_profile("reliable"))
        assert g.wait(lambda: pub.get_subscription_count() > 0)
        start = _now_ns(g.node) - 2_000_000_000        # frames 0-4: 2 s behind the clock
        image = np.full((48, 48, 3), 90, np.uint8)
        for i in list(range(5)) + list(range(50, 55)):
            pub.publish(numpy_to_image(image, "rgb8", stamp_ns=start + i * 40_000_000))
        assert g.wait(lambda: len(features) >= 5
                      and g.node.images.skipped_stale + len(features) >= 10, timeout=30)
        time.sleep(0.2)
        monitor = g.node.images
        values = _diag_values(monitor)
    finally:
        g.close()
    # Frames 0-4 were stale when they arrived; 50-54 (the present) are analysed, and the
    # frames between are missing (a gap), not counted twice.
    assert values["skipped_stale"] == "5"
    assert sorted(features) == [50, 51, 52, 53, 54]
    assert monitor.gaps == 1 and monitor.dropped == 45


def test_live_graph_sets_the_policy_and_file_and_fast_graphs_keep_every_frame():
    from reactface_ros.nodes.graph import get_graph
    from reactface_ros.nodes.runner import plan

    def max_ages(graph_name, args=None):
        out = {}
        for launch in plan(get_graph(graph_name), args or {}):
            if "max_age_s" in launch.parameters:
                out[launch.name] = launch.parameters["max_age_s"]
        return out

    live = max_ages("live")
    assert live["face_analysis"] == 0.5 and live["render"] == 1.0
    # listener images go stale before the avatar's frames: the picture is dropped first
    assert live["render"] < 1.5
    for args in ({}, {"mode": "fast"}):
        file_graph = max_ages("file", args)
        assert set(file_graph) == {"face_analysis", "render"}
        assert all(v == 0.0 for v in file_graph.values())


def test_avatar_bridge_skips_stale_reactions(ros_domain):
    import socket

    from reactface_ros.msg import ReactionFrame
    from reactface_ros.nodes.avatar_bridge import AvatarBridgeNode
    from reactface_ros.nodes.qos import qos_profile

    vmc = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)   # one VMC bundle per frame
    vmc.bind(("127.0.0.1", 0))
    vmc.settimeout(0.5)
    g = _Graph(lambda ctx: AvatarBridgeNode(context=ctx, parameter_overrides=_ros_args(
        vmc_port=vmc.getsockname()[1], max_age_s=1.5)))
    bundles = 0
    try:
        pub = g.listener.create_publisher(ReactionFrame, "listener/reaction",
                                          qos_profile("reliable"))
        assert g.wait(lambda: pub.get_subscription_count() > 0)
        now = _now_ns(g.node)
        for i in range(8):   # 4 frames 5 s behind the clock, then 4 of the present
            pub.publish(_frame(i, now + (i - 4) * 40_000_000 - (5_000_000_000 if i < 4 else 0)))
        assert g.wait(lambda: g.node.reactions.received + g.node.reactions.skipped_stale >= 8)
        while True:
            try:
                vmc.recvfrom(65536)
                bundles += 1
            except socket.timeout:
                break
        skipped, sent = g.node.reactions.skipped_stale, g.node.senders["vmc"].stats.sent
    finally:
        g.close()
        vmc.close()
    assert skipped == 4 and sent == 4 and bundles == 4
