"""The Markdown table of an evaluation (``metrics.md``)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from reactface_ros.evaluate.scoring import METRICS_3DMM, METRICS_EMOTION


def _table(scores: dict[str, dict], space: str, metrics) -> list[str]:
    head = "| Method | " + " | ".join(f"{m} {'↑' if up else '↓'}" for m, up in metrics) + " |"
    lines = [head, "|---|" + "---:|" * len(metrics)]
    for name, values in scores.items():
        cells = [f"{values[space][m]:.4g}" if m in values[space] else "n/a" for m, _ in metrics]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def markdown_report(result: dict[str, Any]) -> str:
    """The report text: set-up, both metric tables and the streaming speed."""
    scores = result["metrics"]
    s = result["streaming"]
    lines = [
        f"# Evaluation on the `{result['split']}` split",
        "",
        f"Checkpoint `{result['checkpoint']}`, {result['rows']} rows "
        f"({'mirrored pairs' if result.get('mirrored', True) else 'speaker -> listener only'}), "
        f"{result['frames']} frames each, M = {result['num_samples']} samples per speaker, "
        f"seed {result['seed']}. The model's reactions come from the streaming engine "
        f"(`ReactionStream`, {s['real_time_factor']:.1f}x real time over {s['clips']} speaker "
        f"clips).",
        "",
        "## 3DMM (ReactFace repository convention)",
        "",
        f"{result['conventions']['3dmm']}. FRSyn scores every sample (frames, lower is "
        f"better).",
        "",
        *_table(scores, "3dmm", METRICS_3DMM),
        "",
        "## Emotion (REACT challenge convention)",
        "",
        f"{result['conventions']['emotion']}.",
        "",
        *_table(scores, "emotion", METRICS_EMOTION),
    ]
    if result.get("notes"):
        lines += ["", *[f"- {note}" for note in result["notes"]]]
    return "\n".join(lines) + "\n"


def write_report(result: dict[str, Any], path: str | Path) -> Path:
    """Write :func:`markdown_report` to ``path``."""
    p = Path(path)
    p.write_text(markdown_report(result), encoding="utf-8")
    return p
