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
