"""Managed (lifecycle) nodes driven through their real ROS services, as ``ros2 lifecycle set``
and Nav2's lifecycle manager drive them: a failed configure reports why, parameters change
while unconfigured, an inactive node publishes nothing, cleanup releases."""
from __future__ import annotations

import threading
import time

import numpy as np
import pytest

pytest.importorskip("rclpy")
pytest.importorskip("reactface_ros.msg")

pytestmark = [pytest.mark.ros, pytest.mark.timeout(180)]


class _Manager:
    """A client node calling ``/<node>/change_state`` and ``get_state`` over DDS."""

    def __init__(self, ctx, target: str):
        import rclpy
        from lifecycle_msgs.srv import ChangeState, GetState

        self.node = rclpy.create_node("lifecycle_manager_probe", context=ctx)
        self.change = self.node.create_client(ChangeState, f"/{target}/change_state")
        self.get = self.node.create_client(GetState, f"/{target}/get_state")
        assert self.change.wait_for_service(timeout_sec=30)
        assert self.get.wait_for_service(timeout_sec=30)

    def _call(self, client, request):
        future = client.call_async(request)
        deadline = time.monotonic() + 60
        while not future.done() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert future.done(), "no answer from the lifecycle service"
        return future.result()

    def set(self, label: str) -> bool:
        from lifecycle_msgs.srv import ChangeState

        request = ChangeState.Request()
        request.transition.label = label
        return self._call(self.change, request).success

    def state(self) -> str:
        from lifecycle_msgs.srv import GetState

        return self._call(self.get, GetState.Request()).current_state.label


def _spin(ctx, *nodes):
    from rclpy.executors import SingleThreadedExecutor

    executors = []
    for node in nodes:
        executor = SingleThreadedExecutor(context=ctx)
        executor.add_node(node)
        threading.Thread(target=executor.spin, daemon=True).start()
        executors.append(executor)
    return executors


def test_render_node_lifecycle_over_its_services(ros_domain, tmp_path):
    import rclpy
    from rclpy.parameter import Parameter
    from sensor_msgs.msg import Image

    from reactface_ros.msg import ReactionFrame
    from reactface_ros.nodes.conversions import reaction_frame_msg
    from reactface_ros.nodes.qos import qos_profile
    from reactface_ros.nodes.render import RenderNode

    ctx = rclpy.Context()
    rclpy.init(context=ctx)
    node = RenderNode(context=ctx, parameter_overrides=[
        Parameter("autostart", value=False), Parameter("style", value="no-such-style")])
    peer = rclpy.create_node("peer", context=ctx)
    pub = peer.create_publisher(ReactionFrame, "listener/reaction", qos_profile("reliable"))
    got: list[int] = []
    peer.create_subscription(Image, "listener/image",
                             lambda m: got.append(m.header.stamp.sec), qos_profile("reliable"))
    manager = _Manager(ctx, "render")
    executors = _spin(ctx, node, peer, manager.node)
    face = np.zeros(58, np.float32)
    face[52], face[57] = np.pi, 1.84

    def send(sec: int) -> None:
        pub.publish(reaction_frame_msg(face, frame_index=sec, sample_index=0, num_samples=1,
                                       stamp_ns=sec * 1_000_000_000))

    def wait_for(sec: int) -> bool:
        deadline = time.monotonic() + 30
        while sec not in got and time.monotonic() < deadline:
            time.sleep(0.02)
        return sec in got

    try:
        assert manager.state() == "unconfigured"
        # A failed configure is a failed transition that says why; the node stays usable.
        assert manager.set("configure") is False
        assert manager.state() == "unconfigured"
        assert "no-such-style" in node.transition_error
        # Unconfigured: start-up parameters may change; configured: they may not.
        assert node.set_parameters([Parameter("style", value="mesh"),
                                    Parameter("size", value=64)])[0].successful
        assert manager.set("configure") is True and manager.state() == "inactive"
        refused = node.set_parameters([Parameter("size", value=32)])[0]
        assert not refused.successful and "configure" in refused.reason
        assert manager.set("activate") is True and manager.state() == "active"
        deadline = time.monotonic() + 30
        while pub.get_subscription_count() == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        send(1)
        assert wait_for(1)
        # Inactive: the input is dropped and nothing is published.
        assert manager.set("deactivate") is True and manager.state() == "inactive"
        send(2)
        assert manager.set("activate") is True
        send(3)
        assert wait_for(3)
        assert got == [1, 3]
        # Cleanup releases the renderer and the topics; configure brings them back.
        assert manager.set("deactivate") and manager.set("cleanup")
        assert manager.state() == "unconfigured" and node.renderer is None
        assert not [s for s in node.subscriptions if s.topic_name == "/listener/reaction"]
        assert manager.set("configure") and manager.set("activate")
        send(4)
        assert wait_for(4)
        assert manager.set("shutdown") and manager.state() == "finalized"
    finally:
        for executor in executors:
            executor.shutdown()
        node.close()
        for n in (node, peer, manager.node):
            n.destroy_node()
        ctx.try_shutdown()


def test_reaction_configure_failure_names_the_checkpoint(ros_domain, tmp_path):
    """With autostart (the default) a failed configure raises the reason from the constructor:
    what ``reactface run`` and the node's main() report on one line."""
    import rclpy
    from rclpy.parameter import Parameter

    from reactface_ros.nodes.common import NodeStartError
    from reactface_ros.nodes.reaction import ReactionNode

    ctx = rclpy.Context()
    rclpy.init(context=ctx)
    try:
        with pytest.raises(NodeStartError, match="checkpoint '.*nothing-here' not found"):
            ReactionNode(context=ctx, parameter_overrides=[
                Parameter("checkpoint", value=str(tmp_path / "nothing-here"))])
    finally:
        ctx.try_shutdown()


def test_reaction_motion_gain_parameter(ros_domain):
    """motion_gain 0 keeps the checkpoint's value, another value replaces it for the stream,
    and an impossible one stops the node with the reason."""
    import rclpy
    from rclpy.parameter import Parameter

    from reactface_ros.model import ReactFace
    from reactface_ros.nodes.common import NodeStartError
    from reactface_ros.nodes.reaction import ReactionNode, default_checkpoint

    shipped = ReactFace.from_pretrained(default_checkpoint()).config.motion_gain
    ctx = rclpy.Context()
    rclpy.init(context=ctx)
    try:
        for value, expected in ((0.0, shipped), (1.5, 1.5)):
            node = ReactionNode(context=ctx, parameter_overrides=[
                Parameter("motion_gain", value=value)])
            assert node.stream.model.config.motion_gain == expected
            node.destroy_node()
        with pytest.raises(NodeStartError, match=r"motion_gain: motion_gain must be a number in "
                                                 r"\(0, 10\], got 50"):
            ReactionNode(context=ctx, parameter_overrides=[Parameter("motion_gain", value=50.0)])
    finally:
        ctx.try_shutdown()
