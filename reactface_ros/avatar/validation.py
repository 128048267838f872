"""Checks on coefficients before they reach an avatar: shapes, NaN/Inf, absurd ranges.

Policy (the same for the senders, the player and the ROS bridge):

* a frame that is not ``(58,)`` is an error naming the expected shape;
* a frame with NaN/Inf, or a value far outside any plausible range (see
  :class:`InputLimits`), is **rejected**: nothing is sent for it, and the message names the
  frame index and the offending coefficients;
* blendshape weights slightly outside ``[0, 1]`` (normal for a generative model) are
  **clamped** to ``[0, 1]`` and counted;
* head rotations beyond the head-pose clamp are limited by :mod:`.head_pose`.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from reactface_ros.constants import (BLENDSHAPE_SLICE, FACEVERSE_COEFF_NAMES, NUM_COEFFS,
                                     ROTATION_SLICE, TRANSLATION_SLICE)


class InvalidFrameError(ValueError):
    """A frame of coefficients that must not be sent (NaN/Inf or an absurd value)."""


@dataclass
class InputLimits:
    """Which values are clamped and which make a frame invalid.

    Attributes
    ----------
    blendshape_min, blendshape_max : float
        Blendshape weights are clamped to this range (ARKit weights are in ``[0, 1]``).
    blendshape_absurd : tuple of float
        A weight outside this range rejects the frame: it is not a slightly-off model output
        but the wrong kind of data (normalised coefficients, another file, corruption).
    rotation_absurd : float
        Largest plausible ``|angle|`` of a FaceVerse rotation, radians (``rx`` is near pi).
    translation_absurd : float
        Largest plausible ``|translation|`` component, FaceVerse units (``z`` is near 1.84).
    """

    blendshape_min: float = 0.0
    blendshape_max: float = 1.0
    blendshape_absurd: tuple[float, float] = (-1.0, 2.0)
    rotation_absurd: float = 4.0 * np.pi
    translation_absurd: float = 100.0


def check_frame_shape(coeffs: np.ndarray) -> np.ndarray:
    """Return ``coeffs`` as a ``(58,)`` float64 array or raise a ``ValueError`` naming the shape.

    Parameters
    ----------
    coeffs : array_like
        One frame of FaceVerse coefficients.

    Returns
    -------
    np.ndarray
        ``(58,)`` float64.
    """
    arr = np.asarray(coeffs)
    if arr.shape != (NUM_COEFFS,):
        raise ValueError(
            f"expected one frame of shape ({NUM_COEFFS},) (52 blendshapes, 3 rotation, "
            f"3 translation), got shape {arr.shape}; pass reaction[t], not the whole sequence")
    if not np.issubdtype(arr.dtype, np.number) or np.iscomplexobj(arr):
        raise ValueError(f"expected real numbers, got dtype {arr.dtype}")
    return arr.astype(np.float64, copy=False)


def frame_problems(coeffs: np.ndarray, limits: InputLimits) -> list[str]:
    """Describe why a ``(58,)`` frame must be rejected; an empty list when it is fine."""
    problems = []
    bad = ~np.isfinite(coeffs)
    if bad.any():
        names = [FACEVERSE_COEFF_NAMES[i] for i in np.flatnonzero(bad)[:5]]
        problems.append(f"{int(bad.sum())} non-finite value(s) (NaN/Inf) in {names}")
    with np.errstate(invalid="ignore"):
        lo, hi = limits.blendshape_absurd
        bs = coeffs[BLENDSHAPE_SLICE]
        out = np.flatnonzero((bs < lo) | (bs > hi))
        if out.size:
            i = int(out[0])
            problems.append(f"blendshape {FACEVERSE_COEFF_NAMES[i]}={bs[i]:.4g} outside the "
                            f"plausible range [{lo}, {hi}] ({out.size} such value(s))")
        rot = coeffs[ROTATION_SLICE]
        if np.any(np.abs(rot) > limits.rotation_absurd):
            problems.append(f"rotation {np.round(rot, 3).tolist()} beyond "
                            f"+-{limits.rotation_absurd:.3g} rad")
        tra = coeffs[TRANSLATION_SLICE]
        if np.any(np.abs(tra) > limits.translation_absurd):
            problems.append(f"translation {np.round(tra, 3).tolist()} beyond "
                            f"+-{limits.translation_absurd:.3g}")
    return problems


def clamp_blendshapes(coeffs: np.ndarray, limits: InputLimits) -> tuple[np.ndarray, int]:
    """Clamp the 52 blendshape weights of a valid frame.

    Parameters
    ----------
    coeffs : np.ndarray
        ``(58,)`` finite coefficients.
    limits : InputLimits
        Clamp range.

    Returns
    -------
    weights : np.ndarray
        ``(52,)`` clamped weights.
    n_clamped : int
        How many weights were outside the range.
    """
    bs = coeffs[BLENDSHAPE_SLICE]
    clamped = np.clip(bs, limits.blendshape_min, limits.blendshape_max)
    return clamped, int(np.count_nonzero(clamped != bs))


def validate_frame(coeffs: np.ndarray, limits: InputLimits | None = None,
                   frame_index: int | None = None) -> np.ndarray:
    """Check one frame; raise :class:`InvalidFrameError` naming the frame if it is unusable.

    Parameters
    ----------
    coeffs : array_like
        ``(58,)`` coefficients.
    limits : InputLimits, optional
        Plausible ranges.
    frame_index : int, optional
        Used in the error message.

    Returns
    -------
    np.ndarray
        ``(58,)`` float64 coefficients (not clamped).
    """
    arr = check_frame_shape(coeffs)
    problems = frame_problems(arr, limits or InputLimits())
    if problems:
        where = f"frame {frame_index}" if frame_index is not None else "frame"
        raise InvalidFrameError(f"{where} rejected: " + "; ".join(problems))
    return arr


def as_reactions(array: np.ndarray) -> np.ndarray:
    """View a reaction array as ``(M, T, 58)``; ``(T, 58)`` becomes ``(1, T, 58)``.

    Raises a ``ValueError`` naming the expected shapes otherwise.
    """
    arr = np.asarray(array)
    if arr.ndim == 2 and arr.shape[1] == NUM_COEFFS:
        arr = arr[None]
    if arr.ndim != 3 or arr.shape[2] != NUM_COEFFS or arr.shape[1] == 0:
        raise ValueError(f"expected reactions of shape (M, T, {NUM_COEFFS}) or "
                         f"(T, {NUM_COEFFS}) with T >= 1, got shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.floating) and not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"expected real numbers, got dtype {arr.dtype}")
    return arr.astype(np.float64, copy=False)


def load_reactions(path: str | Path) -> np.ndarray:
    """Load a reaction file (``.npy``, or ``.npz`` holding one array or ``reactions``).

    Never unpickles: object arrays are refused.

    Returns
    -------
    np.ndarray
        ``(M, T, 58)`` float64.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"reaction file not found: {path}")
    try:
        data = np.load(path, allow_pickle=False)
    except ValueError as exc:
        raise ValueError(f"cannot read {path} without unpickling ({exc}); save the reactions "
                         f"as a plain float array with numpy.save") from exc
    if isinstance(data, np.lib.npyio.NpzFile):
        with data:
            keys = list(data.keys())
            if "reactions" in keys:
                data = data["reactions"]
            elif len(keys) == 1:
                data = data[keys[0]]
            else:
                raise ValueError(f"{path} holds arrays {keys}; expected one array or one named "
                                 f"'reactions'")
    try:
        return as_reactions(data)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from exc


@dataclass
class InvalidFrame:
    """One unusable frame of a reaction file.

    Attributes
    ----------
    sample, frame : int
        Where it is in the ``(M, T, 58)`` array.
    problems : list of str
        What is wrong with it.
    """

    sample: int
    frame: int
    problems: list[str]

    def __str__(self) -> str:
        """``"sample m frame t: problem; problem"``."""
        return f"sample {self.sample} frame {self.frame}: " + "; ".join(self.problems)


def invalid_frames(reactions: np.ndarray, limits: InputLimits | None = None
                   ) -> list[InvalidFrame]:
    """Every unusable frame of ``(M, T, 58)`` or ``(T, 58)`` reactions, in order."""
    limits = limits or InputLimits()
    arr = as_reactions(reactions)
    lo, hi = limits.blendshape_absurd
    with np.errstate(invalid="ignore"):
        bs = arr[..., BLENDSHAPE_SLICE]
        suspect = (~np.isfinite(arr).all(-1) | ((bs < lo) | (bs > hi)).any(-1)
                   | (np.abs(arr[..., ROTATION_SLICE]) > limits.rotation_absurd).any(-1)
                   | (np.abs(arr[..., TRANSLATION_SLICE]) > limits.translation_absurd).any(-1))
    return [InvalidFrame(int(m), int(t), frame_problems(arr[m, t], limits))
            for m, t in zip(*np.nonzero(suspect))]
