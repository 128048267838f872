"""Who is speaking: a causal audio-visual active-speaker estimate with hysteresis.

With several faces in view and one audio channel, the speaker is the face whose mouth moves
with the sound. Per frame, for each tracked face, :class:`ActiveSpeakerEstimator` correlates
the face's mouth opening (:func:`mouth_openness`: jaw and lips blendshapes) with the audio
loudness envelope (RMS per frame slot) over the last ``window_s`` (about 1 s), allowing the
mouth to lead or trail the sound by up to ``max_lag_frames``. Only past and present input is
used, so the estimate works live.

The per-face score is that correlation, scaled down for a mouth that hardly moves (a still
mouth correlates with anything by chance), and smoothed over a few frames. Hysteresis:

* nobody is active until a face's score exceeds ``min_score``;
* the active face keeps the floor through pauses: while the audio is silent (its loudness
  stays under ``silence_rms`` over the window) nothing changes;
* another face takes over only after its score beat the active one's by ``switch_margin``
  for ``hold_s`` in a row;
* a face that is no longer in view loses the floor at once;
* with exactly one face in view, that face is the speaker (the dyadic case).

Stamps are seconds on one clock shared by audio and video (the capture clock of the ROS
stamps, or the file's own times offline).
"""
from __future__ import annotations

import collections
import math
from dataclasses import dataclass, field

import numpy as np

from reactface_ros.constants import BLENDSHAPE_INDEX, FPS

#: Blendshapes that open the mouth (weight) and close it (negative weight).
MOUTH_WEIGHTS = {"jawOpen": 1.0, "mouthLowerDownLeft": 0.5, "mouthLowerDownRight": 0.5,
                 "mouthUpperUpLeft": 0.25, "mouthUpperUpRight": 0.25, "mouthFunnel": 0.25,
                 "mouthClose": -0.5}
_MOUTH_IDX = np.array([BLENDSHAPE_INDEX[n] for n in MOUTH_WEIGHTS])
_MOUTH_W = np.array(list(MOUTH_WEIGHTS.values()))


def mouth_openness(blendshapes: np.ndarray) -> float:
    """How open the mouth is: a weighted sum of jaw and lip blendshape scores.

    Parameters
    ----------
    blendshapes : np.ndarray
        ``(52,)`` ARKit scores in :data:`reactface_ros.constants.ARKIT_BLENDSHAPE_NAMES` order.
    """
    b = np.asarray(blendshapes, dtype=np.float64).reshape(-1)
    if b.shape[0] < 52:
        raise ValueError(f"blendshapes must have 52 values, got {b.shape[0]}")
    return float(b[_MOUTH_IDX] @ _MOUTH_W)


class AudioEnvelope:
    """Loudness (RMS) per frame slot of ``1 / fps`` s, placed by the chunks' stamps.

    Slot ``k`` covers ``[k / fps, (k + 1) / fps)`` s on the caller's clock. Only the last
    ``keep_s`` are kept.
    """

    def __init__(self, fps: float = float(FPS), keep_s: float = 4.0) -> None:
        self.fps = float(fps)
        self.keep = int(math.ceil(keep_s * self.fps))
        self._sumsq: dict[int, float] = {}
        self._count: dict[int, int] = {}
        self.latest_slot: int | None = None

    def push(self, samples: np.ndarray, sample_rate: int, stamp_s: float) -> None:
        """Add a mono chunk whose first sample was captured at ``stamp_s``."""
        x = np.asarray(samples, dtype=np.float64).reshape(-1)
        if x.size == 0:
            return
        if not sample_rate > 0:
            raise ValueError(f"sample_rate must be > 0, got {sample_rate!r}")
        x = np.where(np.isfinite(x), x, 0.0)
        slots = np.floor((stamp_s + np.arange(x.size) / float(sample_rate)) * self.fps
                         + 1e-9).astype(np.int64)
        uniq, inverse = np.unique(slots, return_inverse=True)
        sums = np.bincount(inverse, weights=x * x)
        counts = np.bincount(inverse)
        for k, s, c in zip(uniq.tolist(), sums.tolist(), counts.tolist()):
            self._sumsq[k] = self._sumsq.get(k, 0.0) + s
            self._count[k] = self._count.get(k, 0) + c
        last = int(uniq[-1])
        self.latest_slot = last if self.latest_slot is None else max(self.latest_slot, last)
        floor = self.latest_slot - self.keep
        for k in [k for k in self._sumsq if k < floor]:
            del self._sumsq[k], self._count[k]

    def rms(self, slot: int) -> float | None:
        """RMS of slot ``slot``, or ``None`` when no audio covers it."""
        c = self._count.get(slot)
        return None if not c else math.sqrt(self._sumsq[slot] / c)

    def slot(self, stamp_s: float) -> int:
        """The slot holding time ``stamp_s``."""
        return int(math.floor(stamp_s * self.fps + 1e-9))


@dataclass
class SpeakerEstimate:
    """The estimate of one frame.

    Attributes
    ----------
    active : str or None
        Id of the face holding the floor (``None``: nobody yet, or no face in view).
    scores : dict
        Smoothed score per visible face id (about -1..1).
    silent : bool
        The audio stayed silent over the window (the floor was kept).
    switched : bool
        The active face changed at this frame.
    """

    active: str | None
    scores: dict = field(default_factory=dict)
    silent: bool = False
    switched: bool = False


class ActiveSpeakerEstimator:
    """Causal active-speaker estimate from mouth motion and the audio envelope.

    Parameters
    ----------
    fps : float
        Video frame rate (slot length of the envelope).
    window_s : float
        How much past is correlated (about 1 s).
    min_score : float
        Score a face needs before it can take the floor.
    switch_margin : float
        How much a challenger's score must beat the active face's.
    hold_s : float
        How long the challenger must stay ahead before the floor changes.
    silence_rms : float
        Window loudness under which the audio counts as silent (float PCM in [-1, 1]).
    max_lag_frames : int
        Largest lead or lag between mouth and sound that is searched.
    mouth_motion_ref : float
        Standard deviation of :func:`mouth_openness` at which a mouth counts as fully moving;
        below it the score is scaled down in proportion.
    """

    def __init__(self, fps: float = float(FPS), window_s: float = 1.0, min_score: float = 0.3,
                 switch_margin: float = 0.15, hold_s: float = 0.3, silence_rms: float = 3e-3,
                 max_lag_frames: int = 2, mouth_motion_ref: float = 0.03) -> None:
        for name, value in (("fps", fps), ("window_s", window_s),
                            ("mouth_motion_ref", mouth_motion_ref)):
            if not value > 0:
                raise ValueError(f"{name} must be > 0, got {value!r}")
        for name, value in (("switch_margin", switch_margin), ("hold_s", hold_s),
                            ("silence_rms", silence_rms), ("max_lag_frames", max_lag_frames)):
            if value < 0:
                raise ValueError(f"{name} must be >= 0, got {value!r}")
        self.fps = float(fps)
        self.window = max(4, int(round(window_s * self.fps)))
        self.min_score = float(min_score)
        self.switch_margin = float(switch_margin)
        self.hold = int(round(hold_s * self.fps))
        self.silence_rms = float(silence_rms)
        self.max_lag = int(max_lag_frames)
        self.mouth_ref = float(mouth_motion_ref)
        self.reset()

    def reset(self) -> None:
        """Forget the history (audio kept only as far as it is still pushed)."""
        self.envelope = AudioEnvelope(self.fps, keep_s=2 * self.window / self.fps + 2.0)
        self._mouths: dict[str, collections.deque] = {}
        self._smoothed: dict[str, float] = {}
        self.active: str | None = None
        self._challenger: str | None = None
        self._ahead = 0
        self.switches = 0

    def push_audio(self, samples: np.ndarray, sample_rate: int, stamp_s: float) -> None:
        """Add a mono audio chunk (first sample captured at ``stamp_s``)."""
        self.envelope.push(samples, sample_rate, stamp_s)

    def _score(self, history: collections.deque, slot: int) -> tuple[float, float]:
        """``(score, window loudness)`` of one face at ``slot``."""
        mouth = {k: v for k, v in history if slot - self.window - self.max_lag < k <= slot}
        best = 0.0
        loud = 0.0
        for lag in range(-self.max_lag, self.max_lag + 1):
            m, a = [], []
            for k in range(slot - self.window + 1, slot + 1):
                ka = k - lag
                if k in mouth and ka <= slot:
                    rms = self.envelope.rms(ka)
                    if rms is not None:
                        m.append(mouth[k])
                        a.append(rms)
            if len(m) < self.window // 2:
                continue
            m_arr, a_arr = np.asarray(m), np.asarray(a)
            if lag == 0:
                loud = float(np.sqrt(np.mean(a_arr ** 2)))
            sm, sa = m_arr.std(), a_arr.std()
            if sm < 1e-6 or sa < 1e-9:
                continue
            r = float(np.mean((m_arr - m_arr.mean()) * (a_arr - a_arr.mean())) / (sm * sa))
            best = max(best, r * min(1.0, sm / self.mouth_ref))
        return best, loud

    def update(self, stamp_s: float, mouths: dict[str, float]) -> SpeakerEstimate:
        """Estimate the active speaker for the frame captured at ``stamp_s``.

        Parameters
        ----------
        stamp_s : float
            Frame capture time (s), on the audio's clock.
        mouths : dict
            ``{face id: mouth_openness}`` of the faces in view in this frame.
        """
        slot = self.envelope.slot(stamp_s)
        for face_id, value in mouths.items():
            hist = self._mouths.setdefault(face_id, collections.deque(
                maxlen=self.window + 2 * self.max_lag + 4))
            hist.append((slot, float(value)))
        for gone in [f for f in self._mouths if f not in mouths]:
            del self._mouths[gone]
            self._smoothed.pop(gone, None)
        raw: dict[str, float] = {}
        loud = 0.0
        for face_id in mouths:
            raw[face_id], level = self._score(self._mouths[face_id], slot)
            loud = max(loud, level)
        silent = loud < self.silence_rms
        for face_id, value in raw.items():
            prev = self._smoothed.get(face_id)
            self._smoothed[face_id] = value if prev is None else 0.7 * prev + 0.3 * value
        before = self.active
        if self.active not in mouths:
            self.active = None
            self._challenger, self._ahead = None, 0
        if len(mouths) == 1:
            self.active = next(iter(mouths))
            self._challenger, self._ahead = None, 0
        elif mouths and not silent:
            self._decide()
        switched = self.active != before and before is not None and self.active is not None
        self.switches += int(switched)
        return SpeakerEstimate(self.active, dict(self._smoothed), silent, switched)

    def _decide(self) -> None:
        best = max(self._smoothed, key=self._smoothed.get)
        best_score = self._smoothed[best]
        if self.active is None:
            if best_score >= self.min_score:
                self.active = best
            return
        if best == self.active:
            self._challenger, self._ahead = None, 0
            return
        lead = best_score - self._smoothed.get(self.active, 0.0)
        if best_score >= self.min_score and lead >= self.switch_margin:
            self._ahead = self._ahead + 1 if best == self._challenger else 1
            self._challenger = best
            if self._ahead >= max(self.hold, 1):
                self.active, self._challenger, self._ahead = best, None, 0
        else:
            self._challenger, self._ahead = None, 0


__all__ = ["ActiveSpeakerEstimator", "AudioEnvelope", "MOUTH_WEIGHTS", "SpeakerEstimate",
           "mouth_openness"]
