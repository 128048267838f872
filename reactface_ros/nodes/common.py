"""Shared node plumbing: declared parameters and topics, the base nodes and ``main()``.

Each node class lists its parameters (:class:`ParamSpec`) and topics (:class:`TopicSpec`) as
class attributes. The same lists declare the ROS parameters (each with a description), build
the README's "ROS API" section (:mod:`.api_doc`) and give the graph description its topic
types, so the documentation cannot drift from the code.

:class:`ManagedNode` is the base of the managed (lifecycle) nodes: ``configure`` loads the
model / opens the device (a failure is a failed transition with the reason logged),
``activate`` starts processing, ``deactivate`` pauses it (nothing is published, input is
dropped), ``cleanup`` releases what ``configure`` took. With ``autostart`` (the default) the
node configures and activates itself before it starts spinning.
"""
from __future__ import annotations

import signal
import sys
import time
import traceback
from dataclasses import dataclass
from typing import Any

import rclpy
from rcl_interfaces.msg import ParameterDescriptor, SetParametersResult
from rclpy.clock import Clock, ClockType
from rclpy.executors import ExternalShutdownException
from rclpy.lifecycle import LifecycleNodeMixin, TransitionCallbackReturn
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
    enabled_by : str
        For an optional topic: the parameter that enables it, ``"name"`` (present when the
        parameter is true) or ``"name=value"``; empty: never assumed present.
    """

    name: str
    msg_type: str
    direction: str
    qos: str
    description: str
    optional: bool = False
    enabled_by: str = ""

    def enabled(self, params: dict) -> bool:
        """Whether this topic exists with parameter values ``params``."""
        if not self.optional:
            return True
        if not self.enabled_by:
            return False
        name, sep, want = self.enabled_by.partition("=")
        value = params.get(name)
        return str(value) == want if sep else bool(value)


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
            if not spec.dynamic and not self.accepts_startup_parameters():
                return SetParametersResult(successful=False, reason=self.startup_reason(p.name))
            problem = self.check_parameter(p.name, p.value)
            if problem:
                return SetParametersResult(successful=False, reason=problem)
        return SetParametersResult(successful=True)

    def check_parameter(self, name: str, value) -> str | None:
        """Why a runtime change of ``name`` to ``value`` is refused (``None``: accepted)."""
        return None

    def accepts_startup_parameters(self) -> bool:
        """Whether parameters read at start-up may change now (managed nodes: unconfigured)."""
        return False

    def startup_reason(self, name: str) -> str:
        """Why a change of a start-up parameter is refused."""
        return f"{name} is read at start-up; restart the node with the new value"

    def param(self, name: str):
        """Current value of a declared parameter."""
        return self.get_parameter(name).value

    def topic(self, default_name: str) -> str:
        """Fully resolved name of one of this node's topics (after remapping)."""
        return self.resolve_topic_name(default_name)

    def log_topics(self) -> None:
        """Log every topic this node uses, after namespaces and remapping."""
        params = {p.name: self.param(p.name) for p in self.PARAMS}
        lines = [f"{'pub' if t.direction == 'pub' else 'sub'} {self.topic(t.name)} "
                 f"[{t.msg_type}]" for t in self.TOPICS
                 if t.enabled(params) and "<" not in t.name]
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

    def close(self) -> None:
        """Release what the node holds (devices, files); called once before ``destroy_node``."""
        self.release()

    def release(self) -> None:
        """Free devices, files and models (override)."""


#: Parameter of every managed node.
AUTOSTART = ParamSpec("autostart", True, "managed node: configure and activate at start-up; "
                      "false: start unconfigured and wait for `ros2 lifecycle set`")


def max_age_param(default_use: str) -> ParamSpec:
    """The ``max_age_s`` parameter of a node that follows the real-time policy.

    An input whose stamp is more than ``max_age_s`` older than the node's clock when its turn
    comes (the node has fallen behind) is skipped and counted as ``skipped_stale`` in
    ``/diagnostics`` instead of processed: a live listener must not work through seconds of
    backlog. 0 (the default, file and fast modes) processes every input.
    """
    return ParamSpec("max_age_s", 0.0,
                     f"real-time policy: skip {default_use} stamped more than this many seconds "
                     "before the node's clock when its turn comes (counted as skipped_stale in "
                     "/diagnostics); 0: process every one (file and fast modes)")


_OK = TransitionCallbackReturn.SUCCESS
_FAILED = TransitionCallbackReturn.FAILURE


class ManagedNode(LifecycleNodeMixin, ReactfaceNode):
    """Base class of the managed (lifecycle) nodes.

    Subclasses implement :meth:`configure` (everything the node needs before it can run:
    model, device, publishers, subscriptions, timers; raise :class:`NodeStartError` with the
    reason when that fails), and optionally :meth:`activate` / :meth:`deactivate` (start and
    stop threads or streams) and :meth:`release` (free what ``configure`` took). Publishers
    created in ``configure`` are lifecycle publishers, and subscription and timer callbacks
    created there only run while the node is active, so an inactive node publishes nothing.
    Everything ``configure`` created is destroyed again on ``cleanup``.

    With the ``autostart`` parameter (default true) the constructor configures and activates
    the node, and raises :class:`NodeStartError` (after destroying the node) when it cannot.
    """

    def __init__(self, node_name: str | None = None, **kwargs) -> None:
        self._configuring = False
        self._active = False
        self._configured = False
        self._owned: list = []
        self.transition_error = ""
        ReactfaceNode.__init__(self, node_name, **kwargs)
        LifecycleNodeMixin.__init__(self)
        if self.param("autostart"):
            self.start_up()

    def stale_input(self, stamp_ns: int, monitor) -> bool:
        """Whether an input stamped ``stamp_ns`` is too old to process (then counted).

        True, and counted on ``monitor``, when the stamp is more than the ``max_age_s``
        parameter before the node's clock (see :func:`max_age_param`).
        """
        max_age = float(self.param("max_age_s"))
        if max_age <= 0.0 or stamp_ns <= 0:
            return False
        age = (self.get_clock().now().nanoseconds - stamp_ns) / 1e9
        if age <= max_age:
            return False
        monitor.skip_stale(age)
        return True

    # ------------------------------------------------------------------ subclass hooks
    def configure(self) -> None:
        """Load / open what the node needs and create its topics (override)."""

    def activate(self) -> None:
        """Start processing: threads, streams (override; publishers are already enabled)."""

    def deactivate(self) -> None:
        """Pause processing (override): stop threads and streams, keep the model loaded."""

    # ------------------------------------------------------------------ state
    def accepts_startup_parameters(self) -> bool:
        """Unconfigured: every parameter may change; ``configure`` reads them."""
        return not self._configured and not self._configuring

    def startup_reason(self, name: str) -> str:
        """Start-up parameters change while unconfigured (deactivate + cleanup first)."""
        return (f"{name} is read by configure; deactivate and clean up the node (ros2 "
                "lifecycle set), set it, then configure again")

    @property
    def is_active(self) -> bool:
        """Whether the node is in the ``active`` state."""
        return self._active

    @property
    def lifecycle_state(self) -> str:
        """Label of the current lifecycle state (``unconfigured``, ``inactive``, ``active``...)."""
        return self._state_machine.current_state[1]

    def start_up(self) -> None:
        """Configure and activate now.

        Raises
        ------
        NodeStartError
            A transition failed; the node has been destroyed and the message says why.
        """
        for step, trigger in (("configure", self.trigger_configure),
                              ("activate", self.trigger_activate)):
            if trigger() != _OK:
                reason = self.transition_error or f"{step} failed"
                self._teardown()
                self.destroy_node()
                raise NodeStartError(reason)

    # ------------------------------------------------------------------ entities
    def _entities(self) -> list:
        return [*self.publishers, *self.subscriptions, *self.timers, *self.clients]

    def create_publisher(self, *args, **kwargs):
        """A lifecycle publisher when called from :meth:`configure` (gated by the state)."""
        if getattr(self, "_configuring", False):
            return self.create_lifecycle_publisher(*args, **kwargs)
        return super().create_publisher(*args, **kwargs)

    def create_subscription(self, msg_type, topic, callback, qos_profile, **kwargs):
        """Subscriptions made in :meth:`configure` drop their messages unless active."""
        if getattr(self, "_configuring", False):
            inner = callback

            def callback(msg, _inner=inner):
                if self._active:
                    _inner(msg)
        return super().create_subscription(msg_type, topic, callback, qos_profile, **kwargs)

    def create_timer(self, timer_period_sec, callback, *args, **kwargs):
        """Timers made in :meth:`configure` only call back while the node is active."""
        if getattr(self, "_configuring", False) and callback is not None:
            inner = callback

            def callback(_inner=inner):
                if self._active:
                    _inner()
        return super().create_timer(timer_period_sec, callback, *args, **kwargs)

    def _destroy_owned(self) -> None:
        for entity in self._owned:
            for destroy in (self.destroy_lifecycle_publisher, self.destroy_subscription,
                            self.destroy_timer, self.destroy_client):
                try:
                    if destroy(entity):
                        break
                except Exception:  # wrong kind for this destroy call
                    continue
        self._owned = []

    def _fail(self, step: str, exc: BaseException) -> TransitionCallbackReturn:
        reason = str(exc) if isinstance(exc, NodeStartError) else \
            f"{type(exc).__name__}: {exc}"
        self.transition_error = reason
        if not isinstance(exc, NodeStartError):
            self.get_logger().error("".join(traceback.format_exception(exc)).rstrip())
        self.get_logger().error(f"{step} failed: {reason}")
        return _FAILED

    # ------------------------------------------------------------------ transitions
    def on_configure(self, state) -> TransitionCallbackReturn:
        """Run :meth:`configure`; on failure release what it took and report why."""
        self.transition_error = ""
        before = set(map(id, self._entities()))
        self._configuring = True
        try:
            self.configure()
        except Exception as exc:
            self._configuring = False
            self._owned = [e for e in self._entities() if id(e) not in before]
            self._release_quietly()
            self._destroy_owned()
            return self._fail("configure", exc)
        finally:
            self._configuring = False
        self._owned = [e for e in self._entities() if id(e) not in before]
        self._configured = True
        return super().on_configure(state)

    def on_activate(self, state) -> TransitionCallbackReturn:
        """Enable the publishers, then run :meth:`activate`."""
        self.transition_error = ""
        result = super().on_activate(state)
        if result != _OK:
            return result
        self._active = True
        try:
            self.activate()
        except Exception as exc:
            self._active = False
            super().on_deactivate(state)
            return self._fail("activate", exc)
        self.get_logger().info("active")
        return _OK

    def on_deactivate(self, state) -> TransitionCallbackReturn:
        """Stop processing (:meth:`deactivate`) and disable the publishers."""
        self._active = False
        try:
            self.deactivate()
        except Exception as exc:
            return self._fail("deactivate", exc)
        self.get_logger().info("inactive: not processing until activated again")
        return super().on_deactivate(state)

    def on_cleanup(self, state) -> TransitionCallbackReturn:
        """Release what :meth:`configure` took."""
        self._release_quietly()
        self._destroy_owned()
        self._configured = False
        return super().on_cleanup(state)

    def on_shutdown(self, state) -> TransitionCallbackReturn:
        """Deactivate and release, from whichever state the node is in."""
        self._teardown()
        return super().on_shutdown(state)

    def on_error(self, state) -> TransitionCallbackReturn:
        """An error in a transition: release everything and go back to unconfigured."""
        self._teardown()
        return _OK

    def _release_quietly(self) -> None:
        try:
            self.release()
        except Exception as exc:
            self.get_logger().error(f"release failed: {type(exc).__name__}: {exc}")

    def _teardown(self) -> None:
        if self._active:
            self._active = False
            try:
                self.deactivate()
            except Exception as exc:
                self.get_logger().error(f"deactivate failed: {type(exc).__name__}: {exc}")
        if self._configured:
            self._configured = False
            self._release_quietly()
            self._destroy_owned()

    def close(self) -> None:
        """Deactivate and release (the process is ending); safe to call twice."""
        self._teardown()

    def diagnostic_statuses_for_state(self) -> list:
        """Statuses while not active: the lifecycle state, nothing else is running."""
        notes = {"error": self.transition_error} if self.transition_error else {}
        return [diag.make_status(f"{self.get_name()}: lifecycle", diag.OK,
                                 self.lifecycle_state, self.get_name(), notes)]

    def publish_diagnostics(self) -> None:
        """Publish one ``DiagnosticArray`` now (only the state while not active)."""
        if self._active:
            return super().publish_diagnostics()
        self._diag_pub.publish(diag.diagnostic_array(self.get_clock().now().to_msg(),
                                                     self.diagnostic_statuses_for_state()))


class _Interrupts:
    """SIGINT / SIGTERM handler of a node process: note the request, never interrupt.

    A terminal's Ctrl-C reaches a launched node twice (from the terminal and from
    ``ros2 launch``). The handler only sets :attr:`stopping`; the spin loop of
    :func:`run_node` checks it between callbacks, so no callback (a bag write, an inference)
    is cut in half and a second signal changes nothing.
    """

    def __init__(self) -> None:
        self.stopping = False

    def __call__(self, signum, frame) -> None:
        self.stopping = True

    def install(self) -> None:
        signal.signal(signal.SIGINT, self)
        signal.signal(signal.SIGTERM, self)


#: How often the spin loop of :func:`run_node` looks at the stop request (seconds).
_SPIN_SLICE_S = 0.1


#: A draining node stops once nothing has arrived for this long (seconds).
_DRAIN_QUIET_S = 0.3


def drain_received(executor, node) -> int:
    """Before a stopping node closes, handle what has already reached it.

    A node with ``DRAIN_ON_STOP_S > 0`` (the recorder) keeps spinning after Ctrl-C until its
    :meth:`received_count` has not changed for ``_DRAIN_QUIET_S`` or ``DRAIN_ON_STOP_S`` has
    passed, so messages that were sent before the stop but are still queued (a recorder that
    fell behind on a busy CPU) are handled instead of lost. Returns how many arrived while
    draining.
    """
    budget = float(getattr(node, "DRAIN_ON_STOP_S", 0.0) or 0.0)
    if budget <= 0 or not hasattr(node, "received_count"):
        return 0
    start_count = last = node.received_count()
    deadline = time.monotonic() + budget
    quiet_since = time.monotonic()
    while time.monotonic() < deadline:
        executor.spin_once(timeout_sec=0.05)
        count = node.received_count()
        if count != last:
            last, quiet_since = count, time.monotonic()
        elif time.monotonic() - quiet_since >= _DRAIN_QUIET_S:
            break
    return last - start_count


def run_node(node_cls, args: list[str] | None = None) -> int:
    """Standard ``main()``: init rclpy, spin one node, shut down cleanly on Ctrl-C.

    Ctrl-C (SIGINT, once or twice) and SIGTERM end the process with exit code 0 after the
    node has released its devices and files. Returns the process exit code: 1 when the node
    failed to start, with the reason printed on one line.
    """
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.signals import SignalHandlerOptions

    interrupts = _Interrupts()
    interrupts.install()
    context = rclpy.Context()
    rclpy.init(args=args if args is not None else sys.argv, context=context,
               signal_handler_options=SignalHandlerOptions.NO)
    node = None
    code = 0
    try:
        node = node_cls(context=context)
        executor = SingleThreadedExecutor(context=context)
        executor.add_node(node)
        while not interrupts.stopping and context.ok():
            executor.spin_once(timeout_sec=_SPIN_SLICE_S)
        if context.ok():
            drain_received(executor, node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except NodeStartError as exc:
        print(f"[{node_cls.NODE_NAME}] error: {exc}", file=sys.stderr, flush=True)
        node, code = None, 1
    finally:
        interrupts.stopping = True
        if node is not None:
            try:
                node.close()
            finally:
                node.destroy_node()
        context.try_shutdown()
        # Python restores the default SIGINT action while it finalizes (which can take a
        # moment after DDS and torch); a late second Ctrl-C would then kill the process
        # with -2. Ignored signals stay ignored.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    return code


class NodeStartError(RuntimeError):
    """A node cannot start (missing device, checkpoint, file); the message says what to do."""
