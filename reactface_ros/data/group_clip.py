"""Two-person test clips: two synthetic speakers side by side, taking turns.

Each person gets espeak-ng speech only during their own turns (short pauses between
sentences) and a face driven by that speech (:func:`reactface_ros.data.behaviour.
speaker_behaviour`): the jaw and lips follow their own loudness, so the one who listens keeps
a quiet mouth while still blinking, smiling and swaying. Both faces are rendered with the mesh
renderer and placed side by side in one frame; the audio track is the sum of both voices
(what one microphone hears). The ground truth (who speaks when, who is on which side) is
returned with the clip, for tests of the active-speaker estimate and the gaze.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from reactface_ros.constants import AUDIO_SAMPLE_RATE, FPS, SAMPLES_PER_FRAME
from reactface_ros.data.behaviour import random_person, speaker_behaviour
from reactface_ros.data.speech import (SpeechTrack, frame_envelope, noise_floor, random_voice,
                                       speaker_track)


@dataclass
class GroupClip:
    """A generated two-person clip and its ground truth.

    Attributes
    ----------
    path : Path
        The mp4 (H.264 + AAC, 25 fps).
    turns : list of (int, int, int)
        ``(first_frame, end_frame, person)`` of each turn (person 0 or 1).
    sides : tuple of str
        ``sides[p]`` is ``"left"`` or ``"right"``: where person ``p`` is in the image.
    num_frames : int
        Frames in the clip.
    speaking : np.ndarray
        ``(T,)`` int: the person whose turn it is per frame.
    """

    path: Path
    turns: list[tuple[int, int, int]]
    sides: tuple[str, str]
    num_frames: int
    speaking: np.ndarray = field(default_factory=lambda: np.zeros(0, int))

    def side_of_speaker(self) -> np.ndarray:
        """``(T,)`` +1 where the person whose turn it is stands on the right, -1 on the left."""
        return np.array([1 if self.sides[p] == "right" else -1 for p in self.speaking])


def _person_track(rng: np.random.Generator, num_frames: int, voice,
                  turns: list[tuple[int, int]], workdir) -> SpeechTrack:
    audio = noise_floor(rng, num_frames * SAMPLES_PER_FRAME)
    utterances = []
    for a, b in turns:
        part = speaker_track(rng, b - a, voice, pause_range=(0.15, 0.4), workdir=workdir)
        audio[a * SAMPLES_PER_FRAME:b * SAMPLES_PER_FRAME] += part.audio
        utterances += [(a + u0, a + u1, text) for u0, u1, text in part.utterances]
    return SpeechTrack(audio=audio, utterances=utterances)


def two_person_clip(out: str | Path, seconds: float = 16.0, turn_s: float = 4.0,
                    seed: int = 7, size: int = 192, swap: bool = False,
                    workdir: str | Path | None = None) -> GroupClip:
    """Make a clip of two people side by side taking turns.

    Parameters
    ----------
    out : str or Path
        Output mp4.
    seconds : float
        Clip length.
    turn_s : float
        Length of each turn; person 0 speaks first.
    seed : int
        Seeds faces, voices and sentences (the same seed gives the same people and speech).
    size : int
        Side of each rendered face in pixels (the frame is ``size`` x ``2 * size``).
    swap : bool
        Put person 0 on the right instead of the left (same people, same speech).
    workdir : str or Path, optional
        Folder for espeak-ng's temporary files.
    """
    from reactface_ros.render import make_renderer
    from reactface_ros.video import write_video

    if not seconds > 0 or not turn_s > 0:
        raise ValueError(f"seconds and turn_s must be > 0, got {seconds!r}, {turn_s!r}")
    num_frames = int(round(seconds * FPS))
    turn = max(1, int(round(turn_s * FPS)))
    turns = [(a, min(a + turn, num_frames), (a // turn) % 2) for a in range(0, num_frames, turn)]
    speaking = np.zeros(num_frames, int)
    for a, b, p in turns:
        speaking[a:b] = p
    rng = np.random.default_rng([seed, 2])
    coefficients, audio = [], np.zeros(num_frames * SAMPLES_PER_FRAME, np.float32)
    for p in (0, 1):
        person = random_person(rng)
        track = _person_track(rng, num_frames, random_voice(rng),
                              [(a, b) for a, b, q in turns if q == p], workdir)
        behaviour = speaker_behaviour(rng, person, "calm" if p == 0 else "animated",
                                      frame_envelope(track.audio), track.utterances,
                                      track.pauses())
        coefficients.append(behaviour.coefficients)
        audio += track.audio
    peak = float(np.max(np.abs(audio)))
    if peak > 0.99:
        audio *= 0.99 / peak
    order = (1, 0) if swap else (0, 1)
    with make_renderer(style="mesh", size=size) as renderer:
        faces = [renderer.render_sequence(c) for c in coefficients]
    frames = (np.concatenate([faces[order[0]][t], faces[order[1]][t]], axis=1)
              for t in range(num_frames))
    path = Path(out)
    write_video(path, frames, fps=FPS, audio=(audio, AUDIO_SAMPLE_RATE))
    sides = ("right", "left") if swap else ("left", "right")
    return GroupClip(path, turns, sides, num_frames, speaking)


__all__ = ["GroupClip", "two_person_clip"]
