"""Split deployment: `reactface run --nodes`, the robot/inference launch files, and the two
halves in two network namespaces joined by a veth pair (the robot half records the session;
every speaker frame must be answered across the link).
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

pytest.importorskip("reactface_ros.msg")

from reactface_ros.nodes.graph import get_graph, graph_part, select_nodes  # noqa: E402
from reactface_ros.nodes.runner import plan  # noqa: E402

CLIP = "models/sample/speaker.mp4"
ROBOT = "media_source,face_analysis,render"


def test_select_nodes_keeps_parameters_and_names_bad_nodes():
    graph = get_graph("file")
    robot = select_nodes(graph, ROBOT)
    assert [e.name for e in robot.nodes] == ["face_analysis", "render", "media_source"]
    # media_source still waits for the reaction node that runs elsewhere.
    full = {n.name: n.parameters for n in plan(graph, {"video": "x.mp4"})}
    part = {n.name: n.parameters for n in plan(robot, {"video": "x.mp4"})}
    assert part["media_source"] == full["media_source"]
    assert any(t.startswith("/speaker/faces=") for t in part["media_source"]["graph_topics"])
    assert [e.name for e in graph_part(graph, "inference").nodes] == ["reaction"]
    with pytest.raises(KeyError, match="no node bogus; its nodes: face_analysis"):
        select_nodes(graph, "reaction,bogus")


def test_robot_and_inference_launch_files_start_the_two_halves(repo_root, ros2_tools, tmp_path):
    """Each half's launch file, evaluated by the real launch_ros, starts exactly the nodes the
    runner starts for that part (and the inference half is the reaction node alone)."""
    import json

    from test_ros2_launch import EVALUATE

    live = get_graph("live")
    for part in ("robot", "inference"):
        path = repo_root / "launch" / f"{part}.launch.py"
        assert f'generate_launch_description_for("live", part="{part}")' in path.read_text()
        proc = subprocess.run([sys.executable, "-c", EVALUATE, str(path), "{}"], env=ros2_tools,
                              capture_output=True, text=True, timeout=120, cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr[-3000:]
        out = json.loads(proc.stdout.strip().splitlines()[-1])
        ran = [n.name for n in plan(graph_part(live, part))]
        assert [n["name"] for n in out["nodes"]] == ran and ran
        if part == "inference":
            assert ran == ["reaction"]


def test_run_nodes_dry_run_lists_only_the_named_nodes(repo_root):
    proc = subprocess.run([sys.executable, "-m", "reactface_ros.cli", "run", "--video", CLIP,
                           "--nodes", "reaction", "--dry-run"], cwd=repo_root,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    started = [line.split(" ")[0] for line in proc.stdout.splitlines() if " (" in line]
    assert started == ["reaction"]
    bad = subprocess.run([sys.executable, "-m", "reactface_ros.cli", "run", "--video", CLIP,
                          "--nodes", "renderer", "--dry-run"], cwd=repo_root,
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "no node renderer" in bad.stdout


# --------------------------------------------------------------------------- namespaces

def _ip(*args, check=True):
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check,
                          timeout=30)


@pytest.fixture
def netns_pair():
    """Two network namespaces joined by a veth pair (10.200.77.1/30 <-> .2), removed after."""
    if shutil.which("ip") is None:
        pytest.skip("iproute2 ('ip') is not installed; scripts/setup_env.sh installs it")
    tag = f"{os.getpid() % 100000}"
    robot, gpu = f"rf_robot{tag}", f"rf_gpu{tag}"
    veth_r, veth_g = f"rfr{tag}", f"rfg{tag}"
    made = []
    try:
        for ns in (robot, gpu):
            res = _ip("netns", "add", ns, check=False)
            if res.returncode != 0:
                pytest.skip(f"cannot create network namespaces here: {res.stderr.strip()}")
            made.append(ns)
        _ip("link", "add", veth_r, "netns", robot, "type", "veth", "peer", "name", veth_g,
            "netns", gpu)
        for ns, dev, addr in ((robot, veth_r, "10.200.77.1/30"), (gpu, veth_g, "10.200.77.2/30")):
            _ip("-n", ns, "addr", "add", addr, "dev", dev)
            _ip("-n", ns, "link", "set", dev, "up")
            _ip("-n", ns, "link", "set", "lo", "up")
        yield {"robot": (robot, veth_r, "10.200.77.1"), "gpu": (gpu, veth_g, "10.200.77.2")}
    finally:
        for ns in made:
            _ip("netns", "del", ns, check=False)     # removes the veth pair with it


def _link_bytes(ns, dev) -> int:
    text = _ip("-n", ns, "-s", "link", "show", dev).stdout.split()
    rx = int(text[text.index("RX:") + 7]) if "RX:" in text else 0
    tx = int(text[text.index("TX:") + 7]) if "TX:" in text else 0
    return rx + tx


def _session(bag):
    from reactface_ros.commands.bag_eval import read_session

    return read_session(bag, {"reaction": "/listener/reaction", "samples":
                              "/listener/reaction_samples", "face": "/speaker/face_features",
                              "image": "/listener/image"})


def _answered(bag):
    s = _session(bag)
    faces = {int(m.frame_index) for _, m in s["face"]}
    reactions = {int(m.frame_index) for _, m in s["reaction"]}
    return faces, reactions, np.array([(t - m.header.stamp.sec * 1_000_000_000
                                        - m.header.stamp.nanosec) / 1e9
                                       for t, m in s["reaction"]])


@pytest.mark.ros
@pytest.mark.slow
def test_split_graph_answers_every_frame_across_two_network_namespaces(
        netns_pair, tmp_path, repo_root, ros_domain):
    env = {k: v for k, v in ros_domain.items() if k != "ROS_PYTHON_CHECK_FIELDS"}
    common = [sys.executable, "-m", "reactface_ros.cli", "run", "--graph", "file",
              "--device", "cpu", "--samples", "2"]
    # Baseline: the whole graph in one process, same clip.
    local_bag = tmp_path / "local.mcap"
    proc = subprocess.run(common + ["--video", CLIP, "--record", str(local_bag)], cwd=repo_root,
                          env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:]
    _, _, local_latency = _answered(local_bag)

    (robot_ns, veth_r, robot_ip), (gpu_ns, _, gpu_ip) = netns_pair["robot"], \
        netns_pair["gpu"]

    def in_ns(ns, peer):
        e = dict(env, ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST", ROS_STATIC_PEERS=peer)
        return ["ip", "netns", "exec", ns, "env", *[f"{k}={v}" for k, v in e.items()
                                                    if k.startswith(("ROS_", "RMW_"))]]

    gpu_log = open(tmp_path / "gpu.log", "w")
    gpu = subprocess.Popen(in_ns(gpu_ns, robot_ip) + common + ["--nodes", "reaction"],
                           cwd=repo_root, env=env, stdout=gpu_log, stderr=subprocess.STDOUT,
                           start_new_session=True)
    try:
        bag = tmp_path / "split.mcap"
        before = _link_bytes(robot_ns, veth_r)
        t0 = time.monotonic()
        robot = subprocess.run(in_ns(robot_ns, gpu_ip) + common + [
            "--video", CLIP, "--nodes", ROBOT, "--record", str(bag)], cwd=repo_root, env=env,
            capture_output=True, text=True, timeout=600)
        wall = time.monotonic() - t0
        moved = _link_bytes(robot_ns, veth_r) - before
        assert robot.returncode == 0, robot.stdout[-3000:] + robot.stderr[-2000:]
    finally:
        os.killpg(gpu.pid, signal.SIGINT)
        try:
            gpu.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(gpu.pid, signal.SIGKILL)
            gpu.wait()
        gpu_log.close()
    faces, reactions, latency = _answered(bag)
    assert faces, "the robot recorded no speaker frames"
    missing = sorted(faces - reactions)
    assert not missing, f"{len(missing)} speaker frames never answered across the link: " \
                        f"{missing[:10]}"
    clip_s = len(faces) / 25.0
    added_ms = (np.median(latency) - np.median(local_latency)) * 1e3
    print(f"\nsplit graph: {len(faces)} speaker frames, all answered; link traffic "
          f"{moved / clip_s / 1024:.0f} KiB/s over {clip_s:.1f} s of speech ({wall:.0f} s run);"
          f" end-to-end latency p50 {np.median(latency) * 1e3:.0f} ms split vs "
          f"{np.median(local_latency) * 1e3:.0f} ms in one process (added {added_ms:+.0f} ms)")
    # Images stay on the robot: a 256x256 rgb8 image stream alone would be ~4.8 MiB/s.
    assert moved / clip_s < 1.5 * 1024 * 1024
