"""QoS profiles used by the nodes, named by what flows through them.

* ``sensor_data``: best effort, keep last 5 (``rclpy.qos.qos_profile_sensor_data``). Camera and
  microphone streams: a late frame is worth less than a fresh one. A best-effort subscriber
  matches both reliable and best-effort publishers.
* ``reliable``: reliable, keep last 100. Everything derived (features, reactions, rendered
  images) and file playback, where nothing may be lost.
* ``history``: reliable, transient local, keep last 100. Publishers of derived streams
  (features, reactions, rendered images, file playback): a subscriber that matches late (the
  recorder, a viewer started afterwards) and asks for transient local gets the last 100
  messages; volatile subscribers match it as well.
* ``latched``: reliable, transient local, keep last 1 (``camera_info``-style static data).
"""
from __future__ import annotations

from rclpy.qos import (DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy,
                       qos_profile_sensor_data)

#: Depth of the reliable profile: 4 s of 25 fps frames, so a slow consumer does not lose any.
RELIABLE_DEPTH = 100

PROFILES: dict[str, QoSProfile] = {
    "sensor_data": qos_profile_sensor_data,
    "reliable": QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=RELIABLE_DEPTH,
                           reliability=ReliabilityPolicy.RELIABLE,
                           durability=DurabilityPolicy.VOLATILE),
    "history": QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=RELIABLE_DEPTH,
                          reliability=ReliabilityPolicy.RELIABLE,
                          durability=DurabilityPolicy.TRANSIENT_LOCAL),
    "latched": QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1,
                          reliability=ReliabilityPolicy.RELIABLE,
                          durability=DurabilityPolicy.TRANSIENT_LOCAL),
}


def qos_profile(name: str) -> QoSProfile:
    """Return the profile called ``name`` (``sensor_data``, ``reliable``, ``history``, ``latched``).

    Raises
    ------
    ValueError
        For any other name, listing the valid ones.
    """
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(f"unknown QoS profile {name!r}; use one of {', '.join(PROFILES)}") \
            from None
