"""``render`` node: listener reactions in, rendered listener images out (and an optional mp4).

Each ``ReactionFrame`` is rendered with :func:`reactface_ros.render.make_renderer` and
published as an ``rgb8`` ``sensor_msgs/Image`` stamped with the speaker frame's capture time,
so ``receive time - stamp`` on the image is the whole pipeline's latency.
"""
from __future__ import annotations

import time
import warnings

from reactface_ros.constants import FPS

from . import diagnostics as diag
from .common import (AUTOSTART, DIAGNOSTICS_TOPIC, ManagedNode, NodeStartError, ParamSpec,
                     TopicSpec, max_age_param, msg_class, run_node)
from .conversions import ConversionError, coefficients_from_msg, numpy_to_image, stamp_to_ns
from .qos import qos_profile


class Mp4Writer:
    """Incremental H.264 (or MPEG-4 Part 2 when libx264 is missing) writer on PyAV.

    Parameters
    ----------
    path : str
        Output file.
    fps : int
        Frame rate.
    """

    def __init__(self, path: str, fps: int) -> None:
        import av

        self.container = av.open(path, mode="w")
        try:
            self.stream = self.container.add_stream("libx264", rate=fps)
        except Exception:  # FFmpeg build without libx264
            self.stream = self.container.add_stream("mpeg4", rate=fps)
        self.stream.pix_fmt = "yuv420p"
        self._sized = False
        self.frames = 0

    def write(self, rgb) -> None:
        """Append one ``(H, W, 3)`` uint8 frame (even sizes; the first frame fixes the size)."""
        import av

        if not self._sized:
            self.stream.height, self.stream.width = rgb.shape[0] // 2 * 2, rgb.shape[1] // 2 * 2
            self._sized = True
        frame = av.VideoFrame.from_ndarray(rgb[:self.stream.height, :self.stream.width],
                                           format="rgb24")
        for packet in self.stream.encode(frame):
            self.container.mux(packet)
        self.frames += 1

    def close(self) -> None:
        """Flush and close the file."""
        for packet in self.stream.encode():
            self.container.mux(packet)
        self.container.close()


class RenderNode(ManagedNode):
    """Renders the selected listener reaction of every frame."""

    NODE_NAME = "render"
    PARAMS = (
        ParamSpec("style", "mesh", "renderer style (see reactface_ros.render.make_renderer)"),
        ParamSpec("size", 256, "output image side in pixels"),
        ParamSpec("video_path", "", "also write the rendered frames to this mp4 (empty: off)"),
        ParamSpec("fps", FPS, "frame rate of the mp4"),
        ParamSpec("silence_timeout_s", 2.0, "warn when no reaction arrives for this long"),
        max_age_param("a reaction"),
        AUTOSTART,
    )
    TOPICS = (
        TopicSpec("listener/reaction", "reactface_ros/msg/ReactionFrame", "sub", "reliable",
                  "the selected listener reaction per speaker frame"),
        TopicSpec("listener/image", "sensor_msgs/msg/Image", "pub", "history",
                  "rendered listener face (rgb8), stamped with the speaker frame's time"),
        DIAGNOSTICS_TOPIC,
    )

    def configure(self) -> None:
        """Create the renderer (and the mp4 writer) and the topics."""
        try:
            from reactface_ros.render import make_renderer

            self.renderer = make_renderer(str(self.param("style")), int(self.param("size")))
        except (ImportError, ValueError, RuntimeError) as exc:
            raise NodeStartError(f"cannot create the renderer: {exc}") from exc
        path = str(self.param("video_path"))
        self.writer = Mp4Writer(path, int(self.param("fps"))) if path else None
        self.image_pub = self.create_publisher(msg_class("sensor_msgs/msg/Image"),
                                               "listener/image", qos_profile("history"))
        self.create_subscription(msg_class("reactface_ros/msg/ReactionFrame"),
                                 "listener/reaction", self._on_reaction, qos_profile("reliable"))
        self.reactions = diag.StreamMonitor("render: input reaction",
                                            float(self.param("silence_timeout_s")))
        self.latency = diag.LatencyTracker()
        self.clamped_frames = 0
        self.log_topics()

    def _on_reaction(self, msg) -> None:
        t0 = time.monotonic()
        if self.stale_input(stamp_to_ns(msg.header.stamp), self.reactions):
            return
        try:
            coeffs = coefficients_from_msg(msg)
            # Out-of-range coefficients are clamped by the renderer; count them here instead
            # of printing one warning per frame.
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                rgb = self.renderer.render(coeffs)
            if caught:
                self.clamped_frames += 1
                self.reactions.notes["clamped_frames"] = str(self.clamped_frames)
        except (ConversionError, ValueError) as exc:
            self.reactions.reject(str(exc))
            self.get_logger().error(f"reaction not rendered: {exc}", throttle_duration_sec=5.0)
            return
        self.reactions.tick()
        image = numpy_to_image(rgb, "rgb8", frame_id=msg.header.frame_id)
        image.header.stamp = msg.header.stamp
        self.image_pub.publish(image)
        if self.writer is not None:
            self.writer.write(rgb)
        self.latency.add(time.monotonic() - t0)

    def diagnostic_statuses(self) -> list:
        """Input health and render time."""
        return [self.reactions.status(self.get_name()),
                diag.make_status("render: processing", diag.OK, "ok", self.get_name(),
                                 self.latency.summary())]

    def release(self) -> None:
        """Finish the mp4, if any, and release the renderer."""
        if getattr(self, "writer", None) is not None:
            self.writer.close()
            self.writer = None
        close = getattr(getattr(self, "renderer", None), "close", None)
        if close is not None:
            close()
        self.renderer = None


def main(args: list[str] | None = None) -> int:
    """Run the render node."""
    return run_node(RenderNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
