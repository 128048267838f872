"""Dyadic dataset layouts: split lists, mirrored pairs, neighbour matrices and file readers.

Both public REACT layouts (the challenge layout and the ReactFace layout, see
:mod:`reactface_ros.data.challenge` and :mod:`reactface_ros.data.reactface_layout`) list the
``P`` recorded (speaker, listener) pairs of a split in a CSV file and *mirror* them: the split
has ``N = 2 P`` rows, rows ``0..P-1`` are speaker -> listener and rows ``P..2P-1`` swap the
roles. The appropriateness (neighbour) matrix is ``(2P, 2P)`` in that row order:
``A[k, j] == 1`` means the listener reaction of row ``j`` is an appropriate reaction to the
speaker of row ``k``.

This module holds what both layouts share: the :class:`DyadicLayout` base class, the
:class:`DatasetLayoutError` raised for a missing or malformed file, and readers for 3DMM
coefficient arrays (memory-mapped), wav audio, emotion CSV files and PNG frame folders.
"""
from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from reactface_ros.constants import AUDIO_SAMPLE_RATE, NUM_COEFFS

#: Dimensions of a REACT emotion vector: 15 AU occurrences, valence, arousal, 8 expressions.
EMOTION_DIM = 25

#: The three splits both layouts use.
SPLITS: tuple[str, ...] = ("train", "val", "test")


class DatasetLayoutError(FileNotFoundError):
    """A dataset file is missing or malformed; the message names the file and the layout."""


@dataclass(frozen=True)
class DyadicRow:
    """One row of a mirrored split: who speaks and whose reaction is the target.

    Attributes
    ----------
    speaker : str
        Clip path of the speaker, relative to the layout's modality folders
        (``<site>/<session>/<role>/<clip>``, no extension).
    listener : str
        Clip path of the listener.
    mirrored : bool
        ``True`` for rows ``P..2P-1``, whose roles are swapped relative to the split list.
    pair : int
        Index of the recorded pair in the split list (``0..P-1``).
    """

    speaker: str
    listener: str
    mirrored: bool
    pair: int


def mirror_pairs(pairs: list[tuple[str, str]]) -> list[DyadicRow]:
    """Mirror ``P`` (speaker, listener) pairs into the ``2 P`` rows both layouts use.

    Parameters
    ----------
    pairs : list of (str, str)
        Speaker and listener clip paths of each recorded pair, in split-list order.

    Returns
    -------
    list of DyadicRow
        Rows ``0..P-1`` as listed, then rows ``P..2P-1`` with speaker and listener swapped.
    """
    rows = [DyadicRow(s, li, False, i) for i, (s, li) in enumerate(pairs)]
    rows += [DyadicRow(li, s, True, i) for i, (s, li) in enumerate(pairs)]
    return rows


def _require(path: Path, what: str, layout: str) -> Path:
    if not path.exists():
        raise DatasetLayoutError(
            f"missing {what}: '{path}' does not exist. Expected the {layout}.")
    return path


class DyadicLayout:
    """Paths of one split of a dyadic reaction dataset (base class of both layouts).

    Subclasses set :attr:`name`, :attr:`description` and implement the path methods; the base
    reads the split list, mirrors it and loads the neighbour matrix.

    Parameters
    ----------
    root : str or Path
        Dataset root folder.
    split : str
        ``"train"``, ``"val"`` or ``"test"``.
    """

    #: Short layout name (``"challenge"`` or ``"reactface"``).
    name: str = ""
    #: One-line description of the expected layout, quoted in error messages.
    description: str = ""
    #: ``"frames"`` (PNG folder per clip) or ``"mp4"``.
    video_kind: str = "mp4"

    def __init__(self, root: str | os.PathLike, split: str) -> None:
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        self.root = Path(root)
        self.split = split
        if not self.root.is_dir():
            raise DatasetLayoutError(
                f"dataset root '{self.root}' is not a folder. Expected the {self.description}.")
        self.pairs = read_split_list(self.split_list_path(), self.description)
        self.rows = mirror_pairs(self.pairs)

    @classmethod
    def for_writing(cls, root: str | os.PathLike, split: str) -> "DyadicLayout":
        """A layout whose path methods work before any file exists (for dataset writers)."""
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        layout = cls.__new__(cls)
        layout.root, layout.split, layout.pairs, layout.rows = Path(root), split, [], []
        return layout

    # -- paths (subclasses) -------------------------------------------------------------
    def split_list_path(self) -> Path:
        """Path of the split list CSV (``,speaker_path,listener_path``)."""
        raise NotImplementedError

    def coefficients_path(self, clip: str) -> Path:
        """Path of a clip's 3DMM coefficient array ``.npy``."""
        raise NotImplementedError

    def audio_path(self, clip: str) -> Path:
        """Path of a clip's ``.wav`` audio."""
        raise NotImplementedError

    def video_path(self, clip: str) -> Path:
        """Path of a clip's video (a PNG-frame folder or an ``.mp4`` file)."""
        raise NotImplementedError

    def emotion_path(self, clip: str) -> Path:
        """Path of a clip's 25-d emotion CSV."""
        raise NotImplementedError

    def face_features_path(self, clip: str) -> Path:
        """Path of a clip's cached speaker face features ``.npy`` (written by training)."""
        raise NotImplementedError

    def neighbour_path(self) -> Path:
        """Path of the split's ``(2P, 2P)`` neighbour matrix ``.npy``."""
        raise NotImplementedError

    # -- derived ------------------------------------------------------------------------
    def __len__(self) -> int:
        """Number of mirrored rows ``2 P``."""
        return len(self.rows)

    @property
    def num_pairs(self) -> int:
        """Number of recorded pairs ``P`` in the split list."""
        return len(self.pairs)

    def clips(self) -> list[str]:
        """Every clip path the split uses (speakers and listeners), each once, in order."""
        seen: dict[str, None] = {}
        for s, li in self.pairs:
            seen.setdefault(s, None)
            seen.setdefault(li, None)
        return list(seen)

    def require(self, path: Path, what: str) -> Path:
        """Return ``path`` or raise :class:`DatasetLayoutError` naming it and this layout."""
        return _require(path, what, self.description)

    def load_neighbours(self) -> np.ndarray | None:
        """The split's appropriateness matrix, or ``None`` when the layout has none.

        Returns
        -------
        np.ndarray or None
            ``(2P, 2P)`` bool; ``A[k, j]`` is True when row ``j``'s listener reaction is an
            appropriate reaction to row ``k``'s speaker.
        """
        path = self.neighbour_path()
        if not path.exists():
            return None
        return read_neighbour_matrix(path, 2 * self.num_pairs, self.description)


def read_split_list(path: Path, layout: str) -> list[tuple[str, str]]:
    """Read a split list CSV with the header ``,speaker_path,listener_path``.

    Parameters
    ----------
    path : Path
        The CSV file; every row after the header is ``index,speaker_path,listener_path``.
    layout : str
        Layout description quoted in error messages.

    Returns
    -------
    list of (str, str)
        (speaker, listener) clip paths, in file order.
    """
    _require(path, "split list", layout)
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    if not rows:
        raise DatasetLayoutError(f"split list '{path}' is empty. Expected the {layout}.")
    header = [c.strip() for c in rows[0]]
    if len(header) < 3 or header[1] != "speaker_path" or header[2] != "listener_path":
        raise DatasetLayoutError(
            f"split list '{path}' has header {rows[0]!r}; expected ',speaker_path,listener_path'"
            f" (the {layout}).")
    pairs = []
    for n, row in enumerate(rows[1:], start=2):
        if not row or all(not c.strip() for c in row):
            continue
        if len(row) < 3 or not row[1].strip() or not row[2].strip():
            raise DatasetLayoutError(
                f"split list '{path}' line {n} is {row!r}; expected index,speaker,listener.")
        pairs.append((row[1].strip().strip("/"), row[2].strip().strip("/")))
    if not pairs:
        raise DatasetLayoutError(f"split list '{path}' lists no pairs. Expected the {layout}.")
    return pairs


def write_split_list(path: Path, pairs: list[tuple[str, str]]) -> None:
    """Write a split list CSV in the format :func:`read_split_list` reads."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["", "speaker_path", "listener_path"])
        for i, (s, li) in enumerate(pairs):
            w.writerow([i, s, li])


def read_neighbour_matrix(path: Path, size: int, layout: str) -> np.ndarray:
    """Read a ``(size, size)`` 0/1 neighbour matrix saved with :func:`numpy.save`.

    Returns
    -------
    np.ndarray
        ``(size, size)`` bool.
    """
    try:
        a = np.load(path, allow_pickle=False)
    except ValueError as exc:
        raise DatasetLayoutError(f"neighbour matrix '{path}' is not a plain .npy array: {exc}")
    if a.shape != (size, size):
        raise DatasetLayoutError(
            f"neighbour matrix '{path}' has shape {a.shape}; the split list has {size // 2}"
            f" pairs, so the mirrored matrix must be ({size}, {size}). Expected the {layout}.")
    return np.asarray(a) > 0.5


def load_coefficients(path: Path, mmap: bool = True) -> np.ndarray:
    """Load a clip's 3DMM coefficients as a ``(T, 58)`` array, memory-mapped by default.

    REACT files are ``(T, 58)`` or ``(T, 1, 58)``; both are returned as a ``(T, 58)`` view.

    Parameters
    ----------
    path : Path
        The ``.npy`` file (never unpickled).
    mmap : bool
        Memory-map the file (``np.load(mmap_mode="r")``) instead of reading it.

    Returns
    -------
    np.ndarray
        ``(T, 58)`` array in the file's dtype (read-only when memory-mapped).
    """
    try:
        a = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except ValueError as exc:
        raise DatasetLayoutError(f"3DMM file '{path}' is not a plain .npy array: {exc}")
    if a.ndim < 2 or a.shape[-1] != NUM_COEFFS or a.size % NUM_COEFFS:
        raise DatasetLayoutError(
            f"3DMM file '{path}' has shape {a.shape}; expected (T, {NUM_COEFFS}) or "
            f"(T, 1, {NUM_COEFFS}) FaceVerse coefficients.")
    return a.reshape(-1, NUM_COEFFS)


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    """Read a wav file as mono float32 in ``[-1, 1]``.

    Returns
    -------
    samples : np.ndarray
        ``(S,)`` float32.
    rate : int
        Sample rate in Hz.
    """
    from scipy.io import wavfile

    try:
        rate, data = wavfile.read(path)
    except (ValueError, EOFError) as exc:
        raise DatasetLayoutError(f"audio file '{path}' is not a readable wav file: {exc}")
    if data.dtype.kind == "i":
        data = data.astype(np.float32) / float(np.iinfo(data.dtype).max)
    elif data.dtype.kind == "u":
        data = (data.astype(np.float32) - 128.0) / 128.0
    data = np.asarray(data, dtype=np.float32)
    if data.ndim == 2:
        data = data.mean(axis=1)
    return data, int(rate)


def resample(samples: np.ndarray, rate: int, target: int = AUDIO_SAMPLE_RATE) -> np.ndarray:
    """Resample mono audio to ``target`` Hz with a polyphase filter.

    Parameters
    ----------
    samples : np.ndarray
        ``(S,)`` audio at ``rate`` Hz.

    Returns
    -------
    np.ndarray
        ``(round(S * target / rate),)`` float32.
    """
    if rate == target:
        return np.asarray(samples, dtype=np.float32)
    from math import gcd

    from scipy.signal import resample_poly

    g = gcd(int(rate), int(target))
    return resample_poly(samples, target // g, rate // g).astype(np.float32)


def write_wav(path: Path, samples: np.ndarray, rate: int) -> None:
    """Write mono float audio in ``[-1, 1]`` as a 16-bit PCM wav file."""
    from scipy.io import wavfile

    path.parent.mkdir(parents=True, exist_ok=True)
    pcm = np.clip(np.round(np.asarray(samples) * 32767.0), -32768, 32767).astype(np.int16)
    wavfile.write(path, int(rate), pcm)


def read_emotion_csv(path: Path) -> np.ndarray:
    """Read a REACT emotion CSV: one header row, then ``T`` rows of 25 values.

    Returns
    -------
    np.ndarray
        ``(T, 25)`` float32.
    """
    try:
        a = np.loadtxt(path, delimiter=",", skiprows=1, dtype=np.float32, ndmin=2)
    except ValueError as exc:
        raise DatasetLayoutError(f"emotion file '{path}' is not a numeric CSV: {exc}")
    if a.shape[1] != EMOTION_DIM:
        raise DatasetLayoutError(
            f"emotion file '{path}' has {a.shape[1]} columns; expected {EMOTION_DIM} (15 AUs,"
            " valence, arousal, 8 expression probabilities) after one header row.")
    return a


def read_frame_folder(folder: Path, start: int, length: int) -> np.ndarray:
    """Read PNG frames ``start+1 .. start+length`` of a challenge-layout frame folder.

    Parameters
    ----------
    folder : Path
        Folder holding ``1.png``, ``2.png``, ... (1-based, 25 fps).
    start, length : int
        First frame (0-based) and number of frames.

    Returns
    -------
    np.ndarray
        ``(length, H, W, 3)`` uint8 RGB.
    """
    import cv2

    frames = []
    for i in range(start + 1, start + length + 1):
        path = folder / f"{i}.png"
        img = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if img is None:
            raise DatasetLayoutError(
                f"missing video frame '{path}'; a challenge-layout video is a folder of"
                " 1.png..T.png frames.")
        frames.append(cv2.cvtColor(img, cv2.COLOR_BGR2RGB))
    return np.stack(frames)


def count_frames(folder: Path) -> int:
    """Number of consecutive ``1.png, 2.png, ...`` frames in a frame folder."""
    n = 0
    while (folder / f"{n + 1}.png").exists():
        n += 1
    return n
