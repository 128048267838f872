"""Sub-commands of the ``reactface`` command line (see :mod:`reactface_ros.cli`)."""
