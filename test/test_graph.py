"""One graph description: the launch files, the runner, the config files, the executables and
the README's ROS API section all agree with it (and with the nodes' own declarations)."""
from __future__ import annotations

import runpy
import sys
import types
from pathlib import Path

import pytest
import yaml

pytest.importorskip("rclpy")
pytest.importorskip("reactface_ros.msg")

from reactface_ros.nodes import api_doc  # noqa: E402
from reactface_ros.nodes.graph import (NODE_CLASSES, get_graph, graphs,  # noqa: E402
                                       load_params_file, node_class, with_recorder)
from reactface_ros.nodes.runner import plan  # noqa: E402

LAUNCH_FILES = {"live": "live.launch.py", "file": "file.launch.py", "record": "record.launch.py"}


class _Recorder:
    """Stand-ins for the launch / launch_ros classes that record what they were given."""

    def __init__(self):
        self.nodes, self.arguments = [], {}
        rec = self

        class LaunchConfiguration:
            def __init__(self, name):
                self.name = name

        class DeclareLaunchArgument:
            def __init__(self, name, default_value=None, description=""):
                rec.arguments[name] = (default_value, description)

        class Node:
            def __init__(self, **kwargs):
                rec.nodes.append(kwargs)

        class LaunchDescription(list):
            pass

        self.modules = {
            "launch": types.SimpleNamespace(LaunchDescription=LaunchDescription),
            "launch.actions": types.SimpleNamespace(DeclareLaunchArgument=DeclareLaunchArgument),
            "launch.substitutions": types.SimpleNamespace(
                LaunchConfiguration=LaunchConfiguration),
            "launch_ros": types.SimpleNamespace(),
            "launch_ros.actions": types.SimpleNamespace(Node=Node),
        }
        self.LaunchConfiguration = LaunchConfiguration

    def resolve(self, value, args):
        """What launch_ros makes of a parameter value: substitutions parsed as YAML."""
        if isinstance(value, self.LaunchConfiguration):
            text = args[value.name]
            if text == "":
                return ""
            return yaml.safe_load(text)
        return value


def _launch_file_plan(repo_root, monkeypatch, name, args):
    rec = _Recorder()
    for mod_name, module in rec.modules.items():
        monkeypatch.setitem(sys.modules, mod_name, module)
    namespace = runpy.run_path(str(repo_root / "launch" / LAUNCH_FILES[name]))
    namespace["generate_launch_description"]()
    values = {k: d for k, (d, _) in rec.arguments.items()}
    values.update(args)
    out = []
    for node in rec.nodes:
        assert node["package"] == "reactface_ros"
        params = {}
        for item in node["parameters"]:
            if isinstance(item, str):
                assert Path(item).is_file(), item
                params.update(load_params_file(Path(item), node["name"]))
            else:
                params.update({k: rec.resolve(v, values) for k, v in item.items()})
        out.append((node["executable"], node["name"], params, list(node["remappings"])))
    return out, rec.arguments


@pytest.mark.parametrize("name", sorted(LAUNCH_FILES))
@pytest.mark.parametrize("custom_args", [False, True])
def test_launch_files_and_runner_start_the_same_graph(repo_root, monkeypatch, name,
                                                      custom_args):
    graph = get_graph(name)
    args = {}
    if custom_args:  # every argument set to a non-default value of the right kind
        for key, (default, _) in graph.arguments.items():
            args[key] = {"true": "false", "false": "true"}.get(
                default, str(int(default) + 7) if default.isdigit() else f"/x/{key}")
    launched, declared = _launch_file_plan(repo_root, monkeypatch, name, args)
    assert {k: v[0] for k, v in declared.items()} == {
        k: d for k, (d, _) in graph.arguments.items()}
    ran = [(n.kind, n.name, n.parameters, n.remappings) for n in plan(graph, args)]
    assert launched == ran
    assert len(ran) >= 1
    if custom_args and name == "file":
        reaction = dict((n[1], n[2]) for n in ran)["reaction"]
        assert reaction["samples"] == 17 and reaction["use_sim_time"] is True


def test_graph_parameters_are_declared_by_the_nodes(repo_root):
    """Every parameter a config file or graph gives a node is one the node declares."""
    for graph in list(graphs().values()) + [with_recorder(get_graph("file"), "x.mcap")]:
        for launch in plan(graph):
            declared = {p.name for p in node_class(launch.kind).PARAMS} | {"use_sim_time"}
            unknown = set(launch.parameters) - declared
            assert not unknown, f"{graph.name}/{launch.name}: undeclared {unknown}"
    for path in (repo_root / "config").glob("*.yaml"):
        data = yaml.safe_load(path.read_text())
        for node_name, section in data.items():
            cls = node_class(node_name)
            declared = {p.name for p in cls.PARAMS}
            assert set(section["ros__parameters"]) <= declared, (path.name, node_name)


def test_every_node_has_an_executable_and_installs(repo_root):
    cmake = (repo_root / "CMakeLists.txt").read_text()
    assert "scripts/ros/*" in cmake and "lib/${PROJECT_NAME}" in cmake
    scripts = {p.name: p for p in (repo_root / "scripts" / "ros").iterdir()}
    assert set(scripts) == set(NODE_CLASSES)
    for kind, path in scripts.items():
        text = path.read_text()
        assert text.startswith("#!/usr/bin/env python3\n")
        assert f"from reactface_ros.nodes.{kind} import main" in text
        assert path.stat().st_mode & 0o111
    for graph in graphs().values():
        for entry in graph.nodes:
            assert entry.kind in scripts


def test_defaults_and_docs_match_the_code(repo_root):
    assert (repo_root / "config" / "defaults.yaml").read_text() == api_doc.defaults_yaml(), \
        "regenerate with: python -m reactface_ros.nodes.api_doc --write"
    doc = (repo_root / "README.md").read_text()
    assert api_doc.update_docs(doc, repo_root / "msg") == doc, \
        "regenerate with: python -m reactface_ros.nodes.api_doc --write"
    for kind in NODE_CLASSES:
        for p in node_class(kind).PARAMS:
            assert f"| `{p.name}`{' *' if p.dynamic else ''} |" in doc


def test_recorder_covers_every_published_topic_and_source_waits_for_it():
    graph = with_recorder(get_graph("file"), "s.mcap")
    recorder = dict((n.name, n) for n in plan(graph))["recorder"]
    recorded = {e.split("=")[0] for e in recorder.parameters["topics"]}
    assert {"/speaker/image", "/speaker/audio", "/speaker/face_features", "/listener/reaction",
            "/listener/reaction_samples", "/listener/image", "/diagnostics"} <= recorded
    source = dict((n.name, n) for n in plan(graph))["media_source"]
    # face_analysis + recorder on the images, reaction + recorder on the audio.
    assert source.parameters["min_subscribers"] == 2
    plain = dict((n.name, n) for n in plan(get_graph("file")))["media_source"]
    assert plain.parameters["min_subscribers"] == 1
    live = dict((n.name, n) for n in plan(get_graph("record")))["recorder"]
    assert "/speaker/image=sensor_msgs/msg/Image@sensor_data" in live.parameters["topics"]


def test_bad_overrides_and_arguments_are_named():
    with pytest.raises(KeyError, match="no node"):
        plan(get_graph("file"), overrides={"nope": {}})
    with pytest.raises(KeyError, match="has no argument 'vidoe'"):
        plan(get_graph("file"), {"vidoe": "x.mp4"})
    with pytest.raises(KeyError, match="unknown graph"):
        get_graph("robot")
