"""PNG plots of an evaluation: reaction curves, sample spread, metric bars and contingency."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from reactface_ros.constants import BLENDSHAPE_INDEX, FPS
from reactface_ros.evaluate.scoring import METRICS_3DMM

#: Channels drawn in the reaction curves: (label, coefficient indices averaged).
CURVE_CHANNELS = (
    ("smile", (BLENDSHAPE_INDEX["mouthSmileLeft"], BLENDSHAPE_INDEX["mouthSmileRight"])),
    ("jawOpen", (BLENDSHAPE_INDEX["jawOpen"],)),
    ("browInnerUp", (BLENDSHAPE_INDEX["browInnerUp"],)),
    ("head pitch", (52,)),
)


def _channel(x: np.ndarray, idx) -> np.ndarray:
    return np.asarray(x)[..., list(idx)].mean(-1)


def write_plots(out: Path, methods: dict[str, np.ndarray], listeners: np.ndarray,
                speakers: np.ndarray, scores: dict, clips: int = 3) -> list[str]:
    """Write ``reaction_curves.png``, ``sample_spread.png`` and ``metric_bars.png``.

    Parameters
    ----------
    out : Path
        Output folder.
    methods : dict
        Method name -> ``(N, M, T, 58)`` reactions; the first entry is the model.
    listeners, speakers : np.ndarray
        ``(N, T, 58)`` real listener reactions and speakers.
    scores : dict
        Method name -> :func:`~reactface_ros.evaluate.scoring.score_reactions` output.
    clips : int
        Rows drawn in the reaction curves (spread over the split).

    Returns
    -------
    list of str
        File names written.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out)
    name, pred = next(iter(methods.items()))
    n, m, t, _ = pred.shape
    time_s = np.arange(t) / FPS
    written = []

    rows = np.unique(np.linspace(0, n - 1, max(1, min(clips, n))).round().astype(int))
    fig, axes = plt.subplots(len(rows), len(CURVE_CHANNELS), squeeze=False,
                             figsize=(3.6 * len(CURVE_CHANNELS), 2.4 * len(rows)))
    for r, k in enumerate(rows):
        for c, (label, idx) in enumerate(CURVE_CHANNELS):
            ax = axes[r, c]
            for i in range(m):
                ax.plot(time_s, _channel(pred[k, i], idx), color="tab:blue", lw=0.6, alpha=0.5,
                        label="generated" if i == 0 else None)
            ax.plot(time_s, _channel(listeners[k], idx), color="black", lw=1.2,
                    label="real listener")
            ax.plot(time_s, _channel(speakers[k], idx), color="tab:orange", lw=0.9, ls="--",
                    label="speaker")
            ax.set_title(f"row {k}: {label}", fontsize=8)
            ax.tick_params(labelsize=7)
    axes[0, 0].legend(fontsize=6)
    for ax in axes[-1]:
        ax.set_xlabel("s", fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "reaction_curves.png", dpi=90)
    plt.close(fig)
    written.append("reaction_curves.png")

    fig, ax = plt.subplots(figsize=(7, 3))
    for label, p in methods.items():
        spread = p.std(axis=1).mean(axis=-1)            # (N, T): std over samples
        ax.plot(time_s, spread.mean(0), lw=1, label=label)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("std over samples")
    ax.set_title(f"Sample spread (M = {m}), mean over rows and coefficients", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "sample_spread.png", dpi=90)
    plt.close(fig)
    written.append("sample_spread.png")

    names = list(scores)
    fig, axes = plt.subplots(1, len(METRICS_3DMM), figsize=(3.0 * len(METRICS_3DMM), 3.2))
    for ax, (metric, up) in zip(axes, METRICS_3DMM):
        vals = [scores[x]["3dmm"][metric] for x in names]
        colors = ["tab:blue" if x == name else "tab:gray" for x in names]
        ax.bar(range(len(names)), vals, color=colors)
        ax.set_xticks(range(len(names)))
        ax.set_xticklabels([x.split(" (")[0] for x in names], rotation=45, ha="right",
                           fontsize=7)
        ax.set_title(f"{metric} {'(higher better)' if up else '(lower better)'}", fontsize=8)
        ax.tick_params(axis="y", labelsize=7)
    fig.tight_layout()
    fig.savefig(out / "metric_bars.png", dpi=90)
    plt.close(fig)
    written.append("metric_bars.png")
    return written


def _fmt(v, spec: str = ".2f") -> str:
    return "n/a" if v is None else format(v, spec)


def write_contingency_plot(out: Path, report: dict, methods: dict[str, np.ndarray],
                           listeners: np.ndarray, speakers: np.ndarray, speech: list,
                           clips: int = 3) -> str:
    """Write ``contingency.png``: whether the model's best sample reacts to the speaker.

    For a few speaker sessions (spread over the split): the speaker's smile with the smile of
    the model's best sample and of the real listener, and the head pitch (minus its mean) of
    the best sample and of the real listener with the speaker's pauses shaded.

    Parameters
    ----------
    out : Path
        Output folder.
    report : dict
        The ``contingency`` section (:func:`~reactface_ros.evaluate.contingency.
        contingency_report`).
    methods : dict
        Method name -> ``(N, M, T, 58)`` reactions; the first entry is the model.
    listeners, speakers : np.ndarray
        ``(N, T, 58)`` real listener reactions and speakers.
    speech : list of np.ndarray
        ``(N,)`` per-row ``(T,)`` bool speaker voice activity.
    clips : int
        Speaker sessions drawn (at least one).

    Returns
    -------
    str
        The file name written.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from reactface_ros.evaluate.contingency import pause_intervals, pitch, smile

    name, pred = next(iter(methods.items()))
    sessions = report["methods"][name]["speakers"]
    reference = {s["speaker"]: s for s in report["methods"].get(
        "Real listener (reference)", {}).get("speakers", [])}
    pick = np.unique(np.linspace(0, len(sessions) - 1, max(1, min(clips, len(sessions))))
                     .round().astype(int))
    time_s = np.arange(pred.shape[2]) / FPS
    fig, axes = plt.subplots(len(pick), 2, squeeze=False, figsize=(11, 2.5 * len(pick)))
    for r, j in enumerate(pick):
        sess = sessions[j]
        best = sess["best"]
        k, i = best["row"], best["sample"]
        real = reference.get(sess["speaker"], {}).get("best", {})
        kr = real.get("row", k)
        ax = axes[r, 0]
        ax.plot(time_s, smile(speakers[k]), color="tab:orange", lw=1.0, ls="--",
                label="speaker")
        ax.plot(time_s, smile(pred[k, i]), color="tab:blue", lw=1.1,
                label=f"best sample ({i})")
        ax.plot(time_s, smile(listeners[kr]), color="black", lw=0.8, alpha=0.7,
                label="real listener")
        ax.set_title(f"{sess['speaker']}: smile r {_fmt(best['smile_r'])} at "
                     f"{_fmt(best['smile_lag_s'], '.1f')} s, control {_fmt(best['control'])}, "
                     f"amplitude {_fmt(best['amplitude'])} (real r {_fmt(real.get('smile_r'))})",
                     fontsize=7)
        ax = axes[r, 1]
        for q, (a, b) in enumerate(pause_intervals(speech[k])):
            ax.axvspan(a / FPS, b / FPS, color="0.85", lw=0,
                       label="speaker pause" if q == 0 else None)
        pb, pr = pitch(pred[k, i]), pitch(listeners[kr])
        ax.plot(time_s, pb - pb.mean(), color="tab:blue", lw=1.1, label="best sample")
        ax.plot(time_s, pr - pr.mean(), color="black", lw=0.8, alpha=0.7,
                label="real listener")
        ax.set_title(f"head pitch - mean (rad): nod ratio {_fmt(best['nod_ratio'])} "
                     f"(real {_fmt(real.get('nod_ratio'))})", fontsize=7)
        for ax in axes[r]:
            ax.tick_params(labelsize=7)
    axes[0, 0].legend(fontsize=6, loc="upper right")
    axes[0, 1].legend(fontsize=6, loc="upper right")
    for ax in axes[-1]:
        ax.set_xlabel("s", fontsize=7)
    fig.suptitle(f"Contingency of {name}: smile-back and nods in the speaker's pauses",
                 fontsize=9)
    fig.tight_layout()
    fig.savefig(Path(out) / "contingency.png", dpi=90)
    plt.close(fig)
    return "contingency.png"
