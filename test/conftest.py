"""Shared test fixtures: an isolated ROS 2 domain per test and the repository root."""
from __future__ import annotations

import itertools
import os
import random
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]

_domain_counter = itertools.count()
# Domain ids 1..100 are safe with the default port mapping. The base spreads runs by pid so
# two test runs on one machine rarely collide; it is drawn once, so within one run the ids
# only repeat after 100 tests (a graph left over from one test never shares another's domain).
_DOMAIN_BASE = (os.getpid() * 7 + random.randrange(1000)) % 100


def _fresh_domain_id() -> int:
    return 1 + (_DOMAIN_BASE + next(_domain_counter)) % 100


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """Path of the repository checkout."""
    return REPO_ROOT


@pytest.fixture
def ros_domain(monkeypatch) -> dict[str, str]:
    """Isolate ROS 2 traffic: a fresh ROS_DOMAIN_ID, localhost-only discovery, field checks.

    Returns the environment for child processes (already applied to this process).
    """
    env = {
        "ROS_DOMAIN_ID": str(_fresh_domain_id()),
        "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST",
        "ROS_PYTHON_CHECK_FIELDS": "1",
        "RMW_IMPLEMENTATION": "rmw_fastrtps_cpp",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return dict(os.environ)


def _ros2_tools_env(repo_root: Path) -> tuple[dict | None, str]:
    """Environment in which ``ros2`` is the real ROS 2 command line, or ``(None, reason)``.

    Installs the unmodified Jazzy launch / launch_ros / ros2cli sources from
    ``../shared/ros2-tools`` beside the venv (into ``build/ros2-tools``, outside git) when that
    folder exists; otherwise uses a sourced ROS 2 install (``ros2`` on PATH with ``launch_ros``
    importable).
    """
    import subprocess
    import shutil
    import sys

    tools = repo_root.parent / "shared" / "ros2-tools" / "install.sh"
    if tools.is_file():
        dest = repo_root / "build" / "ros2-tools"
        proc = subprocess.run(["bash", str(tools), sys.prefix, str(dest)], capture_output=True,
                              text=True, timeout=900)
        if proc.returncode != 0:
            raise RuntimeError(f"{tools} failed: {proc.stderr[-2000:]}")
        out = subprocess.run(["bash", "-c", f'source "{dest}/env.sh" && env -0'],
                             capture_output=True, timeout=60, check=True).stdout
        env = dict(item.split("=", 1) for item in out.decode().split("\0") if "=" in item)
        return env, ""
    if shutil.which("ros2"):
        check = subprocess.run([sys.executable, "-c", "import launch_ros"], capture_output=True)
        if check.returncode == 0:
            env = dict(os.environ)
            prefixes = env.get("AMENT_PREFIX_PATH", "").split(":")
            if sys.prefix not in prefixes:  # this venv holds the package (its own prefix)
                env["AMENT_PREFIX_PATH"] = ":".join([sys.prefix] + [p for p in prefixes if p])
            return env, ""
    return None, ("the real ros2 launch is not available: no ../shared/ros2-tools to install "
                  "it from, and no sourced ROS 2 (ros2 on PATH with launch_ros)")


@pytest.fixture(scope="session")
def ros2_tools(repo_root):
    """Environment for the real ``ros2`` / ``ros2 launch`` (skips when there is none)."""
    env, reason = _ros2_tools_env(repo_root)
    if env is None:
        pytest.skip(reason)
    return env
