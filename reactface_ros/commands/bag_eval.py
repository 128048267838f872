"""``reactface bag-eval SESSION.mcap --out DIR``: score a recorded session.

Reads an MCAP rosbag2 file (as written by the ``recorder`` node or ``ros2 bag record -s
mcap``) without ROS: messages are decoded from the definitions embedded in the file. Reports

* the REACT metrics of the recorded reactions (:mod:`reactface_ros.metrics`): FRSyn of every
  recorded sample against the speaker's face features (lower is better), FRDiv over the M
  samples and FRVar over time;
* end-to-end latency per speaker frame: the time the reaction reached the recorder minus the
  speaker frame's capture stamp (``header.stamp``), as p50 / p95 / max, for the reactions and
  for the rendered listener images when recorded;
* plots: latency over the session, and the listener's blendshape curves next to the speaker's.

Writes ``summary.json``, ``latency.png`` and ``curves.png`` into ``--out``.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from reactface_ros.atomic import write_json
from reactface_ros.constants import BLENDSHAPE_INDEX, NUM_BLENDSHAPES, NUM_COEFFS

REACTION_TOPIC = "/listener/reaction"
SAMPLES_TOPIC = "/listener/reaction_samples"
FACE_TOPIC = "/speaker/face_features"
IMAGE_TOPIC = "/listener/image"
PLOT_CURVES = ("jawOpen", "mouthSmileLeft", "browInnerUp", "eyeBlinkLeft")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the command's arguments."""
    parser.add_argument("bag", help="session MCAP file")
    parser.add_argument("--out", required=True, help="output directory")
    parser.add_argument("--reaction-topic", default=REACTION_TOPIC)
    parser.add_argument("--samples-topic", default=SAMPLES_TOPIC)
    parser.add_argument("--face-topic", default=FACE_TOPIC)
    parser.add_argument("--image-topic", default=IMAGE_TOPIC)
    parser.add_argument("--no-plots", action="store_true", help="skip the PNG plots")


def _ns(stamp) -> int:
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


def read_session(path: str | Path, topics: dict[str, str]) -> dict:
    """Decode the topics of interest from an MCAP file (intact, unindexed or truncated).

    Parameters
    ----------
    path : str or Path
        The ``.mcap`` file.
    topics : dict
        Role (``reaction``, ``samples``, ``face``, ``image``) -> topic name.

    Returns
    -------
    dict
        Role -> list of ``(log_time_ns, message)``; ``"topics"`` -> every topic with messages;
        ``"has_clock"`` -> whether ``/clock`` (simulated time) was recorded;
        ``"report"`` -> the :class:`~reactface_ros.bag_io.BagReport` (an unindexed or
        truncated file, e.g. a killed recording, is read by streaming).

    Raises
    ------
    FileNotFoundError, ValueError
        Missing file, or a file that is not MCAP.
    """
    from reactface_ros.bag_io import read_bag

    wanted = {name: role for role, name in topics.items()}
    out: dict = {role: [] for role in topics}
    messages, report = read_bag(path, list(wanted))
    for topic, log_time, msg in messages:
        out[wanted[topic]].append((log_time, msg))
    seen = {t for t, n in report.topic_counts.items() if n}
    out["report"] = report
    out["topics"] = sorted(seen)
    out["has_clock"] = "/clock" in seen
    return out


def latency_stats(latencies_s: np.ndarray) -> dict:
    """``count``, ``p50_ms``, ``p95_ms``, ``max_ms``, ``mean_ms`` of latencies in seconds."""
    if latencies_s.size == 0:
        return {"count": 0}
    ms = latencies_s * 1e3
    return {"count": int(ms.size), "p50_ms": float(np.percentile(ms, 50)),
            "p95_ms": float(np.percentile(ms, 95)), "max_ms": float(ms.max()),
            "mean_ms": float(ms.mean())}


def session_arrays(session: dict) -> dict:
    """Align the recorded streams by speaker frame index.

    Returns
    -------
    dict
        ``frames`` (T,) common frame indices; ``samples`` ``(M, T, 58)`` recorded reactions;
        ``speaker`` ``(T, 58)`` speaker features (blendshapes, rotation, translation);
        ``face_found`` (T,) bool; ``selected`` ``(T, 58)`` published reaction;
        ``reaction_latency_s`` / ``image_latency_s`` per message.
    """
    samples = {m.frame_index: m for _, m in session["samples"]}
    faces = {m.frame_index: m for _, m in session["face"]}
    selected = {m.frame_index: m for _, m in session["reaction"]}
    frames = np.array(sorted(set(samples) & set(faces)), dtype=np.int64)
    if samples and frames.size:
        m = int(samples[int(frames[0])].num_samples)
        frames = np.array([f for f in frames if samples[int(f)].num_samples == m], np.int64)
        pred = np.stack([np.asarray(samples[int(f)].coefficients, np.float32)
                         .reshape(m, NUM_COEFFS) for f in frames], axis=1)
    else:
        pred = np.zeros((0, 0, NUM_COEFFS), np.float32)
    speaker = np.stack([np.concatenate([np.asarray(faces[int(f)].blendshapes, np.float32),
                                        np.asarray(faces[int(f)].head_rotation, np.float32),
                                        np.asarray(faces[int(f)].head_translation, np.float32)])
                        for f in frames]) if frames.size else np.zeros((0, NUM_COEFFS))
    sel = np.stack([np.asarray(selected[int(f)].coefficients, np.float32) for f in frames
                    if int(f) in selected]) if selected else np.zeros((0, NUM_COEFFS))
    return {
        "frames": frames, "samples": pred, "speaker": speaker,
        "face_found": np.array([bool(faces[int(f)].face_found) for f in frames]),
        "selected": sel,
        "reaction_latency_s": np.array([(t - _ns(m.header.stamp)) / 1e9
                                        for t, m in session["reaction"]]),
        "reaction_frames": np.array([m.frame_index for _, m in session["reaction"]]),
        "image_latency_s": np.array([(t - _ns(m.header.stamp)) / 1e9
                                     for t, m in session["image"]]),
        "face_latency_s": np.array([(t - _ns(m.header.stamp)) / 1e9
                                    for t, m in session["face"]]),
    }


def session_metrics(arrays: dict) -> dict:
    """FRSyn / FRDiv / FRVar of the recorded samples (``None`` where undefined)."""
    pred = arrays["samples"]
    out: dict = {"frames": int(arrays["frames"].size),
                 "num_samples": int(pred.shape[0]) if pred.ndim == 3 else 0}
    try:
        from reactface_ros.metrics import fr_div, fr_syn, fr_var
    except ImportError as exc:  # metrics library not installed
        out["note"] = f"metrics unavailable: {exc}"
        return out
    t = pred.shape[1] if pred.ndim == 3 else 0
    batch = pred[None]  # (1, M, T, 58)
    out["FRDiv"] = float(fr_div(batch)) if t else None
    out["FRVar"] = float(fr_var(batch)) if t >= 2 else None
    max_lag = min(49, t - 2)
    if max_lag >= 1:
        out["FRSyn"] = float(fr_syn(batch, arrays["speaker"][None], max_lag=max_lag))
        out["FRSyn_max_lag"] = max_lag
    else:
        out["FRSyn"] = None
    return out


def write_plots(arrays: dict, out_dir: Path) -> list[str]:
    """``latency.png`` and ``curves.png``; returns the file names written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    lat = arrays["reaction_latency_s"] * 1e3
    if lat.size:
        fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.5))
        a.plot(arrays["reaction_frames"], lat, ".", ms=3, label="reaction")
        if arrays["image_latency_s"].size:
            a.plot(arrays["image_latency_s"] * 1e3, ".", ms=3, alpha=0.5,
                   label="rendered image (message order)")
        a.set_xlabel("speaker frame")
        a.set_ylabel("end-to-end latency (ms)")
        a.legend()
        b.hist(lat, bins=40)
        for q in (50, 95):
            b.axvline(np.percentile(lat, q), color="k", ls="--", lw=1)
        b.set_xlabel("latency (ms), p50 / p95 dashed")
        fig.tight_layout()
        fig.savefig(out_dir / "latency.png", dpi=100)
        plt.close(fig)
        written.append("latency.png")
    pred, speaker = arrays["samples"], arrays["speaker"]
    if pred.ndim == 3 and pred.shape[1]:
        names = list(PLOT_CURVES) + ["rotationX"]
        fig, axes = plt.subplots(len(names), 1, figsize=(10, 1.8 * len(names)), sharex=True)
        t = arrays["frames"]
        for ax, name in zip(axes, names):
            idx = BLENDSHAPE_INDEX[name] if name in BLENDSHAPE_INDEX else NUM_BLENDSHAPES
            for k in range(pred.shape[0]):
                ax.plot(t, pred[k, :, idx], color="tab:blue", alpha=0.25, lw=0.8)
            if arrays["selected"].shape[0] == t.size:
                ax.plot(t, arrays["selected"][:, idx], color="tab:blue", lw=1.5,
                        label="listener (published)")
            ax.plot(t, speaker[:, idx], color="tab:orange", lw=1.2, label="speaker")
            ax.set_ylabel(name, fontsize=8)
        axes[0].legend(fontsize=8, loc="upper right")
        axes[-1].set_xlabel("speaker frame")
        fig.tight_layout()
        fig.savefig(out_dir / "curves.png", dpi=100)
        plt.close(fig)
        written.append("curves.png")
    return written


def evaluate(bag: str | Path, out_dir: str | Path, topics: dict[str, str] | None = None,
             plots: bool = True) -> dict:
    """Evaluate one session bag; writes ``summary.json`` (+ plots) and returns the summary."""
    topics = topics or {"reaction": REACTION_TOPIC, "samples": SAMPLES_TOPIC,
                        "face": FACE_TOPIC, "image": IMAGE_TOPIC}
    session = read_session(bag, topics)
    if not session["samples"] or not session["face"]:
        missing = [topics[r] for r in ("samples", "face") if not session[r]]
        raise ValueError(f"{bag} has no messages on {', '.join(missing)} (topics in the bag: "
                         f"{', '.join(session['topics']) or 'none'}); record the session with "
                         "`reactface run --record` or the recorder node")
    arrays = session_arrays(session)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    frames = arrays["reaction_frames"]
    summary = {
        "bag": str(bag),
        "bag_read": {"indexed": session["report"].indexed,
                     "complete": session["report"].complete,
                     "messages": session["report"].messages,
                     "error": session["report"].error},
        "metrics": session_metrics(arrays),
        # Per stage, all from the speaker frame's capture stamp: face analysis done, reaction
        # published, listener rendered (the differences are each node's share).
        "latency": {"face_features": latency_stats(arrays["face_latency_s"]),
                    "reaction": latency_stats(arrays["reaction_latency_s"]),
                    "listener_image": latency_stats(arrays["image_latency_s"])},
        "clock": "simulated (/clock recorded)" if session["has_clock"] else "wall",
        "speaker_frames": len(session["face"]),
        "faces_found": int(arrays["face_found"].sum()),
        "reaction_frames": int(frames.size),
        "duplicate_reaction_frames": int(frames.size - np.unique(frames).size),
        "missing_reaction_frames": int(len({m.frame_index for _, m in session["face"]}
                                           - set(frames.tolist()))),
    }
    summary["plots"] = write_plots(arrays, out_dir) if plots else []
    write_json(out_dir / "summary.json", summary)
    return summary


def run(args: argparse.Namespace) -> int:
    """Evaluate the bag and print a short report."""
    topics = {"reaction": args.reaction_topic, "samples": args.samples_topic,
              "face": args.face_topic, "image": args.image_topic}
    try:
        summary = evaluate(args.bag, args.out, topics, plots=not args.no_plots)
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}")
        return 1
    m = summary["metrics"]
    if not summary["bag_read"]["indexed"]:
        from reactface_ros.bag_io import BagReport

        print("note: " + BagReport(Path(args.bag), **summary["bag_read"]).describe())

    def fmt(v):
        return "n/a" if v is None else f"{v:.4f}"

    print(f"{summary['reaction_frames']} reaction frames for {summary['speaker_frames']} speaker "
          f"frames ({summary['missing_reaction_frames']} missing), M = {m.get('num_samples')}")
    if "note" in m:
        print(m["note"])
    else:
        print(f"FRSyn {fmt(m['FRSyn'])} (lower is better)  FRDiv {fmt(m['FRDiv'])}  "
              f"FRVar {fmt(m['FRVar'])}")
    for stage, stats in summary["latency"].items():
        if stats.get("count"):
            print(f"latency from capture to {stage} ({summary['clock']} clock): p50 "
                  f"{stats['p50_ms']:.1f} ms, p95 {stats['p95_ms']:.1f} ms, max "
                  f"{stats['max_ms']:.1f} ms")
    print(f"wrote {Path(args.out) / 'summary.json'}"
          + "".join(f", {p}" for p in summary["plots"]))
    return 0
