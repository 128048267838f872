"""Avatar and robot-face output: listener coefficients to VMC (OSC) and Unreal Live Link Face.

Plain Python (no ROS): the ROS ``avatar_bridge`` node and the ``reactface avatar`` command
both drive these classes.

* :class:`VmcSender` -- one OSC bundle per frame to VSeeFace / VNyan / EVMC4U (UDP 39539);
* :class:`LiveLinkSender` -- Live Link Face packets to Unreal (UDP 11111);
* :func:`play_reaction` -- real-time, drift-free playback of a ``(T, 58)`` reaction;
* :mod:`.validation` -- shape checks, NaN/Inf rejection and blendshape clamping;
* :mod:`.head_pose` -- FaceVerse head pose to Unity quaternions and yaw/pitch/roll.
"""
from reactface_ros.avatar.head_pose import HeadPoseConfig, HeadPoseConverter
from reactface_ros.avatar.livelink import LIVELINK_DEFAULT_PORT, LiveLinkConfig, LiveLinkSender
from reactface_ros.avatar.player import FramePacer, PlaybackReport, play_reaction
from reactface_ros.avatar.udp import SenderStats, parse_host_port
from reactface_ros.avatar.validation import (InputLimits, InvalidFrameError, invalid_frames,
                                             load_reactions, validate_frame)
from reactface_ros.avatar.vmc import VMC_DEFAULT_PORT, VmcConfig, VmcSender

__all__ = [
    "FramePacer", "HeadPoseConfig", "HeadPoseConverter", "InputLimits", "InvalidFrameError",
    "LIVELINK_DEFAULT_PORT", "LiveLinkConfig", "LiveLinkSender", "PlaybackReport",
    "SenderStats", "VMC_DEFAULT_PORT", "VmcConfig", "VmcSender", "invalid_frames",
    "load_reactions", "parse_host_port", "play_reaction", "validate_frame",
]
