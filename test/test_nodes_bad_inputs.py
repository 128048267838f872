"""Bad input on a running graph (face_analysis -> reaction over real DDS): dropped frames, a
wrong image encoding, an audio gap, a broken audio chunk, a sample-rate change and a speaker
who leaves the view. The nodes keep running, every speaker frame still gets a reaction, and
each problem is visible on /diagnostics."""
from __future__ import annotations

import threading
import time
import warnings

import numpy as np
import pytest

pytest.importorskip("rclpy")
pytest.importorskip("reactface_ros.msg")
pytest.importorskip("reactface_ros.streaming")

from test_nodes_graph import write_tiny_checkpoint  # noqa: E402

from reactface_ros.constants import NUM_COEFFS  # noqa: E402

pytestmark = [pytest.mark.ros, pytest.mark.timeout(120)]

NUM_FRAMES = 75
DROPPED = {10, 11, 12}
WRONG_ENCODING = 35
AUDIO_GAP = range(40, 45)
BROKEN_CHUNK = 46
RATE_CHANGE_FROM = 50
NO_FACE_FROM = 45        # the speaker leaves the view for the last 30 frames


def _faces(size: int = 128) -> list[np.ndarray]:
    from reactface_ros.render import make_renderer

    base = np.zeros(NUM_COEFFS, np.float32)
    base[52], base[57] = np.pi, 1.84
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        renderer = make_renderer("mesh", size)
        frames = []
        for i in range(8):
            c = base.copy()
            c[24] = 0.05 * i
            frames.append(renderer.render(c))
        renderer.close()
    return frames


def test_bad_inputs_keep_the_graph_running_and_show_in_diagnostics(tmp_path, ros_domain):
    import rclpy
    from diagnostic_msgs.msg import DiagnosticArray
    from rclpy.executors import SingleThreadedExecutor
    from sensor_msgs.msg import Image

    from reactface_ros.msg import AudioChunk, ReactionFrame
    from reactface_ros.nodes.conversions import audio_chunk_msg, numpy_to_image
    from reactface_ros.nodes.graph import GraphSpec, NodeEntry
    from reactface_ros.nodes.qos import qos_profile
    from reactface_ros.nodes.runner import GraphRunner

    write_tiny_checkpoint(tmp_path / "ckpt")
    graph = GraphSpec("faults", "analysis + reaction", (
        NodeEntry("face_analysis", "face_analysis", {"publish_hri": True, "max_faces": 1}),
        NodeEntry("reaction", "reaction", {"checkpoint": str(tmp_path / "ckpt"),
                                           "samples": 2, "device": "cpu",
                                           "idle_flush_s": 0.8})),
        params_files=("defaults.yaml", "file.yaml"))
    faces = _faces()
    blank = np.full_like(faces[0], 30)

    ctx = rclpy.Context()
    rclpy.init(context=ctx)
    node = rclpy.create_node("fault_injector", context=ctx)
    image_pub = node.create_publisher(Image, "speaker/image", qos_profile("reliable"))
    audio_pub = node.create_publisher(AudioChunk, "speaker/audio", qos_profile("reliable"))
    reactions, diags, lock = [], {}, threading.Lock()

    def on_diag(msg):
        with lock:
            for status in msg.status:
                diags[status.name] = (status.level, status.message,
                                      {kv.key: kv.value for kv in status.values})

    node.create_subscription(ReactionFrame, "listener/reaction",
                             lambda m: reactions.append(m), qos_profile("reliable"))
    node.create_subscription(DiagnosticArray, "/diagnostics", on_diag, 100)
    crops = []
    node.create_subscription(Image, "/humans/faces/speaker/cropped", crops.append,
                             qos_profile("reliable"))
    executor = SingleThreadedExecutor(context=ctx)
    executor.add_node(node)
    spin = threading.Thread(target=executor.spin, daemon=True)
    spin.start()

    runner = GraphRunner(graph).start()
    try:
        assert runner.wait(lambda: image_pub.get_subscription_count() >= 1
                           and audio_pub.get_subscription_count() >= 1, timeout=20)
        t0 = time.time_ns()
        for i in range(NUM_FRAMES):
            stamp = t0 + i * 40_000_000
            if i not in DROPPED:
                pixels = faces[i % len(faces)] if i < NO_FACE_FROM else blank
                msg = numpy_to_image(pixels, "rgb8", stamp_ns=stamp, row_padding=3)
                if i == WRONG_ENCODING:
                    msg.encoding = "yuv422"
                image_pub.publish(msg)
            rate = 44100 if i >= RATE_CHANGE_FROM else 16000
            n = rate // 25
            t = (np.arange(n) + i * n) / rate
            chunk = audio_chunk_msg(0.2 * np.sin(2 * np.pi * 200 * t), rate, stamp_ns=stamp)
            if i == BROKEN_CHUNK:
                chunk.sample_rate = 0
            if i not in AUDIO_GAP:
                audio_pub.publish(chunk)
            time.sleep(0.02)
        # The last window is flushed once both inputs have been quiet for idle_flush_s.
        assert runner.wait(lambda: len({m.frame_index for m in reactions}) >= NUM_FRAMES,
                           timeout=30), sorted({m.frame_index for m in reactions})
        time.sleep(1.5)  # one more diagnostics period after the end
        alive = runner.nodes["reaction"].frames_out
    finally:
        runner.stop()
        executor.shutdown()
        node.destroy_node()
        ctx.try_shutdown()

    # ROS4HRI-style face crops (hri_msgs is not needed for them): one per frame with a face.
    faces_shown = NUM_FRAMES - len(DROPPED) - 1 - (NUM_FRAMES - NO_FACE_FROM)
    assert faces_shown - 2 <= len(crops) <= faces_shown
    assert crops[0].encoding == "rgb8" and crops[0].height == crops[0].width == 112

    indices = [m.frame_index for m in reactions]
    assert sorted(indices) == list(range(NUM_FRAMES)), "every speaker frame gets one reaction"
    assert alive == NUM_FRAMES
    stamps = {m.frame_index: m.header.stamp.sec * 10**9 + m.header.stamp.nanosec
              for m in reactions}
    assert stamps[0] == t0 and stamps[60] == t0 + 60 * 40_000_000
    assert all(np.all(np.isfinite(m.coefficients)) for m in reactions)

    with lock:
        image = diags["face_analysis: input image"]
        processing = diags["face_analysis: processing"]
        audio = diags["reaction: input audio"]
        face = diags["reaction: input face"]
        inference = diags["reaction: inference"]
    warn = b"\x01"
    # Wrong encoding: rejected with the reason; dropped frames: counted as missing.
    assert image[0] >= warn and "yuv422" in image[2]["last_error"]
    assert int(image[2]["rejected"]) == 1
    assert int(image[2]["missing"]) == len(DROPPED) + 1
    assert int(face[2]["missing"]) == len(DROPPED) + 1
    # Speaker out of view: both nodes warn.
    assert processing[0] >= warn and "no face" in processing[1]
    assert face[0] >= warn and int(face[2]["no_face_run"]) == NUM_FRAMES - NO_FACE_FROM
    # Audio: the broken chunk is rejected with its reason, the gap and the rate change seen.
    assert audio[0] >= warn and "sample_rate is 0" in audio[2]["last_error"]
    assert int(audio[2]["rejected"]) == 1 and int(audio[2]["gaps"]) >= 1
    assert audio[2]["sample_rate"] == "44100" and int(audio[2]["rate_changes"]) == 1
    assert int(inference[2]["audio_resyncs"]) >= 1
    assert int(inference[2]["frames_repeated"]) >= len(DROPPED)
    assert float(inference[2]["window_p95_ms"]) > 0


def test_face_analysis_with_a_30fps_camera_and_unstamped_images(ros_domain):
    """A 30 fps camera is analysed once per 25 fps frame slot (no errors); images without a
    stamp are stamped with their receive time instead of being rejected as 'backwards'."""
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from sensor_msgs.msg import Image

    from reactface_ros.msg import SpeakerFaceFeatures
    from reactface_ros.nodes.conversions import numpy_to_image, stamp_to_ns
    from reactface_ros.nodes.face_analysis import FaceAnalysisNode
    from reactface_ros.nodes.qos import qos_profile

    ctx = rclpy.Context()
    rclpy.init(context=ctx)
    node = FaceAnalysisNode(context=ctx)
    peer = rclpy.create_node("camera", context=ctx)
    pub = peer.create_publisher(Image, "speaker/image", qos_profile("reliable"))
    out = []
    peer.create_subscription(SpeakerFaceFeatures, "speaker/face_features", out.append,
                             qos_profile("reliable"))
    executors = []
    for n in (node, peer):  # one executor per node: each node's messages stay in order
        executor = SingleThreadedExecutor(context=ctx)
        executor.add_node(n)
        threading.Thread(target=executor.spin, daemon=True).start()
        executors.append(executor)
    faces = _faces(96)
    try:
        t0 = time.time_ns() - 3_000_000_000  # captured a while ago, as cameras' stamps are
        for i in range(30):  # one second at 30 fps
            pub.publish(numpy_to_image(faces[i % len(faces)], "rgb8",
                                       stamp_ns=t0 + int(i * 1e9 / 30)))
            time.sleep(1 / 30)  # a real 30 fps camera (faster floods a best-effort queue)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and len(out) < 25:
            time.sleep(0.05)
        assert [m.frame_index for m in out] == list(range(25))
        assert node.images.rejected == 0
        assert node.images.notes["skipped_faster_than_fps"] == "5"
        before = time.time_ns()
        for i in range(3):
            pub.publish(numpy_to_image(faces[0], "rgb8", stamp_ns=0))
            time.sleep(0.06)
        while time.monotonic() < deadline + 5 and len(out) < 28:
            time.sleep(0.05)
    finally:
        for executor in executors:
            executor.shutdown()
        node.close()
        node.destroy_node()
        peer.destroy_node()
        ctx.try_shutdown()
    unstamped = out[25:]
    assert len(unstamped) == 3 and node.images.notes["unstamped_images"] == "3"
    assert all(stamp_to_ns(m.header.stamp) >= before for m in unstamped)
    assert [m.frame_index for m in unstamped] == sorted({m.frame_index for m in unstamped})
