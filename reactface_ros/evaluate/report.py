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


def _num(v, spec: str = ".2f") -> str:
    return "n/a" if v is None else format(v, spec)


def contingency_table(section: dict[str, Any]) -> list[str]:
    """Markdown lines of the contingency section: one row per method."""
    d = section["definitions"]
    lines = [
        "## Contingency (does the listener react to this speaker?)",
        "",
        f"Per speaker session, the best of its samples: smile-back r = {d['smile_r']}; "
        f"control = the same against other speakers (chance); amplitude = {d['amplitude']}; "
        f"nod ratio = {d['nod_ratio']}. A sample smiles back when r >= "
        f"{d['smile_r_threshold']}, r >= control + {d['smile_control_margin']} and amplitude "
        f">= {d['smile_amplitude_threshold']}; it nods when the ratio is >= "
        f"{d['nod_ratio_threshold']}. Sessions are unique speaker clips; \"both\" needs one "
        f"sample that does both. Means are over sessions (null values skipped).",
        "",
        "| Method | smile r (best) | control | amplitude | nod ratio | smile r (all samples) "
        "| sessions smile | sessions nod | sessions both |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, m in section["methods"].items():
        s = m["summary"]
        n = s["speakers"]
        lines.append(
            f"| {name} | {_num(s['best_smile_r'])} | {_num(s['best_control'])} | "
            f"{_num(s['best_amplitude'])} | {_num(s['best_nod_ratio'])} | {_num(s['smile_r'])} "
            f"| {s['speakers_smile']}/{n} | {s['speakers_nod']}/{n} | {s['speakers_both']}/{n} |")
    if section.get("personas"):
        lines += [
            "",
            "### Persona slots of the model",
            "",
            "Sample m uses slot m mod personas; per slot, the mean over its samples (all rows).",
            "",
            "| slot | samples | smile r | control | amplitude | nod ratio | smile back | nods |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for p in section["personas"]:
            lines.append(
                f"| {p['slot']} | {p['samples']} | {_num(p['smile_r'])} | {_num(p['control'])} "
                f"| {_num(p['amplitude'])} | {_num(p['nod_ratio'])} "
                f"| {_num(p['smiles_back'], '.0%')} | {_num(p['nods'], '.0%')} |")
    return lines


#: What each direction of ``metrics_by_direction`` holds.
DIRECTION_TITLES = {"speaker_to_listener": "listed rows (the listener reacts to the speaker)",
                    "listener_to_speaker": "mirrored rows (the speaker as the reaction)"}


def direction_table(by_direction: dict[str, dict[str, Any]]) -> list[str]:
    """Markdown lines: FRCorr and FRSyn of every method, per direction of the rows."""
    lines = [
        "## By direction",
        "",
        "The same metrics on the listed (speaker -> listener) rows and on the mirrored rows "
        "apart. Where speakers do not react to their listeners (synthetic data), the mirrored "
        "rows measure chance only.",
        "",
        "| Rows | Method | FRCorr 3DMM ↑ | FRSyn 3DMM ↓ | FRCorr emotion ↑ | FRSyn emotion ↓ |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for d, methods in by_direction.items():
        for name, v in methods.items():
            lines.append(
                f"| {DIRECTION_TITLES.get(d, d)} | {name} | {v['3dmm']['FRCorr']:.4g} | "
                f"{v['3dmm']['FRSyn']:.4g} | {v['emotion']['FRCorr']:.4g} | "
                f"{v['emotion']['FRSyn']:.4g} |")
    return lines


def markdown_report(result: dict[str, Any]) -> str:
    """The report text: set-up, both metric tables, the streaming speed and contingency."""
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
    if result.get("metrics_by_direction"):
        lines += ["", *direction_table(result["metrics_by_direction"])]
    spread = result.get("appropriate_spread") or {}
    if spread.get("rows"):
        lines += ["", f"FRDiv of the real reactions appropriate to a row, taken as its samples "
                  f"(mean over {spread['rows']} rows; the scale of FRDiv): "
                  f"{_num(spread['3dmm'], '.4g')} (3DMM), {_num(spread['emotion'], '.4g')} "
                  f"(emotion)."]
    if result.get("contingency"):
        lines += ["", *contingency_table(result["contingency"])]
    if result.get("notes"):
        lines += ["", *[f"- {note}" for note in result["notes"]]]
    return "\n".join(lines) + "\n"


def write_report(result: dict[str, Any], path: str | Path) -> Path:
    """Write :func:`markdown_report` to ``path``."""
    p = Path(path)
    p.write_text(markdown_report(result), encoding="utf-8")
    return p
