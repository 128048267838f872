"""Poison input at the engine boundary (no ROS): implausible face features and audio rates are
rejected and counted, memory per audio chunk is bounded, and the model state can never become
non-finite."""
from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
import torch

from reactface_ros.constants import FPS
from reactface_ros.input_checks import (InputError, check_audio_chunk, check_face_features,
                                        check_sample_rate)
from reactface_ros.model import ReactFace, ReactFaceConfig
from reactface_ros.model.audio import StreamingResampler
from reactface_ros.streaming import ReactionStream, state_is_finite

TINY = dict(hidden_size=16, num_heads=2, ff_size=32, latent_size=8, horizon=12, n_mels=16,
            period=4, window=8, dropout=0.0)


def tiny_model() -> ReactFace:
    torch.manual_seed(0)
    return ReactFace(ReactFaceConfig(**TINY)).eval()


def face(i: int) -> np.ndarray:
    x = np.zeros(59, np.float32)
    x[24] = 0.2 + 0.1 * np.sin(i / 3)
    x[52], x[57], x[58] = np.pi, 1.84, 1.0
    return x


def feed(stream, frames, poison=None):
    """Push ``frames`` frames of face + 16 kHz audio; ``poison`` maps frame -> bad face."""
    wins, rejected = [], []
    for i in range(frames):
        t = i / FPS
        wins += stream.push_audio(0.1 * np.sin(np.arange(640) / 7.0), 16000, t)
        try:
            wins += stream.push_face((poison or {}).get(i, face(i)), t)
        except InputError as exc:
            rejected.append(exc)
    return wins + stream.flush(), rejected


@pytest.mark.parametrize("field,value", [(24, 1e30), (57, -1e30), (53, 1e6), (0, -3.0)])
def test_one_out_of_range_face_message_is_rejected_and_never_poisons_the_session(field, value):
    bad = face(10)
    bad[field] = value
    stream = ReactionStream(tiny_model(), num_samples=2, seed=0)
    wins, rejected = feed(stream, 48, {10: bad})
    assert len(rejected) == 1 and rejected[0].problem == "face_out_of_range"
    assert "face_out_of_range" == rejected[0].problem and str(rejected[0])
    frames = np.concatenate([w.reactions for w in wins], axis=1)
    assert frames.shape == (2, 48, 58)                       # every slot still answered
    assert np.all(np.isfinite(frames))
    assert stream.health.face_out_of_range == 1
    assert stream.health.frames_received == 47
    assert state_is_finite(stream.state)


def test_blendshapes_just_outside_the_range_are_clipped_not_rejected():
    x = face(0)
    x[3], x[4] = -0.01, 1.02
    out = check_face_features(x)
    assert out[3] == 0.0 and out[4] == 1.0 and x[3] == -0.01   # a copy


@pytest.mark.parametrize("rate", [1, 100, 4294967295, 10**7])
def test_implausible_sample_rates_are_rejected_and_counted(rate):
    stream = ReactionStream(tiny_model(), num_samples=1, seed=0)
    with pytest.raises(InputError, match="plausible") as info:
        stream.push_audio(np.zeros(64, np.float32), rate, 0.0)
    assert info.value.problem == "audio_rate_out_of_range"
    assert stream.health.audio_rate_out_of_range == 1
    assert stream.health.audio_chunks == 0 and stream.origin is None   # no trace left
    wins, _ = feed(stream, 16)
    assert sum(w.reactions.shape[1] for w in wins) == 16         # no invented frames


def test_too_long_chunks_and_check_helpers():
    with pytest.raises(InputError, match="shorter chunks") as info:
        check_audio_chunk(16000 * 11, 16000)
    assert info.value.problem == "audio_chunk_too_long"
    assert check_audio_chunk(320, 44100) == 44100
    for bad in (16000.0, True, "16000"):
        with pytest.raises(InputError):
            check_sample_rate(bad)


def test_resampler_memory_is_bounded_per_chunk():
    """10 s at 4 kHz through the resampler in one chunk: the working memory stays small
    (it used to build an outputs x taps float64 matrix for the whole chunk)."""
    rs = StreamingResampler(4000)
    x = np.random.default_rng(0).standard_normal(40000)
    tracemalloc.start()
    try:
        out = rs.process(x)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert out.size > 159000
    assert peak < 30e6, peak
    # chunked and one-shot resampling still agree
    rs2 = StreamingResampler(4000)
    parts = [rs2.process(c) for c in np.array_split(x, 7)]
    np.testing.assert_allclose(np.concatenate(parts), out, atol=1e-12)


def test_a_non_finite_window_is_not_returned_and_the_state_stays_finite(monkeypatch):
    model = tiny_model()
    stream = ReactionStream(model, num_samples=2, seed=0)
    real = model.stream_window
    calls = {"n": 0}

    def flaky(audio, face_, state, m, seed):
        calls["n"] += 1
        reactions, state = real(audio, face_, state, m, seed)
        if calls["n"] == 2:                     # the second window overflows
            state.past = state.past * float("nan")
            reactions = reactions * float("inf")
        return reactions, state

    monkeypatch.setattr(model, "stream_window", flaky)
    wins, _ = feed(stream, 40)
    assert stream.health.nonfinite_windows == 1
    assert [w.start_frame for w in wins] == [0, 16, 24, 32]      # window 8..15 not returned
    assert all(np.all(np.isfinite(w.reactions)) for w in wins)
    assert state_is_finite(stream.state)
    assert stream.next_frame == 40
