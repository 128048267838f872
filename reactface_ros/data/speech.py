"""Speech-like audio for synthetic speakers: espeak-ng utterances separated by pauses.

A speaker track is a sequence of random sentences from a small word list, each synthesised by
``espeak-ng`` (run as a subprocess) with the speaker's voice, speed and pitch, placed on a
timeline with pauses between them. The timeline (where each utterance starts and ends) drives
the speaker's face (jaw with the envelope, nods at pauses) and the listeners' reactions.
Listener tracks hold short back-channel utterances ("mm hmm", "yeah") at chosen times.
"""
from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from reactface_ros.constants import AUDIO_SAMPLE_RATE, SAMPLES_PER_FRAME

#: Words the random sentences are drawn from.
WORDS: tuple[str, ...] = (
    "we", "they", "you", "people", "my", "friend", "family", "teacher", "city", "house",
    "garden", "morning", "evening", "weekend", "summer", "winter", "holiday", "train",
    "station", "market", "coffee", "dinner", "music", "movie", "book", "story", "project",
    "meeting", "office", "school", "river", "mountain", "village", "weather", "problem",
    "idea", "plan", "question", "answer", "moment", "really", "always", "never", "often",
    "sometimes", "quickly", "slowly", "finally", "probably", "actually", "went", "saw",
    "found", "made", "took", "told", "asked", "thought", "wanted", "tried", "liked", "visited",
    "remember", "started", "finished", "walked", "talked", "played", "cooked", "built",
    "bought", "brought", "great", "strange", "funny", "difficult", "beautiful", "quiet",
    "busy", "small", "big", "old", "new", "happy", "tired", "early", "late", "again",
    "together", "there", "here", "yesterday", "today", "because", "and", "but", "so", "then",
    "with", "after", "before", "about", "the", "a", "that", "this", "all", "very",
)

#: Short back-channel utterances a listener makes at pauses.
BACKCHANNELS: tuple[str, ...] = ("mm hmm", "yeah", "right", "okay", "uh huh", "I see", "mm")

#: espeak-ng voices (language + variant) the speakers draw from.
VOICES: tuple[str, ...] = (
    "en-us", "en-gb", "en-us+f2", "en-us+f3", "en-us+f4", "en-gb+f1", "en-us+m3", "en-gb+m2",
    "en-gb-scotland", "en-029", "en-us+m5", "en-gb-x-rp+f5",
)

#: espeak-ng's output rate.
ESPEAK_RATE = 22050


class SpeechSynthesisError(RuntimeError):
    """espeak-ng is missing or failed."""


@dataclass
class Voice:
    """How one synthetic person speaks.

    Attributes
    ----------
    name : str
        espeak-ng voice (``-v``), e.g. ``"en-us+f3"``.
    speed : int
        Words per minute (``-s``).
    pitch : int
        Pitch 0..99 (``-p``).
    loudness : float
        Peak amplitude of an utterance in ``(0, 1]``.
    """

    name: str = "en-us"
    speed: int = 160
    pitch: int = 50
    loudness: float = 0.6


def random_voice(rng: np.random.Generator) -> Voice:
    """Draw a voice: one of :data:`VOICES`, 130-190 wpm, pitch 25-75, loudness 0.4-0.8."""
    return Voice(name=str(rng.choice(VOICES)), speed=int(rng.integers(130, 191)),
                 pitch=int(rng.integers(25, 76)), loudness=float(rng.uniform(0.4, 0.8)))


def random_sentence(rng: np.random.Generator, min_words: int = 3, max_words: int = 10) -> str:
    """A random sentence of ``min_words..max_words`` words from :data:`WORDS`."""
    n = int(rng.integers(min_words, max_words + 1))
    return " ".join(str(w) for w in rng.choice(WORDS, size=n))


def espeak_executable() -> str:
    """Path of ``espeak-ng``; raises :class:`SpeechSynthesisError` with what to install."""
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise SpeechSynthesisError(
            "espeak-ng was not found on PATH; the synthetic dataset needs it for speaker audio."
            " Install it (Debian/Ubuntu: sudo apt-get install espeak-ng; macOS: brew install "
            "espeak-ng) and run again.")
    return exe


def synthesize(text: str, voice: Voice, workdir: str | Path | None = None) -> np.ndarray:
    """Synthesise one utterance with espeak-ng.

    Parameters
    ----------
    text : str
        What to say.
    voice : Voice
        Voice, speed, pitch and loudness.
    workdir : str or Path, optional
        Folder for the temporary wav file (a fresh temporary folder by default).

    Returns
    -------
    np.ndarray
        ``(S,)`` float32 at 16 kHz, leading and trailing silence trimmed, peak ``loudness``.
    """
    from reactface_ros.data.layouts import read_wav, resample

    exe = espeak_executable()
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        out = Path(tmp) / "utterance.wav"
        cmd = [exe, "-v", voice.name, "-s", str(voice.speed), "-p", str(voice.pitch),
               "-w", str(out), text]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        if proc.returncode != 0 or not out.exists():
            raise SpeechSynthesisError(
                f"espeak-ng failed (exit {proc.returncode}) for voice {voice.name!r}: "
                f"{proc.stderr.strip()}")
        samples, rate = read_wav(out)
    audio = resample(samples, rate, AUDIO_SAMPLE_RATE)
    loud = np.flatnonzero(np.abs(audio) > 0.01 * max(float(np.abs(audio).max()), 1e-9))
    if len(loud) == 0:
        raise SpeechSynthesisError(f"espeak-ng produced silence for {text!r}")
    audio = audio[loud[0]:loud[-1] + 1]
    return (audio * (voice.loudness / float(np.abs(audio).max()))).astype(np.float32)


@dataclass
class SpeechTrack:
    """A clip's audio and the timeline of what was said.

    Attributes
    ----------
    audio : np.ndarray
        ``(num_frames * 640,)`` float32 at 16 kHz.
    utterances : list of (int, int, str)
        ``(first_frame, end_frame, text)`` of each utterance (end exclusive, 25 fps).
    """

    audio: np.ndarray
    utterances: list[tuple[int, int, str]] = field(default_factory=list)

    @property
    def num_frames(self) -> int:
        """Clip length in frames."""
        return len(self.audio) // SAMPLES_PER_FRAME

    def speaking(self) -> np.ndarray:
        """``(T,)`` bool: inside an utterance."""
        mask = np.zeros(self.num_frames, dtype=bool)
        for a, b, _ in self.utterances:
            mask[a:b] = True
        return mask

    def pauses(self, min_frames: int = 8) -> list[tuple[int, int]]:
        """``(start, end)`` frames of silent gaps after an utterance, at least ``min_frames``."""
        out = []
        ends = sorted(self.utterances)
        for i, (_, b, _) in enumerate(ends):
            nxt = ends[i + 1][0] if i + 1 < len(ends) else self.num_frames
            if nxt - b >= min_frames:
                out.append((b, nxt))
        return out


def _place(audio: np.ndarray, clip: np.ndarray, at: int) -> int:
    seg = clip[:max(0, len(audio) - at)]
    if len(seg) > 64:  # fade a cut utterance so the clip does not end on a click
        fade = min(len(seg), 320)
        seg = seg.copy()
        if len(seg) < len(clip):
            seg[-fade:] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)
    audio[at:at + len(seg)] += seg
    return len(seg)


def noise_floor(rng: np.random.Generator, num_samples: int, level: float = 3e-4) -> np.ndarray:
    """Faint room noise so silent stretches are not exactly zero."""
    return (level * rng.standard_normal(num_samples)).astype(np.float32)


def speaker_track(rng: np.random.Generator, num_frames: int, voice: Voice,
                  pause_range: tuple[float, float] = (0.35, 1.8),
                  workdir: str | Path | None = None, long_pause_prob: float = 0.0,
                  long_pause_range: tuple[float, float] = (3.0, 6.0)) -> SpeechTrack:
    """Utterances with pauses filling ``num_frames`` frames.

    Parameters
    ----------
    rng : np.random.Generator
        Source of the sentences and pause lengths.
    num_frames : int
        Clip length in frames (25 fps).
    voice : Voice
        The speaker's voice.
    pause_range : (float, float)
        Pause length range in seconds (the clip also opens with a short silence).
    long_pause_prob : float
        Probability that a pause is a long silence instead, drawn from ``long_pause_range``
        seconds (a listener's nod opens it; what follows is a still, attentive listener).

    Returns
    -------
    SpeechTrack
    """
    n = num_frames * SAMPLES_PER_FRAME
    audio = noise_floor(rng, n)
    utterances = []
    pos = int(rng.uniform(0.15, 0.6) * AUDIO_SAMPLE_RATE)
    while pos < n - SAMPLES_PER_FRAME * 6:
        text = random_sentence(rng)
        clip = synthesize(text, voice, workdir)
        used = _place(audio, clip, pos)
        utterances.append((pos // SAMPLES_PER_FRAME,
                           min(num_frames, -(-(pos + used) // SAMPLES_PER_FRAME)), text))
        pause = rng.uniform(*pause_range)
        if long_pause_prob > 0 and rng.random() < long_pause_prob:
            pause = rng.uniform(*long_pause_range)
        pos += used + int(pause * AUDIO_SAMPLE_RATE)
    return SpeechTrack(audio=audio, utterances=utterances)


def backchannel_track(rng: np.random.Generator, num_frames: int, voice: Voice,
                      at_frames: list[int], workdir: str | Path | None = None) -> SpeechTrack:
    """Quiet back-channel utterances at the given frames, silence elsewhere.

    Returns
    -------
    SpeechTrack
        ``(num_frames * 640,)`` audio; ``utterances`` lists the back-channels.
    """
    n = num_frames * SAMPLES_PER_FRAME
    audio = noise_floor(rng, n)
    quiet = Voice(voice.name, voice.speed, voice.pitch, loudness=0.5 * voice.loudness)
    utterances = []
    for f in at_frames:
        if f >= num_frames - 2:
            continue
        text = str(rng.choice(BACKCHANNELS))
        pos = f * SAMPLES_PER_FRAME
        used = _place(audio, synthesize(text, quiet, workdir), pos)
        utterances.append((f, min(num_frames, -(-(pos + used) // SAMPLES_PER_FRAME)), text))
    return SpeechTrack(audio=audio, utterances=utterances)


def frame_envelope(audio: np.ndarray) -> np.ndarray:
    """Per-frame loudness normalised to ``[0, ~1]``.

    Parameters
    ----------
    audio : np.ndarray
        ``(T * 640,)`` audio at 16 kHz.

    Returns
    -------
    np.ndarray
        ``(T,)`` RMS per 40 ms frame divided by the 95th percentile of the voiced frames'
        RMS, clipped to ``[0, 1.2]``.
    """
    t = len(audio) // SAMPLES_PER_FRAME
    frames = np.asarray(audio[:t * SAMPLES_PER_FRAME], dtype=np.float64).reshape(t, -1)
    rms = np.sqrt((frames ** 2).mean(axis=1))
    voiced = rms[rms > 0.01]
    ref = np.percentile(voiced, 95) if len(voiced) else 1.0
    return np.clip(rms / max(ref, 1e-6), 0.0, 1.2)
