"""Hardware-facing nodes without the hardware: camera_capture reading a video file through
OpenCV, audio_capture on a stand-in PortAudio module (and its error messages), and
avatar_bridge sending to real UDP receivers (python-osc VMC server, a Live Link socket)."""
from __future__ import annotations

import socket
import sys
import threading
import time
import types

import numpy as np
import pytest

pytest.importorskip("rclpy")
pytest.importorskip("reactface_ros.msg")

from test_nodes_graph import write_speaker_clip  # noqa: E402

from reactface_ros.constants import BLENDSHAPE_INDEX, NUM_COEFFS  # noqa: E402

pytestmark = [pytest.mark.ros, pytest.mark.timeout(60)]


class _Graph:
    """One context with the node under test and a listener node, spun in a thread."""

    def __init__(self, node_factory):
        import rclpy
        from rclpy.executors import SingleThreadedExecutor

        self.ctx = rclpy.Context()
        rclpy.init(context=self.ctx)
        self.node = node_factory(self.ctx)
        self.listener = rclpy.create_node("listener", context=self.ctx)
        self.executors = []
        for n in (self.node, self.listener):  # one executor per node: messages stay in order
            executor = SingleThreadedExecutor(context=self.ctx)
            executor.add_node(n)
            threading.Thread(target=executor.spin, daemon=True).start()
            self.executors.append(executor)

    def wait(self, predicate, timeout=10.0):
        end = time.monotonic() + timeout
        while time.monotonic() < end and not predicate():
            time.sleep(0.02)
        return predicate()

    def close(self):
        for executor in self.executors:
            executor.shutdown()
        if hasattr(self.node, "close"):   # capture nodes release their device
            self.node.close()
        self.node.destroy_node()
        self.listener.destroy_node()
        self.ctx.try_shutdown()


def _ros_args(**params):
    from rclpy.parameter import Parameter

    return [Parameter(k, value=v) for k, v in params.items()]


def test_camera_capture_from_a_video_file(tmp_path, ros_domain):
    from sensor_msgs.msg import CameraInfo, Image

    from reactface_ros.nodes.camera_capture import CameraCaptureNode
    from reactface_ros.nodes.conversions import image_to_numpy, stamp_to_ns
    from reactface_ros.nodes.qos import qos_profile

    clip = tmp_path / "cam.mp4"
    write_speaker_clip(clip, num_frames=20, size=96)
    g = _Graph(lambda ctx: CameraCaptureNode(context=ctx, parameter_overrides=_ros_args(
        device=str(clip), fps=50.0)))
    images, infos = [], []
    try:
        g.listener.create_subscription(Image, "speaker/image", images.append,
                                       qos_profile("sensor_data"))
        g.listener.create_subscription(CameraInfo, "speaker/camera_info", infos.append,
                                       qos_profile("sensor_data"))
        assert g.wait(lambda: len(images) >= 8 and len(infos) >= 8)
    finally:
        g.close()
    first = image_to_numpy(images[0])
    assert first.shape == (96, 96, 3) and images[0].encoding == "rgb8"
    assert first.mean() > 5  # a real rendered frame, not an empty buffer
    stamps = np.array([stamp_to_ns(m.header.stamp) for m in images[:8]]) / 1e9
    assert np.all(np.diff(stamps) > 0.01) and abs(stamps[-1] - time.time()) < 5
    assert infos[0].width == 96 and infos[0].k[0] == 96.0 and infos[0].k[2] == 48.0


def test_camera_capture_without_camera_names_the_devices(ros_domain):
    from reactface_ros.nodes.camera_capture import CameraCaptureNode
    from reactface_ros.nodes.common import NodeStartError

    import rclpy

    ctx = rclpy.Context()
    rclpy.init(context=ctx)
    try:
        with pytest.raises(NodeStartError, match="cannot open camera '/no/such/cam'.*found"):
            CameraCaptureNode(context=ctx, parameter_overrides=_ros_args(device="/no/such/cam"))
    finally:
        ctx.try_shutdown()


def _fake_sounddevice(devices, fail_open=False):
    """A stand-in for the sounddevice module: blocks of a known ramp, ADC times 30 ms old."""
    module = types.ModuleType("sounddevice")
    module.query_devices = lambda: devices

    class InputStream:
        def __init__(self, device, samplerate, channels, blocksize, dtype, callback):
            if fail_open:
                raise ValueError(f"No input device matching {device!r}")
            self.args = (samplerate, channels, blocksize)
            self.callback = callback
            self._stop = threading.Event()

        def _run(self):
            rate, channels, block = self.args
            for i in range(6):
                data = (np.arange(block * channels, dtype=np.float32).reshape(block, channels)
                        + 1000 * i) / 1e4
                now = time.monotonic()
                info = types.SimpleNamespace(currentTime=now, inputBufferAdcTime=now - 0.03)
                self.callback(data, block, info, None)
                time.sleep(block / rate)

        def start(self):
            threading.Thread(target=self._run, daemon=True).start()

        def stop(self):
            self._stop.set()

        def close(self):
            pass

    module.InputStream = InputStream
    return module


MIC = {"name": "Fake Mic", "max_input_channels": 2, "default_samplerate": 48000.0}
SPEAKER = {"name": "Fake Speaker", "max_input_channels": 0, "default_samplerate": 48000.0}


def test_audio_capture_publishes_stamped_chunks(monkeypatch, ros_domain):
    from reactface_ros.msg import AudioChunk
    from reactface_ros.nodes.audio_capture import AudioCaptureNode
    from reactface_ros.nodes.conversions import audio_from_msg
    from reactface_ros.nodes.qos import qos_profile

    monkeypatch.setitem(sys.modules, "sounddevice", _fake_sounddevice([SPEAKER, MIC]))
    g = _Graph(lambda ctx: AudioCaptureNode(context=ctx, parameter_overrides=_ros_args(
        sample_rate=16000, channels=2, chunk_ms=20.0)))
    chunks = []
    try:
        g.listener.create_subscription(AudioChunk, "speaker/audio", chunks.append,
                                       qos_profile("sensor_data"))
        assert g.wait(lambda: len(chunks) >= 4)
    finally:
        g.close()
    blocks = [audio_from_msg(m) for m in chunks]
    assert all(b.sample_rate == 16000 and b.samples.shape == (320, 2) for b in blocks)
    k = int(round(blocks[0].samples[0, 0] * 10))  # which block arrived first
    expected = (np.arange(640, dtype=np.float32).reshape(320, 2) + 1000 * k) / 1e4
    np.testing.assert_allclose(blocks[0].samples, expected, atol=1e-6)
    age = time.time() - blocks[-1].stamp_ns / 1e9
    assert 0.02 < age < 5.0  # stamped with the (earlier) capture time of the first sample


def test_audio_capture_errors_list_the_devices(monkeypatch, ros_domain):
    import rclpy

    from reactface_ros.nodes.audio_capture import AudioCaptureNode
    from reactface_ros.nodes.common import NodeStartError

    ctx = rclpy.Context()
    rclpy.init(context=ctx)
    try:
        monkeypatch.setitem(sys.modules, "sounddevice", _fake_sounddevice([SPEAKER]))
        with pytest.raises(NodeStartError, match="no microphone found"):
            AudioCaptureNode(context=ctx)
        monkeypatch.setitem(sys.modules, "sounddevice",
                            _fake_sounddevice([SPEAKER, MIC], fail_open=True))
        with pytest.raises(NodeStartError, match=r"Input devices found: 1: Fake Mic \(2 ch, "
                                                 r"48000 Hz\)"):
            AudioCaptureNode(context=ctx, parameter_overrides=_ros_args(device="usb"))
    finally:
        ctx.try_shutdown()


def test_avatar_bridge_sends_vmc_and_livelink(ros_domain):
    import struct

    from pythonosc.dispatcher import Dispatcher
    from pythonosc.osc_server import ThreadingOSCUDPServer

    from reactface_ros.msg import ReactionFrame
    from reactface_ros.nodes.avatar_bridge import AvatarBridgeNode
    from reactface_ros.nodes.conversions import reaction_frame_msg
    from reactface_ros.nodes.qos import qos_profile

    received: dict[str, float] = {}
    dispatcher = Dispatcher()
    dispatcher.map("/VMC/Ext/Blend/Val", lambda _, name, value: received.__setitem__(name, value))
    server = ThreadingOSCUDPServer(("127.0.0.1", 0), dispatcher)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    live = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    live.bind(("127.0.0.1", 0))
    live.settimeout(5.0)
    g = _Graph(lambda ctx: AvatarBridgeNode(context=ctx, parameter_overrides=_ros_args(
        vmc_port=server.server_address[1], livelink=True,
        livelink_port=live.getsockname()[1], livelink_subject="TestListener")))
    try:
        pub = g.listener.create_publisher(ReactionFrame, "listener/reaction",
                                          qos_profile("reliable"))
        assert g.wait(lambda: pub.get_subscription_count() > 0)
        coeffs = np.zeros(NUM_COEFFS, np.float32)
        coeffs[52], coeffs[57] = np.pi, 1.84
        coeffs[BLENDSHAPE_INDEX["jawOpen"]] = 0.75
        pub.publish(reaction_frame_msg(coeffs, frame_index=3, sample_index=0, num_samples=1,
                                       stamp_ns=0))
        packet, _ = live.recvfrom(4096)
        assert g.wait(lambda: len(received) >= 52)
    finally:
        g.close()
        server.shutdown()
        live.close()
    jaw = [v for k, v in received.items() if k.lower() == "jawopen"]
    assert jaw and jaw[0] == pytest.approx(0.75)
    assert b"TestListener" in packet
    curves = struct.unpack(">61f", packet[-61 * 4:])
    assert any(abs(v - 0.75) < 1e-6 for v in curves[:52])


def test_media_source_plays_a_separate_wav(tmp_path, ros_domain):
    """Video frames from one file, audio (44.1 kHz stereo) from a wav, on one timeline."""
    import av

    from sensor_msgs.msg import Image

    from reactface_ros.msg import AudioChunk
    from reactface_ros.nodes.conversions import audio_from_msg, stamp_to_ns
    from reactface_ros.nodes.media_source import MediaSourceNode
    from reactface_ros.nodes.qos import qos_profile

    clip = tmp_path / "speaker.mp4"
    write_speaker_clip(clip, num_frames=10, size=64)
    wav = tmp_path / "speech.wav"
    rate, seconds = 44100, 0.4
    t = np.arange(int(rate * seconds)) / rate
    stereo = np.stack([np.sin(2 * np.pi * 220 * t), np.sin(2 * np.pi * 330 * t)]) * 0.5
    with av.open(str(wav), "w") as out:
        stream = out.add_stream("pcm_s16le", rate=rate, layout="stereo")
        frame = av.AudioFrame.from_ndarray((stereo.T.reshape(1, -1) * 32767).astype(np.int16),
                                           format="s16", layout="stereo")
        frame.sample_rate = rate
        for packet in stream.encode(frame):
            out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    g = _Graph(lambda ctx: MediaSourceNode(context=ctx, parameter_overrides=_ros_args(
        video=str(clip), audio=str(wav), mode="realtime")))
    images, chunks = [], []
    try:
        g.listener.create_subscription(Image, "speaker/image", images.append,
                                       qos_profile("reliable"))
        g.listener.create_subscription(AudioChunk, "speaker/audio", chunks.append,
                                       qos_profile("reliable"))
        assert g.wait(g.node.done.is_set, timeout=20)
        assert g.wait(lambda: len(images) == 10 and len(chunks) == g.node.chunks_published)
    finally:
        g.close()
    blocks = [audio_from_msg(m) for m in chunks]
    assert all(b.sample_rate == rate and b.samples.shape[1] == 2 for b in blocks)
    audio = np.concatenate([b.samples for b in blocks])
    assert audio.shape[0] == int(rate * seconds)  # 10 frames at 25 fps = 0.4 s of audio
    np.testing.assert_allclose(audio[:2000].T, stereo[:, :2000], atol=1e-3)
    # Audio and video share one timeline: chunk k starts at frame time k * 40 ms.
    first = stamp_to_ns(images[0].header.stamp)
    for k, block in enumerate(blocks):
        assert abs(block.stamp_ns - first - k * 40_000_000) < 1_000_000


def test_runtime_parameter_changes(tmp_path, ros_domain):
    """Dynamic parameters change while the node runs; start-up ones are refused with a reason."""
    import rclpy
    from rclpy.parameter import Parameter

    from reactface_ros.nodes.reaction import ReactionNode
    from test_nodes_graph import write_tiny_checkpoint

    pytest.importorskip("reactface_ros.streaming")
    write_tiny_checkpoint(tmp_path / "ckpt")
    ctx = rclpy.Context()
    rclpy.init(context=ctx)
    try:
        node = ReactionNode(context=ctx, parameter_overrides=_ros_args(
            checkpoint=str(tmp_path / "ckpt"), device="cpu", samples=2))
        ok = node.set_parameters([Parameter("selection", value="medoid")])[0]
        assert ok.successful and node.param("selection") == "medoid"
        bad = node.set_parameters([Parameter("selection", value="best")])[0]
        assert not bad.successful and "fixed, medoid, random" in bad.reason
        fixed = node.set_parameters([Parameter("samples", value=5)])[0]
        assert not fixed.successful and "configure again" in fixed.reason
        assert node.param("samples") == 2 and node.param("selection") == "medoid"
        node.destroy_node()
    finally:
        ctx.try_shutdown()


def test_reaction_idle_flush_keeps_the_session(tmp_path, ros_domain):
    """A pause longer than idle_flush_s in the middle of the input (an upstream stall) only
    publishes the pending frames early: every frame is answered once, with the reactions an
    uninterrupted stream gives. Input that resumes far from where it stopped is a new
    session with its own frame indices."""
    from reactface_ros.model import ReactFace
    from reactface_ros.msg import AudioChunk, ReactionFrame, SpeakerFaceFeatures
    from reactface_ros.nodes.conversions import audio_chunk_msg, face_features_msg
    from reactface_ros.nodes.qos import qos_profile
    from reactface_ros.nodes.reaction import ReactionNode
    from reactface_ros.streaming import ReactionStream
    from test_nodes_graph import write_tiny_checkpoint

    write_tiny_checkpoint(tmp_path / "ckpt")
    rng = np.random.default_rng(0)
    faces = rng.random((56, 59)).astype(np.float32)
    faces[:, -1] = 1.0
    audio = (0.1 * rng.standard_normal(56 * 640)).astype(np.float32)
    t0 = 1_000_000_000_000
    graph = _Graph(lambda ctx: ReactionNode(context=ctx, parameter_overrides=_ros_args(
        checkpoint=str(tmp_path / "ckpt"), device="cpu", samples=2, seed=5,
        idle_flush_s=0.5, input_qos="reliable")))
    try:
        face_pub = graph.listener.create_publisher(SpeakerFaceFeatures, "speaker/face_features",
                                                   qos_profile("reliable"))
        audio_pub = graph.listener.create_publisher(AudioChunk, "speaker/audio",
                                                    qos_profile("reliable"))
        got: list = []
        graph.listener.create_subscription(ReactionFrame, "listener/reaction", got.append,
                                           qos_profile("reliable"))
        assert graph.wait(lambda: face_pub.get_subscription_count() == 1
                          and graph.node.frame_pub.get_subscription_count() == 1)

        def send(i, face=True, audio_too=True, offset_ns=0, index0=0):
            stamp = t0 + offset_ns + i * 40_000_000
            if audio_too:
                audio_pub.publish(audio_chunk_msg(audio[i * 640:(i + 1) * 640], 16000,
                                                  stamp_ns=stamp))
            if face:
                face_pub.publish(face_features_msg(faces[i], frame_index=i - index0,
                                                   stamp_ns=stamp))
            time.sleep(0.004)

        # Audio runs 5 frames ahead of the faces (slow face analysis), then both stall after
        # frame 20: 2 windows + 5 pending frames, and audio for 5 more.
        for i in range(26):
            send(i, face=False)
            if i >= 5:
                send(i - 5, audio_too=False)
        assert graph.wait(lambda: len(got) == 21, timeout=20), len(got)
        assert graph.node.idle_flushes == 1 and graph.node.sessions == 1
        for i in range(26, 44):                # the same timeline goes on: same session
            send(i, face=False)
            send(i - 5, audio_too=False)
        for i in range(39, 44):
            send(i, audio_too=False)
        assert graph.wait(lambda: len(got) == 44, timeout=20), len(got)
        for i in range(44, 56):                # a minute later: a new clip, indices from 0
            send(i, offset_ns=60 * 10**9, index0=44)
        assert graph.wait(lambda: len(got) == 56, timeout=20), len(got)
        time.sleep(0.8)                        # nothing more comes
        assert len(got) == 56
        assert (graph.node.idle_flushes, graph.node.sessions) == (3, 2)
    finally:
        graph.close()
    first, second = got[:44], got[44:]
    assert [m.frame_index for m in first] == list(range(44))
    assert [m.frame_index for m in second] == list(range(12))
    assert [m.header.stamp.sec * 10**9 + m.header.stamp.nanosec for m in first] == \
        [t0 + i * 40_000_000 for i in range(44)]
    # The stall changed nothing: the same reactions as one uninterrupted stream.
    stream = ReactionStream(ReactFace.from_pretrained(tmp_path / "ckpt"), num_samples=2,
                            seed=5)
    wins = []
    for i in range(44):
        wins += stream.push_audio(audio[i * 640:(i + 1) * 640], 16000, i * 0.04)
        wins += stream.push_face(faces[i], i * 0.04)
    wins += stream.flush()
    ref = np.concatenate([w.reactions[0] for w in wins])
    np.testing.assert_allclose([m.coefficients for m in first], ref, atol=1e-5)
