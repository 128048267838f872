"""The synthetic dyadic dataset: layout, determinism, speech, reactions, emotion, scale."""
from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

import numpy as np
import pytest

from reactface_ros.cli import main
from reactface_ros.constants import BLENDSHAPE_INDEX, FPS, SAMPLES_PER_FRAME
from reactface_ros.data import DatasetConfig, ReactionDataset, emotion_from_coefficients
from reactface_ros.data.layouts import read_emotion_csv, read_wav
from reactface_ros.data.speech import SpeechSynthesisError, frame_envelope
from reactface_ros.data.synth import SynthConfig, generate_dataset

pytestmark = pytest.mark.skipif(
    __import__("shutil").which("espeak-ng") is None, reason="espeak-ng is not installed")

SECONDS = 6.0
NUM_FRAMES = int(SECONDS * FPS) + 1
HAS_RENDERER = (importlib.util.find_spec("reactface_ros.render") is not None
                and importlib.util.find_spec("reactface_ros.video") is not None)


def _tiny(seed: int = 0, **kw) -> SynthConfig:
    # 3 sessions of 4 listeners: one session per split, every listener style once per session.
    return SynthConfig(pairs=12, seed=seed, seconds=SECONDS, listeners_per_speaker=4,
                       video=False, **kw)


@pytest.fixture(scope="module")
def synth_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("synth") / "data"
    generate_dataset(_tiny(), root)
    return root


@pytest.fixture(scope="module")
def meta(synth_root: Path) -> dict:
    return json.loads((synth_root / "synth_meta.json").read_text())


def _smile(c: np.ndarray) -> np.ndarray:
    return c[:, [BLENDSHAPE_INDEX["mouthSmileLeft"], BLENDSHAPE_INDEX["mouthSmileRight"]]].mean(1)


def _coeffs(root: Path, clip: str) -> np.ndarray:
    return np.load(root / "3D_FV_files" / f"{clip}.npy")


def test_layout_loads_with_the_loader(synth_root: Path, meta: dict):
    assert meta["splits"] == {"train": 4, "val": 4, "test": 4}
    for split in ("train", "val", "test"):
        ds = ReactionDataset(synth_root, split, DatasetConfig(load_appropriate=True))
        assert len(ds) == 8 and ds.has_emotion and ds.neighbours_source == "file"
        item = ds[0]
        assert item["speaker_3dmm"].shape == (NUM_FRAMES, 58)
        assert item["speaker_emotion"].shape == (NUM_FRAMES, 25)
        assert item["speaker_audio"].shape == (NUM_FRAMES * SAMPLES_PER_FRAME,)
        # All four reactions to this speaker clip are appropriate, nothing else.
        assert item["appropriate_indices"].tolist() == [0, 1, 2, 3]
        assert item["appropriate_listener_3dmm"].shape == (4, NUM_FRAMES, 58)
        # Mirrored rows: a listener as speaker, the speaker's face as the reaction.
        assert ds[4]["speaker_path"] == ds[0]["listener_path"]
        assert ds[4]["appropriate_indices"].tolist() == [4, 5, 6, 7]
    sessions = {s["split"]: s["session"] for s in meta["sessions"]}
    assert len(set(sessions.values())) == 3  # no session is shared between splits


def test_same_seed_same_files_other_seed_differs(synth_root: Path, tmp_path: Path):
    again = tmp_path / "again"
    generate_dataset(_tiny(), again)
    files = sorted(p.relative_to(synth_root) for p in synth_root.rglob("*.npy"))
    assert len(files) >= 15
    for rel in files:
        assert (synth_root / rel).read_bytes() == (again / rel).read_bytes(), rel
    for rel in sorted(p.relative_to(synth_root) for p in synth_root.rglob("*.wav")):
        assert (synth_root / rel).read_bytes() == (again / rel).read_bytes(), rel
    other = tmp_path / "other"
    generate_dataset(SynthConfig(pairs=4, seed=1, seconds=SECONDS, video=False), other)
    clip = "3D_FV_files/synth/s000/speaker/1.npy"
    assert not np.array_equal(np.load(other / clip), np.load(synth_root / clip))


def test_speaker_audio_is_speech_with_pauses(synth_root: Path, meta: dict):
    for sess in meta["sessions"]:
        audio, rate = read_wav(synth_root / "Audio_files" / f"{sess['speaker']['path']}.wav")
        assert rate == 16000 and len(audio) == NUM_FRAMES * SAMPLES_PER_FRAME
        env = frame_envelope(audio)
        voiced = env > 0.1
        # Talking most of the time but with real pauses (>= 0.3 s of near silence).
        assert 0.4 < voiced.mean() < 0.95
        runs, n = [], 0
        for v in voiced[:-1]:
            n = 0 if v else n + 1
            runs.append(n)
        assert max(runs) >= 8
        # Voiced frames carry most energy below 4 kHz, like speech (not noise).
        spec = np.abs(np.fft.rfft(audio)) ** 2
        freqs = np.fft.rfftfreq(len(audio), 1 / 16000)
        assert spec[freqs < 4000].sum() / spec.sum() > 0.8
        # The jaw follows the loudness.
        jaw = _coeffs(synth_root, sess["speaker"]["path"])[:, BLENDSHAPE_INDEX["jawOpen"]]
        assert np.corrcoef(jaw, env)[0, 1] > 0.6


def test_listener_reactions_differ_and_mirror_smiles_with_lag(synth_root: Path, meta: dict):
    for sess in meta["sessions"]:
        spk = _coeffs(synth_root, sess["speaker"]["path"])
        reactions = {li["style"]: _coeffs(synth_root, li["path"]) for li in sess["listeners"]}
        assert sorted(reactions) == ["attentive", "concerned", "mirror", "nodder"]
        styles = sorted(reactions)
        for i, a in enumerate(styles):
            for b in styles[i + 1:]:
                rms = np.sqrt(((reactions[a][:, :52] - reactions[b][:, :52]) ** 2).mean())
                assert rms > 0.05, (a, b)
        x = _smile(spk) - _smile(spk).mean()
        y = _smile(reactions["mirror"]) - _smile(reactions["mirror"]).mean()
        lags = np.arange(0, 2 * FPS)
        cc = [np.corrcoef(x[:len(x) - k], y[k:])[0, 1] for k in lags]
        best = lags[int(np.nanargmax(cc))] / FPS
        assert 0.3 <= best <= 1.5 and max(cc) > 0.5
        mirror = next(li for li in sess["listeners"] if li["style"] == "mirror")
        assert abs(best * FPS - mirror["lag_frames"]) <= 3
        # The nodder nods: its head pitch moves more than the attentive listener's.
        pitch = {s: np.std(np.diff(r[:, 52])) for s, r in reactions.items()}
        assert pitch["nodder"] > pitch["attentive"]


def test_emotion_csvs_follow_the_coefficients(synth_root: Path, meta: dict):
    clip = meta["sessions"][0]["listeners"][0]["path"]
    header = (synth_root / "Emotion" / f"{clip}.csv").read_text().splitlines()[0]
    assert header.startswith("AU1,AU2,AU4") and len(header.split(",")) == 25
    emo = read_emotion_csv(synth_root / "Emotion" / f"{clip}.csv")
    assert emo.shape == (NUM_FRAMES, 25)
    np.testing.assert_allclose(emo, emotion_from_coefficients(_coeffs(synth_root, clip)),
                               atol=1e-5)
    assert set(np.unique(emo[:, :15])) <= {0.0, 1.0}
    assert np.all(np.abs(emo[:, 15:17]) < 1)
    np.testing.assert_allclose(emo[:, 17:].sum(1), 1.0, atol=1e-4)
    # A smiling speaker is happier than a frowning one: valence tracks smile minus frown.
    spk = _coeffs(synth_root, meta["sessions"][0]["speaker"]["path"])
    e = emotion_from_coefficients(spk)
    bs = spk[:, :52]
    signal = _smile(spk) - bs[:, [BLENDSHAPE_INDEX["mouthFrownLeft"],
                                  BLENDSHAPE_INDEX["mouthFrownRight"]]].mean(1)
    assert np.corrcoef(signal, e[:, 15])[0, 1] > 0.8


def test_values_scaled_like_react(synth_root: Path):
    # The REACT FaceVerse mean/std vectors: where ReactFace keeps them (external/FaceVerse),
    # a sibling shared data folder, or REACTFACE_FACEVERSE_DIR.
    repo = Path(__file__).resolve().parents[1]
    candidates = [Path(os.environ["REACTFACE_FACEVERSE_DIR"])] if os.environ.get(
        "REACTFACE_FACEVERSE_DIR") else []
    candidates += [repo / "external" / "FaceVerse", repo.parent / "shared/data/faceverse"]
    ref = next((c for c in candidates if (c / "mean_face.npy").exists()), None)
    if ref is None:
        pytest.skip("REACT mean/std face vectors not available (set REACTFACE_FACEVERSE_DIR)")
    mean, std = np.load(ref / "mean_face.npy").ravel(), np.load(ref / "std_face.npy").ravel()
    x = np.concatenate([np.load(p) for p in synth_root.rglob("3D_FV_files/**/*.npy")])
    m, s = x.mean(0), x.std(0)
    assert np.all(np.abs(m - mean) <= 2 * std + 0.05)
    assert np.corrcoef(m[:52], mean[:52])[0, 1] > 0.8
    assert np.corrcoef(s[:52], std[:52])[0, 1] > 0.6
    assert np.all((s[:52] > 0.1 * std[:52]) & (s[:52] < 3 * std[:52] + 0.02))
    assert np.all(x[:, :52] >= 0) and np.all(x[:, :52] <= 1)


def test_challenge_layout_and_cli(tmp_path: Path, capsys):
    out = tmp_path / "ch"
    assert main(["synth", "--out", str(out), "--pairs", "3", "--seed", "2", "--seconds", "2",
                 "--layout", "challenge", "--listeners-per-speaker", "1", "--no-video"]) == 0
    assert (out / "val" / "3D_FV_files" / "synth").is_dir()
    ds = ReactionDataset(out, "test")
    assert ds.layout.name == "challenge" and len(ds) == 2
    _, rate = read_wav(ds.layout.audio_path(ds.rows[0].speaker))
    assert rate == 44100
    assert ds[0]["speaker_audio"].shape == ((2 * FPS + 1) * SAMPLES_PER_FRAME,)
    assert main(["synth", "--out", str(out), "--pairs", "0", "--no-video"]) == 1
    assert "pairs must be >= 1" in capsys.readouterr().err


def test_missing_espeak_is_a_clear_error(tmp_path: Path, monkeypatch):
    monkeypatch.setattr("shutil.which", lambda name: None)
    with pytest.raises(SpeechSynthesisError, match="Install it"):
        generate_dataset(_tiny(), tmp_path / "x")
    assert not (tmp_path / "x").exists()


@pytest.mark.skipif(not HAS_RENDERER, reason="the renderer is not installed")
def test_videos_rendered_with_audio(tmp_path: Path):
    from reactface_ros.video import read_audio, read_video_frames

    out = tmp_path / "v"
    generate_dataset(SynthConfig(pairs=1, seed=0, seconds=2, listeners_per_speaker=1), out)
    mp4 = out / "Video_files" / "synth/s000/speaker/1.mp4"
    frames = list(read_video_frames(mp4))
    assert len(frames) == 2 * FPS + 1 and frames[0].shape == (256, 256, 3)
    assert np.asarray(frames[0]).std() > 5  # a face, not a blank frame
    samples, rate = read_audio(mp4, rate=16000)
    wav, _ = read_wav(out / "Audio_files" / "synth/s000/speaker/1.wav")
    assert rate == 16000 and abs(len(samples) - len(wav)) < 2048
    # The loader reads the same frames from the mp4.
    ds = ReactionDataset(out, "train", DatasetConfig(load_video=True, clip_length=5))
    np.testing.assert_array_equal(ds[0]["speaker_video"].numpy(), np.stack(frames[:5]))


def test_style_appropriateness_follows_behaviour_classes(tmp_path: Path):
    out = tmp_path / "style"
    meta = generate_dataset(SynthConfig(pairs=12, seed=4, seconds=2, video=False,
                                        appropriateness="style", test_fraction=0,
                                        val_fraction=0), out)
    a = np.load(out / "neighbour_emotion_new_train.npy")
    speaker_style = [s["speaker"]["style"] for s in meta["sessions"] for _ in s["listeners"]]
    listener_style = [li["style"] for s in meta["sessions"] for li in s["listeners"]]
    p = len(speaker_style)
    assert a.shape == (2 * p, 2 * p) and p == 12
    for k in range(p):
        for j in range(p):
            assert a[k, j] == (speaker_style[k] == speaker_style[j])
            assert a[p + k, p + j] == (listener_style[k] == listener_style[j])
            assert a[k, p + j] == a[p + k, j] == 0
    # Default: only the reactions to the same speaker clip.
    clip = generate_dataset(SynthConfig(pairs=12, seed=4, seconds=2, video=False,
                                        test_fraction=0, val_fraction=0), tmp_path / "clip")
    b = np.load(tmp_path / "clip" / "neighbour_emotion_new_train.npy")
    session = [s["session"] for s in clip["sessions"] for _ in s["listeners"]]
    expected = np.equal.outer(session, session)
    np.testing.assert_array_equal(b[:p, :p], expected)
    np.testing.assert_array_equal(b[p:, p:], expected)


def test_long_pauses_are_silent_and_the_nodder_nods_once_then_stays_still(tmp_path: Path):
    """``long_pauses: 1``: every pause is a 3-6 s silence; the audio is quiet there, and the
    nodder's head moves at the start of a long pause and is still for the rest of it."""
    from reactface_ros.data.synth import synthesize_session

    t = 20 * FPS
    session = synthesize_session(5, 0, t, 4, workdir=tmp_path, long_pauses=1.0)
    utterances = session.speaker.info["utterances"]
    gaps = [(b, a2) for (_, b, _), (a2, _, _) in zip(utterances, utterances[1:])]
    assert gaps and all(a2 - b >= 3.0 * FPS - 1 for b, a2 in gaps)
    audio = session.speaker.audio
    for b, a2 in gaps:
        quiet = audio[(b + 2) * SAMPLES_PER_FRAME:(a2 - 2) * SAMPLES_PER_FRAME]
        assert np.sqrt(np.mean(quiet ** 2)) < 0.01
    nodder = [c for c in session.listeners if c.style == "nodder"][0]
    pitch = nodder.coefficients[:, 52]
    speed = np.abs(np.diff(pitch))
    for b, a2 in gaps:
        if a2 - b < 4 * FPS:
            continue
        late = speed[b + 2 * FPS:a2 - 5].mean()          # well after any nod of the onset
        assert late < 0.25 * speed[b:b + 2 * FPS].max()
    # 0 keeps the generator as it was: the same seed gives the same pauses as before
    again = synthesize_session(5, 0, t, 4, workdir=tmp_path, long_pauses=0.0)
    short = [(a2 - b) for (_, b, _), (a2, _, _) in zip(again.speaker.info["utterances"],
                                                       again.speaker.info["utterances"][1:])]
    assert max(short) <= 1.8 * FPS + 2
