"""The REACT challenge dataset layout (PNG-frame videos, 44.1 kHz wav, emotion CSVs).

::

    <root>/<split>.csv                                   ,speaker_path,listener_path
    <root>/<split>/Video_files/<site>/<session>/<role>/<clip>/1.png .. 751.png   (256x256, 25 fps)
    <root>/<split>/Audio_files/<site>/<session>/<role>/<clip>.wav              (44.1 kHz)
    <root>/<split>/Emotion/<site>/<session>/<role>/<clip>.csv                  (header + 751 x 25)
    <root>/<split>/3D_FV_files/<site>/<session>/<role>/<clip>.npy              (751 x 58)
    <root>/neighbour_emotion_<split>.npy                                       (2P x 2P)

The challenge ships the val/test neighbour files as ``data_indices.csv`` plus
``Approprirate_facial_reaction.npy`` (that spelling is the real file name);
:func:`build_challenge_neighbours` turns them into ``neighbour_emotion_<split>.npy`` the way the
challenge's ``tool/matrix_split.py`` does.
"""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from reactface_ros.data.layouts import DatasetLayoutError, DyadicLayout

#: The file names the challenge uses for its global appropriateness matrix.
DATA_INDICES_FILE = "data_indices.csv"
APPROPRIATE_MATRIX_FILE = "Approprirate_facial_reaction.npy"


class ChallengeLayout(DyadicLayout):
    """One split of a dataset in the REACT challenge layout.

    Parameters
    ----------
    root : str or Path
        The challenge ``data`` folder (holding ``train.csv`` and ``train/``, ...).
    split : str
        ``"train"``, ``"val"`` or ``"test"``.
    """

    name = "challenge"
    description = ("REACT challenge layout: <root>/<split>.csv and <root>/<split>/{Video_files,"
                   "Audio_files,Emotion,3D_FV_files}/<site>/<session>/<role>/<clip> with PNG "
                   "frame folders 1.png..T.png, <clip>.wav, <clip>.csv, <clip>.npy")
    video_kind = "frames"

    def split_list_path(self) -> Path:
        """``<root>/<split>.csv``."""
        return self.root / f"{self.split}.csv"

    def _split_dir(self) -> Path:
        return self.root / self.split

    def coefficients_path(self, clip: str) -> Path:
        """``<root>/<split>/3D_FV_files/<clip>.npy``."""
        return self._split_dir() / "3D_FV_files" / f"{clip}.npy"

    def audio_path(self, clip: str) -> Path:
        """``<root>/<split>/Audio_files/<clip>.wav``."""
        return self._split_dir() / "Audio_files" / f"{clip}.wav"

    def video_path(self, clip: str) -> Path:
        """``<root>/<split>/Video_files/<clip>/`` (a folder of ``1.png``, ``2.png``, ...)."""
        return self._split_dir() / "Video_files" / clip

    def emotion_path(self, clip: str) -> Path:
        """``<root>/<split>/Emotion/<clip>.csv``."""
        return self._split_dir() / "Emotion" / f"{clip}.csv"

    def face_features_path(self, clip: str) -> Path:
        """``<root>/<split>/face_features/<clip>.npy`` (a cache, written by training)."""
        return self._split_dir() / "face_features" / f"{clip}.npy"

    def neighbour_path(self) -> Path:
        """``<root>/neighbour_emotion_<split>.npy``."""
        return self.root / f"neighbour_emotion_{self.split}.npy"

    def load_neighbours(self) -> np.ndarray | None:
        """The split's neighbour matrix; built from the challenge's global matrix if needed.

        Returns
        -------
        np.ndarray or None
            ``(2P, 2P)`` bool, from ``neighbour_emotion_<split>.npy`` or, when only
            ``data_indices.csv`` and ``Approprirate_facial_reaction.npy`` exist, built from
            them (not saved); ``None`` when neither exists.
        """
        if self.neighbour_path().exists():
            return super().load_neighbours()
        if (self.root / DATA_INDICES_FILE).exists() and (
                self.root / APPROPRIATE_MATRIX_FILE).exists():
            return build_challenge_neighbours(self.root, self.split, save=False) > 0.5
        return None


def _index_key(clip: str) -> str:
    # matrix_split.py maps a split-list path to a data_indices key: UDIVA paths carry one more
    # folder level, which it folds into the session name.
    items = clip.split("/")
    if len(items) > 4:
        return "/".join([items[0].upper(), items[2] + "_" + items[1], items[4]])
    if len(items) < 4:
        raise DatasetLayoutError(
            f"split-list path {clip!r} has fewer than 4 parts; the challenge layout uses "
            "<site>/<session>/<role>/<clip>.")
    return "/".join([items[0].upper(), items[1], items[3]])


def build_challenge_neighbours(root: str | Path, split: str, save: bool = True) -> np.ndarray:
    """Build ``neighbour_emotion_<split>.npy`` from the challenge's global matrix.

    Reads ``<root>/data_indices.csv`` (one header row, then ``site,session,clip`` per recorded
    pair) and ``<root>/Approprirate_facial_reaction.npy`` (``(2W, 2W)``, mirrored over the
    ``W`` indexed pairs), picks the rows of the split's pairs and mirrors them.

    Parameters
    ----------
    root : str or Path
        The challenge ``data`` folder.
    split : str
        ``"val"`` or ``"test"`` (any split whose pairs are in ``data_indices.csv``).
    save : bool
        Also write ``<root>/neighbour_emotion_<split>.npy``.

    Returns
    -------
    np.ndarray
        ``(2P, 2P)`` float64 0/1 matrix in the mirrored row order.
    """
    layout = ChallengeLayout(root, split)
    root = layout.root
    idx_path = layout.require(root / DATA_INDICES_FILE, "challenge data index")
    mat_path = layout.require(root / APPROPRIATE_MATRIX_FILE, "challenge appropriateness matrix")
    with open(idx_path, newline="", encoding="utf-8") as f:
        entries = list(csv.reader(f))[1:]
    keys = {}
    for n, row in enumerate(entries):
        if len(row) < 3:
            raise DatasetLayoutError(f"'{idx_path}' row {n + 2} is {row!r}; expected site,"
                                     "session,clip.")
        keys.setdefault("/".join([row[0].upper(), row[1], row[2]]), n)
    full = np.load(mat_path, allow_pickle=False)
    half = full.shape[0] // 2
    if full.ndim != 2 or full.shape[0] != full.shape[1] or full.shape[0] % 2:
        raise DatasetLayoutError(f"'{mat_path}' has shape {full.shape}; expected (2W, 2W).")
    index = []
    for speaker, _ in layout.pairs:
        key = _index_key(speaker)
        if key not in keys:
            raise DatasetLayoutError(
                f"pair {speaker!r} of {split}.csv (key {key!r}) is not in '{idx_path}'.")
        index.append(keys[key])
    idx = np.asarray(index)
    both = np.concatenate([idx, idx + half])
    out = np.asarray(full, dtype=np.float64)[np.ix_(both, both)]
    if save:
        np.save(layout.neighbour_path(), out)
    return out
