"""The paper's baselines (ReactFace Table 2), each producing ``(N, M, T, 58)`` like the model.

* **Mirror**: the listener copies the speaker: every sample is the speaker's own 3DMM.
* **Random**: every frame drawn independently from a Gaussian with the training set's per-dim
  mean and standard deviation.
* **NN motion**: the ``M`` training rows whose *speaker motion* is nearest (per-dim mean,
  standard deviation and mean absolute velocity of the speaker's 3DMM, standardised) give
  their listener reactions.
* **NN audio**: the same with speaker *audio* descriptors (mean and standard deviation of
  causal log-mel bands and of the loudness envelope).

Nearest-neighbour baselines use the whole clip (they are offline, as in the paper); a
retrieved reaction shorter than the clip holds its last frame.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

BASELINES = ("mirror", "random", "nn_motion", "nn_audio")
#: Display names of the baselines.
BASELINE_NAMES = {"mirror": "Mirror", "random": "Random", "nn_motion": "NN motion",
                  "nn_audio": "NN audio"}


def fit_length(x: np.ndarray, t: int) -> np.ndarray:
    """``(T', D)`` -> ``(t, D)``: cut, or hold the last frame."""
    if len(x) >= t:
        return np.asarray(x[:t])
    return np.concatenate([x, np.repeat(x[-1:], t - len(x), axis=0)])


def motion_descriptor(coefficients: np.ndarray) -> np.ndarray:
    """Speaker motion descriptor ``(3 * 58,)``: per-dim mean, std and mean absolute velocity."""
    c = np.asarray(coefficients, dtype=np.float64)
    vel = np.abs(np.diff(c, axis=0)).mean(0) if len(c) > 1 else np.zeros(c.shape[1])
    return np.concatenate([c.mean(0), c.std(0), vel])


def audio_descriptor(audio_16k: np.ndarray, n_mels: int = 40) -> np.ndarray:
    """Speaker audio descriptor ``(2 * n_mels + 2,)``: log-mel and loudness mean/std."""
    import torch

    from reactface_ros.model.audio import CausalLogMel

    a = np.asarray(audio_16k, dtype=np.float32)
    a = a[:len(a) - len(a) % 160] if len(a) >= 160 else np.zeros(160, np.float32)
    with torch.no_grad():
        mel = CausalLogMel(n_mels=n_mels)(torch.from_numpy(a)[None])[0].numpy()
    loud = np.log(np.square(a.reshape(-1, 160)).mean(1) + 1e-8)
    return np.concatenate([mel.mean(0), mel.std(0), [loud.mean(), loud.std()]])


@dataclass
class TrainingReference:
    """What the baselines know about the training split.

    Attributes
    ----------
    mean, std : np.ndarray
        ``(58,)`` per-dim statistics over every training frame.
    listeners : list of np.ndarray
        ``(T_j, 58)`` listener reaction of every training row.
    motion : np.ndarray
        ``(R, 174)`` speaker motion descriptors of the rows.
    audio : np.ndarray or None
        ``(R, 82)`` speaker audio descriptors (``None`` without audio).
    """

    mean: np.ndarray
    std: np.ndarray
    listeners: list[np.ndarray]
    motion: np.ndarray
    audio: np.ndarray | None

    @classmethod
    def from_dataset(cls, dataset, with_audio: bool = True) -> "TrainingReference":
        """Build from a :class:`~reactface_ros.data.ReactionDataset` of the training split."""
        clips = dataset.layout.clips()
        frames = np.concatenate([np.asarray(dataset.coefficients(c), np.float64)
                                 for c in clips])
        motion_of, audio_of = {}, {}
        listeners, motion, audio = [], [], []
        for row in dataset.rows:
            if row.speaker not in motion_of:
                motion_of[row.speaker] = motion_descriptor(dataset.coefficients(row.speaker))
                if with_audio:
                    audio_of[row.speaker] = audio_descriptor(dataset.speaker_audio(row.speaker))
            listeners.append(np.asarray(dataset.coefficients(row.listener), np.float32))
            motion.append(motion_of[row.speaker])
            if with_audio:
                audio.append(audio_of[row.speaker])
        return cls(frames.mean(0).astype(np.float32), frames.std(0).astype(np.float32),
                   listeners, np.stack(motion), np.stack(audio) if with_audio else None)


def nearest_rows(query: np.ndarray, reference: np.ndarray, m: int) -> np.ndarray:
    """Indices of the ``m`` reference rows nearest to ``query`` (standardised Euclidean).

    Ties keep the reference order; with fewer than ``m`` rows the list wraps around.
    """
    scale = reference.std(0)
    scale[scale < 1e-8] = 1.0
    d = np.square((reference - query) / scale).sum(1)
    order = np.argsort(d, kind="stable")
    return np.resize(order, m)


def mirror_baseline(speakers: np.ndarray, m: int) -> np.ndarray:
    """Mirror: ``(N, T, 58)`` speakers -> ``(N, M, T, 58)``."""
    return np.repeat(np.asarray(speakers, np.float32)[:, None], m, axis=1)


def random_baseline(ref: TrainingReference, n: int, m: int, t: int, seed: int) -> np.ndarray:
    """Random: i.i.d. Gaussian frames with the training mean and std, ``(N, M, T, 58)``."""
    rng = np.random.default_rng([int(seed), 4242])
    noise = rng.standard_normal((n, m, t, ref.mean.shape[0]), dtype=np.float32)
    return ref.mean + ref.std * noise


def retrieval_baseline(ref: TrainingReference, queries: np.ndarray, descriptors: np.ndarray,
                       m: int, t: int) -> np.ndarray:
    """Listener reactions of the ``M`` nearest training rows per query, ``(N, M, T, 58)``."""
    out = np.empty((len(queries), m, t, ref.listeners[0].shape[1]), np.float32)
    for k, q in enumerate(queries):
        for i, j in enumerate(nearest_rows(q, descriptors, m)):
            out[k, i] = fit_length(ref.listeners[j], t)
    return out
