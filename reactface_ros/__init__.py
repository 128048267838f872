"""reactface_ros: a listening face for social robots and avatars.

The plain-Python core (model, streaming engine, data, metrics, rendering, avatar protocols)
never imports rclpy; the ROS 2 nodes live in :mod:`reactface_ros.nodes`.
"""
# The rosidl-generated ``reactface_ros.msg`` module is installed into the same package
# directory of a ROS prefix (or a virtual environment acting as one). Extending ``__path__``
# finds it there even when these sources are imported from a checkout.
from pkgutil import extend_path

__path__ = extend_path(__path__, __name__)
__version__ = "0.1.0"
