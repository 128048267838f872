"""`colcon build` of this package in a ROS 2 workspace, then the installed package in use.

The workspace underlay is the virtual environment (the ROS 2 Jazzy wheels act as the ROS
install), exactly as the README's "Build in a ROS 2 workspace" section describes for a
machine without ROS from apt.
"""
from __future__ import annotations

import json
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
    # The two ROS4HRI message definitions face_analysis publishes (hri_msgs is not on PyPI).
    (ws / "src" / "hri_msgs").symlink_to(repo_root / "test" / "fixtures" / "hri_msgs",
                                         target_is_directory=True)
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


HRI_PROBE = """
import json, sys, threading, time
import numpy as np
import rclpy
from rclpy.executors import MultiThreadedExecutor
from rclpy.parameter import Parameter
from hri_msgs.msg import IdsList, NormalizedRegionOfInterest2D
from sensor_msgs.msg import Image
from reactface_ros.nodes.conversions import numpy_to_image
from reactface_ros.nodes.face_analysis import FaceAnalysisNode
from reactface_ros.nodes.qos import qos_profile
from reactface_ros.render import make_renderer

face = np.zeros(58, np.float32)
face[52], face[57] = np.pi, 1.84
renderer = make_renderer("mesh", 256)
image = renderer.render(face)
renderer.close()
rclpy.init()
node = FaceAnalysisNode(parameter_overrides=[Parameter("publish_hri", value=True),
                                             Parameter("input_qos", value="reliable")])
probe = rclpy.create_node("hri_probe")
got = {"tracked": [], "roi": [], "cropped": 0}
probe.create_subscription(IdsList, "/humans/faces/tracked",
                          lambda m: got["tracked"].append(list(m.ids)), qos_profile("reliable"))
probe.create_subscription(NormalizedRegionOfInterest2D, "/humans/faces/speaker/roi",
                          lambda m: got["roi"].append([m.xmin, m.ymin, m.xmax, m.ymax, m.c]),
                          qos_profile("reliable"))
probe.create_subscription(Image, "/humans/faces/speaker/cropped",
                          lambda m: got.__setitem__("cropped", got["cropped"] + 1),
                          qos_profile("reliable"))
pub = probe.create_publisher(Image, "speaker/image", qos_profile("reliable"))
executor = MultiThreadedExecutor()
executor.add_node(node)
executor.add_node(probe)
spinner = threading.Thread(target=executor.spin, daemon=True)
spinner.start()
deadline = time.monotonic() + 20
while pub.get_subscription_count() == 0 and time.monotonic() < deadline:
    time.sleep(0.05)
for i in range(8):
    frame = image if i < 6 else np.full_like(image, 40)   # the face leaves the view
    pub.publish(numpy_to_image(frame, "rgb8", stamp_ns=10**9 + i * 40_000_000))
    time.sleep(0.15)
while len(got["tracked"]) < 8 and time.monotonic() < deadline:
    time.sleep(0.05)
executor.shutdown()
spinner.join(5)
node.destroy_node()
probe.destroy_node()
rclpy.shutdown()
print(json.dumps(got), flush=True)
"""


def test_ros4hri_outputs_with_hri_msgs(colcon_install, tmp_path, ros_domain):
    """With hri_msgs built in the workspace, face_analysis publishes the ROS4HRI topics."""
    hri = colcon_install.parent / "hri_msgs"
    site = next(hri.glob("lib/python3*/site-packages"))
    env = dict(ros_domain, PYTHONPATH=str(site),
               LD_LIBRARY_PATH=f"{hri / 'lib'}:{os.environ.get('LD_LIBRARY_PATH', '')}",
               AMENT_PREFIX_PATH=f"{hri}:{os.environ.get('AMENT_PREFIX_PATH', '')}")
    proc = subprocess.run([sys.executable, "-c", HRI_PROBE], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert got["tracked"] == [["speaker"]] * 6 + [[]] * 2
    assert len(got["roi"]) == 6 and got["cropped"] == 6
    for xmin, ymin, xmax, ymax, c in got["roi"]:
        assert 0.0 <= xmin < xmax <= 1.0 and 0.0 <= ymin < ymax <= 1.0 and 0.0 < c <= 1.0


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
        installed = colcon_install / "lib" / "reactface_ros" / script.name
        assert os.access(installed, os.X_OK)
        # The build's interpreter as the shebang, as ament_python writes it: the node runs
        # with the venv's numpy/torch without an activated venv.
        assert installed.read_text().splitlines()[0] == f"#!{sys.executable}"


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
