"""Dataset loaders on small fixtures built in the exact REACT challenge and ReactFace layouts."""
from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from scipy.io import wavfile

from reactface_ros.constants import SAMPLES_PER_FRAME
from reactface_ros.data import (
    DatasetConfig, DatasetLayoutError, ReactionDataset, build_challenge_neighbours,
    collate_reactions, mirror_pairs,
)
from reactface_ros.data.dataset import detect_layout

T = 20  # frames per fixture clip

CHALLENGE_PAIRS = {
    "train": [("NoXI/010_2016-03-25_Paris/Expert_video/1",
               "NoXI/010_2016-03-25_Paris/Novice_video/1"),
              ("RECOLA/group-2/P25/3", "RECOLA/group-2/P26/3")],
    "val": [("NoXI/021_2016-04-05_Augsburg/Expert_video/2",
             "NoXI/021_2016-04-05_Augsburg/Novice_video/2"),
            ("NoXI/022_2016-04-06_Augsburg/Novice_video/5",
             "NoXI/022_2016-04-06_Augsburg/Expert_video/5")],
}


def _clip_seed(clip: str) -> int:
    return sum(ord(c) * (i + 1) for i, c in enumerate(clip)) % 100000


def _coeffs(clip: str, n: int = T) -> np.ndarray:
    rng = np.random.default_rng(_clip_seed(clip))
    return rng.random((n, 58)).astype(np.float32)


def _emotion(clip: str, n: int = T) -> np.ndarray:
    return np.random.default_rng(_clip_seed(clip) + 1).random((n, 25)).astype(np.float32)


def _audio(clip: str, rate: int, n: int = T) -> np.ndarray:
    # A 440 Hz tone whose amplitude steps with the frame index and a per-clip factor, so a
    # frame's loudness says which frame (and clip) it came from.
    k = 1 + _clip_seed(clip) % 7
    t = np.arange(int(n * rate / 25)) / rate
    frame = np.minimum((t * 25).astype(int), n - 1)
    return (0.02 * k * (1 + frame) / n * np.sin(2 * np.pi * 440 * t)).astype(np.float32)


def _write_split_csv(path: Path, pairs) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["", "speaker_path", "listener_path"])
        for i, (s, li) in enumerate(pairs):
            w.writerow([i, s, li])


def _write_emotion(path: Path, emo: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    header = ",".join(f"c{i}" for i in range(25))
    np.savetxt(path, emo, delimiter=",", header=header, comments="", fmt="%.7g")


def make_challenge(root: Path, frames: bool = True) -> Path:
    """A tiny dataset in the challenge layout (PNG folders, 44.1 kHz wav, CSV, npy)."""
    for split, pairs in CHALLENGE_PAIRS.items():
        _write_split_csv(root / f"{split}.csv", pairs)
        for pair in pairs:
            for clip in pair:
                base = root / split
                npy = base / "3D_FV_files" / f"{clip}.npy"
                npy.parent.mkdir(parents=True, exist_ok=True)
                c = _coeffs(clip)
                np.save(npy, c[:, None, :] if "Expert" in clip else c)  # (T,1,58) and (T,58)
                wav = base / "Audio_files" / f"{clip}.wav"
                wav.parent.mkdir(parents=True, exist_ok=True)
                wavfile.write(wav, 44100, (_audio(clip, 44100) * 32767).astype(np.int16))
                _write_emotion(base / "Emotion" / f"{clip}.csv", _emotion(clip))
                if frames:
                    folder = base / "Video_files" / clip
                    folder.mkdir(parents=True, exist_ok=True)
                    for i in range(1, T + 1):
                        img = np.full((8, 8, 3), (i * 10, _clip_seed(clip) % 256, 7), np.uint8)
                        cv2.imwrite(str(folder / f"{i}.png"), img)
    return root


REACTFACE_PAIRS = {
    "train": [("NoXI/001_2016-03-17_Paris/Expert_video/1",
               "NoXI/001_2016-03-17_Paris/Novice_video/1"),
              ("NoXI/001_2016-03-17_Paris/Expert_video/2",
               "NoXI/001_2016-03-17_Paris/Novice_video/2"),
              ("RECOLA/group-1/P19/1", "RECOLA/group-1/P20/1")],
    "test": [("NoXI/030_2016-04-22_Nottingham/Expert_video/4",
              "NoXI/030_2016-04-22_Nottingham/Novice_video/4")],
}


def make_reactface(root: Path, lengths: dict[str, int] | None = None) -> Path:
    """A tiny dataset in the ReactFace layout (mp4 placeholders, 16 kHz wav, npy)."""
    lengths = lengths or {}
    for split, pairs in REACTFACE_PAIRS.items():
        _write_split_csv(root / f"{split}.csv", pairs)
        for pair in pairs:
            for clip in pair:
                n = lengths.get(clip, T)
                npy = root / "3D_FV_files" / f"{clip}.npy"
                npy.parent.mkdir(parents=True, exist_ok=True)
                np.save(npy, _coeffs(clip, n))
                wav = root / "Audio_files" / f"{clip}.wav"
                wav.parent.mkdir(parents=True, exist_ok=True)
                wavfile.write(wav, 16000, (_audio(clip, 16000, n) * 32767).astype(np.int16))
                mp4 = root / "Video_files" / f"{clip}.mp4"
                mp4.parent.mkdir(parents=True, exist_ok=True)
                mp4.write_bytes(b"")
    return root


@pytest.fixture
def challenge_root(tmp_path: Path) -> Path:
    return make_challenge(tmp_path / "data")


@pytest.fixture
def reactface_root(tmp_path: Path) -> Path:
    return make_reactface(tmp_path / "rf")


def _frame_rms(audio: np.ndarray) -> np.ndarray:
    n = len(audio) // SAMPLES_PER_FRAME
    return np.sqrt((audio[:n * SAMPLES_PER_FRAME].reshape(n, -1) ** 2).mean(axis=1))


def test_mirror_pairs_swaps_second_half():
    rows = mirror_pairs([("a", "b"), ("c", "d")])
    assert [(r.speaker, r.listener, r.mirrored, r.pair) for r in rows] == [
        ("a", "b", False, 0), ("c", "d", False, 1), ("b", "a", True, 0), ("d", "c", True, 1)]


def test_challenge_layout_items(challenge_root: Path):
    assert detect_layout(challenge_root, "train") == "challenge"
    ds = ReactionDataset(challenge_root, "train")
    pairs = CHALLENGE_PAIRS["train"]
    assert len(ds) == 4 and ds.has_emotion
    for k, (spk, lis) in enumerate(pairs + [(li, s) for s, li in pairs]):
        item = ds[k]
        assert item["speaker_path"] == spk and item["listener_path"] == lis
        np.testing.assert_array_equal(item["speaker_3dmm"].numpy(), _coeffs(spk))
        np.testing.assert_array_equal(item["listener_3dmm"].numpy(), _coeffs(lis))
        np.testing.assert_allclose(item["speaker_emotion"].numpy(), _emotion(spk), rtol=1e-6)
        np.testing.assert_allclose(item["listener_emotion"].numpy(), _emotion(lis), rtol=1e-6)
        audio = item["speaker_audio"].numpy()
        assert audio.shape == (T * SAMPLES_PER_FRAME,) and audio.dtype == np.float32
        # 44.1 kHz resampled to 16 kHz: frame f's loudness grows with f, scaled per clip.
        rms = _frame_rms(audio)
        ref = _frame_rms(_audio(spk, 16000))
        np.testing.assert_allclose(rms[1:-1], ref[1:-1], rtol=0.05)
        spectrum = np.abs(np.fft.rfft(audio))
        assert abs(np.argmax(spectrum) * 16000 / len(audio) - 440) < 5
    # The coefficients are memory-mapped, never read whole.
    assert isinstance(ds.coefficients(pairs[0][0]).base, np.memmap) or isinstance(
        ds.coefficients(pairs[0][0]), np.memmap)


def test_challenge_frames_and_crop(challenge_root: Path):
    cfg = DatasetConfig(clip_length=6, random_crop=True, seed=3, load_video=True)
    ds = ReactionDataset(challenge_root, "val", cfg)
    starts = []
    for k in range(len(ds)):
        item = ds[k]
        s = item["start"]
        starts.append(s)
        assert 0 <= s <= T - 6
        spk = item["speaker_path"]
        np.testing.assert_array_equal(item["speaker_3dmm"].numpy(), _coeffs(spk)[s:s + 6])
        video = item["speaker_video"].numpy()
        assert video.shape == (6, 8, 8, 3)
        # Frame i.png holds blue 10 * i (written BGR, read RGB): the crop starts at (s+1).png.
        np.testing.assert_array_equal(video[:, 0, 0, 2], 10 * np.arange(s + 1, s + 7))
        rms = _frame_rms(item["speaker_audio"].numpy())
        ref = _frame_rms(_audio(spk, 16000))[s:s + 6]
        np.testing.assert_allclose(rms[1:-1], ref[1:-1], rtol=0.05)
    # Seeded: the same seed and epoch give the same crops; another epoch moves them.
    again = ReactionDataset(challenge_root, "val", cfg)
    assert [again[k]["start"] for k in range(len(ds))] == starts
    epochs = []
    for e in range(4):
        ds.set_epoch(e)
        epochs.append(tuple(ds.crop(k)[0] for k in range(len(ds))))
    assert len(set(epochs)) > 1
    # Without random crops every crop starts at frame 0.
    fixed = ReactionDataset(challenge_root, "val", DatasetConfig(clip_length=6))
    assert {fixed[k]["start"] for k in range(len(fixed))} == {0}


def test_neighbours_file_identity_and_bad_shape(challenge_root: Path):
    ds = ReactionDataset(challenge_root, "val")
    assert ds.neighbours_source == "identity"
    assert [list(ds.appropriate_indices(k)) for k in range(4)] == [[0], [1], [2], [3]]
    a = np.zeros((4, 4))
    a[0, 3] = a[2, 1] = a[3, 3] = 1
    np.save(challenge_root / "neighbour_emotion_val.npy", a)
    ds = ReactionDataset(challenge_root, "val", DatasetConfig(load_appropriate=True))
    assert ds.neighbours_source == "file"
    assert [list(ds.appropriate_indices(k)) for k in range(4)] == [[0, 3], [1], [1, 2], [3]]
    item = ds[0]
    assert item["appropriate_indices"].tolist() == [0, 3]
    # Row 3's listener is the speaker of pair 1 (mirrored).
    np.testing.assert_array_equal(item["appropriate_listener_3dmm"][1].numpy(),
                                  _coeffs(CHALLENGE_PAIRS["val"][1][0]))
    np.save(challenge_root / "neighbour_emotion_val.npy", np.zeros((2, 2)))
    with pytest.raises(DatasetLayoutError, match=r"\(4, 4\)"):
        ReactionDataset(challenge_root, "val")


def test_build_challenge_neighbours(challenge_root: Path):
    # data_indices lists W = 3 pairs; the global matrix is (2W, 2W) and mirrored likewise.
    with open(challenge_root / "data_indices.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["site", "session", "clip"])
        w.writerow(["NoXI", "022_2016-04-06_Augsburg", "5"])
        w.writerow(["RECOLA", "group-2", "3"])
        w.writerow(["NoXI", "021_2016-04-05_Augsburg", "2"])
    full = np.arange(36, dtype=float).reshape(6, 6)
    np.save(challenge_root / "Approprirate_facial_reaction.npy", full)
    out = build_challenge_neighbours(challenge_root, "val", save=False)
    # val pairs map to global indices [2, 0]; mirrored rows to [5, 3].
    idx = [2, 0, 5, 3]
    np.testing.assert_array_equal(out, full[np.ix_(idx, idx)])
    assert not (challenge_root / "neighbour_emotion_val.npy").exists()
    # The dataset builds the split's matrix itself when only the global files exist.
    binary = (np.eye(6)[[1, 2, 0, 4, 5, 3]] + np.eye(6)) > 0
    np.save(challenge_root / "Approprirate_facial_reaction.npy", binary.astype(float))
    ds = ReactionDataset(challenge_root, "val")
    assert ds.neighbours_source == "file"
    np.testing.assert_array_equal(ds.neighbours, binary[np.ix_(idx, idx)])
    saved = build_challenge_neighbours(challenge_root, "val")
    np.testing.assert_array_equal(np.load(challenge_root / "neighbour_emotion_val.npy"), saved)
    # Pairs missing from data_indices.csv are named.
    (challenge_root / "data_indices.csv").write_text("site,session,clip\nNoXI,x,1\n")
    with pytest.raises(DatasetLayoutError, match="not in"):
        build_challenge_neighbours(challenge_root, "val")


def test_reactface_layout_and_collate(reactface_root: Path):
    assert detect_layout(reactface_root, "train") == "reactface"
    a = np.zeros((6, 6))
    a[0, 1] = a[1, 0] = a[3, 4] = 1
    np.save(reactface_root / "neighbour_emotion_new_train.npy", a)
    cfg = DatasetConfig(clip_length=10, random_crop=True, load_appropriate=True)
    ds = ReactionDataset(reactface_root, "train", cfg)
    assert len(ds) == 6 and not ds.has_emotion
    item = ds[4]
    assert item["speaker_path"] == REACTFACE_PAIRS["train"][1][1]
    assert item["speaker_video_path"].endswith("Novice_video/2.mp4")
    assert "speaker_emotion" not in item
    loader = torch.utils.data.DataLoader(ds, batch_size=3, collate_fn=collate_reactions)
    batch = next(iter(loader))
    assert batch["speaker_3dmm"].shape == (3, 10, 58)
    assert batch["speaker_audio"].shape == (3, 10 * SAMPLES_PER_FRAME)
    assert batch["appropriate_indices"].tolist() == [[0, 1], [0, 1], [2, -1]]
    assert batch["appropriate_listener_3dmm"].shape == (3, 2, 10, 58)
    assert batch["appropriate_mask"].tolist() == [[True, True], [True, True], [True, False]]
    s = batch["start"][0]
    np.testing.assert_array_equal(batch["appropriate_listener_3dmm"][0, 1].numpy(),
                                  _coeffs(REACTFACE_PAIRS["train"][1][1])[s:s + 10])
    # Pickled for spawned workers without the memory-mapped arrays, and still loads.
    import pickle

    clone = pickle.loads(pickle.dumps(ds))
    assert clone._coeff_cache == {}
    np.testing.assert_array_equal(clone[2]["listener_3dmm"].numpy(), ds[2]["listener_3dmm"])
    # Unmirrored: the first P rows and the top-left block of the matrix.
    half = ReactionDataset(reactface_root, "train", DatasetConfig(mirror=False))
    assert len(half) == 3 and half.neighbours.shape == (3, 3)


def test_face_feature_cache_hook(reactface_root: Path):
    ds = ReactionDataset(reactface_root, "test", DatasetConfig(clip_length=5))
    jobs = ds.face_feature_jobs()
    assert len(jobs) == 2  # both clips speak once the pair is mirrored
    video, feats = jobs[0]
    assert video == reactface_root / "Video_files" / f"{REACTFACE_PAIRS['test'][0][0]}.mp4"
    assert feats == reactface_root / "face_features" / f"{REACTFACE_PAIRS['test'][0][0]}.npy"
    assert "speaker_face_features" not in ds[0]
    feats.parent.mkdir(parents=True, exist_ok=True)
    cached = np.arange(T * 59, dtype=np.float32).reshape(T, 59)
    np.save(feats, cached)
    item = ds[0]
    assert item["speaker_face_features_path"] == str(feats)
    np.testing.assert_array_equal(item["speaker_face_features"].numpy(), cached[:5])


def test_clip_lengths_differ(tmp_path: Path):
    spk, lis = REACTFACE_PAIRS["test"][0]
    root = make_reactface(tmp_path / "rf", lengths={spk: T, lis: T - 4})
    ds = ReactionDataset(root, "test")
    item = ds[0]
    assert item["speaker_3dmm"].shape == (T - 4, 58) == item["listener_3dmm"].shape
    assert item["speaker_audio"].shape == ((T - 4) * SAMPLES_PER_FRAME,)


def test_missing_files_name_the_file_and_layout(tmp_path: Path):
    root = make_reactface(tmp_path / "rf")
    clip = REACTFACE_PAIRS["train"][2][1]
    (root / "3D_FV_files" / f"{clip}.npy").unlink()
    with pytest.raises(DatasetLayoutError) as err:
        ReactionDataset(root, "train")
    assert f"3D_FV_files/{clip}.npy" in str(err.value) and "ReactFace layout" in str(err.value)
    with pytest.raises(DatasetLayoutError, match="val.csv"):
        ReactionDataset(root, "val", DatasetConfig(layout="reactface"))

    ch = make_challenge(tmp_path / "ch", frames=False)
    clip = CHALLENGE_PAIRS["train"][0][0]
    (ch / "train" / "Audio_files" / f"{clip}.wav").unlink()
    with pytest.raises(DatasetLayoutError) as err:
        ReactionDataset(ch, "train")
    assert f"train/Audio_files/{clip}.wav" in str(err.value)
    assert "challenge layout" in str(err.value)
    # Without audio the same dataset loads; asking for video names the missing frame folder.
    assert len(ReactionDataset(ch, "train", DatasetConfig(load_audio=False))) == 4
    with pytest.raises(DatasetLayoutError, match="Video_files"):
        ReactionDataset(ch, "train", DatasetConfig(load_audio=False, load_video=True))
    with pytest.raises(DatasetLayoutError, match="neither"):
        ReactionDataset(tmp_path, "train")

    # A listener's audio is read only for the mirrored rows (the listener as speaker).
    root = make_reactface(tmp_path / "rf2")
    spk, lis = REACTFACE_PAIRS["train"][0]
    (root / "Audio_files" / f"{lis}.wav").unlink()
    assert len(ReactionDataset(root, "train", DatasetConfig(mirror=False))) == \
        len(REACTFACE_PAIRS["train"])
    with pytest.raises(DatasetLayoutError, match=f"Audio_files/{lis}.wav"):
        ReactionDataset(root, "train")


def test_malformed_files(tmp_path: Path):
    root = make_challenge(tmp_path / "ch", frames=False)
    clip = CHALLENGE_PAIRS["val"][0][1]
    np.save(root / "val" / "3D_FV_files" / f"{clip}.npy", np.zeros((T, 57), np.float32))
    ds = ReactionDataset(root, "val")
    with pytest.raises(DatasetLayoutError, match=r"\(T, 58\)"):
        ds[0]
    _write_emotion(root / "val" / "Emotion" / f"{clip}.csv", np.zeros((T, 24)))
    np.save(root / "val" / "3D_FV_files" / f"{clip}.npy", _coeffs(clip))
    with pytest.raises(DatasetLayoutError, match="25"):
        ReactionDataset(root, "val")[0]
    (root / "val.csv").write_text("a,b,c\n0,x,y\n")
    with pytest.raises(DatasetLayoutError, match="speaker_path"):
        ReactionDataset(root, "val")


def _face(**weights: float) -> np.ndarray:
    from reactface_ros.constants import BLENDSHAPE_INDEX

    c = np.zeros(58, np.float32)
    c[52:55] = [np.pi, 0, 0]
    c[57] = 1.84
    for name, w in weights.items():
        c[BLENDSHAPE_INDEX[name]] = w
    return c


def test_emotion_from_coefficients_rules():
    from reactface_ros.data import EMOTION_NAMES, emotion_from_coefficients

    faces = np.stack([
        _face(),
        _face(mouthSmileLeft=0.8, mouthSmileRight=0.8, cheekSquintLeft=0.5,
              cheekSquintRight=0.5),
        _face(mouthFrownLeft=0.7, mouthFrownRight=0.7, browInnerUp=0.6),
        _face(jawOpen=0.6, browOuterUpLeft=0.7, browOuterUpRight=0.7, eyeWideLeft=0.6,
              eyeWideRight=0.6, browInnerUp=0.6),
    ])
    e = emotion_from_coefficients(faces)
    assert e.shape == (4, 25) and e.dtype == np.float32
    col = {n: i for i, n in enumerate(EMOTION_NAMES)}
    expressions = [EMOTION_NAMES[17 + i] for i in e[:, 17:].argmax(1)]
    assert expressions == ["Neutral", "Happy", "Sad", "Surprise"]
    assert e[0, :15].sum() == 0
    assert e[1, col["AU12"]] == 1 and e[1, col["AU6"]] == 1 and e[1, col["AU15"]] == 0
    assert e[2, col["AU15"]] == 1 and e[2, col["AU1"]] == 1
    assert e[3, col["AU26"]] == 1 and e[3, col["AU25"]] == 1 and e[3, col["AU2"]] == 1
    assert e[1, col["Valence"]] > 0.5 > e[0, col["Valence"]] > e[2, col["Valence"]]
    assert e[3, col["Arousal"]] > 0.5 and e[0, col["Arousal"]] < 0
    np.testing.assert_allclose(e[:, 17:].sum(1), 1, atol=1e-6)
    # Batched (N, M, T, 58) inputs give the same rows; head motion raises arousal.
    batched = emotion_from_coefficients(np.broadcast_to(faces[None, None], (2, 3, 4, 58)))
    np.testing.assert_array_equal(batched[1, 2], e)
    still = np.repeat(faces[:1], 10, 0)
    moving = still.copy()
    moving[:, 53] = 0.1 * np.sin(np.arange(10))
    assert (emotion_from_coefficients(moving)[:, col["Arousal"]].mean()
            > emotion_from_coefficients(still)[:, col["Arousal"]].mean())
    with pytest.raises(ValueError, match="58"):
        emotion_from_coefficients(np.zeros((4, 57)))
