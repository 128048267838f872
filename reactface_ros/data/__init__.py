"""Dyadic reaction datasets: the REACT layouts, a torch dataset and a synthetic generator.

* :mod:`~reactface_ros.data.layouts`: mirrored pairs, neighbour matrices, file readers;
* :mod:`~reactface_ros.data.challenge` and :mod:`~reactface_ros.data.reactface_layout`: the
  two public REACT layouts;
* :mod:`~reactface_ros.data.dataset`: :class:`ReactionDataset` (imports torch);
* :mod:`~reactface_ros.data.emotion`: 25-d emotion vectors from 3DMM coefficients;
* :mod:`~reactface_ros.data.synth`: the synthetic dataset behind ``reactface synth``.
"""
from __future__ import annotations

from typing import Any

from reactface_ros.data.challenge import ChallengeLayout, build_challenge_neighbours
from reactface_ros.data.emotion import EMOTION_NAMES, emotion_from_coefficients
from reactface_ros.data.layouts import (
    DatasetLayoutError, DyadicLayout, DyadicRow, load_coefficients, mirror_pairs,
    read_emotion_csv,
)
from reactface_ros.data.reactface_layout import ReactFaceLayout

__all__ = [
    "ChallengeLayout", "DatasetConfig", "DatasetLayoutError", "DyadicLayout", "DyadicRow",
    "EMOTION_NAMES", "ReactFaceLayout", "ReactionDataset", "build_challenge_neighbours",
    "collate_reactions", "emotion_from_coefficients", "load_coefficients", "mirror_pairs",
    "open_layout", "read_emotion_csv",
]

_LAZY = {"DatasetConfig", "ReactionDataset", "collate_reactions", "open_layout"}


def __getattr__(name: str) -> Any:
    """Import the torch dataset only when it is used."""
    if name in _LAZY:
        from reactface_ros.data import dataset

        return getattr(dataset, name)
    raise AttributeError(f"module 'reactface_ros.data' has no attribute {name!r}")
