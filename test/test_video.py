"""Video writing/reading (PyAV) and the ``reactface render`` command."""
from __future__ import annotations

import numpy as np
import pytest

from reactface_ros.cli import main
from reactface_ros.constants import NUM_COEFFS
from reactface_ros.render.rig import REFERENCE_TRANSLATION
from reactface_ros.video import read_audio, read_video_frames, video_info, write_video

av = pytest.importorskip("av")


def tone(seconds: float, rate: int = 16000) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)


def reactions(m: int, t: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    r = np.zeros((m, t, NUM_COEFFS), np.float32)
    r[..., :52] = rng.uniform(0, 0.6, (m, t, 52))
    r[..., 52:55] = [np.pi, 0.0, 0.0]
    r[..., 53] = np.linspace(-0.3, 0.3, t)
    r[..., 55:58] = REFERENCE_TRANSLATION
    return r


def codecs(path):
    with av.open(str(path)) as c:
        return ([s.codec_context.name for s in c.streams.video],
                [s.codec_context.name for s in c.streams.audio])


def test_write_video_with_audio_round_trip(tmp_path):
    frames = [np.full((48, 64, 3), 10 * i, np.uint8) for i in range(20)]
    frames[5][:, :32] = [255, 0, 0]
    path = tmp_path / "a.mp4"
    assert write_video(path, iter(frames), fps=25, audio=(tone(0.8), 16000)) == 20
    info = video_info(path)
    assert (info.frames, info.width, info.height, info.fps) == (20, 64, 48, 25.0)
    assert info.audio_rate == 16000
    assert codecs(path) == (["h264"], ["aac"])
    decoded = list(read_video_frames(path))
    assert decoded[5][24, 8, 0] > 200 and decoded[5][24, 8, 2] < 60  # red stays red (RGB)
    samples, rate = read_audio(path)
    assert rate == 16000 and abs(len(samples) / rate - 0.8) < 0.1
    assert 0.2 < np.abs(samples).max() < 0.4
    resampled, rate = read_audio(path, rate=8000)
    assert rate == 8000 and abs(len(resampled) - len(samples) / 2) < 600


def test_write_video_edge_cases(tmp_path):
    odd = [np.zeros((33, 47, 3), np.uint8)] * 3
    assert write_video(tmp_path / "odd.mp4", odd) == 3
    assert (video_info(tmp_path / "odd.mp4").width, video_info(tmp_path / "odd.mp4").height) \
        == (48, 34)
    assert video_info(tmp_path / "odd.mp4").audio_rate is None
    with pytest.raises(ValueError, match="uint8 RGB"):
        write_video(tmp_path / "bad.mp4", [np.zeros((8, 8), np.uint8)])
    with pytest.raises(ValueError, match="no frames"):
        write_video(tmp_path / "none.mp4", [])
    with pytest.raises(ValueError, match="NaN"):
        write_video(tmp_path / "nan.mp4", odd, audio=(np.full(100, np.nan), 16000))


def test_render_command_side_by_side_with_speaker_audio(tmp_path, capsys):
    t, size = 30, 64
    speaker = tmp_path / "speaker.mp4"
    # A 30 fps speaker video with audio: resampled to 25 fps, its audio muxed.
    write_video(speaker, [np.full((80, 120, 3), i * 5, np.uint8) for i in range(36)], fps=30,
                audio=(tone(1.2, 22050), 22050))
    npy = tmp_path / "r.npy"
    np.save(npy, reactions(2, t))
    out = tmp_path / "out.mp4"
    assert main(["render", "--reactions", str(npy), "--speaker-video", str(speaker),
                 "--size", str(size), "--no-progress", "--out", str(out)]) == 0
    info = video_info(out)
    assert (info.frames, info.width, info.height, info.fps) == (t, 3 * size, size, 25.0)
    assert info.audio_rate == 22050
    first = next(read_video_frames(out))
    assert np.abs(first[:, :size].astype(int) - 0).mean() < 12  # the dark first speaker frame
    assert "30 frames, 2 reaction(s), speaker, audio" in capsys.readouterr().out


def test_render_command_single_reaction_screen_style_and_wav(tmp_path):
    t, size = 12, 64
    npy = tmp_path / "r.npy"
    np.save(npy, reactions(1, t)[0])  # (T, 58)
    wav = tmp_path / "a.wav"
    with av.open(str(wav), "w") as c:
        s = c.add_stream("pcm_s16le", rate=16000, layout="mono")
        pcm = (tone(0.5) * 32767).astype(np.int16)[None]
        frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout="mono")
        frame.sample_rate = 16000
        for p in s.encode(frame):
            c.mux(p)
        for p in s.encode(None):
            c.mux(p)
    out = tmp_path / "out.mp4"
    assert main(["render", "--reactions", str(npy), "--audio", str(wav), "--style", "screen",
                 "--size", str(size), "--no-progress", "--out", str(out)]) == 0
    info = video_info(out)
    assert (info.frames, info.width, info.height) == (t, size, size)
    assert info.audio_rate == 16000
    labelled = tmp_path / "labelled.mp4"
    assert main(["render", "--reactions", str(npy), "--style", "screen", "--size", str(size),
                 "--labels", "--no-progress", "--out", str(labelled)]) == 0
    plain_top = next(read_video_frames(out))[:12].astype(int)
    label_top = next(read_video_frames(labelled))[:12].astype(int)
    assert np.abs(label_top - plain_top).max() > 100  # white text on the dark display


def test_render_command_rejects_bad_reactions(tmp_path, capsys):
    npy = tmp_path / "bad.npy"
    np.save(npy, np.zeros((10, 50), np.float32))
    assert main(["render", "--reactions", str(npy), "--out", str(tmp_path / "o.mp4")]) == 2
    assert "(M, T, 58) or (T, 58)" in capsys.readouterr().err
    nan = reactions(1, 5)
    nan[0, 2, 55] = np.nan
    np.save(npy, nan)
    assert main(["render", "--reactions", str(npy), "--no-progress", "--out",
                 str(tmp_path / "o.mp4")]) == 2
    assert "reaction 0: non-finite coefficient (nan) at frame 2, channel 55 (translationX)" \
        in capsys.readouterr().err
    assert not (tmp_path / "o.mp4").exists()


def test_render_command_reports_missing_or_silent_inputs(tmp_path, capsys):
    npy = tmp_path / "r.npy"
    np.save(npy, reactions(1, 4)[0])
    out = str(tmp_path / "o.mp4")
    assert main(["render", "--reactions", str(npy), "--speaker-video",
                 str(tmp_path / "missing.mp4"), "--out", out]) == 2
    assert "speaker video" in capsys.readouterr().err
    silent = tmp_path / "silent.mp4"
    write_video(silent, [np.zeros((16, 16, 3), np.uint8)] * 2)
    assert main(["render", "--reactions", str(npy), "--audio", str(silent), "--out", out]) == 2
    assert "has no audio stream" in capsys.readouterr().err


def test_rgb_frames_equal_pyav_per_frame_conversion(tmp_path):
    """The one-context conversion gives exactly PyAV's per-frame ``to_ndarray`` pixels."""
    import av

    from reactface_ros.video import rgb_frames

    rng = np.random.default_rng(3)
    path = tmp_path / "noise.mp4"
    write_video(path, (rng.integers(0, 256, (48, 64, 3), dtype=np.uint8) for _ in range(12)))
    with av.open(str(path)) as container:
        frames = list(container.decode(video=0))
    fast = list(rgb_frames(frames))
    assert len(fast) == 12
    for frame, image in zip(frames, fast):
        assert image.shape == (48, 64, 3) and image.dtype == np.uint8
        assert np.array_equal(image, frame.to_ndarray(format="rgb24"))
