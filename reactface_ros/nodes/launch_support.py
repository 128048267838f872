"""Turn a graph of :mod:`.graph` into a ``launch`` description for ``ros2 launch``.

The launch files in ``launch/`` are one call each to :func:`generate_launch_description_for`,
so they start exactly the nodes, parameter files, parameter values and remappings that
:mod:`.runner` starts without ROS tooling. Needs ``launch`` and ``launch_ros`` (a ROS 2
install); nothing else in the package does.
"""
from __future__ import annotations

from .graph import Arg, config_path, get_graph, graph_part


def generate_launch_description_for(graph_name: str, part: str | None = None):
    """A ``LaunchDescription`` for the graph called ``graph_name``.

    ``part`` (``robot`` or ``inference``, :data:`.graph.PARTS`) keeps only that half of the
    graph, for a robot + GPU host deployment.

    Every graph argument becomes a ``DeclareLaunchArgument``; parameter values that refer to
    an argument become ``LaunchConfiguration`` substitutions (``launch_ros`` parses them as
    YAML, as the runner does).
    """
    from launch import LaunchDescription
    from launch.actions import DeclareLaunchArgument
    from launch.substitutions import LaunchConfiguration
    from launch_ros.actions import Node

    graph = get_graph(graph_name)
    if part is not None:
        graph = graph_part(graph, part)
    actions = [DeclareLaunchArgument(name, default_value=default, description=text)
               for name, (default, text) in graph.arguments.items()]
    files = [str(config_path(name)) for name in graph.params_files]
    for entry in graph.nodes:
        values = {key: LaunchConfiguration(value.name) if isinstance(value, Arg) else value
                  for key, value in entry.parameters.items()}
        actions.append(Node(package="reactface_ros", executable=entry.kind, name=entry.name,
                            output="screen", emulate_tty=True,
                            parameters=[*files, values],
                            remappings=list(entry.remappings)))
    return LaunchDescription(actions)
