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
    long_pauses : float
        Probability that a pause of a speaker is a long silence (3-6 s) rather than 0.35-1.8 s:
        a robot spends much of a conversation in silence, where a listener that nodded at the
        start of the pause should then stay still.
    appropriateness : str
        ``"clip"``: a speaker's appropriate reactions are those recorded to the same speaker
        clip (time-aligned); ``"style"``: also those recorded to other speakers of the same
        behaviour style (like REACT, whose neighbours come from similar speaker behaviour).
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
    appropriateness: str = "clip"
    long_pauses: float = 0.15

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
        if not 0.0 <= self.long_pauses <= 1.0:
            raise ValueError(f"long_pauses must be a probability in [0, 1], got "
                             f"{self.long_pauses}")
        if self.appropriateness not in ("clip", "style"):
            raise ValueError("appropriateness must be 'clip' or 'style', got "
                             f"{self.appropriateness!r}")
        if not (0 <= self.val_fraction < 1 and 0 <= self.test_fraction < 1
                and self.val_fraction + self.test_fraction < 1):
            raise ValueError("val_fraction and test_fraction must be in [0, 1) with a sum < 1")
        if self.video and not 16 <= self.video_size <= 4096:
            raise ValueError(f"video_size must be 16-4096 pixels, got {self.video_size} "
                             "(or pass --no-video)")

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


def neighbour_matrix(forward_labels: list[str],
                     mirrored_labels: list[str] | None = None) -> np.ndarray:
    """Mirrored appropriateness matrix from a behaviour label per pair.

    Rows ``0..P-1`` (speaker -> listener) accept the reactions of every row whose speaker
    has the same label; rows ``P..2P-1`` (roles swapped) likewise with ``mirrored_labels``
    (the labels of the listeners now in the speaker role; defaults to ``forward_labels``).
    With session names as labels, a speaker's appropriate reactions are exactly the
    reactions recorded to the same speaker clip.

    Parameters
    ----------
    forward_labels : list of str
        ``P`` labels of the pairs' speakers.
    mirrored_labels : list of str, optional
        ``P`` labels of the pairs' listeners.

    Returns
    -------
    np.ndarray
        ``(2P, 2P)`` float64 0/1.
    """
    f = np.asarray(forward_labels)
    m = f if mirrored_labels is None else np.asarray(mirrored_labels)
    if m.shape != f.shape:
        raise ValueError("forward_labels and mirrored_labels must have the same length")
    p = len(f)
    out = np.zeros((2 * p, 2 * p))
    out[:p, :p] = f[:, None] == f[None, :]
    out[p:, p:] = m[:, None] == m[None, :]
    return out


@dataclass
class SynthClip:
    """One synthetic person's clip.

    Attributes
    ----------
    coefficients : np.ndarray
        ``(T, 58)`` float32 FaceVerse coefficients.
    audio : np.ndarray
        ``(T * 640,)`` float32 at 16 kHz.
    style : str
        Speaker style (:data:`~reactface_ros.data.behaviour.SPEAKER_STYLES`) or listener
        style (:data:`~reactface_ros.data.behaviour.LISTENER_STYLES`).
    info : dict
        What made it (voice, utterances, lag, back-channel frames), JSON-serialisable.
    """

    coefficients: np.ndarray
    audio: np.ndarray
    style: str
    info: dict[str, Any]


@dataclass
class SynthSession:
    """One speaker clip and the listeners' reactions to it."""

    speaker: SynthClip
    listeners: list[SynthClip]


def synthesize_session(seed: int, index: int, num_frames: int, num_listeners: int,
                       workdir: str | Path | None = None,
                       long_pauses: float = 0.0) -> SynthSession:
    """Generate one session in memory (what :func:`generate_dataset` writes per session).

    Parameters
    ----------
    seed, index : int
        The dataset seed and the session's index; together they seed everything.
    num_frames : int
        Clip length ``T`` (25 fps).
    num_listeners : int
        Listeners reacting to the speaker; their styles differ while styles are left.
    workdir : str or Path, optional
        Folder for espeak-ng's temporary files.
    long_pauses : float
        Probability that a speaker's pause is a long silence (:class:`SynthConfig`).

    Returns
    -------
    SynthSession
    """
    rng = np.random.default_rng([seed, index])
    style = str(rng.choice(sorted(SPEAKER_STYLES)))
    voice = random_voice(rng)
    speaker = random_person(rng)
    track = speaker_track(rng, num_frames, voice, workdir=workdir, long_pause_prob=long_pauses)
    behaviour = speaker_behaviour(rng, speaker, style, frame_envelope(track.audio),
                                  track.utterances, track.pauses())
    spk = SynthClip(behaviour.coefficients, track.audio, style, {
        "voice": asdict(voice), "utterances": [[a, b, txt] for a, b, txt in track.utterances]})
    styles = list(rng.permutation(LISTENER_STYLES))
    listeners = []
    for k in range(num_listeners):
        lstyle = str(styles[k % len(styles)])
        reaction = listener_reaction(rng, random_person(rng), lstyle, behaviour)
        laudio = backchannel_track(rng, num_frames, random_voice(rng), reaction.backchannels,
                                   workdir)
        listeners.append(SynthClip(reaction.coefficients, laudio.audio, lstyle, {
            "lag_frames": reaction.lag_frames, "backchannels": reaction.backchannels}))
    return SynthSession(spk, listeners)


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
    labels: dict[str, list[tuple[str, str]]] = {s: [] for s in SPLITS}
    train_coeffs = []
    with tempfile.TemporaryDirectory() as workdir:
        for i, sess in enumerate(sessions):
            split = sess["split"]
            layout = _layout_for(config, root, split)
            made = synthesize_session(config.seed, i, t, sess["listeners"], workdir,
                                      config.long_pauses)
            speaker_clip = clip_path(config, sess["session"], "speaker")
            clips = [(speaker_clip, made.speaker)] + [
                (clip_path(config, sess["session"], f"listener{k + 1}"), c)
                for k, c in enumerate(made.listeners)]
            for path, clip in clips:
                _write_clip(layout, path, clip.coefficients, clip.audio, audio_rate, video)
                if split == "train":
                    train_coeffs.append(clip.coefficients)
                if progress:
                    progress(1)
            sess.update(speaker={"path": speaker_clip, "style": made.speaker.style,
                                 **made.speaker.info},
                        listeners=[{"path": p, "style": c.style, **c.info} for p, c in clips[1:]])
            for path, clip in clips[1:]:
                pairs[split].append((speaker_clip, path))
                if config.appropriateness == "style":
                    labels[split].append((made.speaker.style, clip.style))
                else:
                    labels[split].append((sess["session"], sess["session"]))
    for split in SPLITS:
        layout = _layout_for(config, root, split)
        if not pairs[split]:
            continue
        write_split_list(layout.split_list_path(), pairs[split])
        forward, mirrored = zip(*labels[split])
        np.save(layout.neighbour_path(), neighbour_matrix(list(forward), list(mirrored)))
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
