"""``reactface bag-repair IN.mcap OUT.mcap``: an indexed copy of a damaged recording.

A recording that was killed has no summary or footer (and maybe a half-written last record):
``rosbags``, ``ros2 bag`` and seeking MCAP readers refuse it. This copies every complete record
into a new, indexed file (written atomically; the input is never changed). The ``mcap`` CLI
does the same with ``mcap recover IN.mcap -o OUT.mcap``.
"""
from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the command's arguments."""
    parser.add_argument("bag", type=Path, help="the damaged (or any) MCAP file")
    parser.add_argument("out", type=Path, help="the indexed copy to write")


def run(args: argparse.Namespace) -> int:
    """Copy the readable records of ``bag`` into ``out``."""
    from reactface_ros.bag_io import repair_bag, resolve_bag_path

    try:
        if args.out.exists() and resolve_bag_path(args.bag).resolve() == args.out.resolve():
            print(f"error: OUT must differ from the input {args.bag}")
            return 2
        report = repair_bag(args.bag, args.out)
    except (FileNotFoundError, ValueError, OSError) as exc:
        print(f"error: {exc}")
        return 1
    state = "the whole file" if report.complete else f"up to the damage ({report.error})"
    print(f"wrote {args.out}: {report.messages} messages, indexed; read {state}")
    return 0
