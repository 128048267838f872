"""Launch the file graph: ``ros2 launch reactface_ros file.launch.py``.

speaker video file -> face analysis -> reaction -> render.

The graph itself is described once, in reactface_ros.nodes.graph (the same description the
``reactface run`` runner uses); list the arguments with ``--show-args``.
"""
from reactface_ros.nodes.launch_support import generate_launch_description_for


def generate_launch_description():
    """Describe the file graph."""
    return generate_launch_description_for("file")
