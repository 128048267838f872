"""Shared node plumbing: declared parameters and topics, the base node and ``main()``.

Each node class lists its parameters (:class:`ParamSpec`) and topics (:class:`TopicSpec`) as
class attributes. The same lists declare the ROS parameters (each with a description), build
the README's "ROS API" section (:mod:`.api_doc`) and give the graph description its topic
types, so the documentation cannot drift from the code.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

import rclpy
from rcl_interfaces.msg import ParameterDescriptor, SetParametersResult
from rclpy.clock import Clock, ClockType
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node

from . import diagnostics as diag
from .qos import qos_profile


@dataclass(frozen=True)
class ParamSpec:
    """One ROS parameter of a node.

    Attributes
    ----------
    name : str
        Parameter name.
    default : bool | int | float | str | list
        Default value (its type is the parameter's type).
    description : str
        One sentence shown by ``ros2 param describe`` and in the docs.
    dynamic : bool
        May change while the node runs (``ros2 param set``); other parameters are read once
        at start-up and a change is refused with the reason.
    """

    name: str
    default: Any
    description: str
    dynamic: bool = False


@dataclass(frozen=True)
class TopicSpec:
    """One topic a node publishes or subscribes.

    Attributes
    ----------
    name : str
        Default topic name (relative names resolve in the node's namespace; remap them).
    msg_type : str
        Message type as ``pkg/msg/Type``.
    direction : str
        ``"pub"`` or ``"sub"``.
    qos : str
        QoS profile name (:mod:`.qos`) or ``"param:<name>"`` when a parameter chooses it.
    description : str
        What flows on the topic.
    optional : bool
        Only present when a parameter enables it.
    """

    name: str
    msg_type: str
    direction: str
    qos: str
    description: str
    optional: bool = False


DIAGNOSTICS_TOPIC = TopicSpec("/diagnostics", "diagnostic_msgs/msg/DiagnosticArray", "pub",
                              "reliable", "node health at 1 Hz")


def msg_class(msg_type: str):
    """Import the message class for ``pkg/msg/Type``."""
    pkg, _, name = msg_type.split("/")
    module = __import__(f"{pkg}.msg", fromlist=[name])
    return getattr(module, name)


class ReactfaceNode(Node):
    """Base class: declares ``PARAMS`` with descriptions and publishes ``/diagnostics`` at 1 Hz.

    Subclasses set ``NODE_NAME``, ``PARAMS``, ``TOPICS`` and implement
    :meth:`diagnostic_statuses`.
    """

    NODE_NAME = "reactface_node"
    PARAMS: tuple[ParamSpec, ...] = ()
    TOPICS: tuple[TopicSpec, ...] = ()

    def __init__(self, node_name: str | None = None, **kwargs) -> None:
        super().__init__(node_name or self.NODE_NAME, **kwargs)
        for spec in self.PARAMS:
            self.declare_parameter(spec.name, spec.default,
                                   ParameterDescriptor(description=spec.description))
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self._diag_pub = self.create_publisher(
            msg_class(DIAGNOSTICS_TOPIC.msg_type), DIAGNOSTICS_TOPIC.name,
            qos_profile(DIAGNOSTICS_TOPIC.qos))
        self._steady = Clock(clock_type=ClockType.STEADY_TIME)
        self._diag_timer = self.steady_timer(1.0, self.publish_diagnostics)

    def steady_timer(self, period_s: float, callback):
        """A timer on the steady clock: it keeps firing when ``use_sim_time`` freezes /clock."""
        return self.create_timer(period_s, callback, clock=self._steady)

    def _on_set_parameters(self, params) -> SetParametersResult:
        specs = {p.name: p for p in self.PARAMS}
        for p in params:
            spec = specs.get(p.name)
            if spec is None:
                continue  # rclpy's own (use_sim_time, qos overrides)
            if not spec.dynamic:
                return SetParametersResult(
                    successful=False, reason=f"{p.name} is read at start-up; restart the node "
                    "with the new value")
            problem = self.check_parameter(p.name, p.value)
            if problem:
                return SetParametersResult(successful=False, reason=problem)
        return SetParametersResult(successful=True)

    def check_parameter(self, name: str, value) -> str | None:
        """Why a runtime change of ``name`` to ``value`` is refused (``None``: accepted)."""
        return None

    def param(self, name: str):
        """Current value of a declared parameter."""
        return self.get_parameter(name).value

    def topic(self, default_name: str) -> str:
        """Fully resolved name of one of this node's topics (after remapping)."""
        return self.resolve_topic_name(default_name)

    def log_topics(self) -> None:
        """Log every (non-optional) topic this node resolved, after namespaces and remapping."""
        lines = [f"{'pub' if t.direction == 'pub' else 'sub'} {self.topic(t.name)} "
                 f"[{t.msg_type}]" for t in self.TOPICS if not t.optional]
        self.get_logger().info("topics: " + "; ".join(lines))

    def diagnostic_statuses(self) -> list:
        """Statuses to publish on ``/diagnostics`` (override)."""
        return []

    def publish_diagnostics(self) -> None:
        """Publish one ``DiagnosticArray`` now."""
        statuses = self.diagnostic_statuses()
        if statuses:
            self._diag_pub.publish(diag.diagnostic_array(self.get_clock().now().to_msg(),
                                                         statuses))


def run_node(node_cls, args: list[str] | None = None) -> int:
    """Standard ``main()``: init rclpy, spin one node, shut down cleanly on Ctrl-C.

    Returns the process exit code (1 when the node failed to start, with the reason logged).
    """
    rclpy.init(args=args if args is not None else sys.argv)
    node = None
    code = 0
    try:
        node = node_cls()
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except NodeStartError as exc:
        print(f"[{node_cls.NODE_NAME}] error: {exc}", file=sys.stderr)
        code = 1
    finally:
        if node is not None:
            close = getattr(node, "close", None)
            if close is not None:
                close()
            node.destroy_node()
        if rclpy.ok():
            rclpy.shutdown()
    return code


class NodeStartError(RuntimeError):
    """A node cannot start (missing device, checkpoint, file); the message says what to do."""
