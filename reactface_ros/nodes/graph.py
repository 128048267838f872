"""The one description of the node graphs, read by the launch files and by the runner.

A graph is a list of nodes (kind = module in :mod:`reactface_ros.nodes` = executable name for
``ros2 run``), the parameter files they read from ``config/`` (ROS 2 params-file format), a few
per-node parameter values that may refer to launch arguments (:class:`Arg`), and topic
remappings. :mod:`.launch_support` turns it into ``launch_ros`` actions; :mod:`.runner` starts
the same nodes as rclpy nodes where the ``ros2`` command line is not installed.

Graphs
------
``live``
    ``camera_capture`` + ``audio_capture`` -> ``face_analysis`` -> ``reaction`` ->
    ``render`` + ``avatar_bridge``.
``file``
    ``media_source`` (a speaker video) -> ``face_analysis`` -> ``reaction`` -> ``render``.
``record``
    ``recorder`` alone, recording every topic the live and file graphs publish; start it
    before the source.

Every node but the recorder is a managed (lifecycle) node; the ``autostart`` argument (default
true) brings them to ``active``. Nodes marked ``required`` (the sources and the reaction node)
end the whole graph when they cannot start.

Split deployment
----------------
:func:`select_nodes` keeps only some nodes of a graph, with the parameters they have in the
whole graph (``media_source`` still waits for the nodes started elsewhere). :data:`PARTS`
names the two halves of a robot + GPU host deployment: the robot keeps the camera, the
microphone, the face analysis and the output (images never leave it); the GPU host runs
``reaction``, which only needs audio, face features and tracked faces.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

PACKAGE = "reactface_ros"

#: node kind -> class name in ``reactface_ros.nodes.<kind>``
NODE_CLASSES: dict[str, str] = {
    "audio_capture": "AudioCaptureNode",
    "camera_capture": "CameraCaptureNode",
    "media_source": "MediaSourceNode",
    "face_analysis": "FaceAnalysisNode",
    "reaction": "ReactionNode",
    "render": "RenderNode",
    "avatar_bridge": "AvatarBridgeNode",
    "recorder": "RecorderNode",
}


@dataclass(frozen=True)
class Arg:
    """A parameter value taken from a launch argument of the graph.

    Attributes
    ----------
    name : str
        The argument name (declared in :attr:`GraphSpec.arguments`).
    """

    name: str


@dataclass(frozen=True)
class NodeEntry:
    """One node of a graph.

    Attributes
    ----------
    kind : str
        Node module / executable (a key of :data:`NODE_CLASSES`).
    name : str
        Node name in the graph.
    parameters : dict
        Values set on top of the parameter files (plain values or :class:`Arg`).
    remappings : tuple of (str, str)
        ``(from, to)`` topic remappings.
    required : bool
        The graph cannot run without this node: when it cannot start (or exits), the launch
        and the runner stop everything with its reason.
    """

    kind: str
    name: str
    parameters: dict = field(default_factory=dict)
    remappings: tuple[tuple[str, str], ...] = ()
    required: bool = False

    def with_parameters(self, **values) -> "NodeEntry":
        """A copy with ``values`` added to the parameters."""
        return NodeEntry(self.kind, self.name, {**self.parameters, **values}, self.remappings,
                         self.required)


@dataclass(frozen=True)
class GraphSpec:
    """A named graph.

    Attributes
    ----------
    name : str
        Graph name (also the launch file's stem).
    description : str
        One line for ``--help`` and the launch file.
    nodes : tuple of NodeEntry
        The nodes, sources last (they wait for their subscribers).
    params_files : tuple of str
        Files under ``config/`` every node reads, in order (later files win).
    arguments : dict
        Launch argument name -> ``(default string, description)``.
    """

    name: str
    description: str
    nodes: tuple[NodeEntry, ...]
    params_files: tuple[str, ...]
    arguments: dict = field(default_factory=dict)

    def node(self, name: str) -> NodeEntry:
        """The entry called ``name``."""
        for entry in self.nodes:
            if entry.name == name:
                return entry
        raise KeyError(f"graph {self.name!r} has no node {name!r}")


COMMON_ARGS = {
    "checkpoint": ("", "reaction model directory (empty: the bundled model)"),
    "device": ("auto", "torch device for the reaction node: auto, cpu or cuda"),
    "samples": ("10", "number of sampled reactions M"),
    "seed": ("0", "sampling seed"),
    "use_sim_time": ("false", "follow /clock (set true with media_source mode:=fast)"),
    "autostart": ("true", "configure and activate the managed nodes at start-up (false: they "
                  "wait unconfigured for `ros2 lifecycle set`)"),
}

#: Parameter every managed node takes from the ``autostart`` argument.
_AUTO = {"autostart": Arg("autostart")}


def _reaction_chain(render_video: Arg | str = "") -> tuple[NodeEntry, ...]:
    sim = {"use_sim_time": Arg("use_sim_time"), **_AUTO}
    return (
        NodeEntry("face_analysis", "face_analysis", dict(sim)),
        NodeEntry("reaction", "reaction", {"checkpoint": Arg("checkpoint"),
                                           "device": Arg("device"), "samples": Arg("samples"),
                                           "seed": Arg("seed"), **sim}, required=True),
        NodeEntry("render", "render", {"video_path": render_video, **sim}),
    )


def _build_graphs() -> dict[str, GraphSpec]:
    live = GraphSpec(
        "live", "microphone + camera -> face analysis -> reaction -> render + avatar",
        nodes=_reaction_chain() + (
            NodeEntry("avatar_bridge", "avatar_bridge", {"vmc": Arg("vmc"),
                                                         "livelink": Arg("livelink"), **_AUTO}),
            NodeEntry("audio_capture", "audio_capture", {"device": Arg("mic"), **_AUTO},
                      required=True),
            NodeEntry("camera_capture", "camera_capture", {"device": Arg("camera"), **_AUTO},
                      required=True),
        ),
        params_files=("defaults.yaml", "live.yaml"),
        arguments={**COMMON_ARGS,
                   "mic": ("", "microphone index or name (empty: default input)"),
                   "camera": ("0", "camera index or device path"),
                   "vmc": ("true", "send VMC to 127.0.0.1:39539"),
                   "livelink": ("false", "send Live Link Face to 127.0.0.1:11111")})
    file_graph = GraphSpec(
        "file", "speaker video file -> face analysis -> reaction -> render",
        nodes=_reaction_chain(Arg("listener_video")) + (
            NodeEntry("media_source", "media_source", {"video": Arg("video"),
                                                       "audio": Arg("audio"),
                                                       "mode": Arg("mode"), **_AUTO},
                      required=True),),
        params_files=("defaults.yaml", "file.yaml"),
        arguments={**COMMON_ARGS,
                   "video": ("", "speaker video file"),
                   "audio": ("", "separate speaker audio file (empty: the video's track)"),
                   "mode": ("realtime", "media_source pacing: realtime or fast"),
                   "listener_video": ("", "write the rendered listener to this mp4")})
    record = GraphSpec(
        "record", "records every topic of the live and file graphs into one MCAP file",
        nodes=(NodeEntry("recorder", "recorder", {
            "path": Arg("bag"),
            "topics": merge_recorded(recorded_topics(live), recorded_topics(file_graph))},
            required=True),),
        params_files=("defaults.yaml",),
        arguments={"bag": ("session.mcap", "output MCAP file")})
    return {"live": live, "file": with_source_wait(file_graph), "record": record}


#: Outputs without a header stamp (published on change, not per frame): fast-mode flow
#: control cannot match them to frames, so it does not wait for them.
UNSTAMPED_TYPES = ("std_msgs/msg/String",)


def with_source_wait(graph: GraphSpec) -> GraphSpec:
    """Make media_source wait for the whole graph (and, in fast mode, every consumer).

    ``min_subscribers`` is what the graph subscribes to its outputs; ``graph_topics`` lists
    every topic between the other nodes with its subscriber and publisher counts, so that
    nodes started in other processes have discovered each other too. ``progress_topics``
    lists what every other node (the recorder aside) publishes, so fast-mode playback keeps
    pace with the slowest of them.
    """
    counts = subscriber_counts(graph)
    publishers: dict[str, int] = {}
    progress: dict[str, str] = {}
    for entry in graph.nodes:
        if entry.kind != "recorder":
            for name, msg_type, direction, _ in node_topics(graph, entry, always_only=True):
                if direction == "pub":
                    publishers[name] = publishers.get(name, 0) + 1
                    if entry.kind != "media_source" and name != "/diagnostics" \
                            and msg_type not in UNSTAMPED_TYPES:
                        progress[name] = f"{name}={msg_type}"
    links = sorted(f"{name}={counts[name]}:{publishers[name]}" for name in counts
                   if name in publishers and name not in ("/diagnostics", "/clock"))
    nodes = []
    for entry in graph.nodes:
        if entry.kind == "media_source":
            outputs = [name for name, _, d, _ in node_topics(graph, entry) if d == "pub"
                       and name in ("/speaker/image", "/speaker/audio")]
            need = min((counts.get(name, 0) for name in outputs), default=0)
            entry = entry.with_parameters(min_subscribers=max(need, 1),
                                          graph_topics=links or [""],
                                          progress_topics=sorted(progress.values()) or [""])
        nodes.append(entry)
    return GraphSpec(graph.name, graph.description, tuple(nodes), graph.params_files,
                     graph.arguments)


# --------------------------------------------------------------------------- files

def config_dir() -> Path:
    """``config/`` of the source tree when there is one, else of the installed package.

    A checkout (or editable install) uses its own files, so edits take effect at once; a
    colcon install has no source tree beside the package and reads the ament share directory.
    """
    source = Path(__file__).resolve().parents[2] / "config"
    if (source / "defaults.yaml").is_file():
        return source
    try:
        from ament_index_python.packages import get_package_share_directory

        share = Path(get_package_share_directory(PACKAGE)) / "config"
        if (share / "defaults.yaml").is_file():
            return share
    except Exception:  # no ament index or package not installed there
        pass
    return source


def config_path(name: str) -> Path:
    """Path of ``config/<name>``."""
    return config_dir() / name


def load_params_file(path: Path, node_name: str) -> dict[str, Any]:
    """Parameters a ROS 2 params file gives ``node_name`` (``/**`` entries first)."""
    data = yaml.safe_load(Path(path).read_text()) or {}
    out: dict[str, Any] = {}
    for key in ("/**", "**", node_name, f"/{node_name}"):
        section = data.get(key) or {}
        out.update(section.get("ros__parameters") or {})
    return out


def node_class(kind: str):
    """The node class of a kind (imports its module, and so rclpy)."""
    module = importlib.import_module(f"{__package__}.{kind}")
    return getattr(module, NODE_CLASSES[kind])


def is_managed(kind: str) -> bool:
    """Whether nodes of ``kind`` are managed (lifecycle) nodes."""
    from .common import ManagedNode

    return issubclass(node_class(kind), ManagedNode)


def param_type(kind: str, name: str) -> type | None:
    """The declared type of parameter ``name`` of node ``kind`` (``None``: not declared)."""
    if name == "use_sim_time":
        return bool
    for spec in node_class(kind).PARAMS:
        if spec.name == name:
            return type(spec.default)
    return None


def typed_value(text: str, want: type | None, what: str = "value"):
    """A launch-argument string as a parameter of type ``want``.

    ``launch_ros`` parses argument values as YAML, so ``camera:=0`` would arrive as an integer
    where a string is declared; the launch files pass ``ParameterValue(..., value_type=...)``
    with the declared type, and this does the same for the runner: strings stay strings,
    ``"10"`` becomes ``10`` for an integer, ``"true"`` ``True`` for a bool.

    Raises
    ------
    ValueError
        ``text`` is not a value of that type, with the expected type named.
    """
    text = str(text)
    if want is str:
        return text
    if want is None:
        if text == "":
            return ""
        parsed = yaml.safe_load(text)
        return text if isinstance(parsed, (dict, list)) or parsed is None else parsed
    parsed = yaml.safe_load(text) if text != "" else None
    if want is float and isinstance(parsed, int) and not isinstance(parsed, bool):
        parsed = float(parsed)
    if want is list:
        parsed = parsed if isinstance(parsed, list) else None
    if parsed is None or type(parsed) is not want:
        names = {bool: "true or false", int: "an integer", float: "a number",
                 list: "a list"}
        raise ValueError(f"{what} must be {names.get(want, want.__name__)}, got {text!r}")
    return parsed


def resolve_value(value, args: dict[str, str], want: type | None = None, what: str = "value"):
    """A parameter value with :class:`Arg` replaced by the argument, as type ``want``."""
    if isinstance(value, Arg):
        return typed_value(args[value.name], want, f"argument {value.name!r} ({what})")
    return value


def graph_arguments(graph: GraphSpec, overrides: dict[str, str] | None = None) -> dict[str, str]:
    """Argument values: defaults, then ``overrides`` (unknown names are an error)."""
    values = {k: default for k, (default, _) in graph.arguments.items()}
    for key, value in (overrides or {}).items():
        if key not in values:
            raise KeyError(f"graph {graph.name!r} has no argument {key!r}; known: "
                           f"{', '.join(sorted(values))}")
        values[key] = str(value)
    return values


def node_parameters(graph: GraphSpec, entry: NodeEntry,
                    args: dict[str, str] | None = None) -> dict[str, Any]:
    """Every parameter value ``entry`` gets: files in order, then its own values."""
    values = graph_arguments(graph, args)
    params: dict[str, Any] = {}
    for name in graph.params_files:
        params.update(load_params_file(config_path(name), entry.name))
    for key, value in entry.parameters.items():
        params[key] = resolve_value(value, values, param_type(entry.kind, key),
                                    f"{entry.name}.{key}")
    return params


# --------------------------------------------------------------------------- topics

def _resolve(topic: str, remappings) -> str:
    mapped = dict(remappings).get(topic, topic)
    return mapped if mapped.startswith("/") else "/" + mapped


def node_topics(graph: GraphSpec, entry: NodeEntry, args: dict[str, str] | None = None, *,
                always_only: bool = False, possible: bool = False):
    """``(resolved name, type, direction, qos)`` of the topics of ``entry``.

    Optional topics are included when the node's parameters enable them (``always_only``:
    never; ``possible``: also when a launch argument sets the enabling parameter, as
    ``mode`` enables ``/clock``). Topic names with a parameter in them
    (``/humans/faces/<face_id>/roi``) get its value.
    """
    spec_cls = node_class(entry.kind)
    params = {p.name: p.default for p in spec_cls.PARAMS}
    params.update(node_parameters(graph, entry, args))
    out = []
    for topic in spec_cls.TOPICS:
        if topic.optional:
            if always_only:
                continue
            switch = topic.enabled_by.partition("=")[0]
            by_arg = possible and isinstance(entry.parameters.get(switch), Arg)
            if not (topic.enabled(params) or (by_arg and switch)):
                continue
        qos = topic.qos
        if qos.startswith("param:"):
            qos = str(params[qos.split(":", 1)[1]])
        name = topic.name
        for key, value in params.items():
            name = name.replace(f"<{key}>", str(value))
        out.append((_resolve(name, entry.remappings), topic.msg_type, topic.direction, qos))
    return out


#: Message packages the recorder can describe in a bag (Jazzy's standard types and ours).
_RECORDABLE_PACKAGES = ("reactface_ros", "sensor_msgs", "std_msgs", "diagnostic_msgs",
                        "rosgraph_msgs", "builtin_interfaces", "geometry_msgs")


def recorded_topics(graph: GraphSpec) -> list[str]:
    """Recorder entries (``name=type[@sensor_data]``) for every topic ``graph`` may publish.

    Optional topics count when the graph's parameters (or one of its launch arguments)
    enable them; types of packages the recorder has no definitions for (``hri_msgs``) are
    left out.
    """
    entries: dict[str, str] = {}
    for entry in graph.nodes:
        for name, msg_type, direction, qos in node_topics(graph, entry, possible=True):
            if msg_type.split("/", 1)[0] not in _RECORDABLE_PACKAGES:
                continue
            if direction == "pub" and name not in entries:
                suffix = f"@{qos}" if qos in ("sensor_data", "history") else ""
                entries[name] = f"{name}={msg_type}{suffix}"
    return sorted(entries.values())


def merge_recorded(*entry_lists: list[str]) -> list[str]:
    """Union of recorder entries, with the QoS every publisher of the topic matches.

    Best effort wins over everything (it matches any publisher); plain reliable wins over
    history (a transient-local subscription would not match a volatile publisher).
    """
    rank = {"sensor_data": 2, "reliable": 1, "history": 0}
    merged: dict[str, str] = {}
    for entries in entry_lists:
        for entry in entries:
            name = entry.split("=", 1)[0]
            qos = entry.partition("@")[2] or "reliable"
            held = merged[name].partition("@")[2] or "reliable" if name in merged else None
            if held is None or rank[qos] > rank[held]:
                merged[name] = entry
    return sorted(merged.values())


def subscriber_counts(graph: GraphSpec, args: dict[str, str] | None = None) -> dict[str, int]:
    """How many nodes of ``graph`` subscribe to each topic."""
    counts: dict[str, int] = {}
    for entry in graph.nodes:
        if entry.kind == "recorder":  # its subscriptions come from a parameter
            for item in entry.parameters.get("topics", []):
                name = item.split("=", 1)[0]
                counts[name] = counts.get(name, 0) + 1
            continue
        for name, _, direction, _ in node_topics(graph, entry, args, always_only=True):
            if direction == "sub":
                counts[name] = counts.get(name, 0) + 1
    return counts


#: The halves of a split deployment: part -> node names (those a graph has are kept).
PARTS: dict[str, tuple[str, ...]] = {
    "robot": ("camera_capture", "audio_capture", "media_source", "face_analysis", "render",
              "avatar_bridge", "recorder"),
    "inference": ("reaction",),
}


def select_nodes(graph: GraphSpec, names) -> GraphSpec:
    """``graph`` with only the nodes called ``names`` (a list or ``"a,b"``), in graph order.

    Raises
    ------
    KeyError
        A name that is not a node of the graph (the message lists the nodes).
    """
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",")]
    wanted = [n for n in names if n]
    known = [e.name for e in graph.nodes]
    unknown = [n for n in wanted if n not in known]
    if unknown or not wanted:
        raise KeyError(f"graph {graph.name!r} has no node {', '.join(unknown) or '(none given)'}"
                       f"; its nodes: {', '.join(known)}")
    return GraphSpec(graph.name, f"{graph.description} [only {', '.join(wanted)}]",
                     tuple(e for e in graph.nodes if e.name in wanted), graph.params_files,
                     graph.arguments)


def graph_part(graph: GraphSpec, part: str) -> GraphSpec:
    """The ``robot`` or ``inference`` half of ``graph`` (see :data:`PARTS`)."""
    if part not in PARTS:
        raise KeyError(f"unknown part {part!r}; use one of {', '.join(PARTS)}")
    return select_nodes(graph, [e.name for e in graph.nodes if e.name in PARTS[part]])


_GRAPHS: dict[str, GraphSpec] | None = None


def graphs() -> dict[str, GraphSpec]:
    """All graphs by name (built on first use: it imports the node modules)."""
    global _GRAPHS
    if _GRAPHS is None:
        _GRAPHS = _build_graphs()
    return _GRAPHS


def get_graph(name: str) -> GraphSpec:
    """The graph called ``name``, or a clear error listing the graphs."""
    all_graphs = graphs()
    if name not in all_graphs:
        raise KeyError(f"unknown graph {name!r}; available: {', '.join(all_graphs)}")
    return all_graphs[name]


def with_recorder(graph: GraphSpec, bag_path: str) -> GraphSpec:
    """``graph`` plus a recorder (first, so it subscribes before the source starts)."""
    recorder = NodeEntry("recorder", "recorder", {"path": str(bag_path),
                                                  "topics": recorded_topics(graph)},
                         required=True)
    return with_source_wait(GraphSpec(graph.name, graph.description, (recorder,) + graph.nodes,
                                      graph.params_files, graph.arguments))
