"""The ``reactface`` command line: one entry point, one module per sub-command.

Each sub-command lives in ``reactface_ros.commands.<name>`` and exposes
``add_arguments(parser)`` and ``run(args) -> int``; modules are imported only when their
command runs, so ``reactface --help`` stays fast and a missing optional dependency of one
command never breaks another.
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys

#: sub-command -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("reactface_ros.commands.demo",
             "the main job: the node graph on the bundled clip and weights, video + bag out"),
    "check": ("reactface_ros.commands.check", "check the installation (imports, messages, models)"),
    "avatar": ("reactface_ros.commands.avatar", "play a reaction to a VMC / Live Link avatar"),
    "train": ("reactface_ros.commands.train", "train ReactFace from a YAML config"),
    "evaluate": ("reactface_ros.commands.evaluate", "score a checkpoint and baselines"),
    "render": ("reactface_ros.commands.render", "render listener reactions side by side to mp4"),
    "run": ("reactface_ros.commands.run", "run the live ROS 2 node graph (microphone + camera)"),
    "bag-eval": ("reactface_ros.commands.bag_eval", "score a recorded session (metrics, latency)"),
    "bag-repair": ("reactface_ros.commands.bag_repair",
                   "write an indexed copy of an interrupted or truncated MCAP recording"),
    "synth": ("reactface_ros.commands.synth", "generate a synthetic dyadic reaction dataset"),
    "generate": ("reactface_ros.commands.generate", "generate reactions to a speaker video"),
}


def build_parser() -> argparse.ArgumentParser:
    """Build the top-level parser with every sub-command registered."""
    parser = argparse.ArgumentParser(prog="reactface", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module_name, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text)
        p.set_defaults(_module=module_name)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the ``reactface`` command line."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    # Parse the command name first, then let the command's own module add its arguments.
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in COMMANDS:
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help()
            return 2
    name = argv[0]
    module = importlib.import_module(COMMANDS[name][0])
    sub = argparse.ArgumentParser(prog=f"reactface {name}", description=COMMANDS[name][1])
    module.add_arguments(sub)
    args = sub.parse_args(argv[1:])
    from reactface_ros.atomic import terminate_as_exit

    terminate_as_exit()   # SIGTERM unwinds like Ctrl-C: partial outputs are cleaned up
    try:
        return int(module.run(args) or 0)
    except MemoryError as exc:
        print(f"error: out of memory ({exc or 'allocation failed'}); use smaller sizes "
              "(hidden_size, batch_size, --video-size)", file=sys.stderr)
        return 1
    except Exception as exc:  # a decoding or I/O error a command did not expect: one line
        if not _is_input_error(exc) or os.environ.get("REACTFACE_TRACEBACK"):
            raise
        print(f"error: {_describe(exc)}", file=sys.stderr)
        return 1


def _is_input_error(exc: BaseException) -> bool:
    """Errors caused by the user's files or values (not bugs): shown as one line."""
    try:
        import av

        if isinstance(exc, av.error.FFmpegError):
            return True
    except ImportError:
        pass
    return isinstance(exc, (OSError, EOFError))


def _describe(exc: BaseException) -> str:
    name = getattr(exc, "filename", None)
    reason = (getattr(exc, "strerror", None) or str(exc)).strip()
    if name:
        return f"cannot read {name}: {reason}; check that it is a complete, playable file"
    return reason


if __name__ == "__main__":
    sys.exit(main())
