"""The ``reaction`` node's group input: every tracked face in, the active speaker's out.

``face_analysis`` publishes all tracked faces of each image on ``speaker/faces``
(``TrackedFaces``). :class:`GroupInput` runs them, with the audio, through
:class:`reactface_ros.group.GroupListener` and hands the reaction node one
``SpeakerFaceFeatures`` message per frame (the active speaker's features, cross-faded at a
change of speaker) through the same path as a ``speaker/face_features`` message, so the model
stream, its checks and its diagnostics stay the same. Once ``speaker/faces`` is heard, the
plain ``speaker/face_features`` messages (the largest face, for dyadic consumers and old
bags) are ignored. The head/eye turn toward the speaker is remembered per frame stamp and
added to the reactions when they are published.
"""
from __future__ import annotations

import collections

import numpy as np

from . import diagnostics as diag
from .common import ParamSpec, TopicSpec, msg_class
from .conversions import face_features_msg, face_vector_from_msg, stamp_to_ns

GROUP_PARAMS = (
    ParamSpec("gaze_gain", 1.0, "head turn toward the active speaker per radian of their "
              "angle from the camera axis (ry += gain * angle, positive toward a speaker in "
              "the image's right half; 0 disables, negative mirrors)"),
    ParamSpec("eye_gain", 0.5, "eye blendshape score per radian of turn (0: eyes unchanged)"),
    ParamSpec("camera_hfov_deg", 60.0, "horizontal field of view of the speaker camera"),
    ParamSpec("camera_vfov_deg", 45.0, "vertical field of view of the speaker camera"),
    ParamSpec("gaze_smoothing_s", 0.25, "time constant of the head turn"),
    ParamSpec("speaker_crossfade_s", 0.4, "how long the model's face input blends from the "
              "previous speaker to the new one at a change of speaker"),
    ParamSpec("speaker_window_s", 1.0, "how much past the active-speaker estimate correlates "
              "(mouth motion against the audio envelope)"),
    ParamSpec("speaker_hold_s", 0.3, "how long another face must lead before the floor "
              "changes (hysteresis)"),
)
GROUP_TOPICS = (
    TopicSpec("speaker/faces", "reactface_ros/msg/TrackedFaces", "sub", "param:input_qos",
              "every tracked face with its id; the active speaker's features feed the model"),
    TopicSpec("speaker/active_speaker", "std_msgs/msg/String", "pub", "reliable",
              "id of the face holding the floor, one message per frame ('' when nobody)"),
)


class GroupInput:
    """Group handling owned by the reaction node (see the module docstring)."""

    def __init__(self, node, qos) -> None:
        from reactface_ros.active_speaker import ActiveSpeakerEstimator
        from reactface_ros.gaze import GazeController
        from reactface_ros.group import GroupListener
        from reactface_ros.nodes.qos import qos_profile

        self.node = node
        p = node.param
        fps = float(p("fps"))
        gain = float(p("gaze_gain"))
        try:
            self.listener = GroupListener(
                ActiveSpeakerEstimator(fps=fps, window_s=float(p("speaker_window_s")),
                                       hold_s=float(p("speaker_hold_s"))),
                GazeController(gain=gain, eye_gain=float(p("eye_gain")),
                               hfov_deg=float(p("camera_hfov_deg")),
                               vfov_deg=float(p("camera_vfov_deg")),
                               smoothing_s=float(p("gaze_smoothing_s")), fps=fps),
                crossfade_s=float(p("speaker_crossfade_s")), fps=fps)
        except ValueError as exc:
            from .common import NodeStartError

            raise NodeStartError(f"group parameters: {exc}") from exc
        self.seen = False
        self.frames = 0
        self.superseded = 0
        self.bad_faces = 0
        self.last_active = ""
        self.faces_in_view = 0
        self._gaze: collections.OrderedDict = collections.OrderedDict()
        self.active_pub = node.create_publisher(msg_class("std_msgs/msg/String"),
                                                "speaker/active_speaker",
                                                qos_profile("reliable"))
        node.create_subscription(msg_class("reactface_ros/msg/TrackedFaces"), "speaker/faces",
                                 self.on_faces, qos)

    def reset(self) -> None:
        """New session."""
        self.listener.reset()
        self._gaze.clear()

    def push_audio(self, block) -> None:
        """The audio the reaction node accepted."""
        self.listener.push_audio(block.mono, block.sample_rate, block.stamp_ns / 1e9)

    def wants_plain(self) -> bool:
        """Whether a ``speaker/face_features`` message should still be used."""
        if self.seen:
            self.superseded += 1
        return not self.seen

    def on_faces(self, msg) -> None:
        """One ``TrackedFaces`` message: decide, then feed the node like a face message."""
        from reactface_ros.group import GroupFace

        self.seen = True
        stamp_ns = stamp_to_ns(msg.header.stamp)
        if len(msg.ids) != len(msg.faces):
            self.node.face_in.reject(f"TrackedFaces has {len(msg.ids)} ids for "
                                     f"{len(msg.faces)} faces")
            return
        faces = []
        for face_id, f in zip(msg.ids, msg.faces):
            vec = face_vector_from_msg(f)
            box = np.array([f.xmin, f.ymin, f.xmax, f.ymax], np.float64)
            if not (np.all(np.isfinite(vec)) and np.all(np.isfinite(box))):
                self.bad_faces += 1
                self.node.get_logger().error(f"tracked face {face_id!r} has non-finite values; "
                                             "left out", throttle_duration_sec=5.0)
                continue
            if f.face_found:
                faces.append(GroupFace(str(face_id), vec, box))
        decided = self.listener.frame(stamp_ns / 1e9, faces)
        self.frames += 1
        self.faces_in_view = decided.faces
        self.last_active = decided.estimate.active or ""
        out = msg_class("std_msgs/msg/String")()
        out.data = self.last_active
        self.active_pub.publish(out)
        self._gaze[stamp_ns] = decided.gaze
        while len(self._gaze) > 400:
            self._gaze.popitem(last=False)
        last = self.node._face_last_index
        if last is not None and int(msg.frame_index) <= last:
            return                       # already fed by its speaker/face_features message
        if decided.vector is None:
            face = face_features_msg(np.zeros(59, np.float32), frame_index=msg.frame_index,
                                     stamp_ns=stamp_ns, frame_id=msg.header.frame_id)
        else:
            face = face_features_msg(decided.vector, frame_index=msg.frame_index,
                                     stamp_ns=stamp_ns, frame_id=msg.header.frame_id)
            chosen = next(f for i, f in zip(msg.ids, msg.faces) if i == decided.fed)
            face.confidence = chosen.confidence
            face.xmin, face.ymin, face.xmax, face.ymax = (chosen.xmin, chosen.ymin,
                                                          chosen.xmax, chosen.ymax)
        self.node._on_face(face)

    def turn(self, stamp_ns: int, reactions: np.ndarray) -> np.ndarray:
        """Add the head/eye turn of the frame stamped ``stamp_ns`` to ``(..., 58)`` reactions."""
        offset = self._gaze.get(stamp_ns)
        if offset is None or not np.any(offset):
            return reactions
        return self.listener.apply_gaze(reactions, offset)

    def status(self, name: str):
        """A ``/diagnostics`` status: who holds the floor, how many faces are in view."""
        est = self.listener.estimator
        values = {"active_speaker": self.last_active or "none",
                  "faces_in_view": self.faces_in_view, "group_frames": self.frames,
                  "speaker_switches": est.switches,
                  "superseded_face_features": self.superseded,
                  "bad_tracked_faces": self.bad_faces,
                  "gaze_yaw_rad": f"{float(self.listener.gaze.offset[0]):.3f}"}
        message = (f"{self.faces_in_view} face(s), speaker {self.last_active}"
                   if self.seen else "no speaker/faces input (dyadic face_features only)")
        level = diag.WARN if self.bad_faces else diag.OK
        return diag.make_status("reaction: active speaker", level, message, name, values)


__all__ = ["GROUP_PARAMS", "GROUP_TOPICS", "GroupInput"]
