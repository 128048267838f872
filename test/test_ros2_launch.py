"""The package under the real ROS 2 tools: ``ros2 launch``, ``ros2 lifecycle``, ``ros2 param``.

Uses the unmodified Jazzy ``launch`` / ``launch_ros`` / ``ros2cli`` (installed beside the venv
from ``../shared/ros2-tools``, or a sourced ROS 2 install; skipped otherwise, see the
``ros2_tools`` fixture), with the node executables the setup installed into
``.venv/lib/reactface_ros/``: what a robot integrator runs.
"""
from __future__ import annotations

import glob
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from reactface_ros.nodes.graph import get_graph

pytest.importorskip("rclpy")
pytest.importorskip("reactface_ros.msg")
pytest.importorskip("reactface_ros.streaming")

from test_nodes_graph import ns, read_bag, write_speaker_clip, write_tiny_checkpoint  # noqa: E402
from test_nodes_runner import _Probe  # noqa: E402

pytestmark = [pytest.mark.ros, pytest.mark.slow, pytest.mark.timeout(600)]

NUM_FRAMES = 50
MANAGED = ("media_source", "face_analysis", "reaction", "render")


class Launch:
    """One ``ros2 launch reactface_ros ...`` in its own process group, logging to a file."""

    def __init__(self, env: dict, log: Path, launch_file: str, *args: str) -> None:
        self.log_path = log
        self._log = open(log, "w")
        # setsid + SIGINT restored: a terminal's Ctrl-C reaches the whole group, as here.
        self.proc = subprocess.Popen(
            ["ros2", "launch", "reactface_ros", launch_file, *args], env=env, stdout=self._log,
            stderr=subprocess.STDOUT, start_new_session=True,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))

    def text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for(self, needle: str, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if needle in self.text():
                return True
            if self.proc.poll() is not None:
                return needle in self.text()
            time.sleep(0.2)
        return False

    def ctrl_c(self, timeout: float = 60.0) -> int:
        """Ctrl-C in the terminal: SIGINT to every process of the group, twice."""
        for _ in range(2):
            try:
                os.killpg(self.proc.pid, signal.SIGINT)
            except ProcessLookupError:
                break
            time.sleep(0.3)
        return self.wait(timeout)

    def wait(self, timeout: float) -> int:
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
            raise AssertionError(f"ros2 launch did not stop:\n{self.text()[-4000:]}")
        finally:
            self._log.close()


def ros2(env: dict, *args: str, timeout: float = 60) -> str:
    """Run one ``ros2`` CLI command (no daemon, generous discovery time); its output."""
    proc = subprocess.run(["ros2", *args, "--no-daemon", "--spin-time", "5"], env=env,
                          capture_output=True, text=True, timeout=timeout)
    return proc.stdout + proc.stderr


def _clean_exit(text: str) -> None:
    """No traceback, no node that died: every process of the launch finished with code 0."""
    assert "Traceback" not in text, text[-6000:]
    assert "process has died" not in text, text[-6000:]
    assert "KeyboardInterrupt" not in text, text[-6000:]


@pytest.fixture(scope="module")
def assets(tmp_path_factory):
    root = tmp_path_factory.mktemp("launch_assets")
    write_speaker_clip(root / "speaker.mp4", num_frames=NUM_FRAMES, size=128)
    write_tiny_checkpoint(root / "ckpt")
    return root


@pytest.fixture
def launch_env(ros2_tools, ros_domain):
    env = dict(ros2_tools)
    env.update({k: ros_domain[k] for k in ("ROS_DOMAIN_ID", "ROS_AUTOMATIC_DISCOVERY_RANGE",
                                           "RMW_IMPLEMENTATION")})
    env.pop("_ROS_WHEELS_BOOTSTRAP_COMPLETE", None)  # each node's interpreter sets it up
    env["PYTHONUNBUFFERED"] = "1"
    env["ROS_LOG_DIR"] = str(Path(ros_domain.get("TMPDIR", "/tmp")) / "reactface_ros_log")
    return env


EVALUATE = textwrap.dedent("""
    import json, runpy, sys
    from launch import LaunchContext
    from launch.actions import DeclareLaunchArgument
    from launch.utilities import perform_substitutions
    from launch_ros.actions import LifecycleNode, Node
    from launch_ros.utilities import evaluate_parameters

    path, args = sys.argv[1], json.loads(sys.argv[2])
    description = runpy.run_path(path)["generate_launch_description"]()
    context = LaunchContext()
    out = {"arguments": {}, "nodes": []}
    for entity in description.entities:
        if isinstance(entity, DeclareLaunchArgument):
            default = perform_substitutions(context, entity.default_value)
            out["arguments"][entity.name] = default
            context.launch_configurations[entity.name] = args.get(entity.name, default)
        elif isinstance(entity, Node):
            params = {}
            for item in evaluate_parameters(context, entity._Node__parameters):
                if isinstance(item, dict):
                        # launch_ros keeps lists as tuples (both become ROS arrays)
                    params.update({k: ["list" if isinstance(v, tuple) else type(v).__name__,
                                       list(v) if isinstance(v, tuple) else v]
                                   for k, v in item.items()})
                else:
                    params.setdefault("__files__", []).append(str(item))
            name = entity._Node__node_name
            if not isinstance(name, str):
                name = perform_substitutions(context, name)
            out["nodes"].append({"executable": entity.node_executable, "name": name,
                                 "lifecycle": isinstance(entity, LifecycleNode),
                                 "parameters": params})
    print(json.dumps(out))
""")


@pytest.mark.parametrize("name", ["live", "file", "record"])
def test_launch_arguments_reach_parameters_with_declared_types(repo_root, ros2_tools, name,
                                                               tmp_path):
    """The launch files through the real launch_ros types: every argument arrives as the type
    the node declares (``camera:=0`` stays the string "0"), the values are the runner's, and
    the managed nodes are LifecycleNode actions."""
    from reactface_ros.nodes.graph import get_graph, is_managed, load_params_file, param_type
    from reactface_ros.nodes.runner import plan

    graph = get_graph(name)
    custom = {"live": {"camera": "0", "mic": "1", "samples": "7", "seed": "3",
                       "vmc": "false", "autostart": "false"},
              "file": {"video": "123", "audio": "4.5", "samples": "12", "device": "cpu",
                       "use_sim_time": "true", "mode": "fast"},
              "record": {"bag": "42"}}[name]
    for args in ({}, custom):
        proc = subprocess.run([sys.executable, "-c", EVALUATE,
                               str(repo_root / "launch" / f"{name}.launch.py"), json.dumps(args)],
                              env=ros2_tools, capture_output=True, text=True, timeout=120,
                              cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr[-3000:]
        out = json.loads(proc.stdout.strip().splitlines()[-1])
        assert out["arguments"] == {k: d for k, (d, _) in graph.arguments.items()}
        ran = {n.name: n for n in plan(graph, args)}
        assert [n["name"] for n in out["nodes"]] == list(ran)
        for node in out["nodes"]:
            launch = ran[node["name"]]
            assert node["executable"] == launch.kind
            assert node["lifecycle"] == is_managed(launch.kind)
            params = {}
            for path in node["parameters"].pop("__files__"):
                params.update(load_params_file(Path(path), node["name"]))
            for key, (type_name, value) in node["parameters"].items():
                declared = param_type(launch.kind, key)
                assert type_name == declared.__name__, (node["name"], key, type_name, value)
                params[key] = value
            assert params == launch.parameters, node["name"]
    live = {n["name"]: n for n in out["nodes"]} if name == "live" else None
    if live:
        assert live["camera_capture"]["parameters"]["device"] == ["str", "0"]
        assert live["audio_capture"]["parameters"]["device"] == ["str", "1"]


def test_file_launch_answers_every_frame_records_it_and_stops_cleanly(assets, launch_env,
                                                                      tmp_path):
    """``ros2 launch`` of record.launch.py and file.launch.py: managed nodes report active,
    ``ros2 param``/``ros2 lifecycle`` work, every frame is answered and recorded, and a
    terminal Ctrl-C (SIGINT to the group, twice) stops every node with exit code 0."""
    bag = tmp_path / "session.mcap"
    probe = _Probe()
    recorder = Launch(launch_env, tmp_path / "record.log", "record.launch.py", f"bag:={bag}")
    graph = None
    try:
        assert recorder.wait_for("recording", 120), recorder.text()[-3000:]
        graph = Launch(launch_env, tmp_path / "file.log", "file.launch.py",
                       f"video:={assets / 'speaker.mp4'}", f"checkpoint:={assets / 'ckpt'}",
                       "samples:=2", "device:=cpu")
        answered = lambda: len(set(probe.indices)) >= NUM_FRAMES  # noqa: E731
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and not answered() and graph.proc.poll() is None:
            time.sleep(0.5)
        assert answered(), (f"{len(set(probe.indices))} of {NUM_FRAMES} frames answered\n"
                            + graph.text()[-4000:])
        states = ros2(launch_env, "lifecycle", "get")
        for node in MANAGED:
            assert f"/{node}: active" in states, states
        assert ros2(launch_env, "lifecycle", "get", "/reaction").startswith("active"), states
        described = ros2(launch_env, "param", "describe", "/reaction", "device", "samples")
        assert "Type: string" in described and "Type: integer" in described, described
        assert "torch device" in described
        # ros2 lifecycle set: the render node pauses and comes back, the model stays loaded.
        out = ros2(launch_env, "lifecycle", "set", "/render", "deactivate")
        assert "Transitioning successful" in out, out
        assert ros2(launch_env, "lifecycle", "get", "/render").startswith("inactive")
        out = ros2(launch_env, "lifecycle", "set", "/render", "activate")
        assert "Transitioning successful" in out, out
        graph_code = graph.ctrl_c()
        graph = None
        record_code = recorder.ctrl_c()
        recorder = None
    finally:
        probe.close()
        for launch in (graph, recorder):
            if launch is not None and launch.proc.poll() is None:
                os.killpg(launch.proc.pid, signal.SIGKILL)
    file_log = (tmp_path / "file.log").read_text()
    record_log = (tmp_path / "record.log").read_text()
    # ros2 launch itself: 0, or killed by the second SIGINT when that lands after its nodes
    # are gone and it is already finalizing (the launch tool's own behaviour, not a node's;
    # seen as -2 and, once on a loaded machine, as an abort, -6). Every node's own clean exit
    # is checked below.
    launch_tool = (0, -signal.SIGINT, -signal.SIGABRT)
    assert graph_code in launch_tool and record_code in launch_tool, (graph_code, record_code)
    _clean_exit(file_log)
    _clean_exit(record_log)
    for node in MANAGED:
        assert f"[{node}-" in file_log and f"[{node}]: active" in file_log, node
    assert file_log.count("process has finished cleanly") == len(MANAGED), file_log[-4000:]
    assert "process has finished cleanly" in record_log
    # The recorder closed a valid bag holding every frame on every topic.
    topics = read_bag(bag)
    # record.launch.py subscribes best effort where the live cameras publish best effort
    # (README: "Recording"), so under load it may miss a few of those messages; everything
    # published reliably must be there in full.
    best_effort = {e.split("=")[0] for e in get_graph("record").nodes[0].parameters["topics"]
                   if e.endswith("@sensor_data")}
    for name in ("/speaker/image", "/speaker/audio", "/speaker/face_features",
                 "/listener/reaction", "/listener/reaction_samples", "/listener/image"):
        need = int(0.8 * NUM_FRAMES) if name in best_effort else NUM_FRAMES
        assert need <= len(topics[name]) <= NUM_FRAMES, (name, len(topics[name]))
    assert "/listener/reaction" not in best_effort
    frames = [m for _, m in topics["/listener/reaction"]]
    assert sorted(m.frame_index for m in frames) == list(range(NUM_FRAMES))
    # every recorded camera image was answered by a reaction with its own stamp
    images = [m for _, m in topics["/speaker/image"]]
    assert {ns(m.header.stamp) for m in images} <= {ns(m.header.stamp) for m in frames}
    assert len(topics["/speaker/face_crop"]) >= int(0.8 * NUM_FRAMES) - 2


def test_live_launch_with_numeric_devices_fails_only_for_the_missing_hardware(
        assets, launch_env, tmp_path):
    """``camera:=0 mic:=1`` reach the capture nodes as strings; without a camera the required
    camera_capture fails its configure with a message naming the device, and the launch
    stops by itself."""
    if glob.glob("/dev/video*"):
        pytest.skip("this machine has a camera: the failure path needs one that is missing")
    launch = Launch(launch_env, tmp_path / "live.log", "live.launch.py", "camera:=0", "mic:=1",
                    f"checkpoint:={assets / 'ckpt'}", "device:=cpu")
    try:
        code = launch.wait(240)
    finally:
        if launch.proc.poll() is None:
            os.killpg(launch.proc.pid, signal.SIGKILL)
    text = launch.text()
    assert "InvalidParameterType" not in text, text[-4000:]
    assert "Traceback" not in text, text[-4000:]
    assert "cannot open camera '0'" in text, text[-4000:]
    assert "configure failed" in text
    # The microphone is either missing too (said so) or opened as device "1".
    mic_missing = "[audio_capture] error:" in text
    assert mic_missing or "[audio_capture]: active" in text, text[-4000:]
    stopped_by = [n for n in ("camera_capture", "audio_capture")
                  if f"required node '{n}' exited with code 1" in text]
    assert stopped_by and (mic_missing or stopped_by == ["camera_capture"]), text[-4000:]
    assert code is not None


def test_ros2_run_starts_a_managed_node_from_the_venv(assets, launch_env, tmp_path):
    """``ros2 run reactface_ros reaction`` finds the executable the set-up installed, the node
    configures and activates itself (autostart), ``ros2 lifecycle`` sees it, and a terminal
    Ctrl-C (SIGINT to its group, twice) ends it with exit code 0 and no traceback."""
    listed = subprocess.run(["ros2", "pkg", "executables", "reactface_ros"], env=launch_env,
                            capture_output=True, text=True, timeout=60).stdout
    for entry in get_graph("file").nodes:
        assert f"reactface_ros {entry.kind}" in listed, (entry.kind, listed)
    log = tmp_path / "run.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            ["ros2", "run", "reactface_ros", "reaction", "--ros-args",
             "-p", f"checkpoint:={assets / 'ckpt'}", "-p", "device:=cpu", "-p", "samples:=2"],
            env=launch_env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 120
        while "]: active" not in log.read_text() and time.monotonic() < deadline:
            assert proc.poll() is None, log.read_text()[-4000:]
            time.sleep(0.2)
        assert ros2(launch_env, "lifecycle", "get", "/reaction").startswith("active")
        for _ in range(2):
            os.killpg(proc.pid, signal.SIGINT)
            time.sleep(0.3)
        code = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    text = log.read_text()
    assert code == 0, text[-4000:]
    assert "Traceback" not in text and "KeyboardInterrupt" not in text, text[-4000:]
