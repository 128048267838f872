"""The plain-Python core works in an interpreter where ROS 2 is absent."""
from __future__ import annotations

import ast
import subprocess
import sys

# Top-level names that belong to ROS 2; only reactface_ros/nodes/ may import them.
ROS_MODULES = ("rclpy", "rosidl_runtime_py", "rosidl_parser", "std_msgs", "sensor_msgs",
               "diagnostic_msgs", "builtin_interfaces", "launch", "launch_ros",
               "ament_index_python", "rosbag2_py", "rpyutils")

BLOCKER = r"""
import importlib.abc, pkgutil, sys
BLOCKED = set(sys.argv[1].split(","))

class Absent(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        top = name.split(".")[0]
        if top in BLOCKED or name.startswith("reactface_ros.msg"):
            raise ModuleNotFoundError(f"No module named {name!r} (ROS is absent)", name=name)
        return None

sys.meta_path.insert(0, Absent())
import reactface_ros
imported = []
for info in pkgutil.walk_packages(reactface_ros.__path__, "reactface_ros."):
    if info.name.startswith(("reactface_ros.nodes", "reactface_ros.msg")):
        continue
    __import__(info.name)
    imported.append(info.name)
print("\n".join(imported))
"""


def test_core_modules_import_with_ros_absent(repo_root):
    proc = subprocess.run([sys.executable, "-c", BLOCKER, ",".join(ROS_MODULES)],
                          cwd=repo_root, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    imported = set(proc.stdout.split())
    assert {"reactface_ros.constants", "reactface_ros.geometry", "reactface_ros.cli"} <= imported


def _guarded_imports(tree: ast.AST) -> set:
    """Imports inside ``try: ... except ImportError`` (optional ROS integration) are allowed."""
    guarded = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Try) and any(
                isinstance(h.type, ast.Name) and h.type.id in ("ImportError", "ModuleNotFoundError")
                or isinstance(h.type, ast.Tuple) and any(
                    isinstance(e, ast.Name) and e.id in ("ImportError", "ModuleNotFoundError")
                    for e in h.type.elts)
                for h in node.handlers):
            for stmt in node.body:
                guarded.update(n for n in ast.walk(stmt)
                               if isinstance(n, (ast.Import, ast.ImportFrom)))
    return guarded


def _function_level_imports(tree: ast.AST) -> set:
    """Imports inside function bodies."""
    inner = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            inner.update(n for n in ast.walk(node) if isinstance(n, (ast.Import, ast.ImportFrom)))
    return inner


def test_no_ros_import_outside_nodes(repo_root):
    offenders = []
    for path in sorted((repo_root / "reactface_ros").rglob("*.py")):
        rel = path.relative_to(repo_root).as_posix()
        if rel.startswith("reactface_ros/nodes/"):
            continue
        tree = ast.parse(path.read_text(), filename=rel)
        guarded = _guarded_imports(tree)
        if rel.startswith("reactface_ros/commands/"):
            # Command-line entry points that drive a ROS graph import ROS when they run,
            # never at module level, so `reactface --help` and the other commands work without.
            guarded |= _function_level_imports(tree)
        for node in ast.walk(tree):
            if node in guarded:
                continue
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            for name in names:
                if name.split(".")[0] in ROS_MODULES or name.startswith("reactface_ros.msg") \
                        or name.startswith("reactface_ros.nodes"):
                    offenders.append(f"{rel}:{node.lineno} imports {name}")
    assert offenders == [], "core modules must not import ROS:\n" + "\n".join(offenders)
