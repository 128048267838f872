"""``reactface check``: report what this installation can do, and why not when it cannot."""
from __future__ import annotations

import argparse
import importlib


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the command's arguments (none)."""


def _probe(module: str) -> str:
    try:
        mod = importlib.import_module(module)
    except Exception as exc:  # report any import failure, whatever its type
        return f"MISSING ({type(exc).__name__}: {exc})"
    return f"ok ({getattr(mod, '__version__', 'no version')})"


def run(args: argparse.Namespace) -> int:
    """Print one line per capability; exit 1 when the core itself cannot be imported."""
    core_ok = True
    for module in ("numpy", "torch", "cv2", "mediapipe", "av", "moderngl", "pythonosc",
                   "safetensors", "transformers", "rclpy", "reactface_ros.msg"):
        status = _probe(module)
        print(f"{module:20s} {status}")
        if module in ("numpy", "torch") and status.startswith("MISSING"):
            core_ok = False
    return 0 if core_ok else 1
