"""VMC protocol sender: a listener face on a VRM / "Perfect Sync" avatar over OSC/UDP.

Each frame is one OSC bundle (so a receiver applies the whole face at once, never half a
frame) holding, in order:

* ``/VMC/Ext/Blend/Val (string name, float value)`` for each of the 52 blendshapes, named
  with the Perfect Sync clip names of :func:`reactface_ros.constants.perfect_sync_names`;
* ``/VMC/Ext/Bone/Pos (string "Head", float px, py, pz, qx, qy, qz, qw)``: the head's
  rotation relative to the reference pose, in Unity's Y-up left-handed frame (see
  :mod:`.head_pose`), position = ``head_position`` (+ the translation offset when enabled);
* ``/VMC/Ext/Blend/Apply`` (no arguments);
* optionally ``/VMC/Ext/OK 1`` and ``/VMC/Ext/T (float seconds)``, the performer status and
  time other VMC senders include.

Receivers (VSeeFace, VNyan, EVMC4U, VMagicMirror) listen on UDP 39539 by default.
"""
from __future__ import annotations

import struct
import time
from dataclasses import dataclass, field

import numpy as np
from pythonosc.osc_message_builder import OscMessageBuilder

from reactface_ros.avatar.head_pose import HeadPoseConfig, HeadPoseConverter
from reactface_ros.avatar.udp import FrameSender
from reactface_ros.avatar.validation import (InputLimits, clamp_blendshapes,
                                             validate_frame)
from reactface_ros.constants import MIRROR_PERMUTATION, perfect_sync_names

VMC_DEFAULT_PORT = 39539
BLEND_VAL = "/VMC/Ext/Blend/Val"
BLEND_APPLY = "/VMC/Ext/Blend/Apply"
BONE_POS = "/VMC/Ext/Bone/Pos"
STATUS_OK = "/VMC/Ext/OK"
STATUS_TIME = "/VMC/Ext/T"

_MIRROR = np.array(MIRROR_PERMUTATION)


@dataclass
class VmcConfig:
    """What the VMC sender puts in each frame's bundle.

    Attributes
    ----------
    name_case : str
        ``"upper"`` (``JawOpen``, Perfect Sync) or ``"lower"`` (``jawOpen``, ARKit spelling).
    send_head : bool
        Whether to send the ``Head`` bone.
    head_bone : str
        Humanoid bone name to drive (``"Head"``; ``"Neck"`` for rigs that turn from the neck).
    head_position : tuple of float
        Local position sent with the head bone (receivers that apply bone positions need the
        avatar's real head offset here; most only apply the rotation).
    head_pose : HeadPoseConfig
        Reference pose, sign flips, clamps and translation handling.
    send_status : bool
        Whether to add ``/VMC/Ext/OK 1`` and ``/VMC/Ext/T``.
    mirror : bool
        Drive the avatar as a mirror image of the listener: left/right blendshapes swap, head
        yaw and roll (and sideways translation) flip.
    limits : InputLimits
        Clamping and rejection ranges for the coefficients.
    """

    name_case: str = "upper"
    send_head: bool = True
    head_bone: str = "Head"
    head_position: tuple[float, float, float] = (0.0, 0.0, 0.0)
    head_pose: HeadPoseConfig = field(default_factory=HeadPoseConfig)
    send_status: bool = True
    mirror: bool = False
    limits: InputLimits = field(default_factory=InputLimits)


#: OSC 1.0 bundle header: "#bundle", then the time tag 1 ("immediately").
_BUNDLE_HEADER = b"#bundle\x00" + struct.pack(">Q", 1)


def _message(address: str, *args) -> bytes:
    """One OSC message, encoded by python-osc."""
    builder = OscMessageBuilder(address=address)
    for arg in args:
        builder.add_arg(arg, OscMessageBuilder.ARG_TYPE_FLOAT if isinstance(arg, float)
                        else None)
    return builder.build().dgram


def _float_template(address: str, *leading, n_floats: int) -> bytes:
    """Encode a message whose last ``n_floats`` arguments are floats, without those floats.

    A frame then costs one ``struct.pack`` per message instead of a full OSC encode.
    """
    dgram = _message(address, *leading, *([0.0] * n_floats))
    return dgram[:len(dgram) - 4 * n_floats]


def osc_bundle(messages: list[bytes]) -> bytes:
    """Wrap encoded OSC messages in one bundle with the "immediately" time tag."""
    parts = [_BUNDLE_HEADER]
    for message in messages:
        parts.append(struct.pack(">i", len(message)))
        parts.append(message)
    return b"".join(parts)


class VmcSender(FrameSender):
    """Send listener frames to a VMC receiver.

    Parameters
    ----------
    host : str
        Receiver host (default ``127.0.0.1``).
    port : int
        Receiver UDP port (default 39539).
    config : VmcConfig, optional
        Bundle contents.

    Examples
    --------
    >>> sender = VmcSender("127.0.0.1", 39539)          # doctest: +SKIP
    >>> sender.send_frame(reaction[t])                   # doctest: +SKIP
    >>> sender.stats.sent, sender.stats.errors           # doctest: +SKIP
    """

    def __init__(self, host: str = "127.0.0.1", port: int = VMC_DEFAULT_PORT,
                 config: VmcConfig | None = None) -> None:
        self.config = config or VmcConfig()
        self.names = perfect_sync_names(self.config.name_case)
        super().__init__(host, port, HeadPoseConverter(self.config.head_pose, self.config.mirror))
        self._start = time.monotonic()
        self._val_templates = [_float_template(BLEND_VAL, name, n_floats=1)
                               for name in self.names]
        self._head_template = _float_template(BONE_POS, self.config.head_bone, n_floats=7)
        self._apply = _message(BLEND_APPLY)
        self._ok = _message(STATUS_OK, 1)
        self._time_template = _float_template(STATUS_TIME, n_floats=1)

    def encode_frame(self, coeffs: np.ndarray, frame_index: int | None = None) -> bytes:
        """Build one frame's OSC bundle.

        Parameters
        ----------
        coeffs : array_like
            ``(58,)`` FaceVerse coefficients.
        frame_index : int, optional
            Named in the error message of a rejected frame.

        Returns
        -------
        bytes
            The datagram. Raises :class:`InvalidFrameError` (NaN/Inf, absurd values) or
            ``ValueError`` (wrong shape).
        """
        cfg = self.config
        frame = validate_frame(coeffs, cfg.limits, frame_index)
        weights, n_clamped = clamp_blendshapes(frame, cfg.limits)
        self.stats.clamped += n_clamped
        if self.config.mirror:
            weights = weights[_MIRROR]
        messages = [template + struct.pack(">f", value)
                    for template, value in zip(self._val_templates, weights.tolist())]
        if cfg.send_head:
            pos = np.asarray(cfg.head_position, np.float64) + self.head.unity_translation(frame)
            quat = self.head.unity_rotation(frame)
            messages.append(self._head_template + struct.pack(">7f", *pos, *quat))
        messages.append(self._apply)
        if cfg.send_status:
            messages.append(self._ok)
            messages.append(self._time_template
                            + struct.pack(">f", time.monotonic() - self._start))
        return osc_bundle(messages)

    def send_frame(self, coeffs: np.ndarray, frame_index: int | None = None) -> bool:
        """Send one frame; never raises for bad values or network trouble.

        A wrong shape still raises ``ValueError`` (a programming error, not data). An invalid
        frame (NaN/Inf, absurd values) is not sent: it is counted in ``stats.rejected`` and
        described in ``stats.last_error``.

        Returns
        -------
        bool
            Whether the bundle was handed to the network stack.
        """
        return self._send(lambda: self.encode_frame(coeffs, frame_index))
