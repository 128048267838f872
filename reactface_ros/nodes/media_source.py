"""``media_source`` node: plays a speaker video file onto the camera and microphone topics.

The video's frames (and its audio, or a separate wav) go out on the same topics as the camera
and microphone nodes, for runs and tests without hardware.

Two pacing modes:

* ``realtime``: frame ``i`` is published at ``start + i / fps`` (wall clock) and stamped with
  that time, exactly like a camera; audio in chunks of ``chunk_ms``, stamped with the time of
  their first sample.
* ``fast``: as fast as the graph consumes. The node publishes ``/clock`` (simulated time; run
  the other nodes with ``use_sim_time``), stamps frames on the same media timeline, and keeps at
  most ``max_in_flight`` frames ahead of the slowest consumer: every topic in
  ``progress_topics`` (the graph description lists the outputs of every node downstream) must
  have answered up to ``max_in_flight`` frames back, matched by stamp, before the next frame.

Before the first message it waits until every output topic has ``min_subscribers`` matched
subscribers (recorder included), so nothing is lost to discovery.

A managed node: ``configure`` opens the files, ``activate`` starts (or resumes) playback,
``deactivate`` pauses it.
"""
from __future__ import annotations

import bisect
import threading
import time
from pathlib import Path

import numpy as np
from rosgraph_msgs.msg import Clock

from reactface_ros.constants import FPS

from . import diagnostics as diag
from .common import (AUTOSTART, DIAGNOSTICS_TOPIC, ManagedNode, NodeStartError, ParamSpec,
                     TopicSpec, msg_class, run_node)
from .conversions import audio_chunk_msg, numpy_to_image, set_stamp_ns
from .qos import qos_profile


def probe_media(path: str | Path) -> tuple[float, int]:
    """``(fps, frame count)`` of a video file (count 0 when the container does not say)."""
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        fps = float(stream.average_rate or stream.guessed_rate or FPS)
        return fps, int(stream.frames or 0)


def iter_video_frames(path: str | Path):
    """Yield ``(H, W, 3)`` uint8 RGB frames of a video file."""
    from reactface_ros.video import read_video_frames

    yield from read_video_frames(path)


def read_audio_track(path: str | Path) -> tuple[np.ndarray, int] | None:
    """``((N, C) float32 samples, sample rate)`` of a file's first audio stream, or ``None``."""
    import av

    with av.open(str(path)) as container:
        if not container.streams.audio:
            return None
        stream = container.streams.audio[0]
        rate = int(stream.rate or stream.codec_context.sample_rate)
        blocks = []
        for frame in container.decode(audio=0):
            arr = frame.to_ndarray()
            if frame.format.is_planar:
                arr = arr.T  # (C, n) -> (n, C)
            else:
                arr = arr.reshape(-1, len(frame.layout.channels))
            if np.issubdtype(arr.dtype, np.integer):
                arr = arr.astype(np.float32) / float(np.iinfo(arr.dtype).max)
            blocks.append(arr.astype(np.float32))
    if not blocks:
        return None
    return np.concatenate(blocks, axis=0), rate


#: How long every subscriber condition must hold before the first message (seconds).
_SETTLE_S = 1.0


class MediaSourceNode(ManagedNode):
    """Publishes a video file's frames and audio as speaker image and audio topics."""

    NODE_NAME = "media_source"
    PARAMS = (
        ParamSpec("video", "", "speaker video file (any format PyAV/FFmpeg reads)"),
        ParamSpec("audio", "", "separate audio file (wav, ...); empty: the video's own track"),
        ParamSpec("mode", "realtime", "pacing: 'realtime' (wall clock, like a camera) or 'fast' "
                  "(as fast as the graph consumes, publishing /clock)"),
        ParamSpec("chunk_ms", 40.0, "audio chunk length in milliseconds"),
        ParamSpec("min_subscribers", 1, "wait until every output topic has this many "
                  "subscribers before the first message"),
        ParamSpec("graph_topics", [""], "also wait until the ROS graph shows these topics "
                  "connected, each 'topic=S:P' (at least S subscribers and P publishers), so "
                  "downstream nodes in other processes are ready too"),
        ParamSpec("wait_timeout_s", 30.0, "give up waiting for subscribers after this long and "
                  "start anyway (0 waits forever)"),
        ParamSpec("progress_topics",
                  ["speaker/face_features=reactface_ros/msg/SpeakerFaceFeatures"],
                  "fast mode: what the consumers publish, each 'topic=pkg/msg/Type' with a "
                  "header stamped like the frame it answers (filled in from the graph)"),
        ParamSpec("max_in_flight", 16, "fast mode: frames published ahead of the slowest "
                  "progress topic (keep it above the reaction window w)", dynamic=True),
        ParamSpec("progress_timeout_s", 5.0, "fast mode: publish the next frame anyway when "
                  "no progress topic has moved for this long", dynamic=True),
        ParamSpec("loop", False, "start over at the end of the file", dynamic=True),
        ParamSpec("frame_id", "speaker_camera", "header.frame_id of the images"),
        ParamSpec("audio_frame_id", "speaker_mic", "header.frame_id of the audio chunks"),
        ParamSpec("exit_when_done", False, "shut the process down after the last frame"),
        AUTOSTART,
    )
    TOPICS = (
        TopicSpec("speaker/image", "sensor_msgs/msg/Image", "pub", "history",
                  "speaker video frames (rgb8), stamped with their (simulated) capture time"),
        TopicSpec("speaker/audio", "reactface_ros/msg/AudioChunk", "pub", "history",
                  "speaker audio chunks at the file's sample rate"),
        TopicSpec("speaker/face_features", "reactface_ros/msg/SpeakerFaceFeatures", "sub",
                  "reliable", "fast mode: progress of the graph (frame_index)"),
        TopicSpec("/clock", "rosgraph_msgs/msg/Clock", "pub", "history",
                  "simulated time, one tick per frame (fast mode only)", optional=True,
                  enabled_by="mode=fast"),
        DIAGNOSTICS_TOPIC,
    )

    def configure(self) -> None:
        """Open the video (and audio) file and create the topics."""
        video = str(self.param("video"))
        if not video or not Path(video).is_file():
            raise NodeStartError(f"video file {video!r} not found; set the "
                                 "'video' parameter to a speaker video")
        self.mode = str(self.param("mode"))
        if self.mode not in ("realtime", "fast"):
            raise NodeStartError(f"mode must be 'realtime' or 'fast', got "
                                 f"{self.mode!r}")
        self.video = video
        self.fps, self.total_frames = probe_media(video)
        audio_path = str(self.param("audio")) or video
        if not Path(audio_path).is_file():
            raise NodeStartError(f"audio file {audio_path!r} not found")
        track = read_audio_track(audio_path)
        if track is None:
            self.get_logger().warning(f"{audio_path} has no audio track: publishing frames only")
            self.audio, self.sample_rate = np.zeros((0, 1), np.float32), 16000
        else:
            self.audio, self.sample_rate = track
        if abs(self.fps - FPS) > 0.01:
            self.get_logger().warning(f"{video} runs at {self.fps:.3f} fps; the model expects "
                                      f"{FPS} fps (frames are published at the file's rate)")
        self.chunk = max(1, int(round(self.sample_rate * float(self.param("chunk_ms")) / 1e3)))
        reliable = qos_profile("reliable")
        self.image_pub = self.create_publisher(msg_class("sensor_msgs/msg/Image"),
                                               "speaker/image", qos_profile("history"))
        self.audio_pub = self.create_publisher(msg_class("reactface_ros/msg/AudioChunk"),
                                               "speaker/audio", qos_profile("history"))
        # Kept history like the other file-playback topics: a recorder that matches late still
        # records every tick (volatile subscribers such as rclpy's time source match too).
        self.clock_pub = (self.create_publisher(Clock, "/clock", qos_profile("history"))
                          if self.mode == "fast" else None)
        self._sent_stamps: list[int] = []   # stamp of every frame published, in order
        self._progress: dict[str, int] = {}  # progress topic -> last frame answered
        self._progress_time = time.monotonic()
        self._progress_cv = threading.Condition()
        # Subscribed in both modes (used in fast mode) so the graph looks the same to others.
        features = self.topic("speaker/face_features")
        self.create_subscription(msg_class("reactface_ros/msg/SpeakerFaceFeatures"),
                                 "speaker/face_features",
                                 lambda msg: self._on_progress(features, msg), reliable)
        if self.mode == "fast":
            for entry in self.param("progress_topics"):
                if not entry:
                    continue
                topic, _, msg_type = entry.partition("=")
                topic = self.topic(topic.strip())
                self._progress[topic] = -1
                if topic != features:
                    self.create_subscription(msg_class(msg_type.strip()), topic,
                                             lambda msg, t=topic: self._on_progress(t, msg),
                                             reliable)
        self.frames_published = 0
        self._next_start_ns = 0
        self.chunks_published = 0
        self.state = "waiting for subscribers"
        self.done = threading.Event()
        self._stop = threading.Event()
        self._running = threading.Event()    # set while active
        self._thread = threading.Thread(target=self._play, name="media_source", daemon=True)
        self.log_topics()

    def activate(self) -> None:
        """Start playback, or resume it where it paused."""
        self._running.set()
        if not self._thread.is_alive() and not self.done.is_set():
            self._thread.start()

    def deactivate(self) -> None:
        """Pause playback before the next frame."""
        self._running.clear()

    # ------------------------------------------------------------------ pacing helpers
    def _on_progress(self, topic: str, msg) -> None:
        if topic not in self._progress:
            return
        stamp = int(msg.header.stamp.sec) * 1_000_000_000 + int(msg.header.stamp.nanosec)
        with self._progress_cv:
            answered = bisect.bisect_right(self._sent_stamps, stamp) - 1
            if answered > self._progress[topic]:
                self._progress[topic] = answered
                self._progress_time = time.monotonic()
                self._progress_cv.notify_all()

    def _wait_running(self) -> float:
        """Block while the node is inactive; returns how long it was paused (seconds)."""
        if self._running.is_set():
            return 0.0
        t0 = time.monotonic()
        self.state = "paused (inactive)"
        while not self._running.wait(0.1):
            if self._stop.is_set():
                break
        self.state = "playing"
        return time.monotonic() - t0

    def _graph_ready(self) -> list[str]:
        """The ``graph_topics`` entries not yet satisfied."""
        missing = []
        for entry in self.param("graph_topics"):
            if not entry:
                continue
            topic, _, counts = entry.partition("=")
            subs, _, pubs = counts.partition(":")
            have = (self.count_subscribers(topic), self.count_publishers(topic))
            if have[0] < int(subs or 0) or have[1] < int(pubs or 0):
                missing.append(f"{topic} {have[0]}/{subs} sub {have[1]}/{pubs} pub")
        return missing

    def _compatible_subscriptions(self, publisher) -> int:
        """Subscriptions the ROS graph shows on ``publisher``'s topic that can match it."""
        from rclpy.qos import DurabilityPolicy, ReliabilityPolicy

        qos = publisher.qos_profile
        count = 0
        for info in self.get_subscriptions_info_by_topic(publisher.topic_name):
            sub = info.qos_profile
            if (qos.reliability == ReliabilityPolicy.BEST_EFFORT
                    and sub.reliability == ReliabilityPolicy.RELIABLE):
                continue
            if (qos.durability == DurabilityPolicy.VOLATILE
                    and sub.durability == DurabilityPolicy.TRANSIENT_LOCAL):
                continue
            count += 1
        return count

    def _wait_for_subscribers(self) -> None:
        need = int(self.param("min_subscribers"))
        timeout = float(self.param("wait_timeout_s"))
        start = time.monotonic()
        pubs = [self.image_pub] + ([self.audio_pub] if len(self.audio) else [])
        ready_since = None
        while not self._stop.is_set():
            counts = [p.get_subscription_count() for p in pubs]
            missing = self._graph_ready()
            # Subscriptions that were there before this node started (a recorder started
            # first) must be matched too, or their first messages are lost; they can take a
            # moment to be discovered, so everything must stay ready for _SETTLE_S.
            known = [self._compatible_subscriptions(p) for p in pubs]
            if min(counts) >= need and not missing and all(c >= k for c, k in zip(counts, known)):
                ready_since = time.monotonic() if ready_since is None else ready_since
                if time.monotonic() - ready_since >= _SETTLE_S:
                    return
            else:
                ready_since = None
            if timeout > 0 and time.monotonic() - start > timeout:
                self.get_logger().warning(
                    f"starting after {timeout:.0f} s with {counts} subscribers (wanted {need})"
                    + (f"; not connected: {', '.join(missing)}" if missing else ""))
                return
            time.sleep(0.01)

    def _wait_for_consumers(self, frame: int) -> None:
        """Fast mode: wait until every progress topic has answered frame ``frame - limit``."""
        limit = int(self.param("max_in_flight"))
        quiet = float(self.param("progress_timeout_s"))
        with self._progress_cv:
            while (not self._stop.is_set() and self._progress
                   and frame - min(self._progress.values()) > limit):
                if time.monotonic() - self._progress_time >= quiet:
                    behind = [f"{t} (frame {n})" for t, n in sorted(self._progress.items())
                              if frame - n > limit]
                    self.get_logger().warning(
                        f"no progress for {quiet:.0f} s from {', '.join(behind)} at frame "
                        f"{frame}: sending the next frame anyway (is that node running? "
                        "max_in_flight must exceed the reaction window)",
                        throttle_duration_sec=10.0)
                    break
                self._progress_cv.wait(0.05)
            self._progress_time = time.monotonic()

    # ------------------------------------------------------------------ playback
    def _play(self) -> None:
        try:
            self._wait_for_subscribers()
            while not self._stop.is_set():
                self._play_once()
                if not self.param("loop"):
                    break
        except Exception as exc:  # keep the process alive and visible in diagnostics
            self.state = f"failed: {exc}"
            self.get_logger().error(f"playback failed: {exc}")
        else:
            self.state = "done"
        self.get_logger().info(f"published {self.frames_published} frames and "
                               f"{self.chunks_published} audio chunks")
        self.done.set()
        if self.param("exit_when_done") and not self._stop.is_set():
            time.sleep(1.0)  # let reliable writers deliver the tail
            import rclpy

            if rclpy.ok(context=self.context):
                rclpy.try_shutdown(context=self.context)

    def _play_once(self) -> None:
        self.state = "playing"
        start_ns = max(time.time_ns(), self._next_start_ns)
        wall0 = time.monotonic()
        next_sample = 0
        frame_ns = 1e9 / self.fps
        for i, rgb in enumerate(iter_video_frames(self.video)):
            paused = self._wait_running()
            if self._stop.is_set():
                return
            if paused and self.mode == "realtime":  # a camera's stamps go on with the clock
                wall0 += paused
                start_ns += int(paused * 1e9)
            stamp_ns = start_ns + int(round(i * frame_ns))
            if self.mode == "realtime":
                delay = wall0 + i / self.fps - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            else:
                self._wait_for_consumers(self.frames_published)
                clock = Clock()
                set_stamp_ns(clock.clock, stamp_ns)
                self.clock_pub.publish(clock)
            with self._progress_cv:
                self._sent_stamps.append(stamp_ns)
            self.image_pub.publish(numpy_to_image(rgb, "rgb8", stamp_ns=stamp_ns,
                                                  frame_id=str(self.param("frame_id"))))
            self.frames_published += 1
            self._next_start_ns = stamp_ns + int(frame_ns)
            # Audio up to the end of this frame's period.
            end_sample = int(round((i + 1) / self.fps * self.sample_rate))
            while next_sample < min(end_sample, len(self.audio)):
                stop = min(next_sample + self.chunk, len(self.audio))
                chunk_ns = start_ns + int(round(next_sample * 1e9 / self.sample_rate))
                self.audio_pub.publish(audio_chunk_msg(
                    self.audio[next_sample:stop], self.sample_rate, stamp_ns=chunk_ns,
                    frame_id=str(self.param("audio_frame_id"))))
                self.chunks_published += 1
                next_sample = stop

    def diagnostic_statuses(self) -> list:
        """Playback progress."""
        level = diag.ERROR if self.state.startswith("failed") else diag.OK
        return [diag.make_status("media_source: playback", level, self.state, self.get_name(), {
            "video": self.video, "fps": f"{self.fps:.3f}", "sample_rate": self.sample_rate,
            "frames_published": self.frames_published, "frames_total": self.total_frames,
            "chunks_published": self.chunks_published, "mode": self.mode})]

    def release(self) -> None:
        """Stop the playback thread."""
        stop = getattr(self, "_stop", None)
        if stop is None:
            return
        stop.set()
        self._running.set()
        if self._thread.is_alive():
            self._thread.join(timeout=2.0)


def main(args: list[str] | None = None) -> int:
    """Run the media_source node."""
    return run_node(MediaSourceNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
