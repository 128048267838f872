"""Launch the robot half of the live graph (microphone + camera -> face
analysis; render + avatar of the reactions that come back).

``ros2 launch reactface_ros robot.launch.py``

Robot + GPU host: start robot.launch.py on the robot and inference.launch.py on the GPU host,
both with the same ROS_DOMAIN_ID (see the README, "Robot + GPU host"). Only audio, face
features, tracked faces and reactions cross the network; camera images stay on the robot.
The graph itself is described once, in reactface_ros.nodes.graph; list the arguments with
``--show-args``.
"""
from reactface_ros.nodes.launch_support import generate_launch_description_for


def generate_launch_description():
    """Describe the robot half of the live graph."""
    return generate_launch_description_for("live", part="robot")
