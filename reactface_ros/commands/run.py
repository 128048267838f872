"""``reactface run``: the node graph as real ROS 2 nodes, without the ``ros2`` command line.

Starts the graph described in :mod:`reactface_ros.nodes.graph` (default ``live``: microphone +
camera -> face analysis -> reaction -> render + avatar) with :class:`~reactface_ros.nodes.
runner.GraphRunner`, in this process or one process per node, optionally recording every
topic into an MCAP bag. Runs until Ctrl-C, ``--duration``, or (file graph) the end of the
video. With a ROS install the same graph is ``ros2 launch reactface_ros live.launch.py``.
"""
from __future__ import annotations

import argparse
import signal
import threading
import time


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the command's arguments."""
    parser.add_argument("--graph", default=None, choices=("live", "file"),
                        help="graph to run (default: live, or file when --video is given)")
    parser.add_argument("--video", help="speaker video for the file graph")
    parser.add_argument("--checkpoint", help="reaction model directory (default: bundled)")
    parser.add_argument("--device", help="auto, cpu or cuda")
    parser.add_argument("--samples", type=int, help="sampled reactions M per window")
    parser.add_argument("--seed", type=int, help="sampling seed")
    parser.add_argument("--arg", action="append", default=[], metavar="NAME=VALUE",
                        help="graph (launch) argument, e.g. mic=2, camera=/dev/video2, "
                             "mode=fast, listener_video=out.mp4 (repeatable)")
    parser.add_argument("--param", action="append", default=[], metavar="NODE.NAME=VALUE",
                        help="node parameter, e.g. reaction.selection=medoid (repeatable)")
    parser.add_argument("--record", metavar="BAG.mcap", help="record every topic into this file")
    parser.add_argument("--processes", action="store_true",
                        help="one process per node instead of one multithreaded process")
    parser.add_argument("--duration", type=float, default=0.0,
                        help="stop after this many seconds (0: until Ctrl-C / end of file)")
    parser.add_argument("--nodes", metavar="NAME[,NAME...]", default=None,
                        help="start only these nodes of the graph, e.g. "
                             "media_source,face_analysis,render on the robot and reaction on "
                             "the GPU host (same ROS_DOMAIN_ID); also 'robot' or 'inference'")
    parser.add_argument("--dry-run", action="store_true",
                        help="print the nodes and parameters, start nothing")


def _split(item: str, what: str) -> tuple[str, str]:
    if "=" not in item:
        raise ValueError(f"{what} {item!r} must look like NAME=VALUE")
    key, value = item.split("=", 1)
    return key.strip(), value


def parse_settings(args: argparse.Namespace) -> tuple[str, dict, dict]:
    """``(graph name, launch arguments, {node: {param: value}})`` from the command line."""
    graph = args.graph or ("file" if args.video else "live")
    values: dict[str, str] = {}
    for flag in ("video", "checkpoint", "device", "samples", "seed"):
        value = getattr(args, flag)
        if value is not None:
            values[flag] = str(value)
    for item in args.arg:
        key, value = _split(item, "--arg")
        values[key] = value
    if graph == "file" and values.get("mode") == "fast":
        values.setdefault("use_sim_time", "true")
    overrides: dict[str, dict] = {}
    for item in args.param:
        key, value = _split(item, "--param")
        if "." not in key:
            raise ValueError(f"--param {item!r} must name the node: NODE.NAME=VALUE")
        node, name = key.split(".", 1)
        overrides.setdefault(node, {})[name] = _typed_param(graph, node, name, value)
    return graph, values, overrides


def _typed_param(graph_name: str, node: str, name: str, value: str):
    """``--param`` text as the type the node declares (a string parameter stays a string)."""
    from reactface_ros.nodes.graph import get_graph, param_type, typed_value

    kinds = {e.name: e.kind for e in get_graph(graph_name).nodes}
    want = param_type(kinds[node], name) if node in kinds else None
    return typed_value(value, want, f"--param {node}.{name}")


def run(args: argparse.Namespace) -> int:
    """Start the graph, wait, stop it cleanly; exit 1 with the reason when a node cannot start."""
    from reactface_ros.nodes.common import NodeStartError
    from reactface_ros.nodes.graph import PARTS, get_graph, select_nodes, with_recorder
    from reactface_ros.nodes.runner import GraphRunner, plan

    try:
        graph_name, values, overrides = parse_settings(args)
        if values.get("video") and not args.dry_run:
            from reactface_ros.video import probe_video

            probe_video(values["video"], "--video")
        graph = get_graph(graph_name)
        if args.record:
            graph = with_recorder(graph, args.record)
        if args.nodes is not None:
            names = [n.strip() for n in args.nodes.split(",") if n.strip()]
            names = [m for n in names for m in (PARTS.get(n) or (n,))
                     if n not in PARTS or m in {e.name for e in graph.nodes}]
            if args.record and "recorder" not in names:
                names.append("recorder")
            graph = select_nodes(graph, names)
        if graph_name == "file" and args.processes and \
                "media_source" in {e.name for e in graph.nodes}:
            overrides.setdefault("media_source", {})["exit_when_done"] = True
        launches = plan(graph, values, overrides)
    except (KeyError, ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}")
        return 2
    names = {e.name for e in graph.nodes}
    if graph_name == "file" and not values.get("video") and "media_source" in names:
        print("error: the file graph needs --video SPEAKER.mp4")
        return 2
    for launch in launches:
        print(f"{launch.name} ({launch.kind}): " + ", ".join(
            f"{k}={v!r}" for k, v in sorted(launch.parameters.items()) if k != "topics"))
    if args.dry_run:
        return 0
    runner = GraphRunner(graph, values, processes=args.processes, overrides=overrides)
    stop = threading.Event()
    try:
        runner.start()
    except NodeStartError as exc:
        print(f"error: {exc}")
        return 1
    previous = signal.signal(signal.SIGINT, lambda *_: stop.set())
    failed: dict = {}
    try:
        started = time.monotonic()
        while not stop.is_set():
            if args.duration and time.monotonic() - started > args.duration:
                break
            if graph_name == "file" and "media_source" in names and runner.end_of_file():
                break
            if args.processes:
                # media_source ends the file graph by exiting (exit_when_done) with code 0.
                failed = runner.failures(("media_source",) if graph_name == "file" else ())
                if failed:
                    break
            stop.wait(0.2)
    finally:
        signal.signal(signal.SIGINT, previous)
        _report(runner)
        runner.stop()
    for name, (code, line) in failed.items():
        print(f"error: node {name} exited with code {code}; its last log line: "
              f"{line or '(none)'}; the graph was stopped")
    if failed:
        return 1
    if args.record:
        print(f"recorded {args.record}; score it with: reactface bag-eval {args.record} "
              "--out eval/")
    return 0


def _report(runner) -> None:
    reaction = runner.nodes.get("reaction") if not runner.processes else None
    if reaction is None:
        return
    window = reaction.window_latency.summary()
    e2e = reaction.e2e_latency.summary()
    print(f"reaction: {reaction.frames_out} frames in {reaction.windows_out} windows; "
          f"per-window compute p50 {window.get('p50_ms', 'n/a')} ms, p95 "
          f"{window.get('p95_ms', 'n/a')} ms; end-to-end p95 {e2e.get('p95_ms', 'n/a')} ms")
