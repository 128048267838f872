"""``camera_capture`` node: OpenCV camera -> ``sensor_msgs/Image`` + ``camera_info``.

Frames are stamped with the wall-clock time of ``grab()`` (capture), published with
sensor-data QoS (configurable). ``camera_info`` carries the image size and an uncalibrated
pinhole guess (focal length = image width) unless calibration parameters are given.
"""
from __future__ import annotations

import glob
import threading
import time

from . import diagnostics as diag
from .common import (AUTOSTART, DIAGNOSTICS_TOPIC, ManagedNode, NodeStartError, ParamSpec,
                     TopicSpec, msg_class, run_node)
from .conversions import numpy_to_image, set_stamp_ns
from .qos import qos_profile


class CameraCaptureNode(ManagedNode):
    """Publishes camera frames at the requested rate (managed: opens the camera on configure)."""

    NODE_NAME = "camera_capture"
    PARAMS = (
        ParamSpec("device", "0", "camera index (e.g. '0') or a device path / stream URL"),
        ParamSpec("width", 640, "requested frame width"),
        ParamSpec("height", 480, "requested frame height"),
        ParamSpec("fps", 25.0, "requested frame rate"),
        ParamSpec("encoding", "rgb8", "published encoding: rgb8 or bgr8"),
        ParamSpec("qos", "sensor_data", "publisher QoS: 'sensor_data' or 'reliable'"),
        ParamSpec("frame_id", "speaker_camera", "header.frame_id of the images"),
        ParamSpec("focal_length_px", 0.0, "camera_info focal length in pixels; 0: image width"),
        AUTOSTART,
    )
    TOPICS = (
        TopicSpec("speaker/image", "sensor_msgs/msg/Image", "pub", "param:qos",
                  "camera frames stamped with their capture time"),
        TopicSpec("speaker/camera_info", "sensor_msgs/msg/CameraInfo", "pub", "param:qos",
                  "image size and pinhole intrinsics, one per frame"),
        DIAGNOSTICS_TOPIC,
    )

    def configure(self) -> None:
        """Open the camera and create the publishers."""
        import cv2

        self._cv2 = cv2
        device = str(self.param("device"))
        self.encoding = str(self.param("encoding"))
        if self.encoding not in ("rgb8", "bgr8"):
            raise NodeStartError(f"encoding must be rgb8 or bgr8, got {self.encoding!r}")
        source = int(device) if device.isdigit() else device
        self.cap = cv2.VideoCapture(source)
        if not self.cap.isOpened():
            found = sorted(glob.glob("/dev/video*"))
            raise NodeStartError(f"cannot open camera {device!r}; video devices found: "
                                 f"{', '.join(found) or 'none'}. Set 'device', or play a file "
                                 "with the media_source node instead")
        self.cap.set(cv2.CAP_PROP_FRAME_WIDTH, int(self.param("width")))
        self.cap.set(cv2.CAP_PROP_FRAME_HEIGHT, int(self.param("height")))
        self.cap.set(cv2.CAP_PROP_FPS, float(self.param("fps")))
        qos = qos_profile(str(self.param("qos")))
        self.image_pub = self.create_publisher(msg_class("sensor_msgs/msg/Image"),
                                               "speaker/image", qos)
        self.info_pub = self.create_publisher(msg_class("sensor_msgs/msg/CameraInfo"),
                                              "speaker/camera_info", qos)
        self.monitor = diag.StreamMonitor("camera_capture: camera", 2.0)
        self._stop = threading.Event()
        self._thread = None
        self.log_topics()

    def activate(self) -> None:
        """Start capturing."""
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def deactivate(self) -> None:
        """Stop capturing (the camera stays open)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
            self._thread = None

    def camera_info(self, width: int, height: int, stamp_ns: int):
        """An uncalibrated ``CameraInfo`` for a ``width`` x ``height`` image."""
        info = msg_class("sensor_msgs/msg/CameraInfo")()
        set_stamp_ns(info.header.stamp, stamp_ns)
        info.header.frame_id = str(self.param("frame_id"))
        info.width, info.height = width, height
        f = float(self.param("focal_length_px")) or float(width)
        cx, cy = width / 2.0, height / 2.0
        info.distortion_model = "plumb_bob"
        info.d = [0.0] * 5
        info.k = [f, 0.0, cx, 0.0, f, cy, 0.0, 0.0, 1.0]
        info.r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
        info.p = [f, 0.0, cx, 0.0, 0.0, f, cy, 0.0, 0.0, 0.0, 1.0, 0.0]
        return info

    def _loop(self) -> None:
        period = 1.0 / max(float(self.param("fps")), 1e-3)
        next_due = time.monotonic()
        frame_id = str(self.param("frame_id"))
        while not self._stop.is_set():
            if not self.cap.grab():
                self.monitor.reject("grab failed")
                time.sleep(0.05)
                continue
            stamp_ns = time.time_ns()
            ok, bgr = self.cap.retrieve()
            if not ok:
                self.monitor.reject("retrieve failed")
                continue
            pixels = bgr if self.encoding == "bgr8" else self._cv2.cvtColor(
                bgr, self._cv2.COLOR_BGR2RGB)
            self.image_pub.publish(numpy_to_image(pixels, self.encoding, stamp_ns=stamp_ns,
                                                  frame_id=frame_id))
            self.info_pub.publish(self.camera_info(bgr.shape[1], bgr.shape[0], stamp_ns))
            self.monitor.tick()
            # Drivers that ignore CAP_PROP_FPS would otherwise flood the graph.
            next_due += period
            delay = next_due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            else:
                next_due = time.monotonic()

    def diagnostic_statuses(self) -> list:
        """Camera frame rate and failures."""
        return [self.monitor.status(self.get_name())]

    def release(self) -> None:
        """Release the camera."""
        if getattr(self, "_thread", None) is not None:
            self.deactivate()
        cap = getattr(self, "cap", None)
        if cap is not None:
            cap.release()
            self.cap = None


def main(args: list[str] | None = None) -> int:
    """Run the camera_capture node."""
    return run_node(CameraCaptureNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
