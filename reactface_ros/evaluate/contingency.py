"""Contingency: does a listener react to *this* speaker? Smile-back and nods in pauses.

The challenge metrics score a reaction against real reactions; they do not say whether a
listener *responds* to what the speaker does. This module measures two responses directly,
in plain NumPy (no torch, no ROS), for any ``(M, T, 58)`` set of reactions:

* **Smile-back.** ``smile(t)`` is the mean of ``mouthSmileLeft`` and ``mouthSmileRight``.
  For one reaction sample, the best Pearson ``r(speaker_smile[t], listener_smile[t + lag])``
  over lags of :data:`MIN_LAG_S`..:data:`MAX_LAG_S` (the listener *follows* the speaker), the
  lag where it is best, and the amplitude ratio ``std(listener smile) / std(speaker smile)``.
  The **control** is the same best ``r`` against *other* speakers' smiles (chance level: the
  mean over the other speakers; the maximum is reported too). A sample smiles back when
  ``r >= 0.5``, ``r >= control + 0.2`` and the amplitude ratio is ``>= 0.3``.
* **Nods in pauses.** Pauses come from the speaker's audio (:func:`voice_activity`, frame RMS
  energy of the 640-sample frames against a threshold relative to the clip's loud frames).
  The nod ratio is the mean ``|d pitch|`` (frame-to-frame change of coefficient 52) in the
  :data:`NOD_WINDOW_S` after each pause onset over the mean ``|d pitch|`` during speech. A
  sample nods in pauses when the ratio is ``>= 1.5``. No pause onset (or no speech) gives NaN
  (``null`` in JSON).

A **session** is one speaker clip with its M samples. It passes smile-back (nods) when the
best of its samples does, i.e. any sample; it passes "both" when one sample does both. Its
reported *best sample* is one that smiles back and nods if any does, else one that passes more
of the two tests, ties broken by the higher smile-back ``r``. :func:`contingency_report`
scores every row of a split and every unique speaker clip (the rows of one speaker pooled) for
several methods at once.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from reactface_ros.constants import BLENDSHAPE_INDEX, FPS, ROTATION_SLICE, SAMPLES_PER_FRAME

#: Coefficients averaged into the smile track.
SMILE_INDICES = (BLENDSHAPE_INDEX["mouthSmileLeft"], BLENDSHAPE_INDEX["mouthSmileRight"])
#: Head pitch (rotation about x), the coefficient a nod moves.
PITCH_INDEX = ROTATION_SLICE.start
#: Lags searched for the smile-back correlation (listener after the speaker), seconds.
MIN_LAG_S = 0.2
MAX_LAG_S = 2.0
#: Length of the window after a pause onset in which nods are measured, seconds.
NOD_WINDOW_S = 1.2
#: Smile-back thresholds: r, margin over the control, amplitude ratio.
SMILE_R_THRESHOLD = 0.5
SMILE_CONTROL_MARGIN = 0.2
SMILE_AMPLITUDE_THRESHOLD = 0.3
#: A sample nods in pauses when its nod ratio is at least this.
NOD_RATIO_THRESHOLD = 1.5
#: Other speakers used as the control of one session (evenly spread over the candidates).
MAX_CONTROL_SPEAKERS = 8
#: Motion added to the speech-time ``|d pitch|`` so a still head gives a finite ratio.
NOD_EPS = 1e-6
#: Fewest overlapping frames a lagged correlation is computed on.
MIN_OVERLAP = 4


def smile(coefficients: np.ndarray) -> np.ndarray:
    """Smile track: ``(..., T, 58)`` coefficients -> ``(..., T)`` float64."""
    c = np.asarray(coefficients, dtype=np.float64)
    return c[..., list(SMILE_INDICES)].mean(-1)


def pitch(coefficients: np.ndarray) -> np.ndarray:
    """Head pitch track: ``(..., T, 58)`` coefficients -> ``(..., T)`` float64 radians."""
    return np.asarray(coefficients, dtype=np.float64)[..., PITCH_INDEX]


def _standardise(x: np.ndarray) -> np.ndarray:
    """``(..., n)`` -> zero mean, unit population std along the last axis; constant -> 0."""
    mean = x.mean(-1, keepdims=True)
    x = x - mean
    sd = np.sqrt(np.square(x).mean(-1, keepdims=True))
    ok = sd > 1e-9 * np.maximum(1.0, np.abs(mean))
    return np.where(ok, x / np.where(ok, sd, 1.0), 0.0)


def lagged_pearson(leader: np.ndarray, follower: np.ndarray, lags: Sequence[int]) -> np.ndarray:
    """Pearson ``r(leader[k, t], follower[m, t + lag])`` for every pair and lag.

    Parameters
    ----------
    leader : np.ndarray
        ``(K, T)`` sequences that lead (the speakers).
    follower : np.ndarray
        ``(M, T)`` sequences that follow (the listener samples).
    lags : sequence of int
        ``(L,)`` lags in frames (positive: the follower comes later).

    Returns
    -------
    np.ndarray
        ``(M, K, L)`` float64 correlations on the overlapping frames; 0 where either window
        is constant or the overlap is shorter than :data:`MIN_OVERLAP` frames.
    """
    a = np.atleast_2d(np.asarray(leader, dtype=np.float64))
    b = np.atleast_2d(np.asarray(follower, dtype=np.float64))
    t = min(a.shape[-1], b.shape[-1])
    a, b = a[:, :t], b[:, :t]
    out = np.zeros((len(b), len(a), len(lags)))
    for i, lag in enumerate(lags):
        lag = int(lag)
        n = t - abs(lag)
        if n < MIN_OVERLAP:
            continue
        x = a[:, :n] if lag >= 0 else a[:, -lag:]
        y = b[:, lag:] if lag >= 0 else b[:, :n]
        out[:, :, i] = _standardise(y) @ _standardise(x).T / n
    return np.clip(out, -1.0, 1.0)


def lag_frames(min_lag_s: float = MIN_LAG_S, max_lag_s: float = MAX_LAG_S,
               fps: float = FPS) -> np.ndarray:
    """``(L,)`` int lags in frames from ``min_lag_s`` to ``max_lag_s`` inclusive."""
    lo, hi = int(round(min_lag_s * fps)), int(round(max_lag_s * fps))
    if hi < lo:
        raise ValueError(f"max_lag_s {max_lag_s} is below min_lag_s {min_lag_s}")
    return np.arange(lo, hi + 1)


def best_lagged_r(leader: np.ndarray, follower: np.ndarray, min_lag_s: float = MIN_LAG_S,
                  max_lag_s: float = MAX_LAG_S,
                  fps: float = FPS) -> tuple[np.ndarray, np.ndarray]:
    """Best correlation of each follower with each leader over the follower-later lags.

    Parameters
    ----------
    leader : np.ndarray
        ``(K, T)`` speaker tracks.
    follower : np.ndarray
        ``(M, T)`` listener tracks.
    min_lag_s, max_lag_s : float
        Lag range (the listener delayed relative to the speaker), seconds.
    fps : float
        Frame rate.

    Returns
    -------
    r : np.ndarray
        ``(M, K)`` the maximum correlation over the lags (0 for constant input).
    lag_s : np.ndarray
        ``(M, K)`` the lag of that maximum, seconds (the smallest such lag on ties).
    """
    lags = lag_frames(min_lag_s, max_lag_s, fps)
    corr = lagged_pearson(leader, follower, lags)
    best = corr.argmax(-1)
    return np.take_along_axis(corr, best[..., None], -1)[..., 0], lags[best] / fps


def _std(x: np.ndarray) -> np.ndarray:
    """Population std along the last axis; 0 for a sequence constant up to rounding."""
    sd = x.std(-1)
    return np.where(sd > 1e-9 * np.maximum(1.0, np.abs(x.mean(-1))), sd, 0.0)


def amplitude_ratio(speaker_track: np.ndarray, listener_tracks: np.ndarray) -> np.ndarray:
    """``std(listener) / std(speaker)``: ``(T,)`` speaker, ``(M, T)`` listeners -> ``(M,)``.

    Both are trimmed to the shorter length; a constant speaker (or listener) gives 0.
    """
    s = np.asarray(speaker_track, dtype=np.float64)
    x = np.atleast_2d(np.asarray(listener_tracks, dtype=np.float64))
    t = min(len(s), x.shape[-1])
    sd = float(_std(s[:t]))
    if sd == 0.0:
        return np.zeros(len(x))
    return _std(x[:, :t]) / sd


def smile_back(speaker_smile: np.ndarray, sample_smiles: np.ndarray,
               control_smiles: np.ndarray | None = None, min_lag_s: float = MIN_LAG_S,
               max_lag_s: float = MAX_LAG_S, fps: float = FPS) -> dict[str, np.ndarray]:
    """Smile-back of M samples against their speaker, with the other-speaker control.

    Parameters
    ----------
    speaker_smile : np.ndarray
        ``(T,)`` the session's speaker smile.
    sample_smiles : np.ndarray
        ``(M, T)`` the samples' smiles.
    control_smiles : np.ndarray, optional
        ``(K, T)`` other speakers' smiles (unrelated to this session); every track is trimmed
        to the shortest length.
    min_lag_s, max_lag_s, fps : float
        Lag range and frame rate.

    Returns
    -------
    dict
        ``r``, ``lag_s``, ``amplitude``, ``control`` (mean over the K other speakers of the
        best r), ``control_max``: each ``(M,)`` float64; the controls are NaN when K = 0.
    """
    s = np.asarray(speaker_smile, dtype=np.float64)
    x = np.atleast_2d(np.asarray(sample_smiles, dtype=np.float64))
    c = (np.zeros((0, len(s))) if control_smiles is None
         else np.atleast_2d(np.asarray(control_smiles, dtype=np.float64)))
    t = min(len(s), x.shape[-1], c.shape[-1] if len(c) else len(s))
    s, x, c = s[:t], x[:, :t], c[:, :t]
    r, lag = best_lagged_r(s[None], x, min_lag_s, max_lag_s, fps)
    out = {"r": r[:, 0], "lag_s": lag[:, 0], "amplitude": amplitude_ratio(s, x)}
    if len(c):
        rc, _ = best_lagged_r(c, x, min_lag_s, max_lag_s, fps)
        out["control"], out["control_max"] = rc.mean(-1), rc.max(-1)
    else:
        out["control"] = out["control_max"] = np.full(len(x), np.nan)
    return out


def smiles_back(r: np.ndarray, control: np.ndarray, amplitude: np.ndarray) -> np.ndarray:
    """``(M,)`` bool: ``r >= 0.5``, ``r >= control + 0.2`` and amplitude ``>= 0.3``.

    An unknown control (NaN: no other speaker to compare with) never passes.
    """
    r, control, amplitude = (np.asarray(v, dtype=np.float64) for v in (r, control, amplitude))
    with np.errstate(invalid="ignore"):
        return ((r >= SMILE_R_THRESHOLD) & (r >= control + SMILE_CONTROL_MARGIN)
                & (amplitude >= SMILE_AMPLITUDE_THRESHOLD))


def frame_energy_db(audio: np.ndarray, num_frames: int | None = None,
                    samples_per_frame: int = SAMPLES_PER_FRAME) -> np.ndarray:
    """RMS energy in dB of consecutive audio frames.

    Parameters
    ----------
    audio : np.ndarray
        ``(S,)`` mono audio (16 kHz for the default frame size).
    num_frames : int, optional
        Frames to return (missing audio is silence); default ``S // samples_per_frame``.
    samples_per_frame : int
        Audio samples per video frame (640 at 16 kHz and 25 fps).

    Returns
    -------
    np.ndarray
        ``(num_frames,)`` float64 ``20 log10(rms + 1e-10)``.
    """
    a = np.asarray(audio, dtype=np.float64).reshape(-1)
    n = len(a) // samples_per_frame if num_frames is None else int(num_frames)
    a = np.pad(a[:n * samples_per_frame], (0, max(0, n * samples_per_frame - len(a))))
    rms = np.sqrt(np.square(a.reshape(n, samples_per_frame)).mean(1)) if n else np.zeros(0)
    return 20.0 * np.log10(rms + 1e-10)


def _runs(mask: np.ndarray) -> np.ndarray:
    """``(R, 2)`` ``[start, end)`` of the runs of True in a ``(T,)`` bool mask."""
    m = np.concatenate([[False], np.asarray(mask, dtype=bool), [False]])
    edges = np.flatnonzero(m[1:] != m[:-1])
    return edges.reshape(-1, 2)


def voice_activity(audio: np.ndarray, num_frames: int | None = None, fps: float = FPS,
                   samples_per_frame: int = SAMPLES_PER_FRAME, drop_db: float = 30.0,
                   floor_margin_db: float = 6.0, min_dynamic_range_db: float = 10.0,
                   silence_db: float = -80.0, min_pause_s: float = 0.3,
                   min_speech_s: float = 0.1, hangover_s: float = 0.08) -> np.ndarray:
    """Offline voice-activity estimate of a speaker clip, one value per video frame.

    A frame is loud when its RMS energy (:func:`frame_energy_db`) is above
    ``max(loud - drop_db, floor + floor_margin_db)``, where ``loud`` is the 95th and ``floor``
    the 10th percentile of the clip's frame energies. Loud runs shorter than ``min_speech_s``
    (clicks) are dropped, every speech run is extended by ``hangover_s`` (trailing soft
    sounds), and quiet gaps shorter than ``min_pause_s`` between speech are filled. A clip
    whose loud frames are below ``silence_db`` has no speech; one whose energies span less
    than ``min_dynamic_range_db`` is speech throughout (no pause can be told apart).

    Parameters
    ----------
    audio : np.ndarray
        ``(S,)`` speaker audio.
    num_frames : int, optional
        Frames of the clip (default ``S // samples_per_frame``).
    fps : float
        Frame rate (for the durations).
    samples_per_frame : int
        Audio samples per frame.
    drop_db, floor_margin_db, min_dynamic_range_db, silence_db : float
        Threshold settings, dB.
    min_pause_s, min_speech_s, hangover_s : float
        Smoothing durations, seconds.

    Returns
    -------
    np.ndarray
        ``(T,)`` bool, True while the speaker speaks.
    """
    db = frame_energy_db(audio, num_frames, samples_per_frame)
    t = len(db)
    if t == 0:
        return np.zeros(0, dtype=bool)
    loud, floor = np.percentile(db, 95), np.percentile(db, 10)
    if loud < silence_db:
        return np.zeros(t, dtype=bool)
    if loud - floor < min_dynamic_range_db:
        return np.ones(t, dtype=bool)
    active = db > max(loud - drop_db, floor + floor_margin_db)
    min_speech = max(1, int(round(min_speech_s * fps)))
    for a, b in _runs(active):
        if b - a < min_speech:
            active[a:b] = False
    speech = active.copy()
    hang = int(round(hangover_s * fps))
    for _, b in _runs(active):
        speech[b:b + hang] = True
    min_pause = max(1, int(round(min_pause_s * fps)))
    for a, b in _runs(~speech):
        if a > 0 and b < t and b - a < min_pause:
            speech[a:b] = True
    return speech


def pause_intervals(speech: np.ndarray, min_pause_s: float = 0.3,
                    fps: float = FPS) -> np.ndarray:
    """``(P, 2)`` int ``[start, end)`` frames of the pauses: silences after speech.

    A pause is a run of non-speech frames of at least ``min_pause_s`` that follows speech
    (the silence before the first word is not a pause; one cut by the clip's end counts when
    long enough).
    """
    s = np.asarray(speech, dtype=bool)
    min_pause = max(1, int(round(min_pause_s * fps)))
    runs = _runs(~s)
    keep = [(a, b) for a, b in runs if a > 0 and b - a >= min_pause]
    return np.asarray(keep, dtype=np.int64).reshape(-1, 2)


def pause_onsets(speech: np.ndarray, min_pause_s: float = 0.3, fps: float = FPS) -> np.ndarray:
    """``(P,)`` int first frame of every pause (:func:`pause_intervals`)."""
    return pause_intervals(speech, min_pause_s, fps)[:, 0]


def nod_ratio(pitch_tracks: np.ndarray, speech: np.ndarray, onsets: np.ndarray | None = None,
              window_s: float = NOD_WINDOW_S, fps: float = FPS) -> np.ndarray:
    """Head motion after pause onsets over head motion during speech.

    ``|d pitch|[t] = |pitch[t + 1] - pitch[t]|``. The "after" frames are ``t`` in
    ``[onset, onset + window_s)`` for every onset (union, each frame once); the speech
    frames are those where the speaker speaks at ``t`` and ``t + 1``, minus the after frames.
    ratio = mean over after frames / (mean over speech frames + :data:`NOD_EPS`), so a still
    head gives 0.

    Parameters
    ----------
    pitch_tracks : np.ndarray
        ``(M, T)`` (or ``(T,)``) head pitch of the samples, radians.
    speech : np.ndarray
        ``(T,)`` bool speaker voice activity (:func:`voice_activity`).
    onsets : np.ndarray, optional
        ``(P,)`` pause onset frames (default :func:`pause_onsets` of ``speech``).
    window_s, fps : float
        Window after an onset, seconds, and the frame rate.

    Returns
    -------
    np.ndarray
        ``(M,)`` (or a 0-d array) float64 ratios; NaN without a pause onset or speech frame.
    """
    p = np.asarray(pitch_tracks, dtype=np.float64)
    one = p.ndim == 1
    p = np.atleast_2d(p)
    s = np.asarray(speech, dtype=bool)
    t = min(p.shape[-1], len(s))
    p, s = p[:, :t], s[:t]
    on = pause_onsets(s, fps=fps) if onsets is None else np.asarray(onsets, dtype=np.int64)
    out = np.full(len(p), np.nan)
    if t >= 2:
        dp = np.abs(np.diff(p, axis=-1))
        after = np.zeros(t - 1, dtype=bool)
        w = max(1, int(round(window_s * fps)))
        for o in on:
            if 0 <= o < t - 1:
                after[o:o + w] = True
        during = s[:-1] & s[1:] & ~after
        if after.any() and during.any():
            out = dp[:, after].mean(-1) / (dp[:, during].mean(-1) + NOD_EPS)
    return out[0] if one else out


def nods(ratio: np.ndarray) -> np.ndarray:
    """``(M,)`` bool: nod ratio ``>= 1.5`` (NaN never passes)."""
    with np.errstate(invalid="ignore"):
        return np.asarray(ratio, dtype=np.float64) >= NOD_RATIO_THRESHOLD


def session_contingency(speaker: np.ndarray, samples: np.ndarray, speech: np.ndarray,
                        control_speakers: np.ndarray | None = None,
                        fps: float = FPS) -> dict[str, np.ndarray]:
    """Per-sample contingency of one speaker session.

    Parameters
    ----------
    speaker : np.ndarray
        ``(T, 58)`` the speaker's coefficients.
    samples : np.ndarray
        ``(M, T, 58)`` reactions to that speaker.
    speech : np.ndarray
        ``(T,)`` bool speaker voice activity.
    control_speakers : np.ndarray, optional
        ``(K, T, 58)`` unrelated speakers (the control).
    fps : float
        Frame rate.

    Returns
    -------
    dict
        ``(M,)`` arrays: ``smile_r``, ``smile_lag_s``, ``control``, ``control_max``,
        ``amplitude``, ``nod_ratio`` (float64) and ``smiles_back``, ``nods`` (bool).
    """
    x = np.asarray(samples)
    if x.ndim != 3:
        raise ValueError(f"samples must be (M, T, D), got shape {x.shape}")
    ctrl = None if control_speakers is None or len(control_speakers) == 0 else smile(
        control_speakers)
    sb = smile_back(smile(speaker), smile(x), ctrl, fps=fps)
    ratio = nod_ratio(pitch(x), speech, fps=fps)
    return {"smile_r": sb["r"], "smile_lag_s": sb["lag_s"], "control": sb["control"],
            "control_max": sb["control_max"], "amplitude": sb["amplitude"],
            "nod_ratio": ratio, "smiles_back": smiles_back(sb["r"], sb["control"],
                                                           sb["amplitude"]),
            "nods": nods(ratio)}


def best_sample(per_sample: Mapping[str, np.ndarray]) -> int:
    """Index of the session's best sample.

    One that smiles back and nods if any does; else one passing more of the two tests; ties
    broken by the higher smile-back r (then the lower index).
    """
    sb = np.asarray(per_sample["smiles_back"], dtype=bool)
    nd = np.asarray(per_sample["nods"], dtype=bool)
    r = np.nan_to_num(np.asarray(per_sample["smile_r"], dtype=np.float64), nan=-np.inf)
    order = np.lexsort((-np.arange(len(r)), r, sb.astype(int) + nd, sb & nd))
    return int(order[-1])


def _json_value(v: Any) -> Any:
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, np.integer)):
        return int(v)
    f = float(v)
    return f if np.isfinite(f) else None


def _json_lists(per_sample: Mapping[str, np.ndarray]) -> dict[str, list]:
    return {k: [_json_value(x) for x in np.asarray(v).reshape(-1)] for k, v in per_sample.items()}


def _mean(values) -> float | None:
    v = np.asarray([np.nan if x is None else x for x in values], dtype=np.float64)
    v = v[np.isfinite(v)]
    return float(v.mean()) if len(v) else None


def _session_record(per_sample: Mapping[str, np.ndarray], origin: list[tuple[int, int]]
                    ) -> dict[str, Any]:
    i = best_sample(per_sample)
    best = {k: _json_value(np.asarray(v)[i]) for k, v in per_sample.items()}
    best["row"], best["sample"] = origin[i]
    sb = np.asarray(per_sample["smiles_back"], dtype=bool)
    nd = np.asarray(per_sample["nods"], dtype=bool)
    return {"best": best, "smiles_back": bool(sb.any()), "nods": bool(nd.any()),
            "both": bool((sb & nd).any())}


def control_clips(speaker_clips: Sequence[str], exclude: Sequence[set[str]],
                  max_control_speakers: int = MAX_CONTROL_SPEAKERS,
                  extra_clips: Sequence[str] = ()) -> tuple[list[str], list[list[int]]]:
    """The speaker clips that serve as each row's control.

    Parameters
    ----------
    speaker_clips : sequence of str
        ``(N,)`` speaker clip of each row.
    exclude : sequence of set of str
        ``(N,)`` clips related to each row's session (its speaker, its listener, its
        appropriate listeners): never a control for that row.
    max_control_speakers : int
        At most this many other speakers, evenly spread over the candidates.
    extra_clips : sequence of str
        Further speaker clips (e.g. of the training split), used only to fill a row's control
        up to ``max_control_speakers`` when the rows' own speakers are too few.

    Returns
    -------
    bank : list of str
        The unique row speaker clips in row order, then the extra clips not among them.
    controls : list of list of int
        For each row, indices into ``bank``.
    """
    own = list(dict.fromkeys(speaker_clips))
    bank = own + [c for c in dict.fromkeys(extra_clips) if c not in set(own)]

    def spread(cand: list[int], count: int) -> list[int]:
        if len(cand) <= count:
            return cand
        pick = np.linspace(0, len(cand) - 1, count).round().astype(int)
        return [cand[i] for i in np.unique(pick)]

    controls = []
    for k, c in enumerate(speaker_clips):
        skip = set(exclude[k]) | {c}
        first = spread([i for i in range(len(own)) if bank[i] not in skip], max_control_speakers)
        more = spread([i for i in range(len(own), len(bank)) if bank[i] not in skip],
                      max_control_speakers - len(first))
        controls.append(first + more)
    return bank, controls


def _stack_trimmed(faces: list[np.ndarray], t: int) -> np.ndarray | None:
    """``K`` arrays ``(T_i, 58)`` -> ``(K, t, 58)``: cut, or hold the last frame; None if K = 0."""
    if not faces:
        return None
    out = []
    for f in faces:
        f = np.asarray(f, dtype=np.float64)[:t]
        out.append(np.concatenate([f, np.repeat(f[-1:], t - len(f), axis=0)]) if len(f) < t
                   else f)
    return np.stack(out)


def contingency_report(methods: Mapping[str, Sequence[np.ndarray]], speakers: np.ndarray,
                       speech: Sequence[np.ndarray], speaker_clips: Sequence[str],
                       exclude: Sequence[set[str]] | None = None,
                       extra_controls: Mapping[str, np.ndarray] | None = None,
                       max_control_speakers: int = MAX_CONTROL_SPEAKERS,
                       fps: float = FPS) -> dict[str, Any]:
    """Contingency of several methods on every row and every unique speaker clip.

    Parameters
    ----------
    methods : mapping
        Method name -> per row ``(M_k, T, 58)`` reactions (an ``(N, M, T, 58)`` array works;
        M may differ between rows, e.g. the real appropriate reactions).
    speakers : np.ndarray
        ``(N, T, 58)`` the speaker of each row.
    speech : sequence of np.ndarray
        ``(N,)`` of ``(T,)`` bool speaker voice activity per row (:func:`voice_activity`).
    speaker_clips : sequence of str
        ``(N,)`` speaker clip of each row (rows of one clip form one speaker session).
    exclude : sequence of set of str, optional
        Clips never used as a row's control (see :func:`control_clips`).
    extra_controls : mapping, optional
        Speaker clip -> ``(T, 58)`` coefficients of further unrelated speakers (e.g. the
        training split's), filling the control when the rows' own speakers are too few.
    max_control_speakers : int
        Control speakers per row.
    fps : float
        Frame rate.

    Returns
    -------
    dict
        ``definitions`` (thresholds), ``speech`` (per speaker clip: speech fraction and pause
        onsets in seconds), ``controls`` (per row, the control speaker clips) and
        ``methods``: per method ``summary``, ``rows`` (per row the per-sample lists, the best
        sample and the pass flags) and ``speakers`` (the same per speaker clip over its rows'
        pooled samples). NaN is written as ``None``.
    """
    n = len(speakers)
    exclude = exclude if exclude is not None else [set() for _ in range(n)]
    extra_controls = dict(extra_controls or {})
    bank, controls = control_clips(speaker_clips, exclude, max_control_speakers,
                                   list(extra_controls))
    by_clip: dict[str, list[int]] = {}
    for k, c in enumerate(speaker_clips):
        by_clip.setdefault(c, []).append(k)
    speakers = np.asarray(speakers)
    bank_faces = [speakers[by_clip[c][0]] if c in by_clip else np.asarray(extra_controls[c])
                  for c in bank]
    result: dict[str, Any] = {
        "definitions": {
            "smile": "mean of mouthSmileLeft and mouthSmileRight",
            "smile_r": f"best Pearson r(speaker smile[t], sample smile[t + lag]) over lags "
                       f"{MIN_LAG_S}-{MAX_LAG_S} s",
            "control": "mean over other speakers' clips of the same best r (chance level); "
                       "control_max is the maximum",
            "amplitude": "std of the sample's smile / std of the speaker's smile",
            "nod_ratio": f"mean |d pitch| in the {NOD_WINDOW_S} s after each pause onset / "
                         f"mean |d pitch| during speech (null without pauses)",
            "min_lag_s": MIN_LAG_S, "max_lag_s": MAX_LAG_S, "nod_window_s": NOD_WINDOW_S,
            "smile_r_threshold": SMILE_R_THRESHOLD,
            "smile_control_margin": SMILE_CONTROL_MARGIN,
            "smile_amplitude_threshold": SMILE_AMPLITUDE_THRESHOLD,
            "nod_ratio_threshold": NOD_RATIO_THRESHOLD,
            "max_control_speakers": max_control_speakers,
            "control_speakers": "speaker clips unrelated to the session (not its speaker, "
                                "listener or appropriate listeners), evaluated split first, "
                                "then further speakers (the training split) to fill",
            "session": "passes smile-back / nods when any of its samples does, both when "
                       "one sample does both",
            "best_sample": "one that smiles back and nods if any does, else one passing more "
                           "tests, ties by the higher smile r"},
        "speech": {}, "controls": [[bank[i] for i in controls[k]] for k in range(n)],
        "methods": {}}
    for clip, rows in by_clip.items():
        s = np.asarray(speech[rows[0]], dtype=bool)
        result["speech"][clip] = {
            "speech_fraction": float(s.mean()) if len(s) else 0.0,
            "pause_onsets_s": [float(o / fps) for o in pause_onsets(s, fps=fps)]}
    for name, reactions in methods.items():
        rows_out, per_row = [], []
        for k in range(n):
            ctrl = _stack_trimmed([bank_faces[i] for i in controls[k]], speakers.shape[1])
            ps = session_contingency(speakers[k], np.asarray(reactions[k]), speech[k], ctrl, fps)
            per_row.append(ps)
            rec = {"row": k, "speaker": speaker_clips[k],
                   "samples": _json_lists(ps),
                   **_session_record(ps, [(k, i) for i in range(len(ps["smile_r"]))])}
            rows_out.append(rec)
        spk_out = []
        for clip, rows in by_clip.items():
            pooled = {key: np.concatenate([per_row[k][key] for k in rows])
                      for key in per_row[rows[0]]}
            origin = [(k, i) for k in rows for i in range(len(per_row[k]["smile_r"]))]
            spk_out.append({"speaker": clip, "rows": rows, **_session_record(pooled, origin)})
        bests = [s["best"] for s in spk_out]
        every = [v for ps in per_row for v in ps["smile_r"]]
        summary = {
            "speakers": len(spk_out),
            "speakers_smile": sum(s["smiles_back"] for s in spk_out),
            "speakers_nod": sum(s["nods"] for s in spk_out),
            "speakers_both": sum(s["both"] for s in spk_out),
            "rows": n,
            "rows_smile": sum(r["smiles_back"] for r in rows_out),
            "rows_nod": sum(r["nods"] for r in rows_out),
            "rows_both": sum(r["both"] for r in rows_out),
            "best_smile_r": _mean(b["smile_r"] for b in bests),
            "best_control": _mean(b["control"] for b in bests),
            "best_amplitude": _mean(b["amplitude"] for b in bests),
            "best_nod_ratio": _mean(b["nod_ratio"] for b in bests),
            "smile_r": _mean(every),
            "control": _mean(v for ps in per_row for v in ps["control"]),
            "nod_ratio": _mean(v for ps in per_row for v in ps["nod_ratio"]),
        }
        result["methods"][name] = {"summary": summary, "rows": rows_out, "speakers": spk_out}
    return result


def summary_line(name: str, summary: Mapping[str, Any]) -> str:
    """One line for the terminal: best-sample smile-back, control, nods and passing sessions."""
    def f(v):
        return "n/a" if v is None else f"{v:.2f}"

    s = summary
    return (f"contingency {name}: smile-back r {f(s['best_smile_r'])} "
            f"(control {f(s['best_control'])}, amplitude {f(s['best_amplitude'])}), "
            f"nod ratio {f(s['best_nod_ratio'])}; speakers passing smile "
            f"{s['speakers_smile']}/{s['speakers']}, nod {s['speakers_nod']}/{s['speakers']}, "
            f"both {s['speakers_both']}/{s['speakers']}")
