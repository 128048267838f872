"""Lint of the package itself: flake8, docstrings, and a well-formed package.xml."""
from __future__ import annotations

import re
import subprocess
import sys
import tomllib
import xml.etree.ElementTree as ET

import pytest

PYTHON_DIRS = ["reactface_ros", "test", "benchmarks", "scripts", "launch"]


def _existing(repo_root, names):
    return [n for n in names if (repo_root / n).exists()]


def test_flake8(repo_root):
    pytest.importorskip("flake8")
    proc = subprocess.run(
        [sys.executable, "-m", "flake8", "--max-line-length", "100",
         "--extend-ignore", "E203,W503,W504", *_existing(repo_root, PYTHON_DIRS)],
        cwd=repo_root, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]


def test_docstrings(repo_root):
    pytest.importorskip("pydocstyle")
    # NumPy convention on the package; methods, magic methods and __init__ may go without
    # (the class docstring documents the constructor), and the first line may be descriptive.
    proc = subprocess.run(
        [sys.executable, "-m", "pydocstyle", "--convention=numpy",
         "--add-ignore=D102,D105,D107,D401,D403", "reactface_ros"],
        cwd=repo_root, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]


def test_package_xml_is_well_formed_and_consistent(repo_root):
    tree = ET.parse(repo_root / "package.xml")
    root = tree.getroot()
    assert root.tag == "package" and root.get("format") == "3"
    name = root.findtext("name")
    version = root.findtext("version")
    assert name == "reactface_ros"
    assert re.fullmatch(r"\d+\.\d+\.\d+", version)
    assert root.findtext("description").strip()
    assert root.find("maintainer").get("email")
    assert root.findtext("license")
    assert root.find("export/build_type").text == "ament_cmake"
    deps = {e.tag: [] for e in root}
    for e in root:
        deps[e.tag].append((e.text or "").strip())
    for tag in ("depend", "exec_depend", "buildtool_depend", "test_depend"):
        assert all(deps.get(tag, [])), f"empty <{tag}>"
    assert "rosidl_default_generators" in deps["buildtool_depend"]
    assert "rosidl_default_runtime" in deps["exec_depend"]
    assert "rosidl_interface_packages" in deps["member_of_group"]
    # The same name and version everywhere a build tool reads them.
    cmake = (repo_root / "CMakeLists.txt").read_text()
    assert re.search(r"project\(\s*reactface_ros\s*\)", cmake)
    pyproject = tomllib.loads((repo_root / "pyproject.toml").read_text())
    assert pyproject["project"]["name"] == name
    assert pyproject["project"]["version"] == version
    import reactface_ros
    assert reactface_ros.__version__ == version


def test_every_message_is_generated(repo_root):
    cmake = (repo_root / "CMakeLists.txt").read_text()
    for msg in sorted((repo_root / "msg").glob("*.msg")):
        assert f'"msg/{msg.name}"' in cmake, f"{msg.name} is not in rosidl_generate_interfaces"
