"""Turn a graph of :mod:`.graph` into a ``launch`` description for ``ros2 launch``.

The launch files in ``launch/`` are one call each to :func:`generate_launch_description_for`,
so they start exactly the nodes, parameter files, parameter values and remappings that
:mod:`.runner` starts without ROS tooling. Needs ``launch`` and ``launch_ros`` (a ROS 2
install); nothing else in the package does.

* Launch-argument values reach each parameter with the type the node declares
  (``ParameterValue(..., value_type=...)``): ``camera:=0`` stays the string ``"0"``.
* Managed nodes are ``launch_ros`` ``LifecycleNode`` actions (their state shows in the launch
  log and ``ChangeState`` events reach them); the ``autostart`` argument (default true) makes
  each one configure and activate itself at start-up.
* A required node (sources, reaction, recorder) that exits with an error, for example because
  its ``configure`` failed, ends the launch with a message naming it.
"""
from __future__ import annotations

from .graph import Arg, config_path, get_graph, graph_part, is_managed, param_type

#: Declared parameter types ``ParameterValue`` can coerce a launch argument to.
_TYPED = (str, int, float, bool)


def typed_parameters(entry) -> dict:
    """``entry.parameters`` with every :class:`~.graph.Arg` as a typed launch substitution."""
    from launch.substitutions import LaunchConfiguration
    from launch_ros.parameter_descriptions import ParameterValue

    values = {}
    for key, value in entry.parameters.items():
        if isinstance(value, Arg):
            want = param_type(entry.kind, key)
            value = (ParameterValue(LaunchConfiguration(value.name), value_type=want)
                     if want in _TYPED else LaunchConfiguration(value.name))
        values[key] = value
    return values


def _stop_if_failed(name: str):
    """``on_exit`` of a required node: a non-zero exit ends the launch, saying why."""

    def on_exit(event, context):
        from launch.actions import EmitEvent, LogInfo
        from launch.events import Shutdown

        if event.returncode == 0 or context.is_shutdown:
            return None
        reason = (f"required node '{name}' exited with code {event.returncode} (its error is "
                  "above); stopping the launch")
        return [LogInfo(msg=f"[reactface_ros] {reason}"), EmitEvent(event=Shutdown(reason=reason))]

    return on_exit


def generate_launch_description_for(graph_name: str, part: str | None = None):
    """A ``LaunchDescription`` for the graph called ``graph_name``.

    ``part`` (``robot`` or ``inference``, :data:`.graph.PARTS`) keeps only that half of the
    graph, for a robot + GPU host deployment.

    Every graph argument becomes a ``DeclareLaunchArgument``; parameter values that refer to
    an argument become typed ``LaunchConfiguration`` substitutions.
    """
    from launch import LaunchDescription
    from launch.actions import DeclareLaunchArgument
    from launch_ros.actions import LifecycleNode, Node

    graph = get_graph(graph_name)
    if part is not None:
        graph = graph_part(graph, part)
    actions = [DeclareLaunchArgument(name, default_value=default, description=text)
               for name, (default, text) in graph.arguments.items()]
    files = [str(config_path(name)) for name in graph.params_files]
    for entry in graph.nodes:
        kwargs = dict(package="reactface_ros", executable=entry.kind, name=entry.name,
                      namespace="", output="screen", emulate_tty=True,
                      parameters=[*files, typed_parameters(entry)],
                      remappings=list(entry.remappings))
        if entry.required:
            kwargs["on_exit"] = _stop_if_failed(entry.name)
        action = LifecycleNode if is_managed(entry.kind) else Node
        actions.append(action(**kwargs))
    return LaunchDescription(actions)
