"""Message conversions of the nodes: images (step padding, byte order, encodings), reactions,
audio and face features, against independently built expectations."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("rclpy")
pytest.importorskip("reactface_ros.msg")

from sensor_msgs.msg import Image  # noqa: E402

from reactface_ros.constants import FACE_FEATURE_DIM, NUM_COEFFS  # noqa: E402
from reactface_ros.nodes import conversions as conv  # noqa: E402


def _manual_image(pixels: np.ndarray, encoding: str, pad: int, big_endian: bool = False):
    """Build an Image by hand (row by row), independent of numpy_to_image."""
    h, w = pixels.shape[:2]
    dtype = ">u2" if big_endian else "<u2"
    rows = []
    for y in range(h):
        row = pixels[y].astype(dtype).tobytes() if pixels.dtype == np.uint16 \
            else pixels[y].tobytes()
        rows.append(row + bytes([0xAB]) * pad)  # garbage in the padding must be ignored
    msg = Image()
    msg.height, msg.width, msg.encoding = h, w, encoding
    msg.is_bigendian = int(big_endian)
    msg.step = len(rows[0])
    msg.data = b"".join(rows)
    return msg


@pytest.mark.parametrize("pad", [0, 1, 13])
def test_padded_rgb_bgr_rgba_mono_decode(pad):
    rng = np.random.default_rng(pad)
    rgb = rng.integers(0, 256, (7, 5, 3), dtype=np.uint8)
    out = conv.image_to_numpy(_manual_image(rgb, "rgb8", pad))
    assert out.shape == (7, 5, 3) and out.flags["C_CONTIGUOUS"]
    np.testing.assert_array_equal(out, rgb)
    np.testing.assert_array_equal(conv.image_to_numpy(_manual_image(rgb[..., ::-1].copy(),
                                                                    "bgr8", pad)), rgb)
    rgba = np.concatenate([rgb, np.full((7, 5, 1), 9, np.uint8)], axis=2)
    np.testing.assert_array_equal(conv.image_to_numpy(_manual_image(rgba, "rgba8", pad)), rgb)
    np.testing.assert_array_equal(conv.image_to_numpy(_manual_image(rgb, "rgb8", pad), "bgr8"),
                                  rgb[..., ::-1])
    gray = rng.integers(0, 256, (7, 5), dtype=np.uint8)
    decoded = conv.image_to_numpy(_manual_image(gray, "mono8", pad))
    np.testing.assert_array_equal(decoded, np.repeat(gray[..., None], 3, axis=2))
    np.testing.assert_array_equal(conv.image_to_numpy(_manual_image(gray, "mono8", pad),
                                                      "mono8"), gray)


@pytest.mark.parametrize("big_endian", [False, True])
def test_mono16_byte_order(big_endian):
    values = np.array([[0, 1, 256], [4660, 65535, 32768]], np.uint16)
    msg = _manual_image(values, "mono16", pad=3, big_endian=big_endian)
    np.testing.assert_array_equal(conv.image_to_numpy(msg, "passthrough"), values)
    rt = conv.image_to_numpy(conv.numpy_to_image(values, "mono16", row_padding=2,
                                                 big_endian=big_endian), "passthrough")
    np.testing.assert_array_equal(rt, values)


@pytest.mark.parametrize("encoding,channels", [("rgb8", 3), ("bgr8", 3), ("rgba8", 4),
                                               ("mono8", 1)])
def test_numpy_to_image_round_trip_with_padding(encoding, channels):
    rng = np.random.default_rng(channels)
    arr = rng.integers(0, 256, (6, 9, channels), dtype=np.uint8)
    msg = conv.numpy_to_image(arr, encoding, stamp_ns=1_700_000_000_123_456_789,
                              frame_id="cam", row_padding=5)
    assert msg.step == 9 * channels + 5
    assert len(msg.data) == msg.step * 6
    assert (msg.header.stamp.sec, msg.header.stamp.nanosec) == (1_700_000_000, 123_456_789)
    assert conv.stamp_to_ns(msg.header.stamp) == 1_700_000_000_123_456_789
    back = conv.image_to_numpy(msg, "passthrough")
    np.testing.assert_array_equal(back, arr[..., 0] if channels == 1 else arr)


def test_bad_images_give_clear_errors():
    msg = conv.numpy_to_image(np.zeros((4, 4, 3), np.uint8), "rgb8")
    msg.encoding = "yuv422"
    with pytest.raises(conv.ConversionError, match="unsupported image encoding 'yuv422'"):
        conv.image_to_numpy(msg)
    msg = conv.numpy_to_image(np.zeros((4, 4, 3), np.uint8), "rgb8")
    msg.step = 5
    with pytest.raises(conv.ConversionError, match="step 5 is smaller"):
        conv.image_to_numpy(msg)
    msg = conv.numpy_to_image(np.zeros((4, 4, 3), np.uint8), "rgb8")
    msg.data = bytes(20)
    with pytest.raises(conv.ConversionError, match="holds 20 bytes"):
        conv.image_to_numpy(msg)
    with pytest.raises(conv.ConversionError, match=r"\(H, W, 3\)"):
        conv.numpy_to_image(np.zeros((4, 4), np.uint8), "rgb8")


def test_reaction_and_samples_messages_round_trip(monkeypatch):
    monkeypatch.setenv("ROS_PYTHON_CHECK_FIELDS", "1")
    rng = np.random.default_rng(3)
    samples = rng.standard_normal((4, NUM_COEFFS)).astype(np.float32)
    msg = conv.reaction_samples_msg(samples, frame_index=77, selected_sample=2, stamp_ns=5)
    assert msg.num_samples == 4 and msg.selected_sample == 2 and msg.frame_index == 77
    np.testing.assert_array_equal(conv.samples_from_msg(msg), samples)
    frame = conv.reaction_frame_msg(samples[2], frame_index=77, sample_index=2, num_samples=4,
                                    stamp_ns=5)
    np.testing.assert_array_equal(conv.coefficients_from_msg(frame), samples[2])
    msg.num_samples = 3
    with pytest.raises(conv.ConversionError, match="num_samples=3"):
        conv.samples_from_msg(msg)
    with pytest.raises(conv.ConversionError, match="reaction samples must be"):
        conv.reaction_samples_msg(samples[:, :10], frame_index=0, selected_sample=0, stamp_ns=0)


def test_audio_chunk_round_trip_and_validation():
    stereo = np.stack([np.linspace(-1, 1, 10), np.linspace(1, -1, 10)], axis=1)
    msg = conv.audio_chunk_msg(stereo, 44100, stamp_ns=3_000_000_001)
    block = conv.audio_from_msg(msg)
    assert block.sample_rate == 44100 and block.stamp_ns == 3_000_000_001
    np.testing.assert_allclose(block.samples, stereo, atol=1e-7)
    np.testing.assert_allclose(block.mono, np.zeros(10), atol=1e-6)
    msg.sample_rate = 0
    with pytest.raises(conv.ConversionError, match="sample_rate is 0"):
        conv.audio_from_msg(msg)
    msg = conv.audio_chunk_msg(stereo, 16000, stamp_ns=0)
    msg.samples = msg.samples[:-1]
    with pytest.raises(conv.ConversionError, match="not a multiple of channels=2"):
        conv.audio_from_msg(msg)
    msg = conv.audio_chunk_msg(np.array([0.0, np.nan]), 16000, stamp_ns=0)
    with pytest.raises(conv.ConversionError, match="NaN"):
        conv.audio_from_msg(msg)


def test_face_features_vector_round_trip():
    rng = np.random.default_rng(5)
    vec = rng.uniform(0, 1, FACE_FEATURE_DIM).astype(np.float32)
    vec[-1] = 1.0
    msg = conv.face_features_msg(vec, frame_index=12, stamp_ns=40_000_000)
    assert msg.face_found and msg.frame_index == 12
    np.testing.assert_array_equal(conv.face_vector_from_msg(msg), vec)
    vec[-1] = 0.0
    assert not conv.face_features_msg(vec, frame_index=0, stamp_ns=0).face_found


def test_selection_policies():
    from reactface_ros.nodes.reaction import select_sample

    rng = np.random.default_rng(0)
    base = rng.standard_normal((8, NUM_COEFFS)).astype(np.float32)
    offsets = np.array([3.0, -0.1, 0.05, -2.5])  # sample 2 is closest to the mean
    reactions = np.stack([base + o for o in offsets])  # (M=4, w=8, 58)
    assert select_sample(reactions, "medoid", 0, rng) == 2
    assert select_sample(reactions, "fixed", 3, rng) == 3
    assert select_sample(reactions, "fixed", 9, rng) == 3  # clipped to M - 1
    a = [select_sample(reactions, "random", 0, np.random.default_rng(5)) for _ in range(3)]
    assert len(set(a)) == 1  # the same seed gives the same choice
    draws = {select_sample(reactions, "random", 0, rng) for _ in range(50)}
    assert draws == {0, 1, 2, 3}
    with pytest.raises(ValueError, match="unknown selection policy 'best'"):
        select_sample(reactions, "best", 0, rng)


def test_run_command_dry_run_prints_the_resolved_graph(capsys):
    from reactface_ros.cli import main

    assert main(["run", "--dry-run", "--video", "speaker.mp4", "--samples", "4",
                 "--arg", "mode=fast", "--param", "reaction.selection=medoid",
                 "--record", "s.mcap"]) == 0
    lines = {line.split(" ", 1)[0]: line for line in capsys.readouterr().out.splitlines()}
    assert "selection='medoid'" in lines["reaction"] and "samples=4" in lines["reaction"]
    assert "use_sim_time=True" in lines["reaction"]  # fast mode follows /clock
    assert "mode='fast'" in lines["media_source"] and "min_subscribers=2" in \
        lines["media_source"]
    assert "path='s.mcap'" in lines["recorder"]
    assert main(["run", "--dry-run", "--param", "selection=medoid"]) == 2
    assert "must name the node" in capsys.readouterr().out
    assert main(["run", "--dry-run", "--graph", "file"]) == 2
    assert "needs --video" in capsys.readouterr().out
