"""Turn the listener's head and eyes toward the person who is speaking.

Sign convention. The camera looks at the people; the listener's face is shown to them (a
screen or a robot head beside the camera, not mirrored). A speaker at normalised image
position ``(x, y)`` is seen at the horizontal angle ``atan((2x - 1) tan(hfov / 2))`` from the
optical axis (positive: to the image right) and the vertical angle ``atan((2y - 1)
tan(vfov / 2))`` (positive: below the centre). The listener turns by ``gaze_gain`` times those
angles, added to the FaceVerse head rotation of every generated frame (radians;
:mod:`reactface_ros.geometry`):

* ``ry += gaze_gain * horizontal angle``: a positive ``ry`` points the face toward the
  viewer's left, which is the camera's right, where a speaker in the right half of the image
  stands;
* ``rx += gaze_gain * vertical angle``: a positive ``rx`` tips the face down, toward a speaker
  low in the image.

``gaze_gain = 1`` looks straight at the speaker, ``0`` disables the turn, a negative gain
mirrors it (for a camera image that is shown mirrored). The eyes lead the head: the ARKit
``eyeLook*`` blendshapes get ``eye_gain`` times the same angles (a score of 1 per radian,
clipped to [0, 1]).

The turn is smoothed with a critically damped follower (time constant ``smoothing_s``) so a
change of speaker swings the head over a few hundred milliseconds instead of jumping. With
fewer than two faces in view there is nobody to choose between and the target is straight
ahead (the dyadic case: the speaker already faces the listener), so one face in view leaves
the reactions exactly as they were.
"""
from __future__ import annotations

import math

import numpy as np

from reactface_ros.constants import BLENDSHAPE_INDEX, FPS

#: Index of the head rotation (rx, ry, rz) in the 58 FaceVerse coefficients.
ROTATION_SLICE = slice(52, 55)


def speaker_angles(box: np.ndarray, hfov_deg: float, vfov_deg: float) -> tuple[float, float]:
    """``(horizontal, vertical)`` angle (rad) of a face box's centre from the optical axis."""
    x = 0.5 * (float(box[0]) + float(box[2]))
    y = 0.5 * (float(box[1]) + float(box[3]))
    h = math.atan((2.0 * x - 1.0) * math.tan(math.radians(hfov_deg) / 2.0))
    v = math.atan((2.0 * y - 1.0) * math.tan(math.radians(vfov_deg) / 2.0))
    return h, v


class GazeController:
    """Smoothed head/eye turn toward the active speaker.

    Parameters
    ----------
    gain : float
        ``gaze_gain`` (see the module docstring); 0 disables.
    eye_gain : float
        Eye blendshape score per radian of turn; 0 leaves the eyes alone.
    hfov_deg, vfov_deg : float
        Camera field of view.
    smoothing_s : float
        Time constant of the follower.
    fps : float
        Frames per second of :meth:`step`.
    pitch : bool
        Also turn up and down (``rx``).
    """

    def __init__(self, gain: float = 1.0, eye_gain: float = 0.5, hfov_deg: float = 60.0,
                 vfov_deg: float = 45.0, smoothing_s: float = 0.25, fps: float = float(FPS),
                 pitch: bool = True) -> None:
        for name, value in (("hfov_deg", hfov_deg), ("vfov_deg", vfov_deg)):
            if not 0 < value < 180:
                raise ValueError(f"{name} must be in (0, 180), got {value!r}")
        if not math.isfinite(gain) or not math.isfinite(eye_gain):
            raise ValueError(f"gaze gains must be finite, got {gain!r}, {eye_gain!r}")
        if smoothing_s < 0 or not fps > 0:
            raise ValueError(f"smoothing_s must be >= 0 and fps > 0, got {smoothing_s!r}, "
                             f"{fps!r}")
        self.gain, self.eye_gain = float(gain), float(eye_gain)
        self.hfov, self.vfov = float(hfov_deg), float(vfov_deg)
        self.pitch = bool(pitch)
        # Critically damped second order follower, discretised per frame.
        self._omega = 0.0 if smoothing_s == 0 else 1.0 / smoothing_s
        self._dt = 1.0 / float(fps)
        self.reset()

    def reset(self) -> None:
        """Back to straight ahead, at rest."""
        self.offset = np.zeros(2)     # (yaw, pitch) added to (ry, rx)
        self._velocity = np.zeros(2)
        self._target = np.zeros(2)

    @property
    def enabled(self) -> bool:
        """Whether the gain or eye gain is non-zero."""
        return self.gain != 0.0 or self.eye_gain != 0.0

    def step(self, box: np.ndarray | None, faces_in_view: int) -> np.ndarray:
        """Advance one frame toward the speaker's box.

        Parameters
        ----------
        box : np.ndarray or None
            Active speaker's normalised box (``None``: nobody speaks; the turn is kept).
        faces_in_view : int
            With fewer than 2 the target is straight ahead.

        Returns
        -------
        np.ndarray
            ``(2,)`` the current ``(yaw, pitch)`` turn in radians (before the gain).
        """
        if faces_in_view < 2:
            target = np.zeros(2)
        elif box is None:
            target = self._target
        else:
            h, v = speaker_angles(box, self.hfov, self.vfov)
            target = np.array([h, v if self.pitch else 0.0])
        self._target = target
        if self._omega == 0.0:
            self.offset = target.copy()
            self._velocity[:] = 0.0
            return self.offset.copy()
        # Semi-implicit Euler on x'' = w^2 (target - x) - 2 w x' (stable for w dt < 1).
        w, dt = self._omega, self._dt
        steps = max(1, int(math.ceil(w * dt / 0.5)))
        h = dt / steps
        for _ in range(steps):
            self._velocity += h * (w * w * (target - self.offset) - 2.0 * w * self._velocity)
            self.offset += h * self._velocity
        if faces_in_view < 2 and np.all(np.abs(self.offset) < 1e-6):
            self.offset[:] = 0.0
            self._velocity[:] = 0.0
        return self.offset.copy()

    def apply(self, coefficients: np.ndarray, offset: np.ndarray) -> np.ndarray:
        """Add a turn to reactions.

        Parameters
        ----------
        coefficients : np.ndarray
            ``(..., 58)`` FaceVerse coefficients (de-normalised).
        offset : np.ndarray
            ``(2,)`` ``(yaw, pitch)`` from :meth:`step`.

        Returns
        -------
        np.ndarray
            A copy with the turn added; the same values when the offset is zero.
        """
        out = np.array(coefficients, dtype=np.float32, copy=True)
        yaw, pitch = float(offset[0]), float(offset[1])
        if yaw == 0.0 and pitch == 0.0:
            return out
        out[..., 53] += self.gain * yaw
        out[..., 52] += self.gain * pitch
        if self.eye_gain != 0.0:
            # The eyes turn the same way as the head: a positive yaw looks to the viewer's
            # left, which moves the face's right eye outward and its left eye inward.
            sign = -1.0 if self.gain < 0 else 1.0
            e_yaw, e_pitch = sign * self.eye_gain * yaw, sign * self.eye_gain * pitch
            to_viewer_left, to_viewer_right = max(e_yaw, 0.0), max(-e_yaw, 0.0)
            for name, value in (("eyeLookOutRight", to_viewer_left),
                                ("eyeLookInLeft", 0.6 * to_viewer_left),
                                ("eyeLookOutLeft", to_viewer_right),
                                ("eyeLookInRight", 0.6 * to_viewer_right),
                                ("eyeLookUpLeft", max(-e_pitch, 0.0)),
                                ("eyeLookUpRight", 0.6 * max(-e_pitch, 0.0)),
                                ("eyeLookDownLeft", max(e_pitch, 0.0)),
                                ("eyeLookDownRight", 0.5 * max(e_pitch, 0.0))):
                i = BLENDSHAPE_INDEX[name]
                out[..., i] = np.clip(out[..., i] + value, 0.0, 1.0)
        return out


__all__ = ["GazeController", "ROTATION_SLICE", "speaker_angles"]
