"""Evaluate a checkpoint with the streaming engine, next to the paper's baselines.

For every row of a split, the speaker's audio and face input are pushed frame by frame into a
:class:`reactface_ros.streaming.ReactionStream` (M samples, offline replay), exactly as the live
system receives them; the generated ``(N, M, T, 58)`` reactions and the baselines' are scored
by :func:`~reactface_ros.evaluate.scoring.score_reactions`, their contingency (smile-back and
nods in pauses, :mod:`reactface_ros.evaluate.contingency`) is measured, and ``metrics.json``,
``metrics.md`` and PNG plots are written.
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from reactface_ros.constants import FPS, NUM_BLENDSHAPES, SAMPLES_PER_FRAME
from reactface_ros.evaluate.baselines import (BASELINE_NAMES, TrainingReference,
                                              audio_descriptor, mirror_baseline,
                                              motion_descriptor, random_baseline,
                                              retrieval_baseline)
from reactface_ros.evaluate.scoring import score_partition, score_reactions

MODEL_NAME = "ReactFace (streaming)"
#: The row's own real listener reaction repeated M times: the ceiling of FRCorr and the
#: synchrony of real reactions (FRSyn), for reference.
REFERENCE_NAME = "Real listener (reference)"
#: Every real reaction appropriate to the row's speaker (the neighbour matrix): contingency only.
APPROPRIATE_NAME = "Real appropriate listeners"


@dataclass
class EvaluationConfig:
    """What :func:`evaluate_checkpoint` scores and writes.

    Attributes
    ----------
    split : str
        Split to score.
    num_samples : int
        M reactions per speaker (10 in the challenge).
    seed : int
        Sampling seed (row k's stream uses ``seed + k``).
    layout : str
        Dataset layout (``"auto"``, ``"reactface"``, ``"challenge"``).
    train_split : str
        Split the Random / NN baselines learn from (and contingency control speakers come
        from).
    reference_root : str or None
        Dataset root of ``train_split`` (default: the evaluated dataset). Point it at the data
        the model was trained on to score a held-out data set with baselines that know what
        the model knows.
    mirror : bool
        Score the mirrored rows (both layouts' convention); ``False`` scores only the ``P``
        speaker -> listener rows as listed (and the baselines learn from those rows only).
    baselines : bool
        Score the baselines (and the real listener reaction as a reference row) too.
    fr_dist : bool
        Compute FRDist (DTW; the slowest metric).
    max_rows : int or None
        Score only the first rows (quick checks).
    plots : bool
        Write the PNG plots.
    plot_clips : int
        Clips drawn in the reaction-curve plot (and speaker sessions in the contingency plot).
    contingency : bool
        Measure smile-back and nods in pauses (the ``contingency`` section).
    anchor : str
        Models with ``output: anchored``: the listener face each row's reactions move around.
        ``listener`` (default): the row's listener's resting face, as the embodied listener
        knows its own face; the Random / NN / Mirror baselines' reactions are then moved onto
        the same resting face (their motion, that face as rest), so every method gets the
        same knowledge. ``neutral``: the neutral face for the model, baselines as retrieved.
    motion_gain : float or None
        Override the checkpoint's ``motion_gain`` (how expressive the model's reactions are;
        ``None``: the checkpoint's).
    face_feature_dir : str or None
        Face-feature cache folder (default ``<root>/face_features``).
    device : str
        Torch device for the model.
    progress : bool
        Show a progress bar.
    """

    split: str = "val"
    num_samples: int = 10
    seed: int = 0
    layout: str = "auto"
    train_split: str = "train"
    reference_root: str | None = None
    mirror: bool = True
    baselines: bool = True
    fr_dist: bool = True
    max_rows: int | None = None
    plots: bool = True
    plot_clips: int = 3
    contingency: bool = True
    anchor: str = "listener"
    motion_gain: float | None = None
    face_feature_dir: str | None = None
    device: str = "cpu"
    progress: bool = True

    def __post_init__(self) -> None:
        """Check values where the config is made."""
        if not isinstance(self.num_samples, int) or self.num_samples < 1:
            raise ValueError(f"num_samples must be a positive integer, got {self.num_samples!r}")
        if self.max_rows is not None and self.max_rows < 1:
            raise ValueError(f"max_rows must be >= 1 or None, got {self.max_rows}")
        if self.seed < 0 or self.plot_clips < 0:
            raise ValueError("seed and plot_clips must be >= 0")
        if self.anchor not in ("listener", "neutral"):
            raise ValueError(f"anchor must be 'listener' or 'neutral', got {self.anchor!r}")


def stream_clip(model, audio: np.ndarray, face: np.ndarray, num_samples: int,
                seed: int, listener_face: np.ndarray | None = None) -> np.ndarray:
    """Generate reactions for one speaker clip through :class:`ReactionStream`.

    Parameters
    ----------
    model : ReactFace
        The model (eval mode).
    audio : np.ndarray
        ``(T * 640,)`` float32 speaker audio at 16 kHz.
    face : np.ndarray
        ``(T, 59)`` face features or ``(T, 3, S, S)`` uint8 crops.
    num_samples, seed : int
        M and the stream's seed.
    listener_face : np.ndarray, optional
        ``(58,)`` the listener's resting face (``output: anchored`` models).

    Returns
    -------
    np.ndarray
        ``(M, T, 58)`` float32 reactions.
    """
    from reactface_ros.streaming import ReactionStream

    stream = ReactionStream(model, num_samples=num_samples, seed=seed, max_lag_s=None,
                            listener_face=listener_face)
    t = len(face)
    w = model.config.window
    windows = []
    for f0 in range(0, t, w):
        f1 = min(t, f0 + w)
        windows += stream.push_audio(audio[f0 * SAMPLES_PER_FRAME:f1 * SAMPLES_PER_FRAME],
                                     16000, f0 / FPS)
        for f in range(f0, f1):
            windows += stream.push_face(face[f], f / FPS)
    windows += stream.flush()
    out = np.concatenate([win.reactions for win in windows], axis=1)
    if out.shape[1] != t:
        raise RuntimeError(f"the stream returned {out.shape[1]} frames for {t} input frames")
    return out


def _face_input(dataset, clip: str, face_encoder: str, crop_size: int) -> np.ndarray:
    from reactface_ros.train.features import crop_cache_path

    path = dataset.face_features_path(clip)
    if face_encoder == "conv3d":
        path = crop_cache_path(path, crop_size)
    return np.load(path, allow_pickle=False)


def evaluate_checkpoint(checkpoint: str | Path, data_root: str | Path, out: str | Path,
                        config: EvaluationConfig | None = None) -> dict[str, Any]:
    """Score a checkpoint (streaming) and the baselines on one split; write the report.

    Parameters
    ----------
    checkpoint : str or Path
        Model folder (``model.safetensors`` + ``config.json``).
    data_root : str or Path
        Dataset root.
    out : str or Path
        Output folder for ``metrics.json``, ``metrics.md`` and the plots.
    config : EvaluationConfig, optional
        Split, M, seed and what to include.

    Returns
    -------
    dict
        The content of ``metrics.json``.
    """
    import torch
    from tqdm import tqdm

    from reactface_ros.data import DatasetConfig, ReactionDataset
    from reactface_ros.evaluate.plots import write_plots
    from reactface_ros.evaluate.report import write_report
    from reactface_ros.model import ReactFace
    from reactface_ros.train.features import ensure_face_features

    cfg = config or EvaluationConfig()
    out = Path(out)
    model = ReactFace.from_pretrained(checkpoint, device=torch.device(cfg.device))
    if cfg.motion_gain is not None:
        model.set_motion_gain(cfg.motion_gain)
    mcfg = model.config
    ds = ReactionDataset(data_root, cfg.split, DatasetConfig(
        layout=cfg.layout, load_emotion=False, load_face_features=False, mirror=cfg.mirror,
        face_feature_dir=cfg.face_feature_dir))
    n = len(ds) if cfg.max_rows is None else min(cfg.max_rows, len(ds))
    rows = ds.rows[:n]
    crop = mcfg.crop_size if mcfg.face_encoder == "conv3d" else None
    ensure_face_features(ds.face_feature_jobs(), crop, progress=cfg.progress)
    t = min(ds.frame_count(k) for k in range(n))
    speakers = np.stack([np.asarray(ds.coefficients(r.speaker)[:t], np.float32) for r in rows])
    listeners = np.stack([np.asarray(ds.coefficients(r.listener)[:t], np.float32)
                          for r in rows])
    neighbours = ds.neighbours[:n, :n]
    audio = {}
    for r in rows:
        if r.speaker not in audio:
            a = ds.speaker_audio(r.speaker)[:t * SAMPLES_PER_FRAME]
            audio[r.speaker] = np.pad(a, (0, t * SAMPLES_PER_FRAME - len(a))).astype(np.float32)

    pred = np.empty((n, cfg.num_samples, t, speakers.shape[-1]), np.float32)
    done: dict[str, int] = {}
    start = time.monotonic()
    streamed_frames = 0
    anchored = mcfg.output == "anchored" and cfg.anchor == "listener"
    rests = resting_faces(listeners) if anchored else None
    if rests is not None:   # fitted 3DMM expressions can leave [0, 1]; an anchor may not
        rests[:, :NUM_BLENDSHAPES] = np.clip(rests[:, :NUM_BLENDSHAPES], 0.0, 1.0)
    for k, r in enumerate(tqdm(rows, desc="streaming", unit="clip", disable=not cfg.progress)):
        if r.speaker in done and not anchored:   # same input and seed: the same reactions
            pred[k] = pred[done[r.speaker]]
            continue
        face = _face_input(ds, r.speaker, mcfg.face_encoder, mcfg.crop_size)
        if len(face) < t:
            face = np.concatenate([face, np.repeat(face[-1:], t - len(face), axis=0)])
        pred[k] = stream_clip(model, audio[r.speaker], face[:t], cfg.num_samples,
                              cfg.seed + (done[r.speaker] if r.speaker in done else k),
                              None if rests is None else rests[k])
        done.setdefault(r.speaker, k)
        streamed_frames += t
    stream_seconds = time.monotonic() - start

    methods: dict[str, np.ndarray] = {MODEL_NAME: pred}
    notes = []
    if cfg.baselines:
        m = cfg.num_samples
        methods[BASELINE_NAMES["mirror"]] = mirror_baseline(speakers, m)
        try:
            train_ds = ReactionDataset(
                cfg.reference_root or data_root, cfg.train_split, DatasetConfig(
                    layout=cfg.layout, load_emotion=False, load_face_features=False,
                    mirror=cfg.mirror))
        except (FileNotFoundError, ValueError) as exc:
            notes.append(f"Random and NN baselines skipped: no {cfg.train_split} split ({exc})")
        else:
            ref = TrainingReference.from_dataset(train_ds)
            methods[BASELINE_NAMES["random"]] = random_baseline(ref, n, m, t, cfg.seed)
            q_motion = np.stack([motion_descriptor(s) for s in speakers])
            methods[BASELINE_NAMES["nn_motion"]] = retrieval_baseline(
                ref, q_motion, ref.motion, m, t)
            q_audio = np.stack([audio_descriptor(audio[r.speaker]) for r in rows])
            methods[BASELINE_NAMES["nn_audio"]] = retrieval_baseline(
                ref, q_audio, ref.audio, m, t)
        if anchored:
            for name in list(methods):
                methods[name] = move_to_rest(methods[name], rests)
            notes.append("every method reacts around the row listener's resting face: the "
                         "model gets it as its anchor, the baselines' reactions are moved "
                         "onto it (their motion, that face as rest)")
        methods[REFERENCE_NAME] = np.repeat(listeners[:, None], m, axis=1)
    halves = direction_rows(n, ds.layout.num_pairs if cfg.mirror else n)
    scores: dict[str, Any] = {}
    by_direction = None if halves is None else {d: {} for d in halves}
    for name, p in methods.items():
        if halves is None:
            scores[name] = score_reactions(p, listeners, speakers, neighbours, cfg.fr_dist)
            continue
        scores[name], parts = score_partition(p, listeners, speakers, neighbours,
                                              list(halves.values()), cfg.fr_dist)
        for direction, part in zip(halves, parts):
            by_direction[direction][name] = part
    spread = appropriate_spread(listeners, neighbours, rests)
    result: dict[str, Any] = {
        "checkpoint": str(checkpoint), "data_root": str(data_root), "split": cfg.split,
        "rows": n, "mirrored": cfg.mirror, "frames": t, "num_samples": cfg.num_samples,
        "seed": cfg.seed,
        "model_config": mcfg.to_dict(), "evaluation_config": asdict(cfg),
        "streaming": {"clips": len(done), "seconds": stream_seconds,
                      "frames_per_second": streamed_frames / max(stream_seconds, 1e-9),
                      "real_time_factor": streamed_frames / FPS / max(stream_seconds, 1e-9)},
        "conventions": {
            "3dmm": "ReactFace repository: 58-d FaceVerse coefficients, FRCorr x10 summed "
                    "over M (range [-10 M, 10 M])",
            "emotion": "REACT challenge: 25-d emotion derived from the coefficients with the "
                       "package's rules, FRCorr summed over M, weighted-DTW FRDist"},
        "notes": notes, "metrics": scores, "metrics_by_direction": by_direction,
        "appropriate_spread": spread}
    speech = None
    if cfg.contingency:
        speech, result["contingency"] = _contingency(
            methods, rows, speakers, listeners, audio, neighbours, ds.neighbours_source, t,
            _control_pool(cfg.reference_root or data_root, cfg))
        if mcfg.personas:
            result["contingency"]["personas"] = persona_summary(
                result["contingency"]["methods"][MODEL_NAME], mcfg.personas)
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps(result, indent=1) + "\n")
    write_report(result, out / "metrics.md")
    if cfg.plots:
        result["plots"] = write_plots(out, methods, listeners, speakers, scores,
                                      cfg.plot_clips)
        if speech is not None:
            from reactface_ros.evaluate.plots import write_contingency_plot

            result["contingency"]["plot"] = write_contingency_plot(
                out, result["contingency"], methods, listeners, speakers, speech,
                cfg.plot_clips)
        (out / "metrics.json").write_text(json.dumps(result, indent=1) + "\n")
    return result


#: Keys of ``metrics_by_direction``: the listed rows and the mirrored (roles swapped) rows.
DIRECTIONS = ("speaker_to_listener", "listener_to_speaker")


def direction_rows(num_rows: int, num_pairs: int) -> dict[str, np.ndarray] | None:
    """Row indices of the listed rows and of the mirrored rows (``num_pairs ..``).

    Mirrored rows ask for the *speaker's* behaviour as the reaction to the listener. On REACT
    data both people react to each other and both halves mean the same thing; on data where
    the speaker does not react to the listener (the synthetic sets: speakers are generated
    first and listeners react to them), the mirrored half measures chance only, and its spread
    can hide what the listed half shows, so ``metrics_by_direction`` scores them apart.
    ``None`` when every row is a listed row (nothing to split).
    """
    if num_pairs >= num_rows:
        return None
    return {DIRECTIONS[0]: np.arange(num_pairs), DIRECTIONS[1]: np.arange(num_pairs, num_rows)}


def resting_faces(reactions: np.ndarray) -> np.ndarray:
    """``(..., T, 58)`` reactions -> ``(..., 58)`` resting faces (the model's definition)."""
    import torch

    from reactface_ros.model.reactface import resting_face

    return resting_face(torch.from_numpy(np.ascontiguousarray(reactions, np.float32))).numpy()


def move_to_rest(reactions: np.ndarray, rests: np.ndarray) -> np.ndarray:
    """Move ``(N, M, T, 58)`` reactions onto the resting faces ``(N, 58)``.

    Each sample keeps its motion (itself minus its own resting face); blendshapes stay in
    [0, 1].
    """
    out = reactions - resting_faces(reactions)[:, :, None] + rests[:, None, None]
    out[..., :NUM_BLENDSHAPES] = np.clip(out[..., :NUM_BLENDSHAPES], 0.0, 1.0)
    return out.astype(np.float32)


def appropriate_spread(listeners: np.ndarray, neighbours: np.ndarray,
                       rests: np.ndarray | None = None) -> dict[str, Any]:
    """FRDiv among the real reactions appropriate to each row, the scale of FRDiv.

    For every row with at least two appropriate real reactions (the row's own listener and
    its neighbours), those reactions are taken as if they were M samples for that speaker
    (moved onto the row listener's resting face ``rests`` when given, as the anchored model
    and the baselines are) and their FRDiv computed in both conventions; returns the mean over
    rows (``None`` when no row has two), and ``rows``, how many rows counted. A model whose
    FRDiv is a good fraction of this produces different reactions about as far apart as two
    real appropriate listeners are.

    Parameters
    ----------
    listeners : np.ndarray
        ``(N, T, 58)`` real listener reactions of the rows.
    neighbours : np.ndarray
        ``(N, N)`` 0/1 appropriateness matrix.
    rests : np.ndarray, optional
        ``(N, 58)`` resting face of each row's listener.
    """
    from reactface_ros.evaluate.scoring import to_emotion
    from reactface_ros.metrics import fr_div

    a = (np.asarray(neighbours) > 0) | np.eye(len(listeners), dtype=bool)
    values: dict[str, list[float]] = {"3dmm": [], "emotion": []}
    for k in range(len(listeners)):
        idx = np.flatnonzero(a[k])
        if len(idx) < 2:
            continue
        group = listeners[idx][None].astype(np.float32)                 # (1, K, T, 58)
        if rests is not None:
            group = move_to_rest(group, rests[k:k + 1])
        values["3dmm"].append(fr_div(group))
        values["emotion"].append(fr_div(to_emotion(group)))
    out: dict[str, Any] = {space: (float(np.mean(v)) if v else None)
                           for space, v in values.items()}
    out["rows"] = len(values["3dmm"])
    return out


def persona_summary(model_contingency: dict[str, Any], personas: int) -> list[dict[str, Any]]:
    """What each persona slot tends to do: contingency of its samples, averaged over rows.

    Sample m of a row used slot ``m mod personas`` (the default sampling). Per slot: mean
    smile-back r, control, amplitude and nod ratio of its samples, and the fraction of its
    samples that smile back / nod (null values skipped).
    """
    keys = ("smile_r", "control", "amplitude", "nod_ratio")
    out = []
    for slot in range(personas):
        vals: dict[str, list[float]] = {k: [] for k in keys + ("smiles_back", "nods")}
        for row in model_contingency["rows"]:
            samples = row["samples"]
            for m in range(slot, len(samples["smile_r"]), personas):
                for k in vals:
                    v = samples[k][m]
                    if v is not None:
                        vals[k].append(float(v))
        out.append({"slot": slot, "samples": len(vals["smile_r"]),
                    **{k: (float(np.mean(v)) if v else None) for k, v in vals.items()}})
    return out


def _control_pool(data_root: str | Path, cfg: EvaluationConfig) -> dict[str, np.ndarray]:
    """Training-split speakers that fill a session's control: clip -> ``(T, 58)`` coefficients.

    Only the listed speakers (never a listener clip of a mirrored row), at most
    :data:`~reactface_ros.evaluate.contingency.MAX_CONTROL_SPEAKERS`, evenly spread; used
    when the evaluated split has too few unrelated speakers of its own.
    """
    from reactface_ros.data import open_layout
    from reactface_ros.data.layouts import load_coefficients
    from reactface_ros.evaluate.contingency import MAX_CONTROL_SPEAKERS

    if cfg.train_split == cfg.split and cfg.reference_root is None:
        return {}
    try:
        lay = open_layout(data_root, cfg.train_split, cfg.layout)
        clips = list(dict.fromkeys(r.speaker for r in lay.rows[:lay.num_pairs]))
        if not clips:
            return {}
        pick = np.unique(np.linspace(0, len(clips) - 1, min(len(clips), MAX_CONTROL_SPEAKERS))
                         .round().astype(int))
        return {clips[i]: np.asarray(load_coefficients(lay.coefficients_path(clips[i])),
                                     np.float32) for i in pick}
    except (FileNotFoundError, ValueError, OSError):
        return {}


def _contingency(methods: dict[str, np.ndarray], rows, speakers: np.ndarray,
                 listeners: np.ndarray, audio: dict[str, np.ndarray], neighbours: np.ndarray,
                 neighbours_source: str, t: int, control_pool: dict[str, np.ndarray]
                 ) -> tuple[list[np.ndarray], dict[str, Any]]:
    """Contingency of every method (and of the real appropriate reactions) on the rows.

    Returns the ``(N,)`` per-row ``(T,)`` speaker voice activity and the report section.
    """
    from reactface_ros.evaluate.contingency import contingency_report, voice_activity

    vad = {clip: voice_activity(a, t) for clip, a in audio.items()}
    speech = [vad[r.speaker] for r in rows]
    appropriate = [np.flatnonzero(neighbours[k]) for k in range(len(rows))]
    # A row's control speakers are unrelated to its session: not its speaker, its listener
    # or any listener appropriate to it (which, mirrored, are speakers of other rows).
    exclude = [{r.speaker, r.listener} | {rows[j].listener for j in appropriate[k]}
               for k, r in enumerate(rows)]
    # The reference row is M copies of one reaction: score it once.
    scored: dict[str, Any] = {name: listeners[:, None] if name == REFERENCE_NAME else p
                              for name, p in methods.items()}
    if (REFERENCE_NAME in methods and neighbours_source == "file"
            and all(len(a) for a in appropriate)):
        scored[APPROPRIATE_NAME] = [listeners[a] for a in appropriate]
    report = contingency_report(scored, speakers, speech, [r.speaker for r in rows], exclude,
                                control_pool)
    return speech, report
