"""Example messages with every field set to a distinctive value, and field-wise comparison."""
from __future__ import annotations

import numpy as np

MESSAGE_TYPES = ("ReactionFrame", "ReactionSamples", "AudioChunk", "SpeakerFaceFeatures")


def _header(msg, rng: np.random.Generator, frame_id: str) -> None:
    msg.header.stamp.sec = int(rng.integers(1, 2**31 - 1))
    msg.header.stamp.nanosec = int(rng.integers(0, 10**9))
    msg.header.frame_id = frame_id


def make_examples(seed: int = 0) -> dict:
    """One message of each type with random, distinctive field values."""
    from reactface_ros import msg as m

    rng = np.random.default_rng(seed)
    out = {}

    frame = m.ReactionFrame()
    _header(frame, rng, "listener_face")
    frame.frame_index = 2**40 + 12345
    frame.sample_index = 7
    frame.num_samples = 10
    frame.coefficients = rng.standard_normal(58).astype(np.float32)
    out["ReactionFrame"] = frame

    samples = m.ReactionSamples()
    _header(samples, rng, "listener_face")
    samples.frame_index = 4242
    samples.num_samples = 10
    samples.selected_sample = 3
    samples.coefficients = rng.standard_normal(10 * 58).astype(np.float32).tolist()
    out["ReactionSamples"] = samples

    audio = m.AudioChunk()
    _header(audio, rng, "speaker_mic")
    audio.sample_rate = 44100
    audio.channels = 2
    audio.samples = rng.uniform(-1, 1, 2 * 1102).astype(np.float32).tolist()
    out["AudioChunk"] = audio

    face = m.SpeakerFaceFeatures()
    _header(face, rng, "camera_optical_frame")
    face.frame_index = 99
    face.face_found = True
    face.confidence = 0.875
    face.xmin, face.ymin, face.xmax, face.ymax = 0.125, 0.25, 0.625, 0.875
    face.blendshapes = rng.uniform(0, 1, 52).astype(np.float32)
    face.head_rotation = np.array([3.1, -0.2, 0.05], np.float32)
    face.head_translation = np.array([0.01, -0.02, 0.55], np.float32)
    out["SpeakerFaceFeatures"] = face
    return out


def to_plain(msg) -> dict:
    """Flatten a generated message (or a rosbags dataclass) into JSON-friendly Python values."""
    out = {}
    for name in msg.get_fields_and_field_types() if hasattr(msg, "get_fields_and_field_types") \
            else msg.__dataclass_fields__:
        if name == "__msgtype__":
            continue
        value = getattr(msg, name)
        if hasattr(value, "get_fields_and_field_types") or hasattr(value, "__dataclass_fields__"):
            out[name] = to_plain(value)
        elif isinstance(value, (np.ndarray, list, tuple)) or type(value).__name__ == "array":
            out[name] = [float(v) for v in value]
        elif isinstance(value, (bool, np.bool_)):
            out[name] = bool(value)
        elif isinstance(value, (int, np.integer)):
            out[name] = int(value)
        elif isinstance(value, (float, np.floating)):
            out[name] = float(value)
        else:
            out[name] = value
    return out
