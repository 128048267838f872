"""``reactface demo``: the main job, the whole node graph on the bundled clip and weights.

What it does, in order:

1. starts the ``file`` graph (media_source -> face_analysis -> reaction -> render) plus the
   MCAP recorder as real ROS 2 nodes over real DDS on loopback, one process per node by
   default (the recorder subscribes before the source publishes anything);
2. plays the bundled speaker clip (``models/sample/speaker.mp4``, made by
   ``scripts/make_sample_clip.py``) at real-time rate through it, with the bundled weights;
3. stops the graph once the source is done and the last window is out;
4. reads the recording back and writes ``reactions.npy`` (``(M, T, 58)`` all sampled
   reactions), ``listener.mp4`` (speaker | sampled listener reactions, with the speaker's
   audio), ``eval/summary.json`` and plots (FRSyn/FRDiv/FRVar and end-to-end latency from
   the recorded stamps) and ``summary.json`` (frames per second and latency).

Every output is written under ``--out``; the last lines printed say where.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path

import numpy as np

from reactface_ros.constants import FPS

#: Bundled inputs, relative to the package's ``models`` folder.
SAMPLE_VIDEO = Path("sample") / "speaker.mp4"


def models_dirs() -> list[Path]:
    """Where bundled models and the sample clip are looked for.

    The checkout's ``models/`` first (a source tree or an editable install, so edits there are
    used at once), then the installed ROS share directory.
    """
    dirs = []
    source = Path(__file__).resolve().parents[2] / "models"
    if source.is_dir():
        dirs.append(source)
    try:
        from ament_index_python.packages import get_package_share_directory
    except ImportError:
        get_package_share_directory = None
    if get_package_share_directory is not None:
        try:
            dirs.append(Path(get_package_share_directory("reactface_ros")) / "models")
        except Exception:  # package not in the ament index, or no index at all
            pass
    return dirs


def bundled_file(relative: Path) -> Path:
    """The first existing ``models/<relative>``; a clear error listing where it looked."""
    candidates = [d / relative for d in models_dirs()]
    for path in candidates:
        if path.exists():
            return path
    raise FileNotFoundError(f"bundled file {relative} not found; looked in: "
                            + ", ".join(str(c) for c in candidates))


def bundled_checkpoint() -> Path:
    """Find the bundled model directory.

    ``models/reactface`` if present, else the first ``models/*/`` holding a ``config.json``
    (the same rule the reaction node uses).
    """
    looked = []
    for base in models_dirs():
        if (base / "reactface" / "config.json").is_file():
            return base / "reactface"
        found = sorted(p.parent for p in base.glob("*/config.json"))
        if found:
            return found[0]
        looked.append(str(base))
    raise FileNotFoundError("no bundled model (a models/<name>/config.json) in "
                            + ", ".join(looked) + "; pass --checkpoint DIR")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the demo's options (every one has a working default)."""
    parser.add_argument("--out", type=Path, default=Path("demo_output"),
                        help="output folder (default: demo_output)")
    parser.add_argument("--video", type=Path, default=None,
                        help="speaker video with audio (default: the bundled sample clip)")
    parser.add_argument("--checkpoint", type=Path, default=None,
                        help="model directory (default: the bundled weights)")
    parser.add_argument("--samples", type=int, default=10, help="reactions sampled (M)")
    parser.add_argument("--seed", type=int, default=0, help="sampling seed")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda[:N]")
    parser.add_argument("--mode", choices=("realtime", "fast"), default="realtime",
                        help="play the clip at real-time rate (default) or as fast as the "
                             "graph consumes, on simulated time")
    parser.add_argument("--in-process", action="store_true",
                        help="run all nodes in this process instead of one process each")
    parser.add_argument("--show", type=int, default=3,
                        help="sampled reactions shown beside the speaker in listener.mp4")
    parser.add_argument("--style", choices=("mesh", "screen"), default="mesh",
                        help="listener face style in listener.mp4")
    parser.add_argument("--timeout", type=float, default=300.0,
                        help="give up when the graph has not finished after this many seconds")


def _resolve_inputs(args: argparse.Namespace) -> tuple[Path, Path]:
    from reactface_ros.video import probe_video

    video = args.video or bundled_file(SAMPLE_VIDEO)
    probe_video(video, "speaker video")   # before any earlier output is touched
    if args.checkpoint is not None:
        checkpoint = args.checkpoint
    else:
        checkpoint = bundled_checkpoint()
    if not (checkpoint / "config.json").is_file():
        raise FileNotFoundError(f"no model at {checkpoint} (expected config.json and "
                                "model.safetensors); pass --checkpoint DIR")
    if args.samples < 1:
        raise ValueError(f"--samples must be >= 1, got {args.samples}")
    return video.resolve(), checkpoint.resolve()


class ProgressMonitor:
    """A small rclpy node in the demo's own process that watches the graph's progress.

    It counts speaker frames (face features) and answered frames (reaction samples) so the demo
    stops only when every frame the source played has been answered, or when nothing has
    moved for ``quiet_s`` seconds after the source finished. It subscribes before the graph
    starts, so nothing is missed.
    """

    def __init__(self, face_topic: str, samples_topic: str, image_topic: str = "") -> None:
        import threading

        import rclpy
        from rclpy.executors import SingleThreadedExecutor

        from reactface_ros import msg
        from reactface_ros.nodes.qos import qos_profile

        self._lock = threading.Lock()
        self.faces: set[int] = set()
        self.answered: set[int] = set()
        self.last_activity = time.monotonic()
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node("demo_progress", context=self.context)
        self.node.create_subscription(msg.SpeakerFaceFeatures, face_topic,
                                      lambda m: self._seen(self.faces, m),
                                      qos_profile("reliable"))
        self.node.create_subscription(msg.ReactionSamples, samples_topic,
                                      lambda m: self._seen(self.answered, m),
                                      qos_profile("reliable"))
        self.images = 0
        self.image_topic = image_topic
        if image_topic:
            from sensor_msgs.msg import Image

            self.node.create_subscription(Image, image_topic, self._image,
                                          qos_profile("reliable"))
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.thread = threading.Thread(target=self.executor.spin, daemon=True)
        self.thread.start()

    def _seen(self, bucket: set, message) -> None:
        with self._lock:
            bucket.add(int(message.frame_index))
            self.last_activity = time.monotonic()

    def _image(self, message) -> None:
        with self._lock:
            self.images += 1
            self.last_activity = time.monotonic()

    def complete(self, quiet_s: float) -> bool:
        """Tell whether the graph is done.

        True when all speaker frames seen so far are answered (and rendered, when watching
        images), or when nothing moved for ``quiet_s`` seconds.
        """
        with self._lock:
            done = bool(self.faces) and self.faces <= self.answered
            if self.image_topic:
                done = done and self.images >= len(self.answered)
            idle = time.monotonic() - self.last_activity > quiet_s
        return done or idle

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()
        self.context.try_shutdown()


class CpuSampler:
    """CPU time per node process while the clip streams (start-up excluded).

    :meth:`sample` is called from the demo's wait loops: it keeps each node's CPU time when
    the first speaker frame is seen (the node has started: imports, model load) and the
    latest value while the node runs (a source that exits at the end keeps its last one).
    """

    def __init__(self, runner, monitor: ProgressMonitor) -> None:
        self.runner, self.monitor = runner, monitor
        self.start: dict[str, float] | None = None
        self.latest: dict[str, float] = {}

    def sample(self) -> bool:
        """Record the nodes' CPU time now; always False (usable inside a wait predicate)."""
        now = self.runner.cpu_seconds()
        if self.start is None:
            if not self.monitor.faces:
                return False
            self.start = dict(now)
        self.latest.update(now)
        return False

    def ms_per_frame(self) -> dict[str, float]:
        """``{node: CPU ms per speaker frame}`` over the streamed part (empty in-process)."""
        frames = len(self.monitor.faces)
        if self.start is None or not frames:
            return {}
        return {name: 1e3 * (self.latest[name] - self.start[name]) / frames
                for name in self.start if name in self.latest}


def run_graph(video: Path, checkpoint: Path, out: Path, args: argparse.Namespace) -> dict:
    """Run the file graph with a recorder; returns wall-clock facts about the run."""
    from reactface_ros.nodes.graph import get_graph, with_recorder
    from reactface_ros.nodes.runner import GraphRunner

    bag = out / "session.mcap"
    # The inputs are checked: outputs of an earlier run would no longer match, remove them.
    for name in ("session.mcap", "listener.mp4", "reactions.npy", "summary.json",
                 "eval/summary.json"):
        (out / name).unlink(missing_ok=True)
    graph = with_recorder(get_graph("file"), str(bag))
    # An isolated DDS domain on loopback, so two demos (or a robot's graph) never mix.
    env = dict(os.environ)
    env.setdefault("ROS_DOMAIN_ID", str(random.randint(1, 100)))
    env.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    # This process joins the same domain: its progress monitor listens to the graph.
    os.environ.update({k: env[k] for k in ("ROS_DOMAIN_ID", "ROS_AUTOMATIC_DISCOVERY_RANGE")})
    graph_args = {"video": str(video), "checkpoint": str(checkpoint),
                  "samples": str(args.samples), "seed": str(args.seed),
                  "device": args.device, "mode": args.mode}
    # With one process per node, the end of the clip is seen as media_source exiting. The
    # reaction node publishes the clip's last partial window once its inputs have been quiet
    # for idle_flush_s (a stall mid-clip on a busy machine only publishes frames early).
    # In one process the nodes share one context: media_source must not shut it down before
    # reaction has published its last window (runner.end_of_file sees the end instead).
    overrides = {} if args.in_process else {"media_source": {"exit_when_done": True}}
    runner = GraphRunner(graph, graph_args, processes=not args.in_process, env=env,
                         overrides=overrides)
    print(f"[demo] starting {len(runner.launches)} nodes "
          f"({'in this process' if args.in_process else 'one process each'}), "
          f"ROS_DOMAIN_ID={env['ROS_DOMAIN_ID']}", flush=True)
    from reactface_ros.commands.bag_eval import FACE_TOPIC, IMAGE_TOPIC, SAMPLES_TOPIC

    monitor = ProgressMonitor(FACE_TOPIC, SAMPLES_TOPIC, IMAGE_TOPIC)
    cpu = CpuSampler(runner, monitor)
    t0 = time.monotonic()
    runner.start()
    try:
        # The source has played the clip; then wait until the reaction node has answered
        # every frame (it may be behind real time on a loaded machine) or has gone quiet
        # longer than its end-of-session flush takes.
        finished = runner.wait(lambda: cpu.sample() or runner.end_of_file(),
                               timeout=args.timeout)
        remaining = max(1.0, args.timeout - (time.monotonic() - t0))
        finished = finished and runner.wait(
            lambda: cpu.sample() or monitor.complete(quiet_s=15.0), timeout=remaining)
    finally:
        t_graph = time.monotonic() - t0
        cpu.sample()
        codes = runner.stop()
        monitor.close()
    if not finished:
        raise TimeoutError(f"the graph did not finish within {args.timeout:.0f} s "
                           f"(nodes alive: {codes}); partial recording kept in {bag}")
    bad = {name: code for name, code in codes.items() if code not in (0, None)}
    if bad:
        print(f"[demo] warning: nodes exited with errors: {bad}", file=sys.stderr)
    return {"bag": bag, "graph_wall_s": t_graph, "exit_codes": codes,
            "cpu_ms_per_frame": cpu.ms_per_frame()}


def write_listener_video(out: Path, video: Path, args: argparse.Namespace) -> Path:
    """Render speaker | the first ``--show`` reactions of ``out/reactions.npy``, with audio."""
    from reactface_ros.commands import render as render_cmd

    parser = argparse.ArgumentParser()
    render_cmd.add_arguments(parser)
    target = out / "listener.mp4"
    render_args = parser.parse_args([
        "--reactions", str(out / "reactions.npy"), "--speaker-video", str(video),
        "--style", args.style, "--max-reactions", str(max(1, args.show)), "--labels",
        "--out", str(target)])
    code = render_cmd.run(render_args)
    if code != 0:
        raise RuntimeError(f"rendering {target} failed (exit {code})")
    return target


def clamp_counts(reactions: np.ndarray) -> dict[str, int]:
    """How many values of ``(M, T, 58)`` reactions the renderer would clamp, by kind."""
    from reactface_ros.render.validate import check_coefficients

    total = {"blendshapes": 0, "translation": 0}
    for sample in reactions:
        _, report = check_coefficients(sample, sequence=True, warn=False)
        total["blendshapes"] += int(report.blendshapes)
        total["translation"] += int(report.translation)
    return total


def reactions_by_frame(session: dict) -> tuple[np.ndarray, int]:
    """All recorded samples as ``(M, T, 58)``, indexed by speaker frame ``0 .. T-1``.

    T covers every speaker frame seen (face features or reactions). Frames with no recorded
    reaction (none expected: the reaction node answers every frame index, repeating the last
    face input where one was dropped) repeat the previous frame so the video stays aligned
    with the speaker's audio; their number (at the end too) is returned.
    """
    from reactface_ros.constants import NUM_COEFFS

    by_frame = {}
    for _, message in session["samples"]:
        by_frame[int(message.frame_index)] = np.asarray(message.coefficients, np.float32)
    if not by_frame:
        raise ValueError("no reactions were recorded")
    m = int(session["samples"][0][1].num_samples)
    total = max([max(by_frame)] + [int(f.frame_index) for _, f in session["face"]]) + 1
    out = np.empty((m, total, NUM_COEFFS), np.float32)
    gaps = 0
    previous = by_frame[min(by_frame)].reshape(m, NUM_COEFFS)
    for t in range(total):
        if t in by_frame and by_frame[t].size == m * NUM_COEFFS:
            previous = by_frame[t].reshape(m, NUM_COEFFS)
        else:
            gaps += 1
        out[:, t] = previous
    return out, gaps


def throughput(session: dict, frames: int) -> float | None:
    """Reaction frames per second from the first capture stamp to the last reaction."""
    stamps = [m.header.stamp.sec + m.header.stamp.nanosec * 1e-9 for _, m in session["face"]]
    arrivals = [t * 1e-9 for t, _ in session["reaction"]]
    if not stamps or not arrivals or max(arrivals) <= min(stamps):
        return None
    return round(frames / (max(arrivals) - min(stamps)), 2)


def run(args: argparse.Namespace) -> int:
    """Run the demo; 0 on success, 1 with a message naming the problem otherwise."""
    from reactface_ros.atomic import save_npy, write_text
    from reactface_ros.commands.bag_eval import (FACE_TOPIC, IMAGE_TOPIC, REACTION_TOPIC,
                                                 SAMPLES_TOPIC, evaluate, read_session)

    try:
        video, checkpoint = _resolve_inputs(args)
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    print(f"[demo] speaker clip {video}\n[demo] model {checkpoint}", flush=True)
    t_start = time.monotonic()
    try:
        facts = run_graph(video, checkpoint, out, args)
    except (TimeoutError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    bag = facts["bag"]
    topics = {"reaction": REACTION_TOPIC, "samples": SAMPLES_TOPIC, "face": FACE_TOPIC,
              "image": IMAGE_TOPIC}
    try:
        session = read_session(bag, topics)
        reactions, gaps = reactions_by_frame(session)
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc} (recording kept in {bag})", file=sys.stderr)
        return 1
    save_npy(out / "reactions.npy", reactions.astype(np.float32))
    evaluation = evaluate(bag, out / "eval", topics)
    try:
        listener = write_listener_video(out, video, args)
    except RuntimeError as exc:
        print(f"error: {exc} (reactions.npy and session.mcap are kept in {out})",
              file=sys.stderr)
        return 1

    frames = int(reactions.shape[1])
    latency = evaluation["latency"]["reaction"]
    clamped = clamp_counts(reactions)
    summary = {
        "speaker_video": str(video),
        "checkpoint": str(checkpoint),
        "samples": int(reactions.shape[0]),
        "frames": frames,
        "mode": args.mode,
        "nodes": "in-process" if args.in_process else "one process per node",
        "graph_wall_s": round(facts["graph_wall_s"], 2),
        # Throughput while streaming: frames answered per second between the first speaker
        # frame's capture and the last reaction's arrival (start-up time excluded).
        "reaction_frames_per_s": throughput(session, frames),
        "reaction_latency_ms": {k: round(v, 1) for k, v in latency.items() if k != "count"},
        "latency_budget_ms": None,
        "metrics": evaluation["metrics"],
        "missing_reaction_frames": gaps,
        # Values of the recorded reactions the renderer had to clamp into its valid range
        # (blendshapes outside [0, 1], a head behind the camera): 0 for a model whose faces
        # are valid by construction.
        "clamped_values": clamped,
        "speaker_frames_with_features": evaluation["speaker_frames"],
        # CPU time each node process used per speaker frame while the clip streamed
        # (start-up excluded; empty with --in-process, where the nodes share one process).
        "cpu_ms_per_frame": {k: round(v, 2) for k, v in facts["cpu_ms_per_frame"].items()},
        "total_wall_s": round(time.monotonic() - t_start, 2),
        "outputs": {"listener_video": str(listener), "reactions": str(out / "reactions.npy"),
                    "bag": str(bag), "evaluation": str(out / "eval" / "summary.json")},
    }
    from reactface_ros.model.checkpoint import read_config

    window = read_config(checkpoint).window
    summary["latency_budget_ms"] = round(window / FPS * 1000 + 100, 1)
    write_text(out / "summary.json", json.dumps(summary, indent=2) + "\n")

    lat = summary["reaction_latency_ms"]
    print(f"[demo] {frames - gaps} of {frames} speaker frames answered with M = "
          f"{summary['samples']} reactions each; graph ran {summary['graph_wall_s']} s "
          f"(start-up included); {summary['reaction_frames_per_s']} reaction frames/s while "
          f"streaming, input at {FPS} fps")
    if args.mode == "fast":
        print("[demo] fast mode runs on simulated time: latencies are not wall-clock figures; "
              "use --mode realtime (the default) to measure them")
    elif lat:
        print(f"[demo] latency capture -> reaction published: p50 {lat['p50_ms']} ms, "
              f"p95 {lat['p95_ms']} ms, max {lat['max_ms']} ms"
              + (f" (budget w/25 s + 100 ms = {summary['latency_budget_ms']} ms)"
                 if summary["latency_budget_ms"] else ""))
    m = evaluation["metrics"]
    if m.get("FRDiv") is not None:
        def fmt(key: str, digits: int) -> str:
            return "n/a" if m.get(key) is None else f"{m[key]:.{digits}f}"

        print(f"[demo] FRSyn {fmt('FRSyn', 2)} frames, FRDiv {fmt('FRDiv', 4)}, "
              f"FRVar {fmt('FRVar', 4)}")
    cpu_ms = summary["cpu_ms_per_frame"]
    if cpu_ms:
        print("[demo] CPU per speaker frame while streaming: "
              + ", ".join(f"{k} {v:.1f} ms" for k, v in sorted(cpu_ms.items(),
                                                               key=lambda kv: -kv[1]))
              + f" (total {sum(cpu_ms.values()):.1f} ms of the {1e3 / FPS:.0f} ms a frame "
              "lasts on one core)")
    print(f"[demo] values the renderer had to clamp: {clamped['blendshapes']} blendshape, "
          f"{clamped['translation']} translation")
    print(f"[demo] outputs in {out}:")
    for name in ("listener.mp4", "reactions.npy", "session.mcap", "summary.json",
                 "eval/summary.json"):
        print(f"         {out / name}")
    return 0
