"""One graph description: the launch files, the runner, the config files, the executables and
the README's ROS API section all agree with it (and with the nodes' own declarations)."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import yaml

pytest.importorskip("rclpy")
pytest.importorskip("reactface_ros.msg")

from reactface_ros.nodes import api_doc  # noqa: E402
from reactface_ros.nodes.graph import (NODE_CLASSES, get_graph, graphs,  # noqa: E402
                                       node_class, with_recorder)
from reactface_ros.nodes.runner import plan  # noqa: E402

LAUNCH_FILES = {"live": "live.launch.py", "file": "file.launch.py", "record": "record.launch.py"}


@pytest.mark.parametrize("name", sorted(LAUNCH_FILES))
def test_launch_files_are_generated_from_the_graph(repo_root, name):
    """Each launch file is one call into the graph description (its parameters and types are
    checked through the real launch_ros in test_ros2_launch.py)."""
    text = (repo_root / "launch" / LAUNCH_FILES[name]).read_text()
    assert f'return generate_launch_description_for("{name}")' in text
    assert get_graph(name).nodes


def test_runner_arguments_take_the_declared_types():
    """Launch-argument strings become the declared type: strings stay strings."""
    live = {n.name: n.parameters for n in plan(get_graph("live"), {"camera": "0", "mic": "1",
                                                                   "samples": "7",
                                                                   "autostart": "false"})}
    assert live["camera_capture"]["device"] == "0" and live["audio_capture"]["device"] == "1"
    assert live["reaction"]["samples"] == 7 and live["reaction"]["autostart"] is False
    with pytest.raises(ValueError, match="'samples'.*must be an integer, got 'many'"):
        plan(get_graph("live"), {"samples": "many"})
    with pytest.raises(ValueError, match="'use_sim_time'.*must be true or false"):
        plan(get_graph("file"), {"use_sim_time": "sometimes"})


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
    # Installed into the venv by the setup (its own ament prefix), with its interpreter.
    venv_lib = Path(sys.prefix) / "lib" / "reactface_ros"
    if venv_lib.is_dir():
        for kind in NODE_CLASSES:
            installed = (venv_lib / kind).read_text()
            assert installed.startswith(f"#!{sys.prefix}/bin/python"), installed[:80]
            assert os.access(venv_lib / kind, os.X_OK)
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
    # Every topic, also the optional ones the graph enables (the face crop, /clock in fast
    # mode), and the source's flow control waits for every node downstream.
    assert "/speaker/face_crop" in recorded and "/clock" in recorded
    assert "/speaker/face_crop=sensor_msgs/msg/Image@history" in live.parameters["topics"]
    progress = {e.split("=")[0] for e in source.parameters["progress_topics"]}
    # (the active speaker is a String sent on change, with no stamp to wait for)
    assert progress == {"/speaker/face_features", "/speaker/faces", "/listener/reaction",
                        "/listener/reaction_samples", "/listener/image"}


def test_bad_overrides_and_arguments_are_named():
    with pytest.raises(KeyError, match="no node"):
        plan(get_graph("file"), overrides={"nope": {}})
    with pytest.raises(KeyError, match="has no argument 'vidoe'"):
        plan(get_graph("file"), {"vidoe": "x.mp4"})
    with pytest.raises(KeyError, match="unknown graph"):
        get_graph("robot")
