"""Generated documentation and default parameters of the nodes.

the README's "ROS API" section and ``config/defaults.yaml`` are built from the nodes' own
:class:`~.common.ParamSpec` and :class:`~.common.TopicSpec` lists, so that the text always
matches the code.
"""
from __future__ import annotations

from pathlib import Path

import yaml

from .common import ManagedNode
from .graph import NODE_CLASSES, node_class

#: Order in which nodes are documented.
NODE_ORDER = ("audio_capture", "camera_capture", "media_source", "face_analysis", "reaction",
              "render", "avatar_bridge", "recorder")

QOS_TEXT = {
    "sensor_data": "sensor data (best effort, depth 5)",
    "reliable": "reliable, depth 100",
    "history": "reliable, transient local, depth 100",
    "latched": "reliable, transient local, depth 1",
}


def defaults_yaml() -> str:
    """``config/defaults.yaml``: every parameter of every node at its default value."""
    data = {}
    for kind in NODE_ORDER:
        cls = node_class(kind)
        data[cls.NODE_NAME] = {"ros__parameters": {p.name: p.default for p in cls.PARAMS}}
    header = ("# Default parameters of every node (ROS 2 params-file format).\n"
              "# Generated from the nodes' declarations: keep in sync with\n"
              "# `python -m reactface_ros.nodes.api_doc --write` (a test checks it).\n")
    return header + yaml.safe_dump(data, sort_keys=False, width=100)


def _qos(spec, params) -> str:
    if spec.qos.startswith("param:"):
        name = spec.qos.split(":", 1)[1]
        return f"parameter `{name}` (default {QOS_TEXT[params[name]]})"
    return QOS_TEXT[spec.qos]


def _fmt(value) -> str:
    if isinstance(value, str):
        return f'`"{value}"`'
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, list):
        return "`[" + ", ".join(f'"{v}"' if isinstance(v, str) else str(v)
                                for v in value) + "]`"
    return f"`{value}`"


def nodes_markdown() -> str:
    """The per-node part of the README's "ROS API" section."""
    out = []
    for kind in NODE_ORDER:
        cls = node_class(kind)
        params = {p.name: p.default for p in cls.PARAMS}
        doc = (cls.__module__ and __import__(cls.__module__, fromlist=["_"]).__doc__ or "")
        summary = doc.strip().splitlines()[0].split(":", 1)[-1].strip()
        out.append(f"#### `{kind}`\n\n{summary}\n\n"
                   f"Run: `ros2 run reactface_ros {kind}` or "
                   f"`python -m reactface_ros.nodes.{kind}`.\n")
        if issubclass(cls, ManagedNode):
            out.append(f"Managed (lifecycle) node: `ros2 lifecycle get/set /{cls.NODE_NAME}`; "
                       "with `autostart` it configures and activates itself.\n")
        if any(p.dynamic for p in cls.PARAMS):
            out.append("Parameters marked * may be changed at run time (`ros2 param set`); "
                       "the others are read at start-up.\n")
        out.append("| Parameter | Type | Default | Description |\n|---|---|---|---|")
        for p in cls.PARAMS:
            kind_name = type(p.default).__name__
            kind_name = {"str": "string", "float": "double", "int": "integer", "bool": "bool",
                         "list": "string[]"}[kind_name]
            star = " *" if p.dynamic else ""
            out.append(f"| `{p.name}`{star} | {kind_name} | {_fmt(p.default)} | "
                       f"{p.description} |")
        out.append("\n| Topic | Direction | Type | QoS | Content |\n|---|---|---|---|---|")
        for t in cls.TOPICS:
            direction = "publishes" if t.direction == "pub" else "subscribes"
            note = " (optional)" if t.optional else ""
            out.append(f"| `{t.name}` | {direction}{note} | `{t.msg_type}` | {_qos(t, params)} "
                       f"| {t.description} |")
        out.append("")
    return "\n".join(out)


def messages_markdown(msg_dir: Path) -> str:
    """The message section: each ``.msg`` file verbatim."""
    out = []
    for name in ("AudioChunk", "SpeakerFaceFeatures", "TrackedFaces", "ReactionFrame",
                 "ReactionSamples"):
        text = (msg_dir / f"{name}.msg").read_text().rstrip()
        out.append(f"#### `reactface_ros/msg/{name}`\n\n```\n{text}\n```\n")
    return "\n".join(out)


BEGIN_NODES = "<!-- BEGIN GENERATED NODES -->"
END_NODES = "<!-- END GENERATED NODES -->"
BEGIN_MSGS = "<!-- BEGIN GENERATED MESSAGES -->"
END_MSGS = "<!-- END GENERATED MESSAGES -->"


def _replace_between(text: str, begin: str, end: str, body: str) -> str:
    head, _, rest = text.partition(begin)
    _, _, tail = rest.partition(end)
    return f"{head}{begin}\n{body}\n{end}{tail}"


def update_docs(doc_text: str, msg_dir: Path) -> str:
    """``doc_text`` with both generated sections replaced by the current ones."""
    text = _replace_between(doc_text, BEGIN_NODES, END_NODES, nodes_markdown())
    return _replace_between(text, BEGIN_MSGS, END_MSGS, messages_markdown(msg_dir))


def main() -> int:
    """``python -m reactface_ros.nodes.api_doc --write``: regenerate the docs and defaults."""
    import sys

    root = Path(__file__).resolve().parents[2]
    doc = root / "README.md"
    if "--write" in sys.argv:
        (root / "config" / "defaults.yaml").write_text(defaults_yaml())
        doc.write_text(update_docs(doc.read_text(), root / "msg"))
        return 0
    print(nodes_markdown())
    return 0


assert set(NODE_ORDER) == set(NODE_CLASSES)

if __name__ == "__main__":
    raise SystemExit(main())
