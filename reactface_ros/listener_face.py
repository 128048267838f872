"""The listener's own resting face (the *anchor* an ``output: anchored`` model reacts around).

A robot or avatar knows its neutral face; giving it to the model makes the generated reactions
motion relative to that face, so the robot keeps its own look. A listener face file is data,
never code:

* ``.npy``: a ``(58,)`` float array in the FaceVerse layout (:mod:`reactface_ros.constants`),
  read with ``allow_pickle=False``;
* ``.json``: either a list of 58 numbers, or an object with any of the 52 ARKit blendshape
  names (unnamed blendshapes rest at 0) and optional ``"rotation"`` / ``"translation"``
  triples (default the frontal pose of :func:`reactface_ros.model.reactface.neutral_face`).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from reactface_ros.constants import (ARKIT_BLENDSHAPE_NAMES, NUM_BLENDSHAPES, NUM_COEFFS,
                                     ROTATION_SLICE, TRANSLATION_SLICE)


def neutral_listener_face() -> np.ndarray:
    """``(58,)`` float32: blendshapes 0, frontal rotation ``(pi, 0, 0)``, translation z 1.84."""
    face = np.zeros(NUM_COEFFS, dtype=np.float32)
    face[ROTATION_SLICE.start] = np.pi
    face[NUM_COEFFS - 1] = 1.84
    return face


def check_listener_face(face: np.ndarray, source: str = "listener face") -> np.ndarray:
    """Validate a ``(58,)`` listener face: finite, blendshapes in [0, 1]; returns float32."""
    a = np.asarray(face, dtype=np.float64)
    if a.shape != (NUM_COEFFS,):
        raise ValueError(f"{source}: expected {NUM_COEFFS} FaceVerse coefficients, got shape "
                         f"{a.shape}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{source}: has non-finite values")
    bs = a[:NUM_BLENDSHAPES]
    bad = [ARKIT_BLENDSHAPE_NAMES[i] for i in np.flatnonzero((bs < 0) | (bs > 1))]
    if bad:
        raise ValueError(f"{source}: blendshapes must lie in [0, 1]; out of range: "
                         f"{', '.join(bad[:5])}")
    return a.astype(np.float32)


def load_listener_face(path: str | Path) -> np.ndarray:
    """Read a listener face file (``.npy`` or ``.json``, see module doc) -> ``(58,)`` float32."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"listener face file {p} does not exist (give a .npy of 58 "
                                f"values or a .json of blendshape names)")
    if p.suffix == ".npy":
        try:
            data = np.load(p, allow_pickle=False)
        except ValueError as exc:
            raise ValueError(f"{p}: not a plain numeric .npy array ({exc})") from exc
        return check_listener_face(np.asarray(data, dtype=np.float64).reshape(-1)
                                   if data.size == NUM_COEFFS else data, str(p))
    if p.suffix != ".json":
        raise ValueError(f"{p}: listener face files are .npy or .json, got {p.suffix!r}")
    try:
        data = json.loads(p.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{p}: not valid JSON ({exc})") from exc
    if isinstance(data, list):
        return check_listener_face(np.asarray(data, dtype=np.float64), str(p))
    if not isinstance(data, dict):
        raise ValueError(f"{p}: expected a list of {NUM_COEFFS} numbers or an object of "
                         f"blendshape names")
    face = neutral_listener_face().astype(np.float64)
    names = {n: i for i, n in enumerate(ARKIT_BLENDSHAPE_NAMES)}
    for key, value in data.items():
        if key in ("rotation", "translation"):
            sl = ROTATION_SLICE if key == "rotation" else TRANSLATION_SLICE
            v = np.asarray(value, dtype=np.float64)
            if v.shape != (3,):
                raise ValueError(f"{p}: {key!r} must be 3 numbers, got {value!r}")
            face[sl] = v
        elif key in names:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"{p}: {key!r} must be a number, got {value!r}")
            face[names[key]] = float(value)
        else:
            raise ValueError(f"{p}: unknown key {key!r} (use ARKit blendshape names, "
                             f"'rotation' or 'translation')")
    return check_listener_face(face, str(p))
