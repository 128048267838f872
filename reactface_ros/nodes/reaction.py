"""``reaction`` node: speaker audio + face features in, listener reactions out.

Feeds :class:`reactface_ros.streaming.ReactionStream` with every audio chunk and face-feature
message (the stream aligns them by stamp). Whenever a window of ``w`` speaker frames is
complete it publishes, per frame, all ``M`` sampled reactions (``ReactionSamples``) and the
one chosen by ``selection`` (``ReactionFrame``), each stamped with the capture time of the
speaker frame it answers.

Selection policies (one sample per window, so a window never mixes samples):

* ``fixed``: always sample ``selected_sample`` (a consistent listener personality);
* ``medoid``: the sample closest to the mean of the ``M`` samples over the window (the most
  typical reaction);
* ``random``: a sample drawn per window from a generator seeded with ``seed``.
"""
from __future__ import annotations

import bisect
import collections
import time
from pathlib import Path

import numpy as np

from reactface_ros.constants import CPU_INFERENCE_THREADS, FPS
from reactface_ros.input_checks import InputError, check_audio_chunk, check_face_features

from . import diagnostics as diag
from .common import (AUTOSTART, DIAGNOSTICS_TOPIC, ManagedNode, NodeStartError, ParamSpec,
                     TopicSpec, msg_class, run_node)
from .conversions import (ConversionError, audio_from_msg, face_vector_from_msg,
                          image_to_numpy, reaction_frame_msg, reaction_samples_msg, stamp_to_ns)
from .group_support import GROUP_PARAMS, GROUP_TOPICS, GroupInput
from .qos import qos_profile

SELECTION_POLICIES = ("fixed", "medoid", "random")


def select_sample(reactions: np.ndarray, policy: str, fixed_index: int,
                  rng: np.random.Generator) -> int:
    """Choose one of the ``M`` samples of a window.

    Parameters
    ----------
    reactions : numpy.ndarray
        ``(M, w, 58)`` sampled reactions of one window.
    policy : str
        ``fixed``, ``medoid`` or ``random`` (see the module docstring).
    fixed_index : int
        Sample used by ``fixed`` (clipped to ``M - 1``).
    rng : numpy.random.Generator
        Generator used by ``random``.

    Returns
    -------
    int
        The index of the chosen sample.
    """
    m = reactions.shape[0]
    if policy == "fixed":
        return int(min(max(fixed_index, 0), m - 1))
    if policy == "medoid":
        mean = reactions.mean(axis=0, keepdims=True)
        return int(np.argmin(((reactions - mean) ** 2).sum(axis=(1, 2))))
    if policy == "random":
        return int(rng.integers(m))
    raise ValueError(f"unknown selection policy {policy!r}; use one of "
                     f"{', '.join(SELECTION_POLICIES)}")


def resolve_device(name: str) -> str:
    """``auto`` -> ``cuda`` when available else ``cpu``; ``cpu``/``cuda``/``cuda:N`` as given."""
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise NodeStartError(f"device {name!r} requested but CUDA is not available; "
                             "use device:=cpu or auto")
    if name != "cpu" and not name.startswith("cuda"):
        raise NodeStartError(f"device must be auto, cpu or cuda[:N], got {name!r}")
    return name


def default_checkpoint() -> str:
    """The bundled checkpoint: the first ``models/*/config.json`` directory found.

    Looks in the source tree, then in the installed share directory; ``models/reactface`` is
    preferred when several exist.
    """
    # The checkout's models/ first (source tree or editable install), then the ROS share.
    bases = [Path(__file__).resolve().parents[2] / "models"]
    try:
        from ament_index_python.packages import get_package_share_directory

        bases.append(Path(get_package_share_directory("reactface_ros")) / "models")
    except Exception:  # no ament index
        pass
    for base in bases:
        if (base / "reactface" / "config.json").is_file():
            return str(base / "reactface")
        found = sorted(p.parent for p in base.glob("*/config.json"))
        if found:
            return str(found[0])
    return str(bases[0] / "reactface")


class ReactionNode(ManagedNode):
    """Runs the streaming ReactFace engine on the speaker streams.

    A managed node: ``configure`` loads the model; while inactive it stays loaded and the
    input is dropped.
    """

    NODE_NAME = "reaction"
    PARAMS = (
        ParamSpec("checkpoint", "", "checkpoint directory (safetensors + config); empty: the "
                  "bundled model"),
        ParamSpec("device", "auto", "torch device: auto, cpu or cuda[:N]"),
        ParamSpec("num_threads", CPU_INFERENCE_THREADS, "torch CPU threads (1: a window is "
                  "small, and more threads spin-wait and slow every process sharing the cores; "
                  "0: torch's default, one per core)"),
        ParamSpec("samples", 10, "number of reactions M sampled per window"),
        ParamSpec("window", 0, "expected window length w in frames (fixed by the checkpoint); "
                  "0 accepts the checkpoint's, another value that differs is an error"),
        ParamSpec("max_lag_s", 0.5, "how far audio and face may run apart before the lagging "
                  "one is filled in (silence / repeated face); 0 waits forever"),
        ParamSpec("idle_flush_s", 1.0, "when both inputs stay silent this long, publish the "
                  "pending frames of the last window; input that resumes more than this far "
                  "from where it stopped (in stamp time) starts a new session; 0: never",
                  dynamic=True),
        ParamSpec("seed", 0, "random seed of the sampling (same seed, same reactions)"),
        ParamSpec("persona", -1, "persona slot every sample uses, for one consistent character "
                  "(checkpoints with persona slots; -1: sample m uses slot m mod personas)"),
        ParamSpec("motion_gain", 0.0, "how expressive the reactions are: the size of every "
                  "smile and nod, never their timing (anchored checkpoints; 0: the "
                  "checkpoint's motion_gain)"),
        ParamSpec("listener_face", "", "the robot's or avatar's resting face the reactions move "
                  "around: a .npy of 58 FaceVerse values or a .json of ARKit blendshape names "
                  "(anchored checkpoints; empty: the neutral face)"),
        ParamSpec("selection", "fixed", "which sample goes to ReactionFrame: fixed, medoid or "
                  "random (per window)", dynamic=True),
        ParamSpec("selected_sample", 0, "sample index used by the fixed policy", dynamic=True),
        ParamSpec("input_qos", "sensor_data", "QoS of the audio and face subscriptions: "
                  "'sensor_data' or 'reliable'"),
        ParamSpec("fps", float(FPS), "speaker frame rate"),
        ParamSpec("silence_timeout_s", 2.0, "warn when an input stays silent this long"),
        ParamSpec("crop_timeout_s", 0.3, "conv3d checkpoints: how long a face frame waits for "
                  "its crop before it counts as no face"),
        ParamSpec("frame_id", "listener_face", "header.frame_id of the reactions"),
        AUTOSTART,
    ) + GROUP_PARAMS
    TOPICS = (
        TopicSpec("speaker/audio", "reactface_ros/msg/AudioChunk", "sub", "param:input_qos",
                  "speaker audio chunks (any rate and channel count)"),
        TopicSpec("speaker/face_features", "reactface_ros/msg/SpeakerFaceFeatures", "sub",
                  "param:input_qos", "speaker face features, one per frame"),
        TopicSpec("speaker/face_crop", "sensor_msgs/msg/Image", "sub", "param:input_qos",
                  "face crops, used instead of the features by a conv3d checkpoint",
                  optional=True),
        TopicSpec("listener/reaction", "reactface_ros/msg/ReactionFrame", "pub", "history",
                  "the selected reaction, one message per speaker frame"),
        TopicSpec("listener/reaction_samples", "reactface_ros/msg/ReactionSamples", "pub",
                  "history", "all M sampled reactions, one message per speaker frame"),
    ) + GROUP_TOPICS + (DIAGNOSTICS_TOPIC,)

    def configure(self) -> None:
        """Load the model and create the topics."""
        policy = str(self.param("selection"))
        if policy not in SELECTION_POLICIES:
            raise NodeStartError(f"selection must be one of {', '.join(SELECTION_POLICIES)}, "
                                 f"got {policy!r}")
        self.stream = self._make_stream()
        self.rng = np.random.default_rng(int(self.param("seed")))
        reliable = qos_profile("history")
        self.frame_pub = self.create_publisher(msg_class("reactface_ros/msg/ReactionFrame"),
                                               "listener/reaction", reliable)
        self.samples_pub = self.create_publisher(
            msg_class("reactface_ros/msg/ReactionSamples"), "listener/reaction_samples", reliable)
        in_qos = qos_profile(str(self.param("input_qos")))
        self.create_subscription(msg_class("reactface_ros/msg/AudioChunk"), "speaker/audio",
                                 self._on_audio, in_qos)
        self.create_subscription(msg_class("reactface_ros/msg/SpeakerFaceFeatures"),
                                 "speaker/face_features",
                                 lambda msg: self.group.wants_plain() and self._on_face(msg),
                                 in_qos)
        self.group = GroupInput(self, in_qos)   # speaker/faces: react to the active speaker
        # conv3d checkpoints read face crops: each features message waits for the crop with
        # its stamp (face_analysis publishes it with publish_crop, the default).
        self._crops: collections.OrderedDict = collections.OrderedDict()
        self._waiting: collections.deque = collections.deque()
        if self.conv3d:
            self.create_subscription(msg_class("sensor_msgs/msg/Image"), "speaker/face_crop",
                                     self._on_crop, in_qos)
        timeout = float(self.param("silence_timeout_s"))
        self.audio_in = diag.StreamMonitor("reaction: input audio", timeout)
        self.face_in = diag.StreamMonitor("reaction: input face", timeout)
        self.window_latency = diag.LatencyTracker()
        self.e2e_latency = diag.LatencyTracker()
        self.frames_out = 0
        self.windows_out = 0
        self._audio_rate: int | None = None
        self._audio_next_ns: int | None = None
        self._face_last_index: int | None = None
        # (stamp_ns, frame_index) of recent face messages: maps frame slots to speaker frames.
        self._face_frames: collections.deque = collections.deque(maxlen=400)
        self._pending = False      # input arrived since the last idle flush
        self._paused = False       # idle-flushed; the next input decides: resume or new session
        self._published_to = 0     # stream frame slots below this are published
        self.idle_flushes = 0
        self.sessions = 1
        self._health_totals: dict[str, int] = {}  # stream counters of finished sessions
        self._no_face_run = 0
        self._silent_warned = {"audio": False, "face": False}
        self.steady_timer(1.0, self._check_silence)
        self.steady_timer(0.25, self._idle_flush)
        if self.conv3d:
            self.steady_timer(0.05, self._drain_faces)
        self.log_topics()

    def _make_stream(self):
        try:
            from reactface_ros.model import ReactFace
            from reactface_ros.streaming import ReactionStream, set_cpu_threads
        except ImportError as exc:
            raise NodeStartError(f"the streaming engine is not available: {exc}") from exc
        checkpoint = str(self.param("checkpoint")) or default_checkpoint()
        if not Path(checkpoint).exists():
            raise NodeStartError(f"checkpoint {checkpoint!r} not found; set the 'checkpoint' "
                                 "parameter to a directory written by ReactFace.save_pretrained")
        device = resolve_device(str(self.param("device")))
        try:
            set_cpu_threads(int(self.param("num_threads")))
        except ValueError as exc:
            raise NodeStartError(str(exc)) from exc
        try:
            model = ReactFace.from_pretrained(checkpoint)
        except (FileNotFoundError, ValueError, KeyError) as exc:
            raise NodeStartError(f"cannot load checkpoint {checkpoint}: {exc}") from exc
        window = int(self.param("window"))
        if window and window != model.config.window:
            raise NodeStartError(f"window={window} but checkpoint {checkpoint} was trained with "
                                 f"w={model.config.window}; set window to 0 or "
                                 f"{model.config.window}")
        gain = float(self.param("motion_gain"))
        try:
            if gain != 0.0:
                model.set_motion_gain(gain)
        except ValueError as exc:
            raise NodeStartError(f"motion_gain: {exc}") from exc
        max_lag = float(self.param("max_lag_s"))
        persona = int(self.param("persona"))
        kwargs = {"num_samples": int(self.param("samples")), "seed": int(self.param("seed")),
                  "device": device, "max_lag_s": max_lag if max_lag > 0 else None,
                  "persona": None if persona < 0 else persona}
        face_file = str(self.param("listener_face"))
        try:
            if face_file:
                from reactface_ros.listener_face import load_listener_face

                kwargs["listener_face"] = load_listener_face(face_file)
            stream = ReactionStream(model, **kwargs)
        except (OSError, ValueError) as exc:
            raise NodeStartError(f"cannot start the reaction stream: {exc}") from exc
        self.conv3d = model.config.face_encoder == "conv3d"
        self.crop_size = int(model.config.crop_size)
        self.get_logger().info(f"model {checkpoint} on {device}, w={model.config.window}, "
                               f"face input {model.config.face_encoder}, "
                               f"M={kwargs['num_samples']}, seed={kwargs['seed']}, "
                               f"persona={persona if persona >= 0 else 'all'}, "
                               f"motion_gain={model.config.motion_gain:g}, "
                               f"selection={self.param('selection')}")
        return stream

    # ------------------------------------------------------------------ inputs
    def _on_audio(self, msg) -> None:
        try:
            block = audio_from_msg(msg)
        except ConversionError as exc:
            self.audio_in.reject(str(exc))
            self.get_logger().error(f"audio chunk rejected: {exc}", throttle_duration_sec=5.0)
            return
        try:
            check_audio_chunk(block.samples.shape[0], block.sample_rate)
        except InputError as exc:
            self._reject(self.audio_in, exc, "audio chunk")
            return
        if block.stamp_ns == 0:  # unstamped audio: it was captured just before it arrived
            block.stamp_ns = self.get_clock().now().nanoseconds - int(block.duration_s * 1e9)
            self.audio_in.notes["unstamped"] = str(
                int(self.audio_in.notes.get("unstamped", "0")) + 1)
        self._resume_or_restart(block.stamp_ns)
        if self._audio_rate is not None and block.sample_rate != self._audio_rate:
            self.audio_in.notes["rate_changes"] = str(
                int(self.audio_in.notes.get("rate_changes", "0")) + 1)
            self.get_logger().warning(f"audio sample rate changed {self._audio_rate} -> "
                                      f"{block.sample_rate} Hz", throttle_duration_sec=5.0)
        self._audio_rate = block.sample_rate
        self.audio_in.notes["sample_rate"] = str(block.sample_rate)
        if self._audio_next_ns is not None:
            lag = block.stamp_ns - self._audio_next_ns
            if lag > 0.5e9 / float(self.param("fps")):
                self.audio_in.gap(int(round(lag * float(self.param("fps")) / 1e9)))
        self._audio_next_ns = block.stamp_ns + int(block.duration_s * 1e9)
        self.audio_in.tick()
        self.group.push_audio(block)
        self._run(lambda: self.stream.push_audio(block.mono, block.sample_rate,
                                                 block.stamp_ns / 1e9), "audio")

    def _on_face(self, msg) -> None:
        index = int(msg.frame_index)
        stamp_ns = stamp_to_ns(msg.header.stamp)
        if msg.face_found and not self.conv3d:
            try:
                check_face_features(face_vector_from_msg(msg))
            except InputError as exc:
                self._reject(self.face_in, exc, "face features")
                return
        self._resume_or_restart(stamp_ns)
        if self._face_last_index is not None:
            if index <= self._face_last_index:
                self.face_in.reject(f"frame_index went backwards ({index} after "
                                    f"{self._face_last_index})")
                return
            if index > self._face_last_index + 1:
                self.face_in.gap(index - self._face_last_index - 1)
        self._face_last_index = index
        self._face_frames.append((stamp_ns, index))
        self._no_face_run = 0 if msg.face_found else self._no_face_run + 1
        self.face_in.notes["no_face_run"] = str(self._no_face_run)
        self.face_in.tick()
        if self.conv3d:
            self._waiting.append((stamp_ns, bool(msg.face_found), time.monotonic()))
            self._drain_faces()
            return
        vec = face_vector_from_msg(msg) if msg.face_found else None
        self._run(lambda: self.stream.push_face(vec, stamp_ns / 1e9), "face")

    def _on_crop(self, msg) -> None:
        try:
            crop = image_to_numpy(msg, "rgb8")
        except ConversionError as exc:
            self.face_in.reject(f"face crop: {exc}")
            return
        if crop.shape[:2] != (self.crop_size, self.crop_size):
            import cv2

            crop = cv2.resize(crop, (self.crop_size, self.crop_size),
                              interpolation=cv2.INTER_AREA)
        self._crops[stamp_to_ns(msg.header.stamp)] = crop
        while len(self._crops) > 100:
            self._crops.popitem(last=False)
        self._drain_faces()

    def _drain_faces(self) -> None:
        """Push waiting face frames (conv3d) in order, each with its crop or as "no face"."""
        timeout = float(self.param("crop_timeout_s"))
        while self._waiting:
            stamp_ns, found, since = self._waiting[0]
            crop = self._crops.pop(stamp_ns, None) if found else None
            if found and crop is None:
                if time.monotonic() - since < timeout:
                    return
                self.face_in.notes["missing_crops"] = str(
                    int(self.face_in.notes.get("missing_crops", "0")) + 1)
                self.get_logger().warning(
                    f"no face crop on {self.topic('speaker/face_crop')} for a face frame; is "
                    "face_analysis running with publish_crop:=true?", throttle_duration_sec=10.0)
            self._waiting.popleft()
            self._run(lambda c=crop, t=stamp_ns: self.stream.push_face(c, t / 1e9), "face")

    def _run(self, push, source: str) -> None:
        t0 = time.monotonic()
        try:
            windows = push()
        except ValueError as exc:
            self._reject(self.audio_in if source == "audio" else self.face_in, exc,
                         f"{source} input")
            return
        self._pending = True
        if windows:
            self.window_latency.add((time.monotonic() - t0) / len(windows))
        for window in windows:
            self._publish_window(window)

    def _reject(self, monitor, exc: ValueError, what: str) -> None:
        """Count an unusable input (under its problem's name on /diagnostics) and log it."""
        monitor.reject(str(exc))
        problem = getattr(exc, "problem", None)
        if problem:
            monitor.notes[problem] = str(int(monitor.notes.get(problem, "0")) + 1)
        self.get_logger().error(f"{what} rejected: {exc}", throttle_duration_sec=5.0)

    def _speaker_frame(self, slot_stamp_s: float) -> tuple[int, int]:
        """``(stamp_ns, frame_index)`` of the speaker frame a frame slot stands for.

        The face message nearest in time (within half a frame) gives both; a slot with no
        face message (a dropped frame, filled in by the stream) gets the slot time and the
        index extrapolated from the nearest known frame.
        """
        slot_ns = int(round(slot_stamp_s * 1e9))
        fps = float(self.param("fps"))
        if not self._face_frames:
            return slot_ns, int(round(slot_stamp_s * fps))
        stamps = [s for s, _ in self._face_frames]
        i = bisect.bisect_left(stamps, slot_ns)
        best = min((j for j in (i - 1, i) if 0 <= j < len(stamps)),
                   key=lambda j: abs(stamps[j] - slot_ns))
        stamp_ns, index = self._face_frames[best]
        if abs(stamp_ns - slot_ns) <= 0.5e9 / fps:
            return stamp_ns, index
        return slot_ns, index + int(round((slot_ns - stamp_ns) * fps / 1e9))

    def _publish_window(self, window) -> None:
        reactions = np.asarray(window.reactions, np.float32)  # (M, n, 58)
        chosen = select_sample(reactions, str(self.param("selection")),
                               int(self.param("selected_sample")),
                               self.rng)
        m = reactions.shape[0]
        frame_id = str(self.param("frame_id"))
        last_ns = 0
        # Frames published by an idle flush (a peek) come again in the completed window.
        first = max(0, self._published_to - window.start_frame)
        if first >= reactions.shape[1]:
            return
        self._published_to = window.start_frame + reactions.shape[1]
        for j in range(first, reactions.shape[1]):
            stamp_ns, index = self._speaker_frame(float(window.stamps[j]))
            frame = self.group.turn(stamp_ns, reactions[:, j])   # look at the speaker
            self.samples_pub.publish(reaction_samples_msg(
                frame, frame_index=index, selected_sample=chosen, stamp_ns=stamp_ns,
                frame_id=frame_id))
            self.frame_pub.publish(reaction_frame_msg(
                frame[chosen], frame_index=index, sample_index=chosen, num_samples=m,
                stamp_ns=stamp_ns, frame_id=frame_id))
            self.frames_out += 1
            last_ns = stamp_ns
        self.windows_out += 1
        self.e2e_latency.add((self.get_clock().now().nanoseconds - last_ns) / 1e9)

    def _idle_flush(self) -> None:
        """Both inputs quiet: publish the pending frames now, without ending the session.

        Silence is measured on this node's clock, so a stall upstream (or of this node on a
        loaded machine) looks the same as the end of the speaker's input. The stream is
        therefore only peeked; :meth:`_resume_or_restart` decides on the next input whether
        the session goes on (late input, nothing lost) or a new one starts.
        """
        idle = float(self.param("idle_flush_s"))
        if (idle <= 0 or not self._pending or self.audio_in.silent_for() < idle
                or self.face_in.silent_for() < idle):
            return
        # Only speaker frames make a session: audio alone (face analysis still starting up)
        # is kept.
        if self.stream.frames_filled == 0:
            return
        self._pending = False
        self._paused = True
        if self.stream.frames_filled <= max(self.stream.next_frame, self._published_to):
            return                                    # nothing pending
        try:
            windows = self.stream.peek()
        except ValueError as exc:
            self.get_logger().error(f"idle flush failed: {exc}")
            windows = []
        before = self.frames_out
        for window in windows:
            self._publish_window(window)
        self.idle_flushes += 1
        self.get_logger().info(f"inputs idle for {idle:.1f} s: published the "
                               f"{self.frames_out - before} pending frame(s)")

    def _resume_or_restart(self, stamp_ns: int) -> None:
        """First input after an idle flush: continue the session, or start a new one.

        Input stamped within ``idle_flush_s`` of where the timeline stopped was only late
        (the stream fills any small gap); input further away (the speaker came back, a new
        clip, a restarted clock) starts a new session with a fresh timeline and history.
        """
        self._pending = True
        if not self._paused:
            return
        self._paused = False
        end = self.stream.timeline_end
        idle = float(self.param("idle_flush_s"))
        if end is None or abs(stamp_ns / 1e9 - end) <= idle:
            return
        self.get_logger().info(f"input resumed {stamp_ns / 1e9 - end:+.2f} s from where it "
                               "stopped: new session")
        for key, value in self.stream.health.as_dict().items():
            self._health_totals[key] = self._health_totals.get(key, 0) + int(value)
        self.stream.reset()
        self.group.reset()
        self.sessions += 1
        self._published_to = 0
        self._face_frames.clear()
        self._waiting.clear()
        self._crops.clear()
        self._face_last_index = None
        self._audio_next_ns = None
        self._audio_rate = None

    def deactivate(self) -> None:
        """Stop listening; the next input after activation continues or restarts the session.

        As after an idle flush: input within ``idle_flush_s`` (stamp time) of where it stopped
        continues the session, anything later starts a new one.
        """
        self._paused = True

    def release(self) -> None:
        """Drop the model."""
        self.stream = None

    def check_parameter(self, name: str, value) -> str | None:
        """Refuse unknown selection policies and negative sample indices."""
        if name == "selection" and value not in SELECTION_POLICIES:
            return f"selection must be one of {', '.join(SELECTION_POLICIES)}"
        if name == "selected_sample" and int(value) < 0:
            return "selected_sample must be >= 0"
        return None

    # ------------------------------------------------------------------ health
    def _check_silence(self) -> None:
        for key, monitor, topic in (("audio", self.audio_in, "speaker/audio"),
                                    ("face", self.face_in, "speaker/face_features")):
            if monitor.is_silent():
                if not self._silent_warned[key]:
                    self._silent_warned[key] = True
                    self.get_logger().warning(
                        f"no {key} input on {self.topic(topic)} for "
                        f"{monitor.silent_for():.1f} s")
            else:
                self._silent_warned[key] = False

    def diagnostic_statuses(self) -> list:
        """Input health of both streams and the inference latency."""
        name = self.get_name()
        infer = {f"window_{k}": v for k, v in self.window_latency.summary().items()}
        infer.update({f"end_to_end_{k}": v for k, v in self.e2e_latency.summary().items()})
        infer.update({"frames_published": self.frames_out, "windows": self.windows_out,
                      "idle_flushes": self.idle_flushes, "sessions": self.sessions})
        infer.update({k: int(v) + self._health_totals.get(k, 0)
                      for k, v in self.stream.health.as_dict().items()})
        face = self.face_in.status(name)
        if self._no_face_run >= float(self.param("fps")) and face.level == diag.OK:
            face.level, face.message = diag.WARN, f"no face for {self._no_face_run} frames"
        level, message = diag.OK, f"{self.windows_out} windows"
        if int(infer["nonfinite_windows"]):
            level, message = diag.ERROR, (f"{infer['nonfinite_windows']} non-finite windows "
                                          "dropped (state kept finite)")
        return [self.audio_in.status(name), face,
                diag.make_status("reaction: inference", level, message, name, infer),
                self.group.status(name)]


def main(args: list[str] | None = None) -> int:
    """Run the reaction node."""
    return run_node(ReactionNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
