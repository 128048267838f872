"""A tiny dyadic dataset in the ReactFace layout, written by hand for training/evaluation tests.

Each session has one speaker and two listeners. The speaker smiles in episodes and opens the
jaw with a tone-burst audio envelope; listener 1 mirrors the smile 5 frames later, listener 2
nods (head pitch) at the speaker's smile onsets. Both reactions are appropriate to their
session's speaker (mirrored ``(2P, 2P)`` neighbour matrix), so the task is learnable.
Videos are small grey frames (no face), which exercises the face-feature cache end to end.
"""
from __future__ import annotations

import wave
from pathlib import Path

import numpy as np

from reactface_ros.constants import AUDIO_SAMPLE_RATE, BLENDSHAPE_INDEX, FPS, SAMPLES_PER_FRAME
from reactface_ros.model import neutral_face

SMILE = (BLENDSHAPE_INDEX["mouthSmileLeft"], BLENDSHAPE_INDEX["mouthSmileRight"])
JAW = BLENDSHAPE_INDEX["jawOpen"]
PITCH = 52


def _write_wav(path: Path, audio: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pcm = (np.clip(audio, -1, 1) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(AUDIO_SAMPLE_RATE)
        w.writeframes(pcm.tobytes())


def _write_video(path: Path, frames: int, shade: int) -> None:
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=FPS)
        stream.width = stream.height = 32
        stream.pix_fmt = "yuv420p"
        for i in range(frames):
            img = np.full((32, 32, 3), (shade + 3 * i) % 256, np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


def _speaker(rng: np.random.Generator, t: int) -> tuple[np.ndarray, np.ndarray]:
    face = np.repeat(neutral_face()[None], t, axis=0)
    smile = np.zeros(t)
    start = int(rng.integers(2, 10))
    while start < t:
        length = int(rng.integers(6, 14))
        smile[start:start + length] = rng.uniform(0.5, 0.9)
        start += length + int(rng.integers(6, 14))
    face[:, SMILE[0]] = face[:, SMILE[1]] = smile
    env = np.clip(np.sin(np.arange(t) * rng.uniform(0.3, 0.6)) + 0.2, 0, None)
    face[:, JAW] = 0.4 * env
    tt = np.arange(t * SAMPLES_PER_FRAME) / AUDIO_SAMPLE_RATE
    audio = 0.3 * np.repeat(env, SAMPLES_PER_FRAME) * np.sin(2 * np.pi * 180 * tt)
    return face.astype(np.float32), audio.astype(np.float32)


def _listeners(rng: np.random.Generator, speaker: np.ndarray) -> list[np.ndarray]:
    t = len(speaker)
    smile = speaker[:, SMILE[0]]
    mirror = np.repeat(neutral_face()[None], t, axis=0)
    mirror[5:, SMILE[0]] = mirror[5:, SMILE[1]] = 0.8 * smile[:-5]
    nod = np.repeat(neutral_face()[None], t, axis=0)
    onsets = np.flatnonzero(np.diff(smile > 0, prepend=0) > 0)
    for o in onsets:
        seg = np.arange(o, min(t, o + 8))
        nod[seg, PITCH] += 0.15 * np.sin(np.pi * (seg - o) / 8)
    out = []
    for r in (mirror, nod):
        r = r + rng.normal(0, 0.01, r.shape)
        out.append(r.astype(np.float32))
    return out


def make_reaction_dataset(root: Path, frames: int = 64, sessions: dict | None = None,
                          seed: int = 0) -> Path:
    """Write the fixture under ``root``; returns ``root``.

    ``sessions`` maps split -> number of sessions (default train 3, val 1); every session
    adds two pairs.
    """
    sessions = sessions or {"train": 3, "val": 1}
    rng = np.random.default_rng(seed)
    root = Path(root)
    s_index = 0
    for split, count in sessions.items():
        pairs, sess_of = [], []
        for _ in range(count):
            sess = f"site/s{s_index:02d}"
            s_index += 1
            speaker, audio = _speaker(rng, frames)
            clips = {f"{sess}/speaker/1": (speaker, audio)}
            for k, reaction in enumerate(_listeners(rng, speaker)):
                clips[f"{sess}/listener{k + 1}/1"] = (reaction, 0.01 * audio)
                pairs.append((f"{sess}/speaker/1", f"{sess}/listener{k + 1}/1"))
                sess_of.append(sess)
            for clip, (coeffs, wav) in clips.items():
                npy = root / "3D_FV_files" / f"{clip}.npy"
                npy.parent.mkdir(parents=True, exist_ok=True)
                np.save(npy, coeffs)
                _write_wav(root / "Audio_files" / f"{clip}.wav", wav)
                _write_video(root / "Video_files" / f"{clip}.mp4", frames, 40 * s_index)
        with open(root / f"{split}.csv", "w") as f:
            f.write(",speaker_path,listener_path\n")
            for i, (s, li) in enumerate(pairs):
                f.write(f"{i},{s},{li}\n")
        same = (np.array(sess_of)[:, None] == np.array(sess_of)[None]).astype(np.float64)
        p = len(pairs)
        a = np.zeros((2 * p, 2 * p))
        a[:p, :p] = same
        a[p:, p:] = same
        np.save(root / f"neighbour_emotion_new_{split}.npy", a)
    return root
