"""`colcon build` of this package in a ROS 2 workspace, then the installed package in use.

The workspace underlay is the virtual environment (the ROS 2 Jazzy wheels act as the ROS
install), exactly as the README's "Build in a ROS 2 workspace" section describes for a
machine without ROS from apt.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.ros, pytest.mark.slow]

VENV = Path(sys.prefix)


@pytest.fixture(scope="module")
def colcon_install(tmp_path_factory, repo_root):
    if shutil.which("colcon", path=str(VENV / "bin")) is None:
        pytest.skip("colcon is not installed in this environment")
    ws = tmp_path_factory.mktemp("ws")
    (ws / "src").mkdir()
    (ws / "src" / "reactface_ros").symlink_to(repo_root, target_is_directory=True)
    env = dict(os.environ, AMENT_PREFIX_PATH=str(VENV), CMAKE_PREFIX_PATH=str(VENV),
               PATH=f"{VENV / 'bin'}:{os.environ['PATH']}", _ROS_WHEELS_BOOTSTRAP_COMPLETE="1")
    proc = subprocess.run(
        [str(VENV / "bin" / "colcon"), "--log-base", str(ws / "log"), "build",
         "--base-paths", str(ws / "src"), "--build-base", str(ws / "build"),
         "--install-base", str(ws / "install"), "--event-handlers", "console_direct-",
         "--cmake-args", "-DBUILD_TESTING=OFF", f"-DPython3_EXECUTABLE={sys.executable}"],
        cwd=ws, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    return ws / "install" / "reactface_ros"


def test_colcon_installs_messages_python_and_share(colcon_install, repo_root):
    site = colcon_install / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" \
        / "site-packages" / "reactface_ros"
    assert (site / "msg" / "_reaction_frame.py").exists()
    assert (site / "constants.py").exists()
    assert "extend_path" in (site / "__init__.py").read_text()
    share = colcon_install / "share" / "reactface_ros"
    assert (share / "package.xml").read_text() == (repo_root / "package.xml").read_text()
    for name in ("ReactionFrame", "ReactionSamples", "AudioChunk", "SpeakerFaceFeatures"):
        assert (share / "msg" / f"{name}.msg").exists()
    for folder in ("launch", "config", "models"):
        assert (share / folder).is_dir()
    for script in (repo_root / "scripts" / "ros").glob("*"):
        assert os.access(colcon_install / "lib" / "reactface_ros" / script.name, os.X_OK)


def test_installed_package_imports_from_the_workspace(colcon_install, tmp_path):
    site = next(colcon_install.glob("lib/python3*/site-packages"))
    env = dict(os.environ, PYTHONPATH=str(site),
               LD_LIBRARY_PATH=f"{colcon_install / 'lib'}:{os.environ.get('LD_LIBRARY_PATH', '')}")
    code = ("import reactface_ros, reactface_ros.constants as c; from reactface_ros import msg;"
            "f = msg.ReactionFrame(); assert len(f.coefficients) == c.NUM_COEFFS;"
            "print(reactface_ros.__file__)")
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().startswith(str(site))
