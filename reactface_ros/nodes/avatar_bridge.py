"""``avatar_bridge`` node: listener reactions in, VMC and/or Live Link Face UDP out.

Each ``ReactionFrame`` becomes one atomic avatar update: a VMC OSC bundle (ARKit blendshape
names + head bone) for VSeeFace/VNyan/EVMC4U-style receivers, and/or a Live Link Face packet
for Unreal, through :mod:`reactface_ros.avatar`.
"""
from __future__ import annotations

from . import diagnostics as diag
from .common import (AUTOSTART, DIAGNOSTICS_TOPIC, ManagedNode, NodeStartError, ParamSpec,
                     TopicSpec, max_age_param, msg_class, run_node)
from .conversions import ConversionError, coefficients_from_msg, stamp_to_ns
from .qos import qos_profile


class AvatarBridgeNode(ManagedNode):
    """Forwards every selected reaction to avatar receivers over UDP."""

    NODE_NAME = "avatar_bridge"
    PARAMS = (
        ParamSpec("vmc", True, "send VMC (OSC over UDP)"),
        ParamSpec("vmc_host", "127.0.0.1", "VMC receiver host"),
        ParamSpec("vmc_port", 39539, "VMC receiver port"),
        ParamSpec("livelink", False, "send Unreal Live Link Face packets"),
        ParamSpec("livelink_host", "127.0.0.1", "Live Link receiver host"),
        ParamSpec("livelink_port", 11111, "Live Link receiver port"),
        ParamSpec("livelink_subject", "ReactFaceListener", "Live Link subject name"),
        ParamSpec("silence_timeout_s", 2.0, "warn when no reaction arrives for this long"),
        max_age_param("a reaction"),
        AUTOSTART,
    )
    TOPICS = (
        TopicSpec("listener/reaction", "reactface_ros/msg/ReactionFrame", "sub", "reliable",
                  "the selected listener reaction per speaker frame"),
        DIAGNOSTICS_TOPIC,
    )

    def configure(self) -> None:
        """Open the UDP senders and subscribe."""
        self.senders = {}
        try:
            from reactface_ros import avatar

            if self.param("vmc"):
                self.senders["vmc"] = avatar.VmcSender(str(self.param("vmc_host")),
                                                       int(self.param("vmc_port")))
            if self.param("livelink"):
                self.senders["livelink"] = self._livelink(avatar)
        except (ImportError, AttributeError, OSError, ValueError) as exc:
            raise NodeStartError(f"cannot create the avatar senders: {exc}") from exc
        if not self.senders:
            self.get_logger().warning("both vmc and livelink are off: nothing will be sent")
        self.create_subscription(msg_class("reactface_ros/msg/ReactionFrame"),
                                 "listener/reaction", self._on_reaction, qos_profile("reliable"))
        self.reactions = diag.StreamMonitor("avatar_bridge: input reaction",
                                            float(self.param("silence_timeout_s")))
        self.log_topics()

    def _livelink(self, avatar):
        config = avatar.LiveLinkConfig(subject_name=str(self.param("livelink_subject")))
        return avatar.LiveLinkSender(str(self.param("livelink_host")),
                                     int(self.param("livelink_port")), config)

    def _on_reaction(self, msg) -> None:
        if self.stale_input(stamp_to_ns(msg.header.stamp), self.reactions):
            return
        try:
            coeffs = coefficients_from_msg(msg)
        except ConversionError as exc:
            self.reactions.reject(str(exc))
            return
        self.reactions.tick()
        for name, sender in self.senders.items():
            # Senders never raise for bad values or network trouble; they count them.
            if not sender.send_frame(coeffs, int(msg.frame_index)):
                self.get_logger().warning(f"{name} frame {msg.frame_index} not sent: "
                                          f"{sender.stats.last_error}",
                                          throttle_duration_sec=5.0)

    def diagnostic_statuses(self) -> list:
        """Input health and per-protocol sender counters."""
        values, level = {}, diag.OK if self.senders else diag.WARN
        for name, sender in self.senders.items():
            stats = sender.stats
            values.update({f"{name}_sent": stats.sent, f"{name}_dropped": stats.dropped,
                           f"{name}_errors": stats.errors, f"{name}_rejected": stats.rejected,
                           f"{name}_last_error": stats.last_error})
            if stats.errors or stats.rejected:
                level = diag.WARN
        return [self.reactions.status(self.get_name()),
                diag.make_status("avatar_bridge: output", level,
                                 ", ".join(self.senders) or "no output enabled", self.get_name(),
                                 values)]

    def release(self) -> None:
        """Close the UDP sockets."""
        for sender in getattr(self, "senders", {}).values():
            close = getattr(sender, "close", None)
            if close is not None:
                close()
        self.senders = {}


def main(args: list[str] | None = None) -> int:
    """Run the avatar_bridge node."""
    return run_node(AvatarBridgeNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
