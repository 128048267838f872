"""The file graph as real rclpy nodes over real DDS: media_source -> face_analysis -> reaction
-> render, recorded into an MCAP bag by the recorder, then read back and checked."""
from __future__ import annotations

import time
import warnings

import numpy as np
import pytest

pytest.importorskip("rclpy")
pytest.importorskip("reactface_ros.msg")
pytest.importorskip("mcap_ros2")

from reactface_ros.constants import NUM_COEFFS  # noqa: E402

pytestmark = [pytest.mark.ros, pytest.mark.timeout(180)]

NUM_FRAMES = 45
FPS = 25
SAMPLES = 3


def write_speaker_clip(path, num_frames: int = NUM_FRAMES, size: int = 160,
                       blank_frames: tuple[int, int] | None = None) -> None:
    """A small speaker clip: a rendered face that opens its jaw and nods, with a voiced tone.

    Frames in ``blank_frames`` (start, stop) show no face (the speaker left the view).
    """
    import av

    from reactface_ros.render import make_renderer

    face = np.zeros(NUM_COEFFS, np.float32)
    face[52], face[57] = np.pi, 1.84
    sr = 16000
    t = np.arange(int(num_frames / FPS * sr)) / sr
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 3.0 * t)
    audio = (0.3 * envelope * np.sin(2 * np.pi * 180.0 * t)).astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        renderer = make_renderer("mesh", size)
        frames = []
        for i in range(num_frames):
            c = face.copy()
            c[24] = 0.4 * (0.5 + 0.5 * np.sin(i / 3.0))   # jawOpen
            c[53] = 0.1 * np.sin(i / 7.0)                  # nod
            frame = renderer.render(c)
            if blank_frames and blank_frames[0] <= i < blank_frames[1]:
                frame = np.full_like(frame, 40)
            frames.append(frame)
        renderer.close()
    with av.open(str(path), "w") as out:
        vs = out.add_stream("libx264", rate=FPS)
        vs.width = vs.height = size
        vs.pix_fmt = "yuv420p"
        aus = out.add_stream("pcm_s16le", rate=sr, layout="mono")
        for frame in frames:
            for packet in vs.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                out.mux(packet)
        for packet in vs.encode():
            out.mux(packet)
        pcm = (audio * 32767).astype(np.int16)[None]
        aframe = av.AudioFrame.from_ndarray(pcm, format="s16", layout="mono")
        aframe.sample_rate = sr
        for packet in aus.encode(aframe):
            out.mux(packet)
        for packet in aus.encode():
            out.mux(packet)


def write_tiny_checkpoint(path) -> None:
    """A random-init, small ReactFace (CPU default encoders) for fast graph tests."""
    from reactface_ros.model import ReactFace
    from reactface_ros.model.config import ReactFaceConfig

    import torch

    torch.manual_seed(0)
    cfg = ReactFaceConfig(hidden_size=32, num_heads=2, ff_size=64, latent_size=32, horizon=32,
                          n_mels=40)
    ReactFace(cfg).save_pretrained(path)


@pytest.fixture(scope="module")
def assets(tmp_path_factory):
    pytest.importorskip("reactface_ros.streaming")
    root = tmp_path_factory.mktemp("graph_assets")
    write_speaker_clip(root / "speaker.mp4")
    write_tiny_checkpoint(root / "ckpt")
    return root


def read_bag(path):
    """``{topic: [(log_time_ns, ros_msg), ...]}`` of an MCAP file (decoded from its schemas)."""
    from mcap.reader import make_reader
    from mcap_ros2.decoder import DecoderFactory

    out: dict[str, list] = {}
    with open(path, "rb") as f:
        reader = make_reader(f, decoder_factories=[DecoderFactory()])
        for _, channel, message, msg in reader.iter_decoded_messages():
            out.setdefault(channel.topic, []).append((message.log_time, msg))
    return out


def ns(stamp) -> int:
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


def test_file_graph_records_complete_session(assets, tmp_path, ros_domain):
    from reactface_ros.nodes.graph import get_graph, with_recorder
    from reactface_ros.nodes.runner import GraphRunner

    bag = tmp_path / "session.mcap"
    graph = with_recorder(get_graph("file"), str(bag))
    args = {"video": str(assets / "speaker.mp4"), "checkpoint": str(assets / "ckpt"),
            "samples": str(SAMPLES), "seed": "3", "device": "cpu",
            "listener_video": str(tmp_path / "listener.mp4")}
    # max_lag_s 0: wait for both inputs, so the replay below is exactly comparable.
    runner = GraphRunner(graph, args, overrides={"reaction": {"max_lag_s": 0.0,
                                                              "idle_flush_s": 0.6}})
    runner.start()
    try:
        source = runner.nodes["media_source"]
        reaction = runner.nodes["reaction"]
        assert runner.wait(source.done.is_set, timeout=60), source.state
        assert runner.wait(lambda: reaction.frames_out >= NUM_FRAMES, timeout=30), \
            reaction.frames_out
        time.sleep(0.5)
        assert source.frames_published == NUM_FRAMES
        recorder_counts = dict(runner.nodes["recorder"].writer.counts)
    finally:
        runner.stop()
    assert recorder_counts["/listener/reaction"] == NUM_FRAMES

    topics = read_bag(bag)
    images = [m for _, m in topics["/speaker/image"]]
    faces = [m for _, m in topics["/speaker/face_features"]]
    frames = topics["/listener/reaction"]
    samples = [m for _, m in topics["/listener/reaction_samples"]]
    rendered = [m for _, m in topics["/listener/image"]]
    # Nothing lost between the source and the bag: the recorder subscribed first.
    assert len(images) == NUM_FRAMES
    assert len(faces) == len(samples) == len(rendered) == NUM_FRAMES
    image_stamps = [ns(m.header.stamp) for m in images]
    assert np.allclose(np.diff(image_stamps), 1e9 / FPS, atol=1e5)
    assert [m.frame_index for m in faces] == list(range(NUM_FRAMES))
    assert [ns(m.header.stamp) for m in faces] == image_stamps
    assert sum(m.face_found for m in faces) >= NUM_FRAMES - 2
    # Every speaker frame gets exactly one reaction, stamped with that frame's capture time.
    by_index = {m.frame_index: m for _, m in frames}
    assert sorted(by_index) == list(range(NUM_FRAMES))
    for i, m in by_index.items():
        assert ns(m.header.stamp) == image_stamps[i]
        assert m.num_samples == SAMPLES and m.sample_index == 0
    for s in samples:
        assert s.num_samples == SAMPLES and len(s.coefficients) == SAMPLES * NUM_COEFFS
        coeffs = np.asarray(s.coefficients, np.float32).reshape(SAMPLES, NUM_COEFFS)
        np.testing.assert_array_equal(coeffs[s.selected_sample],
                                      np.asarray(by_index[s.frame_index].coefficients))
        assert np.all(np.isfinite(coeffs))
    assert [ns(m.header.stamp) for m in rendered] == [ns(by_index[i].header.stamp)
                                                      for i in range(NUM_FRAMES)]
    assert rendered[0].encoding == "rgb8" and rendered[0].height == 256
    # End-to-end latency is positive and bounded (publish after capture, within seconds).
    latency = np.array([t - ns(m.header.stamp) for t, m in frames]) / 1e9
    assert latency.min() > 0 and np.percentile(latency, 50) < 5.0
    # Each node reported on /diagnostics.
    names = {s.name for _, d in topics["/diagnostics"] for s in d.status}
    for expected in ("media_source: playback", "face_analysis: input image",
                     "reaction: input audio", "reaction: inference", "render: input reaction"):
        assert expected in names
    assert (tmp_path / "listener.mp4").stat().st_size > 1000

    # The recorded reactions are what the streaming engine makes of the recorded inputs.
    from reactface_ros.model import ReactFace
    from reactface_ros.nodes.conversions import face_vector_from_msg
    from reactface_ros.streaming import ReactionStream

    stream = ReactionStream(ReactFace.from_pretrained(assets / "ckpt"), num_samples=SAMPLES,
                            seed=3, device="cpu", max_lag_s=None)
    events = [(ns(m.header.stamp), 0, m) for _, m in topics["/speaker/audio"]]
    events += [(ns(m.header.stamp), 1, m) for m in faces]
    replay = []
    for stamp, kind, m in sorted(events, key=lambda e: (e[0], e[1])):
        if kind == 0:
            replay += stream.push_audio(np.asarray(m.samples, np.float32), m.sample_rate,
                                        stamp / 1e9)
        else:
            replay += stream.push_face(face_vector_from_msg(m) if m.face_found else None,
                                       stamp / 1e9)
    replay += stream.flush()
    expected = np.concatenate([w.reactions for w in replay], axis=1)  # (M, T, 58)
    recorded = np.stack([np.asarray(s.coefficients, np.float32).reshape(SAMPLES, NUM_COEFFS)
                         for s in sorted(samples, key=lambda s: s.frame_index)], axis=1)
    assert expected.shape == recorded.shape == (SAMPLES, NUM_FRAMES, NUM_COEFFS)
    np.testing.assert_allclose(recorded, expected, atol=1e-5)

    # rosbags (another reader, using the definitions embedded in the file) agrees.
    from pathlib import Path

    from rosbags.highlevel import AnyReader

    with AnyReader([Path(bag)]) as reader:
        conns = [c for c in reader.connections if c.topic == "/listener/reaction"]
        decoded = {m.frame_index: m for m in (reader.deserialize(raw, c.msgtype)
                                              for c, _, raw in reader.messages(conns))}
    assert sorted(decoded) == list(range(NUM_FRAMES))
    for i, m in decoded.items():
        np.testing.assert_array_equal(m.coefficients, np.asarray(by_index[i].coefficients))

    # bag-eval reads the same session back: complete, metrics defined, latency positive.
    from reactface_ros.commands.bag_eval import evaluate

    summary = evaluate(bag, tmp_path / "eval", plots=False)
    assert summary["reaction_frames"] == NUM_FRAMES
    assert summary["missing_reaction_frames"] == 0
    assert summary["metrics"]["num_samples"] == SAMPLES
    assert summary["metrics"]["FRDiv"] > 0 and summary["metrics"]["FRSyn"] is not None
    assert 0 < summary["latency"]["reaction"]["p50_ms"] < 5000
    assert summary["latency"]["listener_image"]["count"] == NUM_FRAMES


def test_conv3d_checkpoint_reads_face_crops(tmp_path, ros_domain):
    """A conv3d (paper-style) checkpoint gets the face crops of face_analysis, matched to the
    face features by stamp, and answers every frame."""
    import torch

    from reactface_ros.model import ReactFace
    from reactface_ros.model.config import ReactFaceConfig
    from reactface_ros.nodes.graph import GraphSpec, get_graph, with_source_wait
    from reactface_ros.nodes.runner import GraphRunner

    pytest.importorskip("reactface_ros.streaming")
    torch.manual_seed(0)
    ReactFace(ReactFaceConfig(face_encoder="conv3d", crop_size=32, conv3d_channels=[8, 8, 8, 8],
                              hidden_size=32, num_heads=2, ff_size=64, latent_size=32,
                              horizon=32, n_mels=40)).save_pretrained(tmp_path / "ckpt")
    write_speaker_clip(tmp_path / "clip.mp4", num_frames=24, size=128)
    file_graph = get_graph("file")
    # A custom graph: the source's wait list is recomputed for the nodes it really has.
    graph = with_source_wait(GraphSpec(
        "conv3d", "file graph without render",
        tuple(e for e in file_graph.nodes if e.kind != "render"),
        file_graph.params_files, file_graph.arguments))
    runner = GraphRunner(graph, {"video": str(tmp_path / "clip.mp4"),
                                 "checkpoint": str(tmp_path / "ckpt"), "samples": "2",
                                 "device": "cpu"},
                         overrides={"reaction": {"idle_flush_s": 0.5}})
    runner.start()
    try:
        reaction = runner.nodes["reaction"]
        assert reaction.conv3d
        assert runner.wait(lambda: reaction.frames_out >= 24, timeout=60), reaction.frames_out
        health = reaction.stream.health.as_dict()
        notes = dict(reaction.face_in.notes)
    finally:
        runner.stop()
    assert "missing_crops" not in notes
    assert health["frames_received"] == 24 and health["no_face_frames"] == 0
