"""Launch the record graph: ``ros2 launch reactface_ros record.launch.py``.

records every topic of the live and file graphs into one MCAP file.

The graph itself is described once, in reactface_ros.nodes.graph (the same description the
``reactface run`` runner uses); list the arguments with ``--show-args``.
"""
from reactface_ros.nodes.launch_support import generate_launch_description_for


def generate_launch_description():
    """Describe the record graph."""
    return generate_launch_description_for("record")
