"""Conversions between NumPy arrays and ROS messages (no cv_bridge).

``sensor_msgs/Image`` rows may be padded (``step`` larger than ``width * bytes_per_pixel``)
and multi-byte encodings carry an ``is_bigendian`` flag; both are honoured in both directions.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from reactface_ros.constants import FACE_FEATURE_DIM, NUM_BLENDSHAPES, NUM_COEFFS

# encoding -> (channels, numpy dtype)
IMAGE_ENCODINGS: dict[str, tuple[int, np.dtype]] = {
    "rgb8": (3, np.dtype(np.uint8)),
    "bgr8": (3, np.dtype(np.uint8)),
    "rgba8": (4, np.dtype(np.uint8)),
    "bgra8": (4, np.dtype(np.uint8)),
    "mono8": (1, np.dtype(np.uint8)),
    "mono16": (1, np.dtype(np.uint16)),
}


class ConversionError(ValueError):
    """A message cannot be converted: the text says which field is wrong and what is expected."""


# --------------------------------------------------------------------------- stamps

def stamp_to_ns(stamp) -> int:
    """Nanoseconds of a ``builtin_interfaces/Time``."""
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


def stamp_to_seconds(stamp) -> float:
    """Seconds (float) of a ``builtin_interfaces/Time``."""
    return int(stamp.sec) + int(stamp.nanosec) * 1e-9


def set_stamp_ns(stamp, ns: int) -> None:
    """Write ``ns`` nanoseconds into a ``builtin_interfaces/Time`` in place."""
    ns = int(ns)
    stamp.sec, stamp.nanosec = ns // 1_000_000_000, ns % 1_000_000_000


# --------------------------------------------------------------------------- images

def image_to_numpy(msg, encoding: str = "rgb8") -> np.ndarray:
    """Convert a ``sensor_msgs/Image`` into an array in the requested encoding.

    Parameters
    ----------
    msg : sensor_msgs.msg.Image
        The image; any encoding of :data:`IMAGE_ENCODINGS`, any ``step`` >= the packed row
        size, either byte order.
    encoding : str
        ``"rgb8"`` (default) or ``"bgr8"`` give ``(H, W, 3)`` uint8, ``"mono8"`` gives
        ``(H, W)`` uint8, ``"passthrough"`` keeps the message's own layout.

    Returns
    -------
    numpy.ndarray
        A C-contiguous array that owns its memory.

    Raises
    ------
    ConversionError
        Unknown encoding, or ``step``/``data`` too short for ``height``/``width``.
    """
    src = msg.encoding.lower()
    if src not in IMAGE_ENCODINGS:
        raise ConversionError(
            f"unsupported image encoding {msg.encoding!r}; publish one of "
            f"{', '.join(sorted(IMAGE_ENCODINGS))}")
    channels, dtype = IMAGE_ENCODINGS[src]
    h, w = int(msg.height), int(msg.width)
    row_bytes = w * channels * dtype.itemsize
    step = int(msg.step)
    if step < row_bytes:
        raise ConversionError(f"image step {step} is smaller than width * pixel size "
                              f"({w} * {channels * dtype.itemsize} = {row_bytes})")
    if h == 0 or w == 0:
        raise ConversionError(f"empty image ({w}x{h})")
    data = np.frombuffer(msg.data, dtype=np.uint8)
    if data.size < step * (h - 1) + row_bytes:
        raise ConversionError(f"image data holds {data.size} bytes, {h} rows of step {step} "
                              f"need {step * h}")
    rows = np.lib.stride_tricks.as_strided(data, shape=(h, row_bytes), strides=(step, 1))
    order = ">" if msg.is_bigendian else "<"
    pixels = np.ascontiguousarray(rows).view(dtype.newbyteorder(order)).reshape(h, w, channels)
    pixels = pixels.astype(dtype.newbyteorder("="), copy=False)
    if encoding == "passthrough":
        return np.ascontiguousarray(pixels[..., 0] if channels == 1 else pixels)
    return _convert_color(pixels, src, encoding)


def _convert_color(pixels: np.ndarray, src: str, dst: str) -> np.ndarray:
    if src == "mono16":
        pixels = (pixels >> 8).astype(np.uint8)
        src = "mono8"
    if dst == "mono8":
        if src == "mono8":
            return np.ascontiguousarray(pixels[..., 0])
        rgb = _convert_color(pixels, src, "rgb8").astype(np.float32)
        gray = rgb @ np.array([0.299, 0.587, 0.114], np.float32)
        return np.clip(np.rint(gray), 0, 255).astype(np.uint8)
    if dst not in ("rgb8", "bgr8"):
        raise ConversionError(f"cannot convert to {dst!r}: use rgb8, bgr8, mono8 or passthrough")
    if src == "mono8":
        rgb = np.repeat(pixels, 3, axis=2)
    elif src in ("rgb8", "rgba8"):
        rgb = pixels[..., :3]
    else:  # bgr8, bgra8
        rgb = pixels[..., 2::-1]
    if dst == "bgr8":
        rgb = rgb[..., ::-1]
    return np.ascontiguousarray(rgb)


def numpy_to_image(array: np.ndarray, encoding: str = "rgb8", *, stamp_ns: int | None = None,
                   frame_id: str = "", row_padding: int = 0, big_endian: bool = False):
    """Build a ``sensor_msgs/Image`` from an array.

    Parameters
    ----------
    array : numpy.ndarray
        ``(H, W, C)`` or ``(H, W)`` pixels matching ``encoding`` (uint8, or uint16 for mono16).
    encoding : str
        One of :data:`IMAGE_ENCODINGS`.
    stamp_ns : int, optional
        Header stamp in nanoseconds.
    frame_id : str
        Header frame id.
    row_padding : int
        Extra bytes at the end of each row (``step = W * pixel size + row_padding``).
    big_endian : bool
        Byte order of multi-byte encodings.

    Returns
    -------
    sensor_msgs.msg.Image
    """
    from sensor_msgs.msg import Image

    if encoding not in IMAGE_ENCODINGS:
        raise ConversionError(f"unsupported image encoding {encoding!r}; use one of "
                              f"{', '.join(sorted(IMAGE_ENCODINGS))}")
    channels, dtype = IMAGE_ENCODINGS[encoding]
    arr = np.asarray(array)
    if arr.ndim == 2:
        arr = arr[..., None]
    if arr.ndim != 3 or arr.shape[2] != channels:
        raise ConversionError(f"{encoding} needs an (H, W, {channels}) array, got {array.shape}")
    arr = arr.astype(dtype.newbyteorder(">" if big_endian else "<"), copy=False)
    h, w = arr.shape[:2]
    row_bytes = w * channels * dtype.itemsize
    step = row_bytes + int(row_padding)
    buf = np.zeros((h, step), np.uint8)
    buf[:, :row_bytes] = np.ascontiguousarray(arr).view(np.uint8).reshape(h, row_bytes)
    msg = Image()
    if stamp_ns is not None:
        set_stamp_ns(msg.header.stamp, stamp_ns)
    msg.header.frame_id = frame_id
    msg.height, msg.width, msg.encoding = h, w, encoding
    msg.is_bigendian = int(big_endian and dtype.itemsize > 1)
    msg.step = step
    msg.data = buf.tobytes()
    return msg


# --------------------------------------------------------------------------- our messages

def reaction_frame_msg(coefficients: np.ndarray, *, frame_index: int, sample_index: int,
                       num_samples: int, stamp_ns: int, frame_id: str = "listener_face"):
    """Build a ``ReactionFrame`` from one sample's ``(58,)`` coefficients."""
    from reactface_ros.msg import ReactionFrame

    msg = ReactionFrame()
    set_stamp_ns(msg.header.stamp, stamp_ns)
    msg.header.frame_id = frame_id
    msg.frame_index = int(frame_index)
    msg.sample_index = int(sample_index)
    msg.num_samples = int(num_samples)
    msg.coefficients = _coeff_vector(coefficients)
    return msg


def reaction_samples_msg(samples: np.ndarray, *, frame_index: int, selected_sample: int,
                         stamp_ns: int, frame_id: str = "listener_face"):
    """Build a ``ReactionSamples`` from ``(M, 58)`` coefficients of one speaker frame."""
    from reactface_ros.msg import ReactionSamples

    arr = np.asarray(samples, np.float32)
    if arr.ndim != 2 or arr.shape[1] != NUM_COEFFS:
        raise ConversionError(f"reaction samples must be (M, {NUM_COEFFS}), got {arr.shape}")
    msg = ReactionSamples()
    set_stamp_ns(msg.header.stamp, stamp_ns)
    msg.header.frame_id = frame_id
    msg.frame_index = int(frame_index)
    msg.num_samples = arr.shape[0]
    msg.selected_sample = int(selected_sample)
    msg.coefficients = arr.ravel().tolist()
    return msg


def samples_from_msg(msg) -> np.ndarray:
    """``(M, 58)`` float32 coefficients of a ``ReactionSamples``."""
    flat = np.asarray(msg.coefficients, np.float32)
    m = int(msg.num_samples)
    if flat.size != m * NUM_COEFFS:
        raise ConversionError(f"ReactionSamples holds {flat.size} values, num_samples={m} needs "
                              f"{m * NUM_COEFFS}")
    return flat.reshape(m, NUM_COEFFS)


def coefficients_from_msg(msg) -> np.ndarray:
    """``(58,)`` float32 coefficients of a ``ReactionFrame``."""
    return _coeff_vector(msg.coefficients)


def _coeff_vector(values) -> np.ndarray:
    arr = np.asarray(values, np.float32).reshape(-1)
    if arr.size != NUM_COEFFS:
        raise ConversionError(f"a reaction frame has {NUM_COEFFS} coefficients, got {arr.size}")
    return arr


@dataclass
class AudioBlock:
    """Audio decoded from an ``AudioChunk``.

    Attributes
    ----------
    samples : numpy.ndarray
        ``(N, C)`` float32 samples.
    sample_rate : int
        Samples per second per channel.
    stamp_ns : int
        Capture time of the first sample.
    """

    samples: np.ndarray
    sample_rate: int
    stamp_ns: int

    @property
    def mono(self) -> np.ndarray:
        """``(N,)`` float32 channel mean."""
        return self.samples.mean(axis=1) if self.samples.shape[1] > 1 else self.samples[:, 0]

    @property
    def duration_s(self) -> float:
        """Length of the block in seconds."""
        return self.samples.shape[0] / float(self.sample_rate)


def audio_chunk_msg(samples: np.ndarray, sample_rate: int, *, stamp_ns: int,
                    frame_id: str = "speaker_mic"):
    """Build an ``AudioChunk`` from ``(N,)`` or ``(N, C)`` float samples in [-1, 1]."""
    from reactface_ros.msg import AudioChunk

    arr = np.asarray(samples, np.float32)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or arr.shape[1] < 1:
        raise ConversionError(f"audio must be (N,) or (N, C), got {np.shape(samples)}")
    if int(sample_rate) <= 0:
        raise ConversionError(f"sample_rate must be positive, got {sample_rate}")
    msg = AudioChunk()
    set_stamp_ns(msg.header.stamp, stamp_ns)
    msg.header.frame_id = frame_id
    msg.sample_rate = int(sample_rate)
    msg.channels = arr.shape[1]
    msg.samples = arr.ravel().tolist()
    return msg


def audio_from_msg(msg) -> AudioBlock:
    """Decode and validate an ``AudioChunk``.

    Raises
    ------
    ConversionError
        ``sample_rate`` or ``channels`` is zero, the sample count is not a multiple of
        ``channels``, or a sample is not finite.
    """
    if int(msg.sample_rate) <= 0:
        raise ConversionError(f"AudioChunk.sample_rate is {msg.sample_rate}; set it to the "
                              "capture rate in Hz")
    channels = int(msg.channels)
    if channels <= 0:
        raise ConversionError("AudioChunk.channels is 0; set it to the number of channels")
    flat = np.asarray(msg.samples, np.float32)
    if flat.size % channels:
        raise ConversionError(f"AudioChunk holds {flat.size} samples, not a multiple of "
                              f"channels={channels}")
    if not np.all(np.isfinite(flat)):
        raise ConversionError("AudioChunk holds NaN or Inf samples")
    return AudioBlock(flat.reshape(-1, channels), int(msg.sample_rate),
                      stamp_to_ns(msg.header.stamp))


def face_features_msg(features, *, frame_index: int, stamp_ns: int,
                      frame_id: str = "camera_optical_frame"):
    """Build a ``SpeakerFaceFeatures`` message.

    Parameters
    ----------
    features : object
        The core face-analysis result (attributes ``face_found``, ``confidence``, ``box``,
        ``blendshapes`` (52,), ``head_rotation`` (3,), ``head_translation`` (3,)), or a
        ``(59,)`` feature vector (blendshapes, rotation, translation, face flag).
    """
    from reactface_ros.msg import SpeakerFaceFeatures

    msg = SpeakerFaceFeatures()
    set_stamp_ns(msg.header.stamp, stamp_ns)
    msg.header.frame_id = frame_id
    msg.frame_index = int(frame_index)
    if isinstance(features, np.ndarray):
        vec = np.asarray(features, np.float32).reshape(-1)
        if vec.size != FACE_FEATURE_DIM:
            raise ConversionError(f"face feature vector must have {FACE_FEATURE_DIM} values, "
                                  f"got {vec.size}")
        found = bool(vec[-1] > 0.5)
        msg.face_found = found
        msg.confidence = 1.0 if found else 0.0
        msg.blendshapes = vec[:NUM_BLENDSHAPES].copy()
        msg.head_rotation = vec[NUM_BLENDSHAPES:NUM_BLENDSHAPES + 3].copy()
        msg.head_translation = vec[NUM_BLENDSHAPES + 3:NUM_BLENDSHAPES + 6].copy()
        return msg
    msg.face_found = bool(features.face_found)
    msg.confidence = float(getattr(features, "confidence", 1.0 if msg.face_found else 0.0))
    box = getattr(features, "box", None)
    if box is not None and msg.face_found:
        msg.xmin, msg.ymin, msg.xmax, msg.ymax = (float(v) for v in np.asarray(box).ravel()[:4])
    msg.blendshapes = np.asarray(features.blendshapes, np.float32).reshape(NUM_BLENDSHAPES)
    msg.head_rotation = np.asarray(features.head_rotation, np.float32).reshape(3)
    msg.head_translation = np.asarray(features.head_translation, np.float32).reshape(3)
    return msg


def face_vector_from_msg(msg) -> np.ndarray:
    """``(59,)`` float32 feature vector of a ``SpeakerFaceFeatures`` (the model's face input)."""
    vec = np.zeros(FACE_FEATURE_DIM, np.float32)
    vec[:NUM_BLENDSHAPES] = np.asarray(msg.blendshapes, np.float32)
    vec[NUM_BLENDSHAPES:NUM_BLENDSHAPES + 3] = np.asarray(msg.head_rotation, np.float32)
    vec[NUM_BLENDSHAPES + 3:NUM_BLENDSHAPES + 6] = np.asarray(msg.head_translation, np.float32)
    vec[-1] = 1.0 if msg.face_found else 0.0
    return vec
