"""``reactface run --processes`` reports a node that died (non-zero exit, which node, its last
log line), and its node processes never outlive a runner that is killed."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

pytest.importorskip("rclpy")
pytest.importorskip("reactface_ros.msg")

pytestmark = [pytest.mark.ros, pytest.mark.timeout(240)]


def _children(pid: int) -> set[int]:
    out = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.add(int(entry.name))
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_a_dead_node_fails_the_run_and_is_named(tmp_path, ros_domain):
    from test_bag_recovery import _write_clip

    _write_clip(tmp_path / "clip.mp4", frames=25)
    proc = subprocess.run(
        [sys.executable, "-m", "reactface_ros.cli", "run", "--processes", "--video",
         str(tmp_path / "clip.mp4"), "--device", "cpu",
         "--param", f"reaction.checkpoint={tmp_path / 'no_such_model'}"],
        env=ros_domain, capture_output=True, text=True, timeout=200)
    assert proc.returncode == 1, proc.stdout[-2000:] + proc.stderr[-2000:]
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("error: node ")]
    assert len(lines) == 1, proc.stdout[-3000:]
    assert lines[0].startswith("error: node reaction exited with code 1")
    assert "no_such_model" in lines[0] and "not found" in lines[0]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux")
def test_node_processes_die_with_a_killed_runner(tmp_path, ros_domain):
    from test_bag_recovery import _write_clip

    from reactface_ros.nodes.graph import get_graph
    from reactface_ros.nodes.runner import GraphRunner

    _write_clip(tmp_path / "clip.mp4", frames=25)
    proc = subprocess.Popen(
        [sys.executable, "-m", "reactface_ros.cli", "run", "--processes", "--video",
         str(tmp_path / "clip.mp4"), "--device", "cpu", "--param", "media_source.loop=true"],
        env=ros_domain, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        kids: set[int] = set()
        while time.monotonic() < deadline and len(kids) < 4:
            kids = _children(proc.pid)
            time.sleep(0.3)
        assert len(kids) >= 4, kids            # media_source, face_analysis, reaction, ...
        folders = list(Path(tempfile.gettempdir()).glob(f"reactface_graph_{proc.pid}_*"))
        assert folders
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and any(_alive(k) for k in kids):
            time.sleep(0.3)
        assert not [k for k in kids if _alive(k)], "node processes outlived the runner"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for k in _children(proc.pid):
            os.kill(k, signal.SIGKILL)
    # The killed runner's parameter folder is swept by the next runner.
    GraphRunner(get_graph("file"), {"video": str(tmp_path / "clip.mp4")}).stop()
    assert not any(f.exists() for f in folders)
