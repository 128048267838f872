"""A synthetic dyadic reaction dataset in the ReactFace (or the challenge) layout.

REACT data needs an application, so the package generates its own dyadic data with a real
task in it. Each *session* has one speaker and several listeners, each reacting differently
but appropriately to the same speaker clip:

* the speaker talks: random sentences from a small word list synthesised by espeak-ng (voice,
  speed and pitch per speaker) with pauses between them;
* the speaker's face follows the speech (jaw with the loudness envelope, lip shapes, brow
  raises at utterance onsets, nods at utterance ends) and a behaviour style (smile and frown
  episodes), plus its own blinks, gaze shifts and head sway;
* each listener has its own resting face and habits and one reaction style from
  :data:`~reactface_ros.data.behaviour.LISTENER_STYLES` (mirroring smiles 0.3-1.5 s later,
  nodding in pauses, attentive neutral, concern at frowns); a nodding listener sometimes says
  "mm hmm", so listener audio is not pure silence;
* every clip gets 3DMM coefficients, audio, a 25-d emotion CSV derived from the coefficients
  (:mod:`reactface_ros.data.emotion`) and, unless disabled, a video rendered from the
  coefficients (256x256, 25 fps, mp4 with the audio, or a PNG frame folder in the challenge
  layout).

Pairs are (speaker, listener) per listener; splits never share a session. The appropriateness
matrix marks as appropriate to a speaker every reaction recorded to the same speaker clip (the
same speaker behaviour), in the mirrored ``(2P, 2P)`` layout.
"""
from __future__ import annotations

import json
import math
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from reactface_ros.constants import AUDIO_SAMPLE_RATE, FPS
from reactface_ros.data.behaviour import (
    LISTENER_STYLES, SPEAKER_STYLES, listener_reaction, random_person, speaker_behaviour,
)
from reactface_ros.data.challenge import ChallengeLayout
from reactface_ros.data.emotion import emotion_from_coefficients, write_emotion_csv
from reactface_ros.data.layouts import SPLITS, DyadicLayout, resample, write_split_list, write_wav
from reactface_ros.data.reactface_layout import ReactFaceLayout
from reactface_ros.data.speech import (
    backchannel_track, espeak_executable, frame_envelope, random_voice, speaker_track,
)

#: Audio sample rate written per layout (the challenge data is 44.1 kHz).
LAYOUT_AUDIO_RATE = {"reactface": AUDIO_SAMPLE_RATE, "challenge": 44100}
#: Name of the file describing how a synthetic dataset was made.
META_FILE = "synth_meta.json"


@dataclass
class SynthConfig:
    """How big a synthetic dataset is and how it is written.

    Attributes
    ----------
    pairs : int
        Total (speaker, listener) pairs over all splits.
    seed : int
        Seed; the same seed and config give identical coefficient, audio and emotion files.
    seconds : float
        Clip length; clips have ``round(seconds * 25) + 1`` frames (751 for 30 s, as REACT).
    layout : str
        ``"reactface"`` or ``"challenge"``.
    listeners_per_speaker : int
        Listeners (and pairs) per session; the styles of one session differ while there are
        styles left.
    video : bool
        Render and write videos (needs :mod:`reactface_ros.render` and
        :mod:`reactface_ros.video`).
    video_size : int
        Video width and height in pixels.
    val_fraction, test_fraction : float
        Share of sessions in the val and test splits (at least one each once there are three
        sessions).
    site : str
        First path component of every clip (``<site>/<session>/<role>/<clip>``).
    """

    pairs: int = 48
    seed: int = 0
    seconds: float = 30.0
    layout: str = "reactface"
    listeners_per_speaker: int = 4
    video: bool = True
    video_size: int = 256
    val_fraction: float = 0.15
    test_fraction: float = 0.15
    site: str = "synth"

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first bad field."""
        if self.pairs < 1:
            raise ValueError(f"pairs must be >= 1, got {self.pairs}")
        if self.seconds < 1.0:
            raise ValueError(f"seconds must be >= 1, got {self.seconds}")
        if self.layout not in LAYOUT_AUDIO_RATE:
            raise ValueError(f"layout must be one of {sorted(LAYOUT_AUDIO_RATE)}, got "
                             f"{self.layout!r}")
        if self.listeners_per_speaker < 1:
            raise ValueError("listeners_per_speaker must be >= 1, got "
                             f"{self.listeners_per_speaker}")
        if not (0 <= self.val_fraction < 1 and 0 <= self.test_fraction < 1
                and self.val_fraction + self.test_fraction < 1):
            raise ValueError("val_fraction and test_fraction must be in [0, 1) with a sum < 1")

    @property
    def num_frames(self) -> int:
        """Frames per clip."""
        return int(round(self.seconds * FPS)) + 1


def plan_sessions(config: SynthConfig) -> list[dict[str, Any]]:
    """Sessions, their listener counts and splits (no media yet).

    Returns
    -------
    list of dict
        Per session: ``session`` (name), ``split``, ``listeners`` (count); sessions are in
        generation order, pairs are numbered in that order.
    """
    r = config.listeners_per_speaker
    n = math.ceil(config.pairs / r)
    counts = [r] * (n - 1) + [config.pairs - r * (n - 1)]
    rng = np.random.default_rng([config.seed, 7919])
    order = rng.permutation(n)
    n_test = max(1, round(config.test_fraction * n)) if n >= 3 and config.test_fraction else 0
    n_val = max(1, round(config.val_fraction * n)) if n >= 3 and config.val_fraction else 0
    splits = ["train"] * n
    for i in order[:n_test]:
        splits[i] = "test"
    for i in order[n_test:n_test + n_val]:
        splits[i] = "val"
    return [{"session": f"s{i:03d}", "split": splits[i], "listeners": counts[i]}
            for i in range(n)]


def clip_path(config: SynthConfig, session: str, role: str) -> str:
    """``<site>/<session>/<role>/1`` (REACT's four-level clip path)."""
    return f"{config.site}/{session}/{role}/1"


def _layout_for(config: SynthConfig, root: Path, split: str) -> DyadicLayout:
    cls = ChallengeLayout if config.layout == "challenge" else ReactFaceLayout
    return cls.for_writing(root, split)


class _VideoWriter:
    """Renders coefficient sequences and writes them in the layout's video format."""

    def __init__(self, config: SynthConfig) -> None:
        try:
            from reactface_ros.render import make_renderer
        except ImportError as exc:
            raise RuntimeError(
                "rendering the synthetic videos needs reactface_ros.render "
                f"({exc}); generate without videos (--no-video) or install the renderer's "
                "dependencies") from exc
        self.renderer = make_renderer(style="mesh", size=config.video_size)
        self.kind = "frames" if config.layout == "challenge" else "mp4"

    def close(self) -> None:
        close = getattr(self.renderer, "close", None)
        if close is not None:
            close()

    def write(self, path: Path, coefficients: np.ndarray, audio: np.ndarray) -> None:
        frames = self.renderer.render_sequence(coefficients)
        path.parent.mkdir(parents=True, exist_ok=True)
        if self.kind == "frames":
            import cv2

            path.mkdir(parents=True, exist_ok=True)
            for i, frame in enumerate(frames, start=1):
                cv2.imwrite(str(path / f"{i}.png"), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
        else:
            from reactface_ros.video import write_video

            write_video(path, iter(frames), fps=FPS, audio=(audio, AUDIO_SAMPLE_RATE))


def _write_clip(layout: DyadicLayout, clip: str, coefficients: np.ndarray, audio: np.ndarray,
                audio_rate: int, video: _VideoWriter | None) -> None:
    npy = layout.coefficients_path(clip)
    npy.parent.mkdir(parents=True, exist_ok=True)
    np.save(npy, coefficients.astype(np.float32))
    write_wav(layout.audio_path(clip), resample(audio, AUDIO_SAMPLE_RATE, audio_rate), audio_rate)
    write_emotion_csv(layout.emotion_path(clip), emotion_from_coefficients(coefficients))
    if video is not None:
        video.write(layout.video_path(clip), coefficients, audio)


def neighbour_matrix(sessions_of_pairs: list[str]) -> np.ndarray:
    """Mirrored appropriateness matrix of pairs listed with their session names.

    Rows ``0..P-1`` (the session's speaker speaking) accept every reaction recorded to the same
    speaker clip; rows ``P..2P-1`` (a listener in the speaker role, the session's speaker as
    the reaction) accept the other mirrored rows of the same session, whose reaction is that
    same speaker clip.

    Returns
    -------
    np.ndarray
        ``(2P, 2P)`` float64 0/1.
    """
    s = np.asarray(sessions_of_pairs)
    same = (s[:, None] == s[None, :]).astype(np.float64)
    p = len(s)
    out = np.zeros((2 * p, 2 * p))
    out[:p, :p] = same
    out[p:, p:] = same
    return out


def generate_dataset(config: SynthConfig, out: str | Path,
                     progress: Callable[[int], Any] | None = None) -> dict[str, Any]:
    """Generate a synthetic dyadic dataset under ``out``.

    Parameters
    ----------
    config : SynthConfig
        Size, seed and layout.
    out : str or Path
        Dataset root (created; existing files of the same names are overwritten).
    progress : callable, optional
        Called with the number of clips finished since the last call (e.g. ``tqdm.update``).

    Returns
    -------
    dict
        The metadata also written to ``<out>/synth_meta.json``: the config, every session's
        split, speaker style and voice, and every listener's style, lag and back-channels.
    """
    config.validate()
    espeak_executable()  # fail before writing anything when espeak-ng is missing
    root = Path(out)
    root.mkdir(parents=True, exist_ok=True)
    video = _VideoWriter(config) if config.video else None
    try:
        return _generate(config, root, video, progress)
    finally:
        if video is not None:
            video.close()


def _generate(config: SynthConfig, root: Path, video: _VideoWriter | None,
              progress: Callable[[int], Any] | None) -> dict[str, Any]:
    t = config.num_frames
    audio_rate = LAYOUT_AUDIO_RATE[config.layout]
    sessions = plan_sessions(config)
    pairs: dict[str, list[tuple[str, str]]] = {s: [] for s in SPLITS}
    pair_sessions: dict[str, list[str]] = {s: [] for s in SPLITS}
    train_coeffs = []
    with tempfile.TemporaryDirectory() as workdir:
        for i, sess in enumerate(sessions):
            rng = np.random.default_rng([config.seed, i])
            layout = _layout_for(config, root, sess["split"])
            style = str(rng.choice(sorted(SPEAKER_STYLES)))
            voice = random_voice(rng)
            speaker = random_person(rng)
            track = speaker_track(rng, t, voice, workdir=workdir)
            behaviour = speaker_behaviour(rng, speaker, style, frame_envelope(track.audio),
                                          track.utterances, track.pauses())
            speaker_clip = clip_path(config, sess["session"], "speaker")
            _write_clip(layout, speaker_clip, behaviour.coefficients, track.audio, audio_rate,
                        video)
            if progress:
                progress(1)
            n = sess["listeners"]
            styles = list(rng.permutation(LISTENER_STYLES))
            styles = [str(styles[k % len(styles)]) for k in range(n)]
            sess.update(speaker={"path": speaker_clip, "style": style, "voice": asdict(voice),
                                 "utterances": [[a, b, txt] for a, b, txt in track.utterances]},
                        listeners=[])
            if sess["split"] == "train":
                train_coeffs.append(behaviour.coefficients)
            for k in range(n):
                person = random_person(rng)
                reaction = listener_reaction(rng, person, styles[k], behaviour)
                lvoice = random_voice(rng)
                laudio = backchannel_track(rng, t, lvoice, reaction.backchannels, workdir)
                lclip = clip_path(config, sess["session"], f"listener{k + 1}")
                _write_clip(layout, lclip, reaction.coefficients, laudio.audio, audio_rate,
                            video)
                if progress:
                    progress(1)
                sess["listeners"].append({"path": lclip, "style": styles[k],
                                          "lag_frames": reaction.lag_frames,
                                          "backchannels": reaction.backchannels})
                pairs[sess["split"]].append((speaker_clip, lclip))
                pair_sessions[sess["split"]].append(sess["session"])
                if sess["split"] == "train":
                    train_coeffs.append(reaction.coefficients)
    for split in SPLITS:
        layout = _layout_for(config, root, split)
        if not pairs[split]:
            continue
        write_split_list(layout.split_list_path(), pairs[split])
        np.save(layout.neighbour_path(), neighbour_matrix(pair_sessions[split]))
    if train_coeffs:
        stacked = np.concatenate(train_coeffs)
        np.save(root / "mean_face.npy", stacked.mean(axis=0).astype(np.float32))
        np.save(root / "std_face.npy", stacked.std(axis=0).astype(np.float32))
    meta = {"config": asdict(config), "num_frames": t, "fps": FPS, "audio_rate": audio_rate,
            "splits": {s: len(pairs[s]) for s in SPLITS}, "sessions": sessions}
    with open(root / META_FILE, "w", encoding="utf-8") as f:
        json.dump(meta, f, indent=1)
    return meta


def count_clips(config: SynthConfig) -> int:
    """Clips a config writes (one speaker per session plus every listener)."""
    return config.pairs + math.ceil(config.pairs / config.listeners_per_speaker)
