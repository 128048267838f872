"""The speaker face-feature cache: what the model sees in training is what it sees live.

The ``blendshapes`` face encoder reads the ``(T, 59)`` features of
:mod:`reactface_ros.face_analysis`; the live system computes them from camera frames, so
training computes them with the same :class:`~reactface_ros.face_analysis.FaceAnalyzer` over
the dataset's speaker *video* (never from the 3DMM files) and caches them as ``.npy`` next to
the data (``<root>/face_features/<clip>.npy``). The ``conv3d`` encoder reads face crops from
the same pass, cached as ``uint8`` ``(T, 3, S, S)`` in ``<root>/face_crops_<S>/<clip>.npy``.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from reactface_ros.constants import FACE_FEATURE_DIM, FPS


@dataclass
class CacheReport:
    """What :func:`ensure_face_features` did.

    Attributes
    ----------
    computed : int
        Clips analysed in this call.
    reused : int
        Clips whose cache file was already there and valid.
    frames : int
        Video frames analysed in this call.
    """

    computed: int = 0
    reused: int = 0
    frames: int = 0


class SpeakerVideoError(ValueError):
    """A speaker video of the dataset cannot be read (the message names it and what to do)."""


def read_video_rgb(path: str | os.PathLike) -> Iterator[np.ndarray]:
    """Decode a video file (or a challenge-layout folder of ``1.png, 2.png, ...``).

    Yields
    ------
    np.ndarray
        ``(H, W, 3)`` uint8 RGB frames in order.
    """
    p = Path(path)
    if p.is_dir():
        from reactface_ros.data.layouts import count_frames, read_frame_folder

        n = count_frames(p)
        for start in range(0, n, 64):
            yield from read_frame_folder(p, start, min(64, n - start))
        return
    if not p.is_file():
        raise FileNotFoundError(f"speaker video {p} does not exist; the face-feature cache is "
                                f"computed from the dataset's speaker videos")
    import av

    try:
        with av.open(str(p)) as container:
            if not container.streams.video:
                raise SpeakerVideoError(
                    f"speaker video {p} has no video track; replace it with the clip's video "
                    "(the face-feature cache is computed from it)")
            from reactface_ros.video import rgb_frames

            yield from rgb_frames(container.decode(container.streams.video[0]))
    except av.error.FFmpegError as exc:
        raise SpeakerVideoError(
            f"cannot decode speaker video {p} ({exc}); re-encode or replace the file, or "
            "remove its row from the split's csv") from exc


def crop_cache_path(features_path: Path, crop_size: int) -> Path:
    """Crop cache path beside a feature cache path (``face_features`` -> ``face_crops_<S>``)."""
    parts = list(features_path.parts)
    for i in range(len(parts) - 1, -1, -1):
        if parts[i] == "face_features":
            parts[i] = f"face_crops_{crop_size}"
            return Path(*parts)
    return features_path.with_name(features_path.stem + f".crops{crop_size}.npy")


def _valid_cache(path: Path, shape_tail: tuple[int, ...]) -> bool:
    if not path.is_file():
        return False
    try:
        a = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError):
        return False
    return a.ndim == 1 + len(shape_tail) and tuple(a.shape[1:]) == shape_tail and len(a) > 0


def _save_atomic(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.npy")
    np.save(tmp, array)
    os.replace(tmp, path)


def analyze_speaker_video(video: Path, analyzer, crop_size: int | None = None
                          ) -> tuple[np.ndarray, np.ndarray | None]:
    """Run face analysis over one speaker video.

    Parameters
    ----------
    video : Path
        Video file or frame folder (25 fps).
    analyzer : FaceAnalyzer
        Open analyzer (reset here: every video is a new track).
    crop_size : int, optional
        Also return ``(T, 3, S, S)`` uint8 face crops of this size (zeros without a face).

    Returns
    -------
    tuple
        ``(T, 59)`` float32 features and the crops (or ``None``).
    """
    analyzer.reset()
    rows, crops = [], []
    for i, frame in enumerate(read_video_rgb(video)):
        feats = analyzer.analyze(frame, i * 1000.0 / FPS)
        rows.append(feats.to_vector())
        if crop_size is not None:
            c = feats.crop
            if c is None or c.shape[:2] != (crop_size, crop_size):
                c = np.zeros((crop_size, crop_size, 3), np.uint8)
            crops.append(np.ascontiguousarray(c.transpose(2, 0, 1)))
    if not rows:
        raise SpeakerVideoError(f"speaker video {video} has no frames; replace the file or "
                                "remove its row from the split's csv")
    return np.stack(rows).astype(np.float32), (np.stack(crops) if crop_size else None)


def ensure_face_features(jobs: list[tuple[Path, Path]], crop_size: int | None = None,
                         analyzer_factory: Callable | None = None,
                         progress: bool = False) -> CacheReport:
    """Compute the missing face-feature (and crop) caches of ``jobs``.

    Parameters
    ----------
    jobs : list of (Path, Path)
        ``(speaker video, feature cache .npy)`` pairs, e.g.
        :meth:`reactface_ros.data.ReactionDataset.face_feature_jobs`.
    crop_size : int, optional
        Also cache face crops of this size (``conv3d`` encoder).
    analyzer_factory : callable, optional
        Returns a :class:`~reactface_ros.face_analysis.FaceAnalyzer` (default settings, with
        crops when ``crop_size`` is given).
    progress : bool
        Show a progress bar.

    Returns
    -------
    CacheReport
        Counts of computed and reused clips.
    """
    report = CacheReport()
    todo = []
    for video, cache in jobs:
        ok = _valid_cache(cache, (FACE_FEATURE_DIM,))
        if crop_size is not None:
            ok = ok and _valid_cache(crop_cache_path(cache, crop_size), (3, crop_size, crop_size))
        if ok:
            report.reused += 1
        else:
            todo.append((Path(video), Path(cache)))
    if not todo:
        return report
    if analyzer_factory is None:
        from reactface_ros.face_analysis import FaceAnalysisConfig, FaceAnalyzer

        def analyzer_factory():
            cfg = FaceAnalysisConfig(crop_size=crop_size or 112,
                                     return_crop=crop_size is not None)
            return FaceAnalyzer(cfg)
    from tqdm import tqdm

    with analyzer_factory() as analyzer:
        for video, cache in tqdm(todo, desc="face features", unit="clip", disable=not progress):
            feats, crops = analyze_speaker_video(video, analyzer, crop_size)
            _save_atomic(cache, feats)
            if crops is not None:
                _save_atomic(crop_cache_path(cache, crop_size), crops)
            report.computed += 1
            report.frames += len(feats)
    return report
