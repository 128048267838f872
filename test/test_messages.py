"""The package's messages over real rclpy and real Fast DDS, between two OS processes."""
from __future__ import annotations

import json
import subprocess
import sys
import time

import numpy as np
import pytest

from msg_examples import MESSAGE_TYPES, make_examples, to_plain

pytest.importorskip("rclpy")
pytestmark = pytest.mark.ros

# The subscriber runs in its own interpreter: it receives one message of each type and prints
# every field as JSON, then exits.
SUBSCRIBER = r"""
import json, sys, rclpy
from rclpy.qos import QoSProfile, ReliabilityPolicy, DurabilityPolicy
sys.path.insert(0, sys.argv[1])
from msg_examples import MESSAGE_TYPES, to_plain
from reactface_ros import msg as m

rclpy.init()
node = rclpy.create_node("roundtrip_subscriber")
qos = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE,
                 durability=DurabilityPolicy.TRANSIENT_LOCAL)
got = {}
for name in MESSAGE_TYPES:
    node.create_subscription(getattr(m, name), "/roundtrip/" + name,
                             lambda msg, n=name: got.setdefault(n, to_plain(msg)), qos)
print("READY", flush=True)
deadline = node.get_clock().now().nanoseconds + 30 * 10**9
while len(got) < len(MESSAGE_TYPES) and node.get_clock().now().nanoseconds < deadline:
    rclpy.spin_once(node, timeout_sec=0.1)
print(json.dumps(got), flush=True)
node.destroy_node()
rclpy.shutdown()
"""


def test_each_message_round_trips_between_processes(ros_domain, repo_root):
    import rclpy
    from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy

    from reactface_ros import msg as m

    child = subprocess.Popen([sys.executable, "-c", SUBSCRIBER, str(repo_root / "test")],
                             env=ros_domain, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
    examples = make_examples(seed=3)
    rclpy.init()
    try:
        node = rclpy.create_node("roundtrip_publisher")
        qos = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE,
                         durability=DurabilityPolicy.TRANSIENT_LOCAL)
        pubs = {n: node.create_publisher(getattr(m, n), "/roundtrip/" + n, qos)
                for n in MESSAGE_TYPES}
        assert child.stdout.readline().strip() == "READY"
        # Transient-local durability delivers what was published before discovery finished;
        # publish once each and keep the node alive until the child has everything.
        for name, pub in pubs.items():
            pub.publish(examples[name])
        deadline = time.monotonic() + 40
        while child.poll() is None and time.monotonic() < deadline:
            rclpy.spin_once(node, timeout_sec=0.05)
        out, err = child.communicate(timeout=10)
        node.destroy_node()
    finally:
        rclpy.shutdown()
        if child.poll() is None:
            child.kill()
    assert child.returncode == 0, err
    received = json.loads(out.strip().splitlines()[-1])
    assert sorted(received) == sorted(MESSAGE_TYPES), f"missing messages; stderr: {err}"
    for name in MESSAGE_TYPES:
        sent = to_plain(examples[name])
        assert received[name] == sent, name


def test_field_checks_reject_wrong_lengths_and_ranges(ros_domain):
    # Generated classes check sizes and ranges only with ROS_PYTHON_CHECK_FIELDS=1, which the
    # ros_domain fixture sets; the module reads it at import, so check in a fresh interpreter.
    code = r"""
import numpy as np
from reactface_ros import msg as m
cases = {
    "coefficients too short": lambda: setattr(m.ReactionFrame(), "coefficients",
                                             np.zeros(57, np.float32)),
    "coefficients too long": lambda: setattr(m.ReactionFrame(), "coefficients",
                                            np.zeros(59, np.float32)),
    "blendshapes wrong length": lambda: setattr(m.SpeakerFaceFeatures(), "blendshapes",
                                               np.zeros(51, np.float32)),
    "rotation wrong length": lambda: setattr(m.SpeakerFaceFeatures(), "head_rotation",
                                            np.zeros(4, np.float32)),
    "uint16 overflow": lambda: setattr(m.ReactionFrame(), "sample_index", 70000),
    "negative uint": lambda: setattr(m.AudioChunk(), "sample_rate", -1),
    "float32 overflow": lambda: setattr(m.SpeakerFaceFeatures(), "confidence", 1e40),
    "wrong element type": lambda: setattr(m.AudioChunk(), "samples", ["a", "b"]),
}
failed_to_reject = []
for name, fn in cases.items():
    try:
        fn()
    except (AssertionError, ValueError, TypeError):
        continue
    failed_to_reject.append(name)
ok = m.ReactionFrame()
ok.coefficients = np.ones(58, np.float32)
assert failed_to_reject == [], failed_to_reject
print("ALL REJECTED")
"""
    proc = subprocess.run([sys.executable, "-c", code], env=ros_domain, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "ALL REJECTED" in proc.stdout


def test_array_fields_hold_float32_exactly():
    from reactface_ros import msg as m

    frame = m.ReactionFrame()
    values = np.linspace(-3, 3, 58, dtype=np.float32)
    frame.coefficients = values
    assert frame.coefficients.dtype == np.float32
    np.testing.assert_array_equal(frame.coefficients, values)
