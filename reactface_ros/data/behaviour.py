"""Synthetic speaker behaviour and listener reactions as FaceVerse coefficient sequences.

A synthetic person has a resting face (:class:`Person`: baseline blendshapes, head pose, gaze,
blink rate, head sway, expressivity). A speaker's face follows its speech (jaw with the
loudness envelope, lips while talking, brow raises at utterance onsets, nods at utterance ends)
and a behaviour style (how often it smiles and frowns). A listener reacts in one of
:data:`LISTENER_STYLES`, each an appropriate but different reaction to the same speaker:

* ``mirror``: smiles back 0.3-1.5 s after the speaker smiles (a per-listener lag and gain);
* ``nodder``: nods (and sometimes says "mm hmm") in the speaker's pauses;
* ``attentive``: a still, neutral face; eyes widen slightly while the speaker talks and
  blinks gather in the pauses;
* ``concerned``: lowers the brows and frowns 0.4-1.2 s after the speaker frowns, tilts the
  head, smiles only faintly back.

Every listener also has speaker-independent habits (its own blinks, sway, gaze shifts and lip
fidgets), so two listeners of one style still differ.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.ndimage import gaussian_filter1d

from reactface_ros.constants import (
    ARKIT_BLENDSHAPE_NAMES, BLENDSHAPE_INDEX, FPS, NUM_BLENDSHAPES, NUM_COEFFS, ROTATION_SLICE,
    TRANSLATION_SLICE,
)
from reactface_ros.geometry import FRONTAL_ROTATION

#: Listener reaction styles, each appropriate to any speaker.
LISTENER_STYLES: tuple[str, ...] = ("mirror", "nodder", "attentive", "concerned")

#: Speaker behaviour styles -> episode rates per second and nod probability at utterance ends.
SPEAKER_STYLES: dict[str, dict[str, float]] = {
    "cheerful": {"smile": 0.16, "frown": 0.02, "brow": 0.5, "nod": 0.5},
    "serious": {"smile": 0.06, "frown": 0.10, "brow": 0.3, "nod": 0.3},
    "animated": {"smile": 0.10, "frown": 0.05, "brow": 0.8, "nod": 0.6},
    "calm": {"smile": 0.08, "frown": 0.04, "brow": 0.2, "nod": 0.4},
}

#: Resting range ``(low, high)`` of each blendshape a person's baseline is drawn from; the
#: unlisted ones rest in ``(0, 0.03)``. Brows rest partly lowered and lips partly pressed, as
#: face trackers usually report for a neutral face.
RESTING_RANGES: dict[str, tuple[float, float]] = {
    "browDownLeft": (0.15, 0.85), "browDownRight": (0.15, 0.8), "browInnerUp": (0.0, 0.3),
    "browOuterUpLeft": (0.0, 0.12), "browOuterUpRight": (0.0, 0.1),
    "cheekSquintLeft": (0.0, 0.12), "cheekSquintRight": (0.0, 0.1),
    "eyeBlinkLeft": (0.05, 0.3), "eyeBlinkRight": (0.05, 0.25),
    "eyeSquintLeft": (0.0, 0.06), "eyeSquintRight": (0.0, 0.1),
    "eyeWideLeft": (0.0, 0.3), "eyeWideRight": (0.0, 0.2),
    "jawOpen": (0.0, 0.06), "mouthDimpleLeft": (0.0, 0.08), "mouthDimpleRight": (0.0, 0.03),
    "mouthFrownLeft": (0.0, 0.1), "mouthFrownRight": (0.0, 0.04),
    "mouthFunnel": (0.0, 0.04), "mouthLeft": (0.0, 0.14), "mouthRight": (0.0, 0.12),
    "mouthLowerDownLeft": (0.0, 0.05), "mouthLowerDownRight": (0.0, 0.1),
    "mouthPressLeft": (0.0, 0.35), "mouthPressRight": (0.0, 0.18),
    "mouthRollUpper": (0.02, 0.22), "mouthSmileLeft": (0.05, 0.35),
    "mouthSmileRight": (0.1, 0.45), "mouthStretchLeft": (0.0, 0.12),
    "mouthStretchRight": (0.0, 0.1),
}


def _idx(name: str) -> int:
    return BLENDSHAPE_INDEX[name]


def smooth_noise(rng: np.random.Generator, num_frames: int, timescale_s: float) -> np.ndarray:
    """Zero-mean, unit-std Gaussian noise low-passed to the given timescale.

    Returns
    -------
    np.ndarray
        ``(T,)`` float64.
    """
    sigma = max(timescale_s * FPS, 0.5)
    pad = int(3 * sigma)
    x = gaussian_filter1d(rng.standard_normal(num_frames + 2 * pad), sigma)[pad:pad + num_frames]
    return (x - x.mean()) / (x.std() + 1e-9)


def bump(num_frames: int, start: int, length: int, rise: int) -> np.ndarray:
    """A raised-cosine episode: rises over ``rise`` frames, holds, falls over ``rise``.

    Returns
    -------
    np.ndarray
        ``(T,)`` in ``[0, 1]``, zero outside ``[start, start + length)``.
    """
    out = np.zeros(num_frames)
    rise = max(1, min(rise, length // 2))
    shape = np.ones(length)
    ramp = 0.5 - 0.5 * np.cos(np.linspace(0, np.pi, rise + 2)[1:-1])
    shape[:rise] = ramp
    shape[length - rise:] = ramp[::-1]
    a, b = max(start, 0), min(start + length, num_frames)
    if b > a:
        out[a:b] = shape[a - start:b - start]
    return out


def episode_track(rng: np.random.Generator, num_frames: int, rate: float,
                  duration_s: tuple[float, float], amplitude: tuple[float, float],
                  min_count: int = 0, starts: list[int] | None = None) -> np.ndarray:
    """Sum of raised-cosine episodes at Poisson times (or at the given ``starts``).

    Parameters
    ----------
    rng : np.random.Generator
        Random source.
    num_frames : int
        Clip length ``T``.
    rate : float
        Episodes per second when ``starts`` is None.
    duration_s, amplitude : (float, float)
        Ranges of each episode's length (s) and peak.
    min_count : int
        At least this many episodes when ``starts`` is None (the missing ones start in the
        first half of the clip).
    starts : list of int, optional
        Fixed episode onsets (frames).

    Returns
    -------
    np.ndarray
        ``(T,)`` track, clipped to ``[0, 1]``.
    """
    if starts is None:
        count = int(rng.poisson(rate * num_frames / FPS))
        starts = [int(s) for s in rng.integers(0, max(1, num_frames - FPS // 2), count)]
        # Guaranteed episodes go in the first half, so reactions to them fit in the clip.
        starts += [int(s) for s in rng.integers(0, max(1, num_frames // 2),
                                                max(0, min_count - count))]
        starts.sort()
    track = np.zeros(num_frames)
    for s in starts:
        length = max(4, int(rng.uniform(*duration_s) * FPS))
        track += rng.uniform(*amplitude) * bump(num_frames, s, length, max(2, length // 4))
    return np.clip(track, 0.0, 1.0)


def blink_track(rng: np.random.Generator, num_frames: int, rate: float | np.ndarray) -> np.ndarray:
    """Blinks (a 5-7 frame close-open) at a Poisson rate per second (scalar or ``(T,)``).

    Returns
    -------
    np.ndarray
        ``(T,)`` in ``[0, 1]`` (1 = eyes closed).
    """
    rate = np.broadcast_to(np.asarray(rate, dtype=np.float64), (num_frames,))
    events = rng.random(num_frames) < rate / FPS
    track = np.zeros(num_frames)
    for t in np.flatnonzero(events):
        shape = np.array([0.35, 0.85, 1.0, 0.8, 0.45, 0.15])[: int(rng.integers(5, 7))]
        n = min(len(shape), num_frames - t)
        track[t:t + n] = np.maximum(track[t:t + n], shape[:n])
    return track


def nod(num_frames: int, start: int, amplitude: float, cycles: int = 1,
        period_s: float = 0.55) -> np.ndarray:
    """A head nod (pitch down and back up, ``cycles`` times), in radians.

    Returns
    -------
    np.ndarray
        ``(T,)`` pitch offsets, zero outside the nod.
    """
    length = int(cycles * period_s * FPS)
    out = np.zeros(num_frames)
    t = np.arange(length)
    wave = amplitude * np.sin(np.pi * t / (period_s * FPS)) ** 2
    wave *= np.linspace(1.0, 0.6, length) if cycles > 1 else 1.0
    a, b = max(start, 0), min(start + length, num_frames)
    if b > a:
        out[a:b] = wave[a - start:b - start]
    return out


def causal_smooth(x: np.ndarray, timescale_frames: float) -> np.ndarray:
    """One-sided exponential smoothing: output t depends on ``x[:t + 1]`` only.

    A listener can only respond to speech it has heard, so its "listening" state must lag the
    speaker's speech, never anticipate it (a centred filter would rise before speech starts).

    Returns
    -------
    np.ndarray
        ``(T,)`` float64, starting from ``x[0]``.
    """
    from scipy.signal import lfilter

    x = np.asarray(x, dtype=np.float64)
    if x.size == 0:
        return x.copy()
    a = float(np.exp(-1.0 / max(timescale_frames, 1e-6)))
    y, _ = lfilter([1.0 - a], [1.0, -a], x, zi=np.array([a * x[0]]))
    return y


def shift(x: np.ndarray, lag: int) -> np.ndarray:
    """Delay ``x`` by ``lag`` frames (the first value fills the start)."""
    if lag <= 0:
        return x.copy()
    return np.concatenate([np.full(lag, x[0]), x[:-lag]])


@dataclass
class Person:
    """A synthetic person's resting face and idiosyncrasies.

    Attributes
    ----------
    baseline : np.ndarray
        ``(58,)`` resting coefficients.
    gain : np.ndarray
        ``(52,)`` per-blendshape expressivity (left/right asymmetry included).
    blink_rate : float
        Blinks per second.
    sway : np.ndarray
        ``(3,)`` head sway amplitude (rad) of pitch, yaw and roll.
    sway_timescale : float
        Seconds; the sway's low-pass timescale.
    gaze_shift_rate : float
        Gaze shifts per second.
    fidget_rate : float
        Speaker-independent lip fidgets per second.
    """

    baseline: np.ndarray
    gain: np.ndarray
    blink_rate: float
    sway: np.ndarray
    sway_timescale: float
    gaze_shift_rate: float
    fidget_rate: float


def random_person(rng: np.random.Generator) -> Person:
    """Draw a person: resting face from :data:`RESTING_RANGES`, pose, gaze and habits."""
    base = np.zeros(NUM_COEFFS)
    for i in range(NUM_BLENDSHAPES):
        lo, hi = RESTING_RANGES.get(ARKIT_BLENDSHAPE_NAMES[i], (0.0, 0.03))
        base[i] = rng.uniform(lo, hi)
    # Gaze: looking off to one side (the partner sits beside the camera) and a little down/up.
    yaw, pitch = rng.uniform(-0.5, 0.5), rng.uniform(-0.25, 0.25)
    _set_gaze(base, yaw, pitch)
    base[ROTATION_SLICE] = FRONTAL_ROTATION + np.array(
        [rng.normal(0.05, 0.12), np.clip(rng.normal(0.0, 0.3), -0.55, 0.55),
         rng.normal(0.0, 0.08)])
    # Sitting a little off-centre and at different distances, but inside a face-crop video.
    base[TRANSLATION_SLICE] = [rng.normal(0.0, 0.04), rng.normal(-0.02, 0.02),
                               rng.uniform(1.55, 2.2)]
    gain = rng.uniform(0.7, 1.3) * rng.uniform(0.85, 1.15, NUM_BLENDSHAPES)
    return Person(baseline=base, gain=gain, blink_rate=float(rng.uniform(0.15, 0.45)),
                  sway=np.array([rng.uniform(0.01, 0.04), rng.uniform(0.03, 0.12),
                                 rng.uniform(0.01, 0.05)]),
                  sway_timescale=float(rng.uniform(1.0, 3.0)),
                  gaze_shift_rate=float(rng.uniform(0.05, 0.25)),
                  fidget_rate=float(rng.uniform(0.0, 0.08)))


def _set_gaze(c: np.ndarray, yaw: np.ndarray | float, pitch: np.ndarray | float) -> None:
    # Looking to the viewer's right moves the left eye outward and the right eye inward.
    right, left = np.maximum(yaw, 0.0), np.maximum(-np.asarray(yaw), 0.0)
    c[..., _idx("eyeLookOutLeft")] = right
    c[..., _idx("eyeLookInRight")] = 0.6 * right
    c[..., _idx("eyeLookInLeft")] = 0.6 * left
    c[..., _idx("eyeLookOutRight")] = left
    c[..., _idx("eyeLookUpLeft")] = np.maximum(pitch, 0.0)
    c[..., _idx("eyeLookUpRight")] = 0.6 * np.maximum(pitch, 0.0)
    c[..., _idx("eyeLookDownLeft")] = np.maximum(-np.asarray(pitch), 0.0)
    c[..., _idx("eyeLookDownRight")] = 0.5 * np.maximum(-np.asarray(pitch), 0.0)


class FaceBuilder:
    """Accumulates expression and head-motion offsets on a person's resting face.

    Parameters
    ----------
    person : Person
        Whose face.
    num_frames : int
        Clip length ``T``.
    """

    def __init__(self, person: Person, num_frames: int) -> None:
        self.person = person
        self.t = num_frames
        self.delta = np.zeros((num_frames, NUM_BLENDSHAPES))
        self.rotation = np.zeros((num_frames, 3))
        self.translation = np.zeros((num_frames, 3))

    def add(self, names: str | tuple[str, ...], track: np.ndarray, weight: float = 1.0) -> None:
        """Add ``weight * track`` (``(T,)``) to one or more blendshapes."""
        for name in (names,) if isinstance(names, str) else names:
            self.delta[:, _idx(name)] += weight * track

    def habits(self, rng: np.random.Generator, blink_rate: float | np.ndarray | None = None,
               sway_scale: float = 1.0) -> None:
        """Add the person's own blinks, head sway, gaze shifts, lip fidgets and micro-motion."""
        p, t = self.person, self.t
        rate = p.blink_rate if blink_rate is None else blink_rate
        blink = blink_track(rng, t, rate)
        for side in ("Left", "Right"):
            rest = p.baseline[_idx("eyeBlink" + side)]
            self.add("eyeBlink" + side, blink, 0.95 - rest)
            self.add("eyeSquint" + side, blink, 0.1)
        for k in range(3):
            self.rotation[:, k] += sway_scale * p.sway[k] * smooth_noise(rng, t, p.sway_timescale)
        self.translation[:, 0] += 0.25 * self.rotation[:, 1] + 0.01 * smooth_noise(rng, t, 3.0)
        self.translation[:, 1] += 0.003 * smooth_noise(rng, t, 2.0)
        self.translation[:, 2] += 0.02 * smooth_noise(rng, t, 4.0)
        # Gaze shifts: short looks away and back.
        looks = episode_track(rng, t, p.gaze_shift_rate, (0.4, 1.5), (0.1, 0.35))
        sign = 1.0 if rng.random() < 0.5 else -1.0
        gaze = np.zeros((t, NUM_BLENDSHAPES))
        _set_gaze(gaze, sign * looks, -0.5 * looks)
        self.delta += gaze
        fidget = episode_track(rng, t, p.fidget_rate, (0.5, 2.0), (0.15, 0.4))
        self.add(("mouthRollLower", "mouthPressLeft", "mouthPressRight"), fidget, 0.5)
        self.add("mouthLeft" if rng.random() < 0.5 else "mouthRight", fidget, 0.4)
        self.delta += 0.012 * np.stack(
            [smooth_noise(rng, t, 0.3) for _ in range(NUM_BLENDSHAPES)], axis=1)

    def build(self) -> np.ndarray:
        """The ``(T, 58)`` float32 coefficients (blendshapes clipped to ``[0, 1]``)."""
        p = self.person
        out = np.repeat(p.baseline[None], self.t, axis=0)
        out[:, :NUM_BLENDSHAPES] = np.clip(out[:, :NUM_BLENDSHAPES] + p.gain * self.delta, 0, 1)
        out[:, ROTATION_SLICE] += self.rotation
        out[:, TRANSLATION_SLICE] += self.translation
        return out.astype(np.float32)


@dataclass
class SpeakerBehaviour:
    """A speaker's face and the signals listeners react to.

    Attributes
    ----------
    coefficients : np.ndarray
        ``(T, 58)`` float32.
    style : str
        Key of :data:`SPEAKER_STYLES`.
    smile, frown, brow : np.ndarray
        ``(T,)`` episode tracks in ``[0, 1]``.
    speaking : np.ndarray
        ``(T,)`` bool.
    pauses : list of (int, int)
        Silent gaps after utterances (frames).
    """

    coefficients: np.ndarray
    style: str
    smile: np.ndarray
    frown: np.ndarray
    brow: np.ndarray
    speaking: np.ndarray
    pauses: list[tuple[int, int]] = field(default_factory=list)


def speaker_behaviour(rng: np.random.Generator, person: Person, style: str,
                      envelope: np.ndarray, utterances: list[tuple[int, int, str]],
                      pauses: list[tuple[int, int]]) -> SpeakerBehaviour:
    """A speaker's face coupled to its speech.

    Parameters
    ----------
    rng : np.random.Generator
        Random source.
    person : Person
        The speaker.
    style : str
        Key of :data:`SPEAKER_STYLES`.
    envelope : np.ndarray
        ``(T,)`` loudness per frame (:func:`reactface_ros.data.speech.frame_envelope`).
    utterances : list of (int, int, str)
        Utterance frames.
    pauses : list of (int, int)
        Pauses after utterances.

    Returns
    -------
    SpeakerBehaviour
    """
    rates = SPEAKER_STYLES[style]
    t = len(envelope)
    face = FaceBuilder(person, t)
    env = gaussian_filter1d(envelope, 0.8)
    speaking = np.zeros(t, dtype=bool)
    for a, b, _ in utterances:
        speaking[a:b] = True
    # Articulation: the jaw follows the loudness; lip shapes vary slowly between words.
    face.add("jawOpen", env, rng.uniform(0.3, 0.5))
    face.add(("mouthLowerDownLeft", "mouthLowerDownRight"), env, 0.25)
    face.add(("mouthUpperUpLeft", "mouthUpperUpRight"), env, 0.06)
    rounding = 1.0 / (1.0 + np.exp(-2.0 * smooth_noise(rng, t, 0.15)))
    face.add("mouthFunnel", env * rounding, 0.25)
    face.add("mouthPucker", env * rounding, 0.1)
    face.add(("mouthStretchLeft", "mouthStretchRight"), env * (1 - rounding), 0.15)
    face.add("mouthRollUpper", speaking.astype(float), -0.08)
    smile = episode_track(rng, t, rates["smile"], (1.0, 4.0), (0.3, 0.65), min_count=1)
    frown = episode_track(rng, t, rates["frown"], (1.0, 3.5), (0.35, 0.7), min_count=1)
    onsets = [a for a, _, _ in utterances if rng.random() < rates["brow"]]
    brow = episode_track(rng, t, 0.0, (0.4, 1.2), (0.3, 0.7), starts=onsets)
    face.add(("mouthSmileLeft", "mouthSmileRight"), smile, 0.9)
    face.add(("cheekSquintLeft", "cheekSquintRight"), smile, 0.45)
    face.add(("eyeSquintLeft", "eyeSquintRight"), smile, 0.25)
    face.add(("mouthDimpleLeft", "mouthDimpleRight"), smile, 0.2)
    face.add(("browDownLeft", "browDownRight"), frown, 0.4)
    face.add("browInnerUp", frown, 0.25)
    face.add(("mouthFrownLeft", "mouthFrownRight"), frown, 0.45)
    face.add(("mouthPressLeft", "mouthPressRight"), frown, 0.2)
    face.add("mouthShrugLower", frown, 0.25)
    face.add(("noseSneerLeft", "noseSneerRight", "mouthUpperUpLeft", "mouthUpperUpRight"),
             frown, 0.2 if style == "serious" else 0.1)
    # Some pauses are thinking pauses: lips pressed and rolled in.
    thinking = episode_track(rng, t, 0.0, (0.5, 1.2), (0.4, 0.8),
                             starts=[a for a, _ in pauses if rng.random() < 0.4])
    face.add(("mouthPressLeft", "mouthPressRight"), thinking, 0.3)
    face.add(("mouthRollLower", "mouthRollUpper"), thinking, 0.3)
    face.add("browInnerUp", brow, 0.45)
    face.add(("browOuterUpLeft", "browOuterUpRight"), brow, 0.45)
    face.add(("eyeWideLeft", "eyeWideRight"), brow, 0.25)
    face.add(("browDownLeft", "browDownRight"), brow, -0.3)
    face.habits(rng, sway_scale=1.0)
    # Talking moves the head more; nods close some utterances.
    face.rotation[:, 1] += 0.04 * smooth_noise(rng, t, 0.6) * gaussian_filter1d(env, 5)
    face.rotation[:, 0] += 0.03 * gaussian_filter1d(env, 3) * smooth_noise(rng, t, 0.4)
    for _, b, _ in utterances:
        if rng.random() < rates["nod"]:
            face.rotation[:, 0] += nod(t, b - int(rng.integers(0, 6)),
                                       rng.uniform(0.03, 0.08), int(rng.integers(1, 3)))
    return SpeakerBehaviour(face.build(), style, smile, frown, brow, speaking, pauses)


def _uneven(rng: np.random.Generator, num_frames: int) -> np.ndarray:
    # A slowly varying gain: how strongly a listener responds drifts over the clip.
    return np.clip(1.0 + 0.35 * smooth_noise(rng, num_frames, 2.0), 0.3, 1.7)


@dataclass
class ListenerReaction:
    """One listener's reaction to a speaker.

    Attributes
    ----------
    coefficients : np.ndarray
        ``(T, 58)`` float32.
    style : str
        Key of :data:`LISTENER_STYLES`.
    lag_frames : int
        Delay of the reaction to the speaker's signal it follows (0 for ``attentive``).
    backchannels : list of int
        Frames where the listener says a back-channel.
    """

    coefficients: np.ndarray
    style: str
    lag_frames: int
    backchannels: list[int] = field(default_factory=list)


def listener_reaction(rng: np.random.Generator, person: Person, style: str,
                      speaker: SpeakerBehaviour) -> ListenerReaction:
    """A listener's reaction of the given style to ``speaker``.

    Parameters
    ----------
    rng : np.random.Generator
        Random source.
    person : Person
        The listener.
    style : str
        One of :data:`LISTENER_STYLES`.
    speaker : SpeakerBehaviour
        What the listener reacts to.

    Returns
    -------
    ListenerReaction
    """
    if style not in LISTENER_STYLES:
        raise ValueError(f"style must be one of {LISTENER_STYLES}, got {style!r}")
    t = len(speaker.smile)
    face = FaceBuilder(person, t)
    lag, backchannels = 0, []
    listening = causal_smooth(speaker.speaking.astype(float), 8.0)
    if style == "mirror":
        lag = int(round(rng.uniform(0.3, 1.5) * FPS))
        # Not every smile is returned equally, and the listener smiles on its own sometimes.
        smile = rng.uniform(0.7, 1.1) * _uneven(rng, t) * shift(speaker.smile, lag)
        smile = smile + episode_track(rng, t, 0.02, (1.0, 2.5), (0.2, 0.4))
        face.add(("mouthSmileLeft", "mouthSmileRight"), smile, 0.9)
        face.add(("cheekSquintLeft", "cheekSquintRight"), smile, 0.45)
        face.add(("eyeSquintLeft", "eyeSquintRight"), smile, 0.25)
        face.add("jawOpen", smile, 0.08)
        face.habits(rng)
        for a, _ in speaker.pauses:
            if rng.random() < 0.3:
                face.rotation[:, 0] += nod(t, a + int(rng.integers(3, 12)), rng.uniform(0.02, 0.05))
    elif style == "nodder":
        lag = int(round(rng.uniform(0.1, 0.5) * FPS))
        amp = rng.uniform(0.07, 0.13)
        for a, b in speaker.pauses:
            if rng.random() < 0.85:
                start = a + lag + int(rng.integers(0, 4))
                face.rotation[:, 0] += nod(t, start, amp * rng.uniform(0.8, 1.2),
                                           int(rng.integers(1, 4)))
                if rng.random() < 0.5 and start + 5 < b:
                    backchannels.append(start + 2)
        face.add("browInnerUp", shift(speaker.brow, lag + 5), 0.3)
        face.add(("mouthPressLeft", "mouthPressRight"), listening, 0.1)
        # A nodder holds its head still between nods, so the nods stand out of the sway.
        face.habits(rng, sway_scale=0.35)
    elif style == "attentive":
        face.add(("eyeWideLeft", "eyeWideRight"), listening, 0.15)
        face.add(("browOuterUpLeft", "browOuterUpRight"), listening, 0.05)
        rate = person.blink_rate * (0.6 + 1.2 * (1.0 - listening))
        face.habits(rng, blink_rate=rate, sway_scale=0.4)
    else:  # concerned
        lag = int(round(rng.uniform(0.4, 1.2) * FPS))
        concern = rng.uniform(0.8, 1.2) * _uneven(rng, t) * shift(speaker.frown, lag)
        face.add(("browDownLeft", "browDownRight"), concern, 0.4)
        face.add("browInnerUp", concern, 0.4)
        face.add(("mouthFrownLeft", "mouthFrownRight"), concern, 0.35)
        face.add(("mouthPressLeft", "mouthPressRight"), concern, 0.25)
        face.add("mouthShrugLower", concern, 0.2)
        face.add(("mouthSmileLeft", "mouthSmileRight"), shift(speaker.smile, lag), 0.25)
        face.habits(rng, sway_scale=0.8)
        face.rotation[:, 2] += (0.08 if rng.random() < 0.5 else -0.08) * concern
    for f in backchannels:  # the jaw moves for "mm hmm"
        face.add("jawOpen", bump(t, f, 8, 2), 0.12)
    return ListenerReaction(face.build(), style, lag, backchannels)
