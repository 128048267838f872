"""Unreal Live Link Face sender: the packet the Live Link Face iOS app streams (UDP 11111).

Packet layout (all multi-byte fields big-endian except where said):

====================  ======================================================================
bytes                 field
====================  ======================================================================
4                     packet version 6 (``uint32`` little-endian: ``06 00 00 00``)
1 + 36                ``'$'`` + device id (36-character UUID text)
4 + n                 subject name: ``int32`` length ``n``, then ``n`` UTF-8 bytes
4, 4                  frame number (``int32``), sub-frame (``float32``)
4, 4                  frame rate numerator (fps) and denominator (``int32``)
1                     curve count, 61 (``uint8``)
61 x 4                ``float32`` curves: the 52 blendshapes in
                      :data:`~reactface_ros.constants.LIVELINK_BLENDSHAPE_NAMES` order, then
                      head yaw/pitch/roll and left/right eye yaw/pitch/roll
====================  ======================================================================

The same bytes are also described (by decoders of Unreal's own serialisation) as a ``uint8``
version followed by Unreal strings (``int32`` big-endian length + bytes): ``00 00 00 24`` is
the length 36 of the device id, whose last byte is the ``'$'``. Both readings give identical
bytes as long as the device id is 36 characters, which this sender guarantees. Public encoders
disagree on whether the sub-frame is a float or an integer; it is a ``float32`` fraction here
(Unreal's ``FQualifiedFrameTime``) and always 0 because frames are whole.

Head and eye angles are radians by default (``angle_scale`` converts), signs as in
:mod:`.head_pose` (yaw toward the subject's left, pitch chin-down, roll toward the subject's
right shoulder); eye angles are derived from the ``eyeLook*`` blendshapes since FaceVerse has
no eye rotation.
"""
from __future__ import annotations

import struct
import uuid as uuid_lib
from dataclasses import dataclass, field

import numpy as np

from reactface_ros.avatar.head_pose import HeadPoseConfig, HeadPoseConverter
from reactface_ros.avatar.udp import FrameSender
from reactface_ros.avatar.validation import (InputLimits, clamp_blendshapes,
                                             validate_frame)
from reactface_ros.constants import (ARKIT_BLENDSHAPE_NAMES, BLENDSHAPE_INDEX, FPS,
                                     LIVELINK_BLENDSHAPE_NAMES, LIVELINK_NUM_CURVES,
                                     MIRROR_PERMUTATION, name_permutation)

LIVELINK_DEFAULT_PORT = 11111
LIVELINK_PACKET_VERSION = 6

_TO_LIVELINK, _ = name_permutation(ARKIT_BLENDSHAPE_NAMES, LIVELINK_BLENDSHAPE_NAMES)
_MIRROR = np.array(MIRROR_PERMUTATION)


@dataclass
class LiveLinkConfig:
    """Identity and pose handling of the Live Link Face stream.

    Attributes
    ----------
    subject_name : str
        Live Link subject name shown in Unreal.
    device_id : str
        36-character device UUID; a random one per sender when empty.
    fps : int
        Frame rate written in every packet (numerator; the denominator is 1).
    send_head : bool
        Whether to fill the head yaw/pitch/roll curves (zeros otherwise).
    head_pose : HeadPoseConfig
        Reference pose, sign flips and clamps for the head angles.
    angle_scale : float
        Multiplier from radians to the curve values the receiving rig expects.
    eye_angle_rad : float
        Eye yaw/pitch at a full ``eyeLook*`` weight, radians; 0 sends zero eye angles.
    mirror : bool
        Drive the avatar as a mirror image of the listener: left/right blendshapes swap, head
        yaw and roll (and sideways translation) flip.
    limits : InputLimits
        Clamping and rejection ranges for the coefficients.
    """

    subject_name: str = "ReactFaceListener"
    device_id: str = ""
    fps: int = FPS
    send_head: bool = True
    head_pose: HeadPoseConfig = field(default_factory=HeadPoseConfig)
    angle_scale: float = 1.0
    eye_angle_rad: float = 0.5
    mirror: bool = False
    limits: InputLimits = field(default_factory=InputLimits)


def eye_angles(weights: np.ndarray, full_angle: float) -> np.ndarray:
    """Left and right eye ``(yaw, pitch, roll)`` from the ``eyeLook*`` weights.

    Parameters
    ----------
    weights : np.ndarray
        ``(52,)`` blendshape weights in FaceVerse order.
    full_angle : float
        Angle of a full ``eyeLook*`` weight, radians.

    Returns
    -------
    np.ndarray
        ``(6,)`` left yaw, pitch, roll, right yaw, pitch, roll. Yaw is positive toward the
        subject's left (out for the left eye, in for the right eye), pitch positive looking down.
    """
    w = {name: weights[i] for name, i in BLENDSHAPE_INDEX.items() if name.startswith("eyeLook")}
    left_yaw = w["eyeLookOutLeft"] - w["eyeLookInLeft"]
    right_yaw = w["eyeLookInRight"] - w["eyeLookOutRight"]
    left_pitch = w["eyeLookDownLeft"] - w["eyeLookUpLeft"]
    right_pitch = w["eyeLookDownRight"] - w["eyeLookUpRight"]
    return np.array([left_yaw, left_pitch, 0.0, right_yaw, right_pitch, 0.0]) * full_angle


class LiveLinkSender(FrameSender):
    """Send listener frames to Unreal as a Live Link Face source.

    Parameters
    ----------
    host : str
        Unreal machine (default ``127.0.0.1``).
    port : int
        UDP port (default 11111).
    config : LiveLinkConfig, optional
        Subject, rate and pose handling.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = LIVELINK_DEFAULT_PORT,
                 config: LiveLinkConfig | None = None) -> None:
        self.config = config or LiveLinkConfig()
        device_id = self.config.device_id or str(uuid_lib.uuid4())
        if len(device_id) != 36 or not device_id.isascii():
            raise ValueError(f"device_id must be a 36-character ASCII UUID, got {device_id!r}")
        if not 0 < int(self.config.fps) < 1000:
            raise ValueError(f"fps must be in 1..999, got {self.config.fps}")
        name = self.config.subject_name.encode("utf-8")
        if not name:
            raise ValueError("subject_name must not be empty")
        self.device_id = device_id
        super().__init__(host, port, HeadPoseConverter(self.config.head_pose, self.config.mirror))
        self._header = (struct.pack("<I", LIVELINK_PACKET_VERSION) + b"$" + device_id.encode()
                        + struct.pack(">i", len(name)) + name)
        self._next_frame = 0

    def curves(self, coeffs: np.ndarray, frame_index: int | None = None) -> np.ndarray:
        """Compute the 61 curve values of one frame.

        Parameters
        ----------
        coeffs : array_like
            ``(58,)`` FaceVerse coefficients.
        frame_index : int, optional
            Named in the error message of a rejected frame.

        Returns
        -------
        np.ndarray
            ``(61,)``: 52 clamped blendshapes in Live Link order, head yaw/pitch/roll, left and
            right eye yaw/pitch/roll.
        """
        frame = validate_frame(coeffs, self.config.limits, frame_index)
        weights, n_clamped = clamp_blendshapes(frame, self.config.limits)
        self.stats.clamped += n_clamped
        if self.config.mirror:
            weights = weights[_MIRROR]
        out = np.zeros(LIVELINK_NUM_CURVES)
        out[:52] = weights[_TO_LIVELINK]
        if self.config.send_head:
            out[52:55] = self.head.yaw_pitch_roll(frame) * self.config.angle_scale
        out[55:61] = eye_angles(weights, self.config.eye_angle_rad) * self.config.angle_scale
        return out

    def encode_frame(self, coeffs: np.ndarray, frame_number: int) -> bytes:
        """One Live Link Face packet for ``coeffs`` (``(58,)``) at ``frame_number``."""
        values = self.curves(coeffs, frame_number)
        return (self._header
                + struct.pack(">ifii", int(frame_number) & 0x7FFFFFFF, 0.0,
                              int(self.config.fps), 1)
                + struct.pack(">B61f", LIVELINK_NUM_CURVES, *values))

    def send_frame(self, coeffs: np.ndarray, frame_number: int | None = None) -> bool:
        """Send one frame; never raises for bad values or network trouble.

        Parameters
        ----------
        coeffs : array_like
            ``(58,)`` coefficients; a wrong shape raises ``ValueError``. Invalid values
            (NaN/Inf, absurd) are counted in ``stats.rejected`` and not sent.
        frame_number : int, optional
            Frame number written in the packet; consecutive numbers by default.

        Returns
        -------
        bool
            Whether the packet was handed to the network stack.
        """
        number = self._next_frame if frame_number is None else int(frame_number)
        self._next_frame = number + 1
        return self._send(lambda: self.encode_frame(coeffs, number))
