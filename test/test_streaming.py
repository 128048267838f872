"""ReactionStream: equals whole-sequence generation, bounded state, robust input handling."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from reactface_ros.model import ReactFace, ReactFaceConfig
from reactface_ros.model.audio import StreamingResampler, resample_to_16k
from reactface_ros.streaming import ReactionStream

TINY = dict(hidden_size=16, num_heads=2, ff_size=32, latent_size=8, horizon=12, n_mels=16,
            period=4, window=8, dropout=0.0)
FPS = 25


def tiny_model(**overrides) -> ReactFace:
    torch.manual_seed(0)
    return ReactFace(ReactFaceConfig(**{**TINY, **overrides})).eval()


def inputs(t: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    audio = (0.1 * rng.standard_normal(t * 640)).astype(np.float32)
    face = rng.random((t, 59)).astype(np.float32)
    face[:, 58] = 1.0
    return audio, face


def run_stream(stream, audio, face, chunk_sizes=None, rate=16000):
    """Push audio in the given chunk sizes interleaved with faces by time; flush."""
    rng = np.random.default_rng(1)
    wins, pos = [], 0
    for i in range(face.shape[0]):
        frame_end = (i + 1) * rate // FPS
        while pos < min(frame_end, audio.shape[0]):
            n = int(rng.integers(1, 2000)) if chunk_sizes is None else chunk_sizes
            chunk = audio[pos:pos + n]
            wins += stream.push_audio(chunk, rate, pos / rate)
            pos += chunk.shape[0]
        wins += stream.push_face(face[i], i / FPS)
    wins += stream.flush()
    return wins


def stacked(wins):
    return np.concatenate([w.reactions for w in wins], axis=1)


def test_stream_equals_whole_sequence_with_any_chunking():
    model = tiny_model()
    audio, face = inputs(61)
    ref = model.generate(audio[None], face[None], num_samples=3, seed=7)[0].numpy()
    for chunks in (None, 640, 17):
        stream = ReactionStream(model, num_samples=3, seed=7)
        wins = run_stream(stream, audio, face, chunk_sizes=chunks)
        assert [w.start_frame for w in wins] == list(range(0, 61, 8))
        out = stacked(wins)
        assert out.shape == (3, 61, 58) and out.dtype == np.float32
        np.testing.assert_allclose(out, ref, atol=1e-5, rtol=0)
        np.testing.assert_allclose(wins[1].stamps, np.arange(8, 16) / FPS)
        assert not any(w.repeated.any() for w in wins)


def test_session_noise_stream_equals_whole_sequence():
    """noise: session draws one eps per sample: streaming still equals generation, and the
    teacher-forced path uses the same eps in every window."""
    model = tiny_model(noise="session")
    audio, face = inputs(40)
    ref = model.generate(audio[None], face[None], num_samples=3, seed=2)[0].numpy()
    out = stacked(run_stream(ReactionStream(model, num_samples=3, seed=2), audio, face, 640))
    np.testing.assert_allclose(out, ref, atol=1e-5, rtol=0)
    window = tiny_model()
    assert not np.allclose(ref, window.generate(audio[None], face[None], num_samples=3,
                                                seed=2)[0].numpy())
    eps = model._noise(2, 1, 0, 3)
    assert torch.equal(eps, model._noise(2, 1, 7, 3))
    assert not torch.equal(window._noise(2, 1, 0, 3), window._noise(2, 1, 7, 3))
    with pytest.raises(ValueError, match="noise must be"):
        ReactFaceConfig(noise="frame")


def test_standard_normalisation_stream_equals_whole_sequence():
    """normalisation: standard: the history the stream feeds back stays in std units."""
    model = tiny_model(normalisation="standard")
    rng = np.random.default_rng(3)
    model.set_normalisation(rng.normal(size=58), rng.uniform(0.02, 0.5, 58))
    audio, face = inputs(40)
    ref = model.generate(audio[None], face[None], num_samples=2, seed=4)[0].numpy()
    out = stacked(run_stream(ReactionStream(model, num_samples=2, seed=4), audio, face, 640))
    np.testing.assert_allclose(out, ref, atol=1e-4, rtol=1e-5)


def test_conv3d_stream_equals_whole_sequence():
    model = tiny_model(face_encoder="conv3d", crop_size=16, conv3d_channels=[4, 8],
                       face_transformer_layers=1)
    rng = np.random.default_rng(2)
    audio, _ = inputs(24)
    crops = rng.integers(0, 256, (24, 16, 16, 3), dtype=np.uint8)      # (S, S, 3) like cv2
    ref = model.generate(audio[None], crops.transpose(0, 3, 1, 2)[None], num_samples=2,
                         seed=1)[0].numpy()
    stream = ReactionStream(model, num_samples=2, seed=1)
    np.testing.assert_allclose(stacked(run_stream(stream, audio, crops)), ref, atol=1e-5)


def test_resampled_stream_equals_generation_on_resampled_audio():
    model = tiny_model()
    _, face = inputs(32)
    rng = np.random.default_rng(3)
    audio48 = (0.1 * rng.standard_normal(32 * 1920)).astype(np.float32)
    ref = model.generate(resample_to_16k(audio48, 48000)[None], face[None], num_samples=2,
                         seed=0)[0].numpy()
    stream = ReactionStream(model, num_samples=2, seed=0)
    out = stacked(run_stream(stream, audio48, face, rate=48000))
    np.testing.assert_allclose(out, ref, atol=1e-5)
    assert stream.health.audio_resyncs == 0


def test_resampler_chunking_and_accuracy():
    rng = np.random.default_rng(4)
    for rate in (8000, 44100, 48000):
        x = rng.standard_normal(rate // 2)
        whole = resample_to_16k(x, rate)
        rs, parts, i = StreamingResampler(rate), [], 0
        while i < x.size:
            n = int(rng.integers(1, 999))
            parts.append(rs.process(x[i:i + n]))
            i += n
        parts.append(rs.flush())
        assert np.array_equal(np.concatenate(parts).astype(np.float32), whole)
        assert whole.size == 8000
        t = np.arange(rate) / rate
        sine = resample_to_16k(np.sin(2 * np.pi * 440 * t), rate)
        ref = np.sin(2 * np.pi * 440 * np.arange(16000) / 16000)
        assert np.abs(sine[200:-200] - ref[200:-200]).max() < 1e-3
    stereo = np.stack([np.ones(160), -np.ones(160)], axis=1).astype(np.int16)
    assert np.array_equal(resample_to_16k(stereo, 16000), np.zeros(160, np.float32))


def test_each_frame_encoded_once_and_state_bounded():
    model = tiny_model()
    calls = []
    original = model.speaker.forward

    def counting(audio, face, start, state=None):
        calls.append((audio.shape[1], face.shape[1], start))
        return original(audio, face, start, state)

    model.speaker.forward = counting
    stream = ReactionStream(model, num_samples=4, seed=0)
    audio, face = inputs(8 * 40)
    sizes = []
    for i in range(face.shape[0]):
        stream.push_audio(audio[i * 640:(i + 1) * 640], 16000, i / FPS)
        if stream.push_face(face[i], i / FPS):
            sizes.append(stream.buffer_sizes())
    assert len(calls) == 40
    assert all(c == (8 * 640, 8, 8 * n) for n, c in enumerate(calls))
    h, w = TINY["horizon"], TINY["window"]
    steady = sizes[5:]
    assert all(s == steady[0] for s in steady)
    assert steady[0]["face_keys"] == (1, h + w - 1, 16)
    assert steady[0]["audio_keys"] == (1, 2 * (h + w - 1), 16)
    assert steady[0]["past"] == (4, h, 16)
    speaker_state = stream.state.speaker
    assert speaker_state["audio"]["history"].shape == (1, 240)
    assert all(c.shape[1] == 2 for c in speaker_state["face"]["convs"])
    assert all(c.shape[1] == h - 1 for c in speaker_state["layers"])


def test_seeding_and_reset():
    model = tiny_model()
    audio, face = inputs(24)
    a = stacked(run_stream(ReactionStream(model, num_samples=2, seed=3), audio, face, 640))
    stream = ReactionStream(model, num_samples=2, seed=3)
    run_stream(stream, *inputs(16, seed=5), 640)
    stream.reset()
    assert stream.health.windows == 0 and stream.next_frame == 0
    b = stacked(run_stream(stream, audio, face, 640))
    assert np.array_equal(a, b)
    c = stacked(run_stream(ReactionStream(model, num_samples=2, seed=4), audio, face, 640))
    assert not np.allclose(a, c)


def test_peek_leaves_the_session_running():
    """A peek mid-window (an idle pause) returns the pending frames as the uninterrupted
    stream generates them, and the session then goes on exactly as if nothing happened."""
    model = tiny_model()
    audio, face = inputs(40)
    ref = model.generate(audio[None], face[None], num_samples=2, seed=3)[0].numpy()
    stream = ReactionStream(model, num_samples=2, seed=3, max_lag_s=None)
    assert stream.peek() == [] and stream.timeline_end is None
    wins = stream.push_audio(audio[:21 * 640], 16000, 0.0)
    for i in range(21):                              # 2 windows + 5 pending frames
        wins += stream.push_face(face[i], i / FPS)
    assert [w.start_frame for w in wins] == [0, 8]
    assert stream.timeline_end == pytest.approx(21 / FPS)
    health = stream.health.as_dict()
    peeked = stream.peek()
    assert [(w.start_frame, w.reactions.shape[1]) for w in peeked] == [(16, 5)]
    np.testing.assert_allclose(peeked[0].reactions, ref[:, 16:21], atol=1e-5)
    np.testing.assert_allclose(peeked[0].stamps, np.arange(16, 21) / FPS)
    # nothing changed: same pending frames, counters, and the second peek agrees
    assert stream.frames_filled == 21 and stream.next_frame == 16
    assert stream.health.as_dict() == health
    np.testing.assert_array_equal(stream.peek()[0].reactions, peeked[0].reactions)
    wins += stream.push_audio(audio[21 * 640:], 16000, 21 / FPS)
    for i in range(21, 40):
        wins += stream.push_face(face[i], i / FPS)
    wins += stream.flush()
    assert [w.start_frame for w in wins] == [0, 8, 16, 24, 32]
    np.testing.assert_allclose(stacked(wins), ref, atol=1e-5)
    # faces waiting for audio: the peek fills the audio with silence, the stream keeps it
    late = ReactionStream(model, num_samples=1, seed=0, max_lag_s=None)
    for i in range(12):
        late.push_face(face[i], i / FPS)
    assert [w.reactions.shape[1] for w in late.peek()] == [8, 4]
    assert late.frames_filled == 12 and late.health.audio_filled_samples == 0


def test_missing_duplicate_and_absent_faces():
    model = tiny_model()
    audio, face = inputs(24)
    stream = ReactionStream(model, num_samples=1, seed=0, max_lag_s=None)
    stream.push_audio(audio, 16000, 0.0)
    wins = []
    for i in range(24):
        if i in (3, 4, 10):
            continue                                          # lost frames
        wins += stream.push_face(face[i] if i != 12 else None, i / FPS)
        if i == 6:
            wins += stream.push_face(face[i], i / FPS + 0.01)  # duplicate in the same slot
    wins += stream.flush()
    repeated = np.concatenate([w.repeated for w in wins])
    assert repeated.nonzero()[0].tolist() == [3, 4, 10]
    h = stream.health
    assert (h.frames_repeated, h.frames_dropped, h.no_face_frames) == (3, 1, 1)
    assert stacked(wins).shape == (1, 24, 58)
    # a repeated slot holds the previous frame's features: equal to generating with them
    filled = face.copy()
    filled[3] = filled[4] = face[2]
    filled[10] = face[9]
    filled[12] = 0.0
    ref = model.generate(audio[None], filled[None], num_samples=1, seed=0)[0].numpy()
    np.testing.assert_allclose(stacked(wins), ref, atol=1e-5)


def test_nonfinite_audio_silence_and_no_audio():
    model = tiny_model()
    audio, face = inputs(16)
    audio[100:150] = np.nan
    audio[700] = np.inf
    stream = ReactionStream(model, num_samples=2, seed=0)
    out = stacked(run_stream(stream, audio, face, 640))
    assert stream.health.nonfinite_audio_samples == 51 and np.isfinite(out).all()
    clean = audio.copy()
    clean[~np.isfinite(clean)] = 0
    ref = model.generate(clean[None], face[None], num_samples=2, seed=0)[0].numpy()
    np.testing.assert_allclose(out, ref, atol=1e-5)
    silent = ReactionStream(model, num_samples=2, seed=0)
    assert np.isfinite(stacked(run_stream(silent, np.zeros_like(audio), face, 640))).all()
    # no audio at all: after max_lag_s of video the audio is filled with silence
    mute = ReactionStream(model, num_samples=1, seed=0, max_lag_s=0.2)
    wins = []
    for i in range(40):
        wins += mute.push_face(face[i % 16], i / FPS)
    assert len(wins) >= 3 and mute.health.audio_filled_samples > 0
    # offline (no lag limit) without audio: everything comes out at flush
    offline = ReactionStream(model, num_samples=1, seed=0, max_lag_s=None)
    assert not any(offline.push_face(face[i], i / FPS) for i in range(13))
    wins = offline.flush()
    assert [w.start_frame for w in wins] == [0, 8] and stacked(wins).shape == (1, 13, 58)
    assert [w.stamps.shape for w in wins] == [(8,), (5,)]
    assert offline.health.audio_filled_samples == 13 * 640


def test_clock_drift_resyncs_audio():
    model = tiny_model()
    audio, face = inputs(48)
    stream = ReactionStream(model, num_samples=1, seed=0, drift_tolerance_s=0.02)
    drift = 1.02                               # stamps run 2 % fast vs the sample clock
    wins = []
    for i in range(48):
        wins += stream.push_audio(audio[i * 640:(i + 1) * 640], 16000, i * drift / FPS)
        wins += stream.push_face(face[i], i / FPS)
    wins += stream.flush()
    h = stream.health
    assert h.audio_resyncs >= 1 and h.audio_gap_samples > 0
    assert stacked(wins).shape == (1, 48, 58)
    # late audio (stamp inside already-written time) is trimmed, not shifted
    stream.reset()
    stream.push_audio(np.zeros(1280, np.float32), 16000, 0.0)
    stream.push_audio(np.zeros(1280, np.float32), 16000, 0.05)
    assert stream.health.audio_overlap_samples == 1280 - 800


def test_caller_errors():
    model = tiny_model()
    stream = ReactionStream(model, num_samples=1, seed=0)
    with pytest.raises(ValueError, match=r"\(59,\)"):
        stream.push_face(np.zeros(58), 0.0)
    stream.push_face(np.zeros(59), 1.0)
    with pytest.raises(ValueError, match="must not decrease"):
        stream.push_face(np.zeros(59), 0.5)
    with pytest.raises(ValueError, match="finite"):
        stream.push_face(np.zeros(59), float("nan"))
    with pytest.raises(ValueError, match="sample_rate"):
        stream.push_audio(np.zeros(10), 0, 1.0)
    with pytest.raises(ValueError, match=r"\(n,\) or \(n, channels\)"):
        stream.push_audio(np.zeros((2, 2, 2)), 16000, 1.0)
    with pytest.raises(ValueError, match="transpose planar"):
        stream.push_audio(np.zeros((2, 1024)), 16000, 1.0)
    stream.push_audio(np.zeros(10), 16000, 1.0)
    with pytest.raises(ValueError, match="must not decrease"):
        stream.push_audio(np.zeros(10), 16000, 0.9)
    with pytest.raises(ValueError, match="num_samples"):
        ReactionStream(model, num_samples=0)
    crops = ReactionStream(tiny_model(face_encoder="conv3d", crop_size=16,
                                      conv3d_channels=[4, 8]), num_samples=1)
    with pytest.raises(ValueError, match="crop_size=16"):
        crops.push_face(np.zeros((32, 32, 3), np.uint8), 0.0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_cuda_stream_matches_generation(dtype):
    model = tiny_model().to("cuda", dtype)
    audio, face = inputs(40)
    ref = model.generate(audio[None], face[None], num_samples=3, seed=2)[0].cpu().numpy()
    stream = ReactionStream(model, num_samples=3, seed=2, device="cuda")
    out = stacked(run_stream(stream, audio, face, 640))
    assert np.isfinite(out).all()
    np.testing.assert_allclose(out, ref, atol=1e-5 if dtype == torch.float32 else 5e-2)
    cpu = tiny_model()
    cpu_ref = cpu.generate(audio[None], face[None], num_samples=3, seed=2)[0].numpy()
    if dtype == torch.float32:
        np.testing.assert_allclose(out, cpu_ref, atol=1e-3)


def _write_speaker_video(path, frames: int = 20) -> None:
    av = pytest.importorskip("av")
    skimage_data = pytest.importorskip("skimage.data")
    import cv2

    face = cv2.resize(skimage_data.astronaut()[:256, 96:352], (160, 160))
    out = av.open(str(path), "w")
    video = out.add_stream("libx264", rate=25)
    video.width = video.height = 160
    video.pix_fmt = "yuv420p"
    sound = out.add_stream("aac", rate=22050)
    sound.layout = "mono"
    for i in range(frames):
        img = np.roll(face, i, axis=1) if i % 7 else np.zeros_like(face)   # some no-face frames
        for packet in video.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
            out.mux(packet)
    t, total = 0, frames * 22050 // 25
    while t < total:
        chunk = (0.2 * np.sin(2 * np.pi * 180 * np.arange(t, t + 1024) / 22050))
        frame = av.AudioFrame.from_ndarray(chunk.astype(np.float32)[None], format="flt",
                                           layout="mono")
        frame.sample_rate, frame.pts = 22050, t
        for packet in sound.encode(frame):
            out.mux(packet)
        t += 1024
    for stream in (video, sound):
        for packet in stream.encode():
            out.mux(packet)
    out.close()


def test_generate_command(tmp_path, capsys):
    pytest.importorskip("mediapipe")
    from reactface_ros.cli import main

    _write_speaker_video(tmp_path / "speaker.mp4")
    tiny_model().save_pretrained(tmp_path / "ckpt")
    args = ["generate", "--speaker-video", str(tmp_path / "speaker.mp4"), "--checkpoint",
            str(tmp_path / "ckpt"), "--samples", "2", "--seed", "3"]
    assert main(args + ["--out", str(tmp_path / "a.npy")]) == 0
    assert main(args + ["--out", str(tmp_path / "b.npy")]) == 0
    a, b = np.load(tmp_path / "a.npy"), np.load(tmp_path / "b.npy")
    assert a.shape == (2, 20, 58) and a.dtype == np.float32 and np.isfinite(a).all()
    assert np.array_equal(a, b)
    report = capsys.readouterr().out
    assert "no_face_frames=3" in report                 # frames 0, 7 and 14 are black
    assert main(["generate", "--speaker-video", str(tmp_path / "speaker.mp4"), "--checkpoint",
                 str(tmp_path / "missing"), "--out", str(tmp_path / "c.npy")]) == 2
    assert "does not exist" in capsys.readouterr().err
