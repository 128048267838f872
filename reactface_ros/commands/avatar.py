"""``reactface avatar``: play a reaction file to a VMC avatar and/or Unreal Live Link."""
from __future__ import annotations

import argparse
import logging
import sys

from reactface_ros.constants import FPS, PERFECT_SYNC_CASES

_MAX_LISTED = 5


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the command's arguments."""
    parser.add_argument("--reactions", required=True,
                        help="reaction file (.npy/.npz) of shape (M, T, 58) or (T, 58)")
    parser.add_argument("--vmc", metavar="HOST:PORT", nargs="?", const="127.0.0.1:39539",
                        help="send to a VMC receiver (VSeeFace, VNyan, EVMC4U); "
                             "default 127.0.0.1:39539 when given without a value")
    parser.add_argument("--livelink", metavar="HOST:PORT", nargs="?", const="127.0.0.1:11111",
                        help="send Live Link Face packets to Unreal; "
                             "default 127.0.0.1:11111 when given without a value")
    parser.add_argument("--fps", type=float, default=FPS, help="playback rate (default 25)")
    parser.add_argument("--sample", type=int, default=0,
                        help="which of the M sampled reactions to play (default 0)")
    parser.add_argument("--loop", type=int, default=1,
                        help="play the reaction this many times (0: until interrupted)")
    parser.add_argument("--reference", choices=("frontal", "mean"), default="frontal",
                        help="head pose shown as 'straight ahead': the frontal pose or the "
                             "reaction's mean pose (default frontal)")
    parser.add_argument("--mirror", action="store_true",
                        help="drive the avatar as a mirror image: swap left/right blendshapes, "
                             "flip head yaw and roll")
    parser.add_argument("--no-head", action="store_true", help="send blendshapes only")
    parser.add_argument("--send-translation", action="store_true",
                        help="also send head translation offsets (VMC head bone position)")
    parser.add_argument("--name-case", choices=PERFECT_SYNC_CASES, default="upper",
                        help="VMC blendshape names: 'upper' = Perfect Sync clip names "
                             "(JawOpen, default), 'lower' = ARKit spelling (jawOpen)")
    parser.add_argument("--subject", default="ReactFaceListener",
                        help="Live Link subject name")
    parser.add_argument("--skip-invalid", action="store_true",
                        help="skip frames with NaN/Inf or absurd values instead of refusing "
                             "the file")


def run(args: argparse.Namespace) -> int:
    """Validate the file, open the senders, play in real time and print the counters."""
    from reactface_ros.avatar import (HeadPoseConfig, LiveLinkConfig, LiveLinkSender, VmcConfig,
                                      VmcSender, invalid_frames, load_reactions,
                                      parse_host_port, play_reaction)
    from reactface_ros.avatar.head_pose import mean_reference

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if not args.vmc and not args.livelink:
        print("error: give --vmc HOST:PORT and/or --livelink HOST:PORT", file=sys.stderr)
        return 2
    if not args.fps > 0 or args.loop < 0:
        print(f"error: --fps must be > 0 and --loop >= 0, got {args.fps} and {args.loop}",
              file=sys.stderr)
        return 2
    try:
        reactions = load_reactions(args.reactions)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    n_samples, n_frames = reactions.shape[:2]
    if not 0 <= args.sample < n_samples:
        print(f"error: --sample {args.sample} out of range: the file has {n_samples} "
              f"sample(s) (0..{n_samples - 1})", file=sys.stderr)
        return 2
    frames = reactions[args.sample]
    problems = [p for p in invalid_frames(reactions) if p.sample == args.sample]
    if problems:
        listed = "\n  ".join(str(p) for p in problems[:_MAX_LISTED])
        more = f"\n  ... and {len(problems) - _MAX_LISTED} more" if len(
            problems) > _MAX_LISTED else ""
        verdict = ("skipping them" if args.skip_invalid
                   else "refusing to play (use --skip-invalid to skip them)")
        print(f"{len(problems)} invalid frame(s) in sample {args.sample}, {verdict}:\n  "
              f"{listed}{more}", file=sys.stderr)
        if not args.skip_invalid:
            return 2
    bad = {p.frame for p in problems}
    valid = frames[[i for i in range(n_frames) if i not in bad]]
    pose = mean_reference(valid) if args.reference == "mean" and len(valid) else HeadPoseConfig()
    pose.send_translation = args.send_translation

    senders = []
    try:
        if args.vmc:
            host, port = parse_host_port(args.vmc, 39539)
            senders.append(VmcSender(host, port, VmcConfig(
                name_case=args.name_case, send_head=not args.no_head, head_pose=pose,
                mirror=args.mirror)))
        if args.livelink:
            host, port = parse_host_port(args.livelink, 11111)
            senders.append(LiveLinkSender(host, port, LiveLinkConfig(
                subject_name=args.subject, fps=max(1, round(args.fps)),
                send_head=not args.no_head, head_pose=pose, mirror=args.mirror)))
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        for sender in senders:
            sender.close()
        return 2

    print(f"playing sample {args.sample}: {n_frames} frames at {args.fps:g} fps "
          f"({n_frames / args.fps:.1f} s) to " + ", ".join(
              f"{type(s).__name__} {s.address[0]}:{s.address[1]}" for s in senders))
    loops = 0
    nobody = False
    try:
        while args.loop == 0 or loops < args.loop:
            report = play_reaction(frames, senders, fps=args.fps)
            loops += 1
            print(f"pass {loops}: played {report.played}/{report.frames} frames in "
                  f"{report.duration_s:.2f} s, {report.skipped_late} skipped (late)")
    except KeyboardInterrupt:
        print("interrupted")
    finally:
        for sender in senders:
            sender.send_rest()  # leave the avatar with a calm face, not the last expression
            stats = sender.stats
            if stats.refused:                    # already said once by the sender
                nobody = True
                sender.close()
                continue
            print(f"{type(sender).__name__}: sent={stats.sent} dropped={stats.dropped} "
                  f"errors={stats.errors} rejected={stats.rejected} clamped={stats.clamped}"
                  + (f" last_error={stats.last_error!r}" if stats.last_error else ""))
            sender.close()
    return 1 if nobody else 0
