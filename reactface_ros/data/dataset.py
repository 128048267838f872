"""A torch ``Dataset`` over either REACT layout: mirrored rows, crops and appropriate reactions.

Each item is one mirrored row ``k`` of a split (see :mod:`reactface_ros.data.layouts`): the
speaker's audio at 16 kHz aligned to the 25 fps frames (640 samples per frame), the speaker's
and listener's 3DMM coefficients, the emotion vectors when the dataset has them, the indices of
every row whose listener reaction is appropriate to this speaker, and the path where the
speaker's face features are cached. Face features are computed lazily by the training code
(with :mod:`reactface_ros.face_analysis` over the speaker video, so training sees what the live
system sees); :meth:`ReactionDataset.face_feature_jobs` lists what to compute and where to put it.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from reactface_ros.constants import AUDIO_SAMPLE_RATE, SAMPLES_PER_FRAME
from reactface_ros.data.challenge import ChallengeLayout
from reactface_ros.data.layouts import (
    DatasetLayoutError, DyadicLayout, load_coefficients, read_emotion_csv, read_frame_folder,
    read_wav, resample,
)
from reactface_ros.data.reactface_layout import ReactFaceLayout

#: Layout name -> class.
LAYOUTS: dict[str, type[DyadicLayout]] = {"challenge": ChallengeLayout,
                                          "reactface": ReactFaceLayout}


def detect_layout(root: str | os.PathLike, split: str) -> str:
    """Guess the layout of ``root``: ``"challenge"`` if it has ``<split>/3D_FV_files``.

    Returns
    -------
    str
        ``"challenge"`` or ``"reactface"``.
    """
    root = Path(root)
    if (root / split / "3D_FV_files").is_dir():
        return "challenge"
    if (root / "3D_FV_files").is_dir():
        return "reactface"
    raise DatasetLayoutError(
        f"'{root}' has neither '{split}/3D_FV_files/' (challenge layout) nor '3D_FV_files/' "
        f"(ReactFace layout). Expected the {ChallengeLayout.description}; or the "
        f"{ReactFaceLayout.description}.")


def open_layout(root: str | os.PathLike, split: str, layout: str = "auto") -> DyadicLayout:
    """Open one split of a dataset in the named (or detected) layout."""
    if layout == "auto":
        layout = detect_layout(root, split)
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be 'auto' or one of {sorted(LAYOUTS)}, got {layout!r}")
    return LAYOUTS[layout](root, split)


@dataclass
class DatasetConfig:
    """What a :class:`ReactionDataset` loads and how it crops.

    Attributes
    ----------
    layout : str
        ``"auto"``, ``"reactface"`` or ``"challenge"``.
    clip_length : int or None
        Frames per item; ``None`` takes whole clips (a clip shorter than this is returned
        whole).
    random_crop : bool
        Draw the crop start at random (seeded by ``seed``, the epoch and the row index, so
        workers agree); otherwise every crop starts at frame 0, as evaluation does.
    seed : int
        Seed of the crop positions.
    mirror : bool
        Use all ``2P`` mirrored rows (both layouts' convention); ``False`` keeps the ``P``
        rows as listed.
    load_audio : bool
        Load the speaker audio (16 kHz, ``640 * T`` samples).
    load_emotion : bool or str
        ``True`` requires the emotion CSVs, ``False`` skips them, ``"auto"`` loads them when
        every clip has one.
    load_video : bool
        Load the speaker video frames ``(T, H, W, 3)`` uint8 (slow; training uses the cached
        face features instead).
    load_face_features : bool
        Load ``speaker_face_features`` when the cache file exists.
    load_appropriate : bool
        Load the appropriate listener reactions ``(K, T, 58)`` at the same crop.
    max_appropriate : int
        Cap on ``K`` (ReactFace uses 80).
    face_feature_dir : str or None
        Folder of the face-feature cache (``<dir>/<clip>.npy``); ``None`` uses the layout's
        ``face_features`` folder.
    mmap : bool
        Memory-map the 3DMM arrays.
    """

    layout: str = "auto"
    clip_length: int | None = None
    random_crop: bool = False
    seed: int = 0
    mirror: bool = True
    load_audio: bool = True
    load_emotion: bool | str = "auto"
    load_video: bool = False
    load_face_features: bool = True
    load_appropriate: bool = False
    max_appropriate: int = 80
    face_feature_dir: str | None = None
    mmap: bool = True


class ReactionDataset(Dataset):
    """Mirrored speaker -> listener rows of one split, as a torch ``Dataset``.

    Parameters
    ----------
    root : str or Path
        Dataset root in the challenge or the ReactFace layout.
    split : str
        ``"train"``, ``"val"`` or ``"test"``.
    config : DatasetConfig, optional
        What to load and how to crop.

    Notes
    -----
    An item is a dict:

    * ``index`` (int), ``start`` (int, first frame of the crop), ``speaker_path``,
      ``listener_path`` (str, clip paths);
    * ``speaker_audio``: ``(T * 640,)`` float32 at 16 kHz, zero-padded at the end;
    * ``speaker_3dmm``, ``listener_3dmm``: ``(T, 58)`` float32, raw FaceVerse coefficients
      (no mean face subtracted);
    * ``speaker_emotion``, ``listener_emotion``: ``(T, 25)`` float32 when loaded;
    * ``appropriate_indices``: ``(K,)`` int64 rows whose listener reaction is appropriate to
      this speaker (always including this row's own listener);
    * ``appropriate_listener_3dmm``: ``(K', T, 58)`` with ``K' = min(K, max_appropriate)``
      when ``load_appropriate``;
    * ``speaker_face_features_path`` (str) and, when cached, ``speaker_face_features``
      ``(T, D)`` float32; ``speaker_video_path`` (str) and ``speaker_video`` when
      ``load_video``.
    """

    def __init__(self, root: str | os.PathLike, split: str,
                 config: DatasetConfig | None = None) -> None:
        self.config = config or DatasetConfig()
        cfg = self.config
        if cfg.clip_length is not None and cfg.clip_length < 1:
            raise ValueError(f"clip_length must be >= 1 or None, got {cfg.clip_length}")
        self.layout = open_layout(root, split, cfg.layout)
        lay = self.layout
        self.rows = lay.rows if cfg.mirror else lay.rows[:lay.num_pairs]
        self.epoch = 0
        clips = lay.clips()
        # Audio and video are read for the speakers of the rows in use only (without the
        # mirrored rows, a listener's audio and video are never read).
        speakers = {row.speaker for row in self.rows}
        for clip in clips:
            lay.require(lay.coefficients_path(clip), "3DMM coefficient file")
            if cfg.load_audio and clip in speakers:
                lay.require(lay.audio_path(clip), "audio file")
            if cfg.load_video and clip in speakers:
                lay.require(lay.video_path(clip), "video")
        if cfg.load_emotion == "auto":
            self.has_emotion = all(lay.emotion_path(c).exists() for c in clips)
        elif cfg.load_emotion:
            for clip in clips:
                lay.require(lay.emotion_path(clip), "emotion CSV")
            self.has_emotion = True
        else:
            self.has_emotion = False
        matrix = lay.load_neighbours()
        #: Where :attr:`neighbours` came from: ``"file"`` or ``"identity"`` (no file).
        self.neighbours_source = "file" if matrix is not None else "identity"
        if matrix is None:
            matrix = np.eye(len(lay.rows), dtype=bool)
        n = len(self.rows)
        #: ``(N, N)`` bool appropriateness matrix over this dataset's rows.
        self.neighbours = matrix[:n, :n].copy()
        self._coeff_cache: dict[str, np.ndarray] = {}
        self._emotion_cache: dict[str, np.ndarray] = {}

    # -- helpers ------------------------------------------------------------------------
    def __getstate__(self) -> dict[str, Any]:
        # DataLoader workers started by "spawn" get a pickled copy: send paths, not the
        # memory-mapped arrays (which would pickle as full in-memory copies).
        state = self.__dict__.copy()
        state["_coeff_cache"], state["_emotion_cache"] = {}, {}
        return state

    def __len__(self) -> int:
        """Number of rows (``2P`` when mirrored)."""
        return len(self.rows)

    def set_epoch(self, epoch: int) -> None:
        """Change the random crops (call once per epoch; the crops stay seeded)."""
        self.epoch = int(epoch)

    def coefficients(self, clip: str) -> np.ndarray:
        """A clip's ``(T, 58)`` coefficients (memory-mapped when ``config.mmap``)."""
        if clip not in self._coeff_cache:
            self._coeff_cache[clip] = load_coefficients(self.layout.coefficients_path(clip),
                                                        mmap=self.config.mmap)
        return self._coeff_cache[clip]

    def emotion(self, clip: str) -> np.ndarray:
        """A clip's ``(T, 25)`` emotion vectors."""
        if clip not in self._emotion_cache:
            self._emotion_cache[clip] = read_emotion_csv(self.layout.emotion_path(clip))
        return self._emotion_cache[clip]

    def speaker_audio(self, clip: str) -> np.ndarray:
        """A clip's whole audio, mono float32 at 16 kHz."""
        samples, rate = read_wav(self.layout.audio_path(clip))
        return resample(samples, rate, AUDIO_SAMPLE_RATE)

    def face_features_path(self, clip: str) -> Path:
        """Where the face-feature cache of ``clip`` lives."""
        if self.config.face_feature_dir is not None:
            return Path(self.config.face_feature_dir) / f"{clip}.npy"
        return self.layout.face_features_path(clip)

    def face_feature_jobs(self) -> list[tuple[Path, Path]]:
        """(video path, feature cache path) of every speaker clip, each once, in row order."""
        jobs: dict[str, tuple[Path, Path]] = {}
        for row in self.rows:
            if row.speaker not in jobs:
                jobs[row.speaker] = (self.layout.video_path(row.speaker),
                                     self.face_features_path(row.speaker))
        return list(jobs.values())

    def appropriate_indices(self, index: int) -> np.ndarray:
        """Rows whose listener reaction is appropriate to row ``index``'s speaker.

        Returns
        -------
        np.ndarray
            ``(K,)`` int64, ascending, always containing ``index``.
        """
        a = self.neighbours[index].copy()
        a[index] = True
        return np.flatnonzero(a).astype(np.int64)

    def frame_count(self, index: int) -> int:
        """Frames usable in row ``index`` (the shorter of its two 3DMM sequences)."""
        row = self.rows[index]
        return min(len(self.coefficients(row.speaker)), len(self.coefficients(row.listener)))

    def crop(self, index: int) -> tuple[int, int]:
        """Start and length of row ``index``'s crop for the current epoch."""
        total = self.frame_count(index)
        length = self.config.clip_length
        if length is None or length >= total:
            return 0, total
        if not self.config.random_crop:
            return 0, length
        rng = np.random.default_rng([self.config.seed, self.epoch, index])
        return int(rng.integers(0, total - length + 1)), length

    @staticmethod
    def _window(a: np.ndarray, start: int, length: int) -> np.ndarray:
        out = np.array(a[start:start + length], dtype=np.float32)  # a copy, never the map
        if len(out) < length:  # a neighbour clip shorter than this row: hold its last frame
            if len(out) == 0:
                raise DatasetLayoutError("a clip has no frames at the requested crop")
            out = np.concatenate([out, np.repeat(out[-1:], length - len(out), axis=0)])
        return out

    def _video(self, clip: str, start: int, length: int) -> np.ndarray:
        path = self.layout.video_path(clip)
        if self.layout.video_kind == "frames":
            return read_frame_folder(path, start, length)
        from reactface_ros.video import read_video_frames

        frames = []
        for i, frame in enumerate(read_video_frames(path)):
            if i >= start + length:
                break
            if i >= start:
                frames.append(np.asarray(frame))
        if len(frames) < length:
            raise DatasetLayoutError(f"video '{path}' has fewer than {start + length} frames")
        return np.stack(frames)

    # -- item -----------------------------------------------------------------------------
    def __getitem__(self, index: int) -> dict[str, Any]:
        """Load row ``index`` (see the class notes for the fields and shapes)."""
        if not 0 <= index < len(self.rows):
            raise IndexError(f"index {index} out of range for {len(self.rows)} rows")
        cfg = self.config
        row = self.rows[index]
        start, length = self.crop(index)
        item: dict[str, Any] = {
            "index": index, "start": start,
            "speaker_path": row.speaker, "listener_path": row.listener,
            "speaker_3dmm": torch.from_numpy(
                self._window(self.coefficients(row.speaker), start, length)),
            "listener_3dmm": torch.from_numpy(
                self._window(self.coefficients(row.listener), start, length)),
        }
        if cfg.load_audio:
            audio = self.speaker_audio(row.speaker)
            seg = audio[start * SAMPLES_PER_FRAME:(start + length) * SAMPLES_PER_FRAME]
            seg = np.pad(seg, (0, length * SAMPLES_PER_FRAME - len(seg)))
            item["speaker_audio"] = torch.from_numpy(np.ascontiguousarray(seg, np.float32))
        if self.has_emotion:
            item["speaker_emotion"] = torch.from_numpy(
                self._window(self.emotion(row.speaker), start, length))
            item["listener_emotion"] = torch.from_numpy(
                self._window(self.emotion(row.listener), start, length))
        appropriate = self.appropriate_indices(index)
        item["appropriate_indices"] = torch.from_numpy(appropriate)
        if cfg.load_appropriate:
            chosen = appropriate[:cfg.max_appropriate]
            item["appropriate_listener_3dmm"] = torch.from_numpy(np.stack([
                self._window(self.coefficients(self.rows[j].listener), start, length)
                for j in chosen]))
        features_path = self.face_features_path(row.speaker)
        item["speaker_face_features_path"] = str(features_path)
        if cfg.load_face_features and features_path.exists():
            feats = np.load(features_path, mmap_mode="r", allow_pickle=False)
            item["speaker_face_features"] = torch.from_numpy(
                self._window(feats, start, length))
        item["speaker_video_path"] = str(self.layout.video_path(row.speaker))
        if cfg.load_video:
            item["speaker_video"] = torch.from_numpy(self._video(row.speaker, start, length))
        return item


def collate_reactions(batch: list[dict[str, Any]]) -> dict[str, Any]:
    """Batch items of one crop length; pads the variable-size appropriate-reaction fields.

    Tensors of equal shape are stacked to ``(B, ...)``; strings and ints become lists.
    ``appropriate_indices`` becomes ``(B, Kmax)`` padded with ``-1`` and
    ``appropriate_listener_3dmm`` ``(B, Kmax, T, 58)`` padded with zeros, with
    ``appropriate_mask`` ``(B, Kmax)`` bool marking the real entries.
    """
    out: dict[str, Any] = {}
    for key in batch[0]:
        values = [b[key] for b in batch]
        if key == "appropriate_indices":
            k = max(len(v) for v in values)
            idx = torch.full((len(values), k), -1, dtype=torch.int64)
            for i, v in enumerate(values):
                idx[i, :len(v)] = v
            out[key] = idx
        elif key == "appropriate_listener_3dmm":
            k = max(v.shape[0] for v in values)
            pad = torch.zeros((len(values), k) + tuple(values[0].shape[1:]))
            mask = torch.zeros((len(values), k), dtype=torch.bool)
            for i, v in enumerate(values):
                pad[i, :v.shape[0]] = v
                mask[i, :v.shape[0]] = True
            out[key] = pad
            out["appropriate_mask"] = mask
        elif isinstance(values[0], torch.Tensor):
            out[key] = torch.stack(values)
        else:
            out[key] = values
    return out
