"""A dyadic listener in a group: which face the model hears, and where the listener looks.

ReactFace reacts to one speaker. :class:`GroupListener` sits between the face analysis (every
tracked face, :mod:`reactface_ros.face_tracking`) and the model stream: per frame it

1. estimates the active speaker (:class:`reactface_ros.active_speaker.ActiveSpeakerEstimator`);
2. chooses the face the model is fed: the active speaker, or the largest face while nobody
   has taken the floor yet;
3. returns that face's feature vector, cross-faded at a change of face: for ``crossfade_s``
   after a switch the vector moves linearly from the previous face's current features to the
   new face's (both as they are in that frame). The model stream itself is never reset or
   restarted, so its history (the listener's past reactions) carries over and the output does
   not jump;
4. advances the head/eye turn toward the speaker (:class:`reactface_ros.gaze.GazeController`),
   which the caller adds to the generated frames with :meth:`GroupListener.apply_gaze`.

With one face in view the vector is exactly that face's features and the turn is zero, so the
reactions are the same as without this layer.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from reactface_ros.active_speaker import (ActiveSpeakerEstimator, SpeakerEstimate,
                                          mouth_openness)
from reactface_ros.constants import FPS, NUM_BLENDSHAPES
from reactface_ros.gaze import GazeController


@dataclass
class GroupFace:
    """One tracked face of a frame.

    Attributes
    ----------
    face_id : str
        Stable id.
    vector : np.ndarray
        ``(59,)`` features (:meth:`reactface_ros.face_analysis.SpeakerFaceFeatures.to_vector`).
    box : np.ndarray
        ``(4,)`` normalised ``(xmin, ymin, xmax, ymax)``.
    crop : np.ndarray or None
        Face crop (``conv3d`` checkpoints), when available.
    """

    face_id: str
    vector: np.ndarray
    box: np.ndarray
    crop: np.ndarray | None = None


@dataclass
class GroupFrame:
    """What :meth:`GroupListener.frame` decided for one frame.

    Attributes
    ----------
    vector : np.ndarray or None
        ``(59,)`` features to push into the model (``None``: no face in view).
    crop : np.ndarray or None
        The fed face's crop (no cross-fade for crops).
    fed : str or None
        Id of the face the model hears (during a cross-fade: the new one).
    estimate : SpeakerEstimate
        The active-speaker estimate.
    gaze : np.ndarray
        ``(2,)`` ``(yaw, pitch)`` turn of this frame (radians, before the gain).
    faces : int
        Faces in view.
    """

    vector: np.ndarray | None
    crop: np.ndarray | None
    fed: str | None
    estimate: SpeakerEstimate
    gaze: np.ndarray = field(default_factory=lambda: np.zeros(2))
    faces: int = 0


class GroupListener:
    """Active speaker selection, feature cross-fade and gaze for one listener.

    Parameters
    ----------
    estimator : ActiveSpeakerEstimator, optional
        Defaults to one with the default settings.
    gaze : GazeController, optional
        Defaults to ``GazeController()`` (gain 1).
    crossfade_s : float
        Length of the feature cross-fade at a change of face (0: switch at once).
    fps : float
        Frame rate (cross-fade length in frames).
    """

    def __init__(self, estimator: ActiveSpeakerEstimator | None = None,
                 gaze: GazeController | None = None, crossfade_s: float = 0.4,
                 fps: float = float(FPS)) -> None:
        if crossfade_s < 0:
            raise ValueError(f"crossfade_s must be >= 0, got {crossfade_s!r}")
        self.estimator = estimator if estimator is not None else ActiveSpeakerEstimator(fps=fps)
        self.gaze = gaze if gaze is not None else GazeController(fps=fps)
        self.crossfade = int(round(crossfade_s * fps))
        self.reset()

    def reset(self) -> None:
        """Start a new session."""
        self.estimator.reset()
        self.gaze.reset()
        self.fed: str | None = None
        self._from: str | None = None
        self._fade_left = 0
        self.switches = 0

    def push_audio(self, samples: np.ndarray, sample_rate: int, stamp_s: float) -> None:
        """Mono audio for the active-speaker estimate (the model gets it separately)."""
        self.estimator.push_audio(samples, sample_rate, stamp_s)

    def frame(self, stamp_s: float, faces: list[GroupFace]) -> GroupFrame:
        """Decide one frame.

        Parameters
        ----------
        stamp_s : float
            Capture time (s) on the audio's clock.
        faces : list of GroupFace
            Faces in view (any order; empty: none).
        """
        by_id = {f.face_id: f for f in faces}
        estimate = self.estimator.update(
            stamp_s, {f.face_id: mouth_openness(f.vector[:NUM_BLENDSHAPES]) for f in faces})
        if estimate.active is not None:
            chosen = estimate.active
        elif self.fed in by_id:
            chosen = self.fed
        elif faces:
            chosen = max(faces, key=lambda f: float((f.box[2] - f.box[0]) *
                                                    (f.box[3] - f.box[1]))).face_id
        else:
            chosen = None
        if chosen != self.fed:
            if self.fed in by_id and chosen is not None and self.crossfade > 0:
                self._from, self._fade_left = self.fed, self.crossfade
            else:
                self._from, self._fade_left = None, 0
            if self.fed is not None and chosen is not None:
                self.switches += 1
            self.fed = chosen
        vector = crop = None
        if chosen is not None:
            face = by_id[chosen]
            vector, crop = face.vector, face.crop
            if self._fade_left > 0 and self._from in by_id:
                a = 1.0 - self._fade_left / (self.crossfade + 1.0)
                vector = ((1.0 - a) * by_id[self._from].vector + a * face.vector
                          ).astype(np.float32)
                self._fade_left -= 1
            else:
                self._from, self._fade_left = None, 0
        active = by_id.get(estimate.active) if estimate.active is not None else None
        offset = self.gaze.step(None if active is None else active.box, len(faces))
        return GroupFrame(vector, crop, chosen, estimate, offset, len(faces))

    def apply_gaze(self, coefficients: np.ndarray, offset: np.ndarray) -> np.ndarray:
        """Add a frame's turn (:attr:`GroupFrame.gaze`) to ``(..., 58)`` reactions."""
        return self.gaze.apply(coefficients, offset)


__all__ = ["GroupFace", "GroupFrame", "GroupListener"]
