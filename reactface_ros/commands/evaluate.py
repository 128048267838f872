"""``reactface evaluate``: score a checkpoint (streaming) and the baselines on a split."""
from __future__ import annotations

import argparse
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the command's arguments."""
    parser.add_argument("--checkpoint", required=True,
                        help="model folder (model.safetensors + config.json)")
    parser.add_argument("--data-root", required=True, help="dataset root")
    parser.add_argument("--split", default="val", help="split to score (default val)")
    parser.add_argument("--samples", type=int, default=10,
                        help="reactions per speaker, M (default 10)")
    parser.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")
    parser.add_argument("--out", required=True, help="output folder (metrics.json, metrics.md, "
                                                     "plots)")
    parser.add_argument("--speaker-to-listener", action="store_true",
                        help="score only the listed speaker -> listener rows (no mirrored rows)")
    parser.add_argument("--max-rows", type=int, help="score only the first rows")
    parser.add_argument("--no-baselines", action="store_true", help="skip the baselines")
    parser.add_argument("--no-fr-dist", action="store_true",
                        help="skip FRDist (DTW, the slowest metric)")
    parser.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    parser.add_argument("--no-contingency", action="store_true",
                        help="skip contingency (smile-back and nods in the speaker's pauses)")
    parser.add_argument("--reference-root", default=None,
                        help="dataset whose --reference-split the Random / NN baselines learn "
                             "from and contingency controls come from (default: --data-root); "
                             "give the model's training data to score a held-out data set")
    parser.add_argument("--reference-split", default="train",
                        help="split of the reference dataset (default train)")
    parser.add_argument("--anchor", choices=("listener", "neutral"), default="listener",
                        help="anchored models: react around each row listener's resting face "
                             "(default; the baselines are moved onto it too) or the neutral "
                             "face")
    parser.add_argument("--motion-gain", type=float, default=None,
                        help="how expressive the model's reactions are (anchored models; "
                             "default: the checkpoint's motion_gain)")
    parser.add_argument("--device", default="cpu", help="torch device (default cpu)")


def run(args: argparse.Namespace) -> int:
    """Evaluate; print the Markdown table; return 1 with a message on bad input."""
    from reactface_ros.data import DatasetLayoutError
    from reactface_ros.evaluate import EvaluationConfig, evaluate_checkpoint
    from reactface_ros.evaluate.report import markdown_report
    from reactface_ros.model.checkpoint import CheckpointError

    try:
        config = EvaluationConfig(split=args.split, num_samples=args.samples, seed=args.seed,
                                  max_rows=args.max_rows, mirror=not args.speaker_to_listener,
                                  baselines=not args.no_baselines,
                                  fr_dist=not args.no_fr_dist, plots=not args.no_plots,
                                  contingency=not args.no_contingency, device=args.device,
                                  train_split=args.reference_split,
                                  reference_root=args.reference_root, anchor=args.anchor,
                                  motion_gain=args.motion_gain)
        result = evaluate_checkpoint(args.checkpoint, args.data_root, args.out, config)
    except (CheckpointError, DatasetLayoutError, FileNotFoundError, ValueError) as exc:
        print(f"reactface evaluate: {exc}", file=sys.stderr)
        return 1
    print(markdown_report(result))
    if "contingency" in result:
        from reactface_ros.evaluate.contingency import summary_line

        for name, m in result["contingency"]["methods"].items():
            print(summary_line(name, m["summary"]))
    print(f"wrote {args.out}/metrics.json, metrics.md and plots")
    return 0
