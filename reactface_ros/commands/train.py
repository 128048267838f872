"""``reactface train``: train ReactFace from a YAML config (single process or ``torchrun``)."""
from __future__ import annotations

import argparse
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the command's arguments."""
    parser.add_argument("--config", required=True,
                        help="training config YAML (e.g. config/train/cpu_default.yaml)")
    parser.add_argument("--data-root", help="dataset root (overrides data_root in the config)")
    parser.add_argument("--out", help="run folder (default runs/<name>)")
    parser.add_argument("--resume", action="store_true",
                        help="continue from <out>/checkpoints/last")
    parser.add_argument("--epochs", type=int, help="override epochs")
    parser.add_argument("--max-steps", type=int, help="stop after this many steps")
    parser.add_argument("--seed", type=int, help="override seed")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), help="override device")
    parser.add_argument("--init-checkpoint",
                        help="fine-tune: start from this checkpoint's weights (overrides "
                             "init_checkpoint in the config)")
    parser.add_argument("--speaker-to-listener", action="store_true",
                        help="train only on the listed speaker -> listener rows (mirror: false)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    """Train; return 1 with a one-line message for a bad config or dataset."""
    from reactface_ros.data import DatasetLayoutError
    from reactface_ros.train import TrainConfigError, load_train_config, train
    from reactface_ros.model.checkpoint import CheckpointError
    from reactface_ros.train.checkpointing import TrainingCheckpointError
    from reactface_ros.train.features import SpeakerVideoError

    try:
        config = load_train_config(args.config, data_root=args.data_root, epochs=args.epochs,
                                   max_steps=args.max_steps, seed=args.seed,
                                   device=args.device, init_checkpoint=args.init_checkpoint,
                                   mirror=False if args.speaker_to_listener else None,
                                   progress=False if args.no_progress else None)
        result = train(config, args.out, resume=args.resume)
    except (TrainConfigError, TrainingCheckpointError, DatasetLayoutError,
            FileNotFoundError, FloatingPointError, CheckpointError, SpeakerVideoError) as exc:
        print(f"reactface train: {exc}", file=sys.stderr)
        return 1
    if result.best_val is not None:
        print(f"best validation loss {result.best_val:.4f}")
    print(f"trained {result.steps} steps ({result.epochs} epochs); checkpoints in "
          f"{result.run_dir / 'checkpoints'}")
    return 0
