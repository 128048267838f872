"""ROS 2 nodes: thin rclpy adapters over the plain-Python core.

Everything that imports :mod:`rclpy` lives in this package. One module per node
(``audio_capture``, ``camera_capture``, ``media_source``, ``face_analysis``, ``reaction``,
``render``, ``avatar_bridge``, ``recorder``), plus shared helpers: message conversions
(:mod:`.conversions`), QoS profiles (:mod:`.qos`), diagnostics (:mod:`.diagnostics`), parameter
and topic declarations (:mod:`.common`), the graph description (:mod:`.graph`) and the runner
that starts a graph without the ``ros2`` command line (:mod:`.runner`).
"""
