"""Start a graph of :mod:`.graph` without the ``ros2`` command line.

The same nodes as the launch files, with the same parameters and remappings, either in this
process (``processes=False``: one shared context, each node spun by its own single-threaded
executor in its own thread, so nodes run in parallel while each node handles its messages in
order, as in its own process) or as one ``python -m reactface_ros.nodes.<kind>`` child process
per node (``processes=True``). In both cases every node gets one merged params file and
``--ros-args`` remappings, exactly what ``ros2 launch`` would pass.
"""
from __future__ import annotations

import collections
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from .graph import GraphSpec, node_class, node_parameters

_TMP_PREFIX = "reactface_graph_"


#: Child bootstrap: ``-c CODE RUNNER_PID MODULE ARGS...``. On Linux the child asks for SIGTERM
#: (a clean rclpy shutdown) when the runner dies (PR_SET_PDEATHSIG), exits if the runner is
#: already gone, then runs the node module as ``python -m MODULE ARGS...`` would.
_CHILD_BOOT = (
    "import ctypes, os, runpy, signal, sys\n"
    "try:\n    ctypes.CDLL(None).prctl(1, int(signal.SIGTERM))\n"
    "except (OSError, AttributeError):\n    pass\n"
    "if os.getppid() != int(sys.argv.pop(1)):\n    sys.exit(1)\n"
    "sys.argv[0] = sys.argv.pop(1)\n"
    "runpy.run_module(sys.argv[0], run_name='__main__', alter_sys=True)\n")


def _forward(stream, lines) -> None:
    """Copy a child's output to ours, keeping its last lines."""
    for raw in iter(stream.readline, b""):
        text = raw.decode(errors="replace")
        lines.append(text)
        sys.stdout.write(text)
        sys.stdout.flush()
    stream.close()


def _sweep_stale_folders() -> None:
    """Remove parameter folders left by runners that were killed (their pid is gone)."""
    import shutil

    for folder in Path(tempfile.gettempdir()).glob(f"{_TMP_PREFIX}*_*"):
        pid = folder.name[len(_TMP_PREFIX):].split("_", 1)[0]
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(folder, ignore_errors=True)
        except PermissionError:
            pass


@dataclass
class NodeLaunch:
    """What starting one node takes.

    Attributes
    ----------
    kind : str
        Node module / executable.
    name : str
        Node name.
    parameters : dict
        Final parameter values.
    remappings : list of (str, str)
        Topic remappings.
    """

    kind: str
    name: str
    parameters: dict
    remappings: list

    def ros_args(self, params_file: Path) -> list[str]:
        """``--ros-args`` for this node, reading ``params_file``."""
        args = ["--ros-args", "-r", f"__node:={self.name}", "--params-file", str(params_file)]
        for src, dst in self.remappings:
            args += ["-r", f"{src}:={dst}"]
        return args


def plan(graph: GraphSpec, args: dict[str, str] | None = None,
         overrides: dict[str, dict] | None = None) -> list[NodeLaunch]:
    """The node launches of ``graph``.

    Parameters
    ----------
    graph : GraphSpec
        The graph.
    args : dict, optional
        Launch-argument values (defaults otherwise).
    overrides : dict, optional
        ``{node name: {parameter: value}}`` applied last (like ``-p`` on the command line).

    Raises
    ------
    KeyError
        An override names a node that is not in the graph.
    """
    overrides = dict(overrides or {})
    unknown = set(overrides) - {e.name for e in graph.nodes}
    if unknown:
        raise KeyError(f"no node {sorted(unknown)} in graph {graph.name!r}; nodes: "
                       f"{', '.join(e.name for e in graph.nodes)}")
    return [NodeLaunch(e.kind, e.name,
                       {**node_parameters(graph, e, args), **overrides.get(e.name, {})},
                       list(e.remappings))
            for e in graph.nodes]


def write_params_file(launch: NodeLaunch, directory: Path) -> Path:
    """Write ``launch.parameters`` as a ROS 2 params file for its node."""
    path = Path(directory) / f"{launch.name}.params.yaml"
    path.write_text(yaml.safe_dump({launch.name: {"ros__parameters": launch.parameters}}))
    return path


class GraphRunner:
    """Runs a graph's nodes in-process or as child processes.

    Parameters
    ----------
    graph : GraphSpec
        The graph (see :func:`.graph.get_graph`, :func:`.graph.with_recorder`).
    args : dict, optional
        Launch-argument values.
    processes : bool
        One child process per node instead of one executor in this process.
    env : dict, optional
        Environment of child processes (default: this process's).
    overrides : dict, optional
        ``{node name: {parameter: value}}`` on top of the graph's parameters.
    """

    def __init__(self, graph: GraphSpec, args: dict[str, str] | None = None, *,
                 processes: bool = False, env: dict | None = None,
                 overrides: dict[str, dict] | None = None) -> None:
        self.graph = graph
        self.launches = plan(graph, args, overrides)
        self.processes = processes
        self.env = dict(os.environ if env is None else env)
        _sweep_stale_folders()
        self._tmp = tempfile.TemporaryDirectory(prefix=f"{_TMP_PREFIX}{os.getpid()}_")
        self.last_lines: dict[str, collections.deque] = {}   # child name -> last log lines
        self.nodes: dict[str, object] = {}
        self.procs: dict[str, subprocess.Popen] = {}
        self.context = None
        self._spinners: dict[str, tuple] = {}   # name -> (executor, thread)
        self._ended_at: float | None = None

    # ------------------------------------------------------------------ start
    def start(self) -> "GraphRunner":
        """Create every node (in graph order: recorder first, sources last)."""
        if self.processes:
            self._start_processes()
        else:
            self._start_in_process()
        return self

    def _create_node(self, launch: NodeLaunch):
        params_file = write_params_file(launch, Path(self._tmp.name))
        cls = node_class(launch.kind)
        return cls(node_name=launch.name, context=self.context,
                   cli_args=launch.ros_args(params_file))

    def _spawn(self, launch: NodeLaunch) -> subprocess.Popen:
        params_file = write_params_file(launch, Path(self._tmp.name))
        cmd = [sys.executable, "-c", _CHILD_BOOT, str(os.getpid()),
               f"{__package__}.{launch.kind}", *launch.ros_args(params_file)]
        # Children die with the runner (even a SIGKILLed one) and their log is passed
        # through, keeping the last lines to report a node that died.
        proc = subprocess.Popen(cmd, env=self.env, start_new_session=True,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        lines = self.last_lines[launch.name] = collections.deque(maxlen=20)
        threading.Thread(target=_forward, args=(proc.stdout, lines), daemon=True,
                         name=f"log_{launch.name}").start()
        return proc

    def restart(self, name: str, timeout: float = 10.0) -> None:
        """Stop node ``name`` (as Ctrl-C would) and start it again with the same settings."""
        launch = next((x for x in self.launches if x.name == name), None)
        if launch is None:
            raise KeyError(f"no node {name!r} in this graph")
        if self.processes:
            self._stop_process(name, self.procs[name], timeout)
            self.procs[name] = self._spawn(launch)
            return
        self._stop_node(name, timeout)
        self._add_node(name, self._create_node(launch))

    def _start_in_process(self) -> None:
        import rclpy

        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        try:
            for launch in self.launches:
                self._add_node(launch.name, self._create_node(launch))
        except BaseException:
            self.stop()
            raise

    def _add_node(self, name: str, node) -> None:
        # One single-threaded executor per node: a multithreaded executor may hand two
        # messages of one subscription to different threads out of order, which would look
        # like stamps going backwards.
        from rclpy.executors import SingleThreadedExecutor

        executor = SingleThreadedExecutor(context=self.context)
        executor.add_node(node)
        thread = threading.Thread(target=self._spin, args=(executor,), name=f"spin_{name}",
                                  daemon=True)
        self.nodes[name] = node
        self._spinners[name] = (executor, thread)
        thread.start()

    @staticmethod
    def _spin(executor) -> None:
        from rclpy.executors import ExternalShutdownException

        try:
            executor.spin()
        except (ExternalShutdownException, KeyboardInterrupt):
            pass

    def _stop_node(self, name: str, timeout: float) -> None:
        executor, thread = self._spinners.pop(name)
        executor.shutdown(timeout_sec=timeout)
        thread.join(timeout=timeout)
        node = self.nodes.pop(name)
        close = getattr(node, "close", None)
        if close is not None:
            close()
        node.destroy_node()

    def _start_processes(self) -> None:
        for launch in self.launches:
            self.procs[launch.name] = self._spawn(launch)

    # ------------------------------------------------------------------ run
    def alive(self) -> dict[str, bool]:
        """Whether each node is still running (in-process nodes: until :meth:`stop`)."""
        if self.processes:
            return {name: p.poll() is None for name, p in self.procs.items()}
        return {name: thread.is_alive() for name, (_, thread) in self._spinners.items()}

    def cpu_seconds(self) -> dict[str, float]:
        """CPU time (user + system, seconds) each running node process has used so far.

        One process per node only (in one process the nodes share the CPU time of this
        process); a node that has exited or cannot be read (no ``/proc``) is left out.
        """
        out = {}
        tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        for name, proc in self.procs.items():
            try:
                with open(f"/proc/{proc.pid}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            # fields[0] is the state (stat field 3): utime and stime are fields 14 and 15
            out[name] = (int(fields[11]) + int(fields[12])) / tick
        return out

    def failures(self, expected_exits: tuple[str, ...] = ()) -> dict[str, tuple[int, str]]:
        """Child nodes that exited by themselves: ``{name: (exit code, last log line)}``.

        Nodes in ``expected_exits`` (e.g. ``media_source`` with ``exit_when_done``) count
        only when their exit code is not 0.
        """
        out = {}
        for name, proc in self.procs.items():
            code = proc.poll()
            if code is None or (name in expected_exits and code == 0):
                continue
            lines = [ln for ln in self.last_lines.get(name, ()) if ln.strip()]
            out[name] = (code, lines[-1].strip() if lines else "")
        return out

    def wait(self, predicate, timeout: float, poll: float = 0.05) -> bool:
        """Wait until ``predicate()`` is true (or ``timeout`` seconds); return its last value."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return True
            time.sleep(poll)
        return bool(predicate())

    def end_of_file(self, quiet_s: float = 3.0) -> bool:
        """File graph: the source has played everything and the reaction node went quiet.

        In-process: ``media_source`` is done and ``reaction`` has had no input for longer
        than its ``idle_flush_s`` (so its last partial window is out). With processes:
        the ``media_source`` process has exited (``exit_when_done``) ``quiet_s`` seconds ago.
        """
        if self.processes:
            if self.procs["media_source"].poll() is None:
                return False
            if self._ended_at is None:
                self._ended_at = time.monotonic()
            return time.monotonic() - self._ended_at > quiet_s
        source, reaction = self.nodes["media_source"], self.nodes.get("reaction")
        if not source.done.is_set():
            return False
        if reaction is None:       # split graph: the reactions come back from another host
            render = self.nodes.get("render")
            if render is None:
                return True
            return render.reactions.received > 0 and render.reactions.silent_for() > quiet_s
        idle = float(reaction.param("idle_flush_s")) + 0.5
        return reaction.face_in.silent_for() > idle and reaction.audio_in.silent_for() > idle

    # ------------------------------------------------------------------ stop
    def stop(self, timeout: float = 10.0) -> dict[str, int]:
        """Stop every node (SIGINT to child process groups); returns child exit codes."""
        codes: dict[str, int] = {}
        if self.processes:
            # Sources first, recorder last, so the recorder sees everything that was sent.
            for name in reversed(list(self.procs)):
                codes[name] = self._stop_process(name, self.procs[name], timeout)
        else:
            # Sources first, recorder last (graph order reversed).
            for name in reversed(list(self._spinners)):
                self._stop_node(name, timeout)
            if self.context is not None and self.context.ok():
                self.context.try_shutdown()
        self._tmp.cleanup()
        return codes

    @staticmethod
    def _stop_process(name: str, proc: subprocess.Popen, timeout: float) -> int:
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGINT)
            except ProcessLookupError:
                pass
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        return proc.returncode

    def __enter__(self) -> "GraphRunner":
        """Start the graph."""
        return self.start()

    def __exit__(self, *exc) -> None:
        """Stop the graph."""
        self.stop()
