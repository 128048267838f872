"""Several faces in view: stable ids across frames.

MediaPipe's Face Landmarker returns up to ``num_faces`` faces per frame in no stable order.
:class:`FaceTracker` gives each person an id that stays the same while they are in view
(ROS4HRI ``/humans/faces/<id>/...`` topic names need that): every frame, detections are
matched to the tracks of the previous frames by box overlap (IoU) and, where boxes do not
overlap, by the distance between box centres relative to the face size. Matching is greedy on
the best score first, which is exact for faces that do not cross each other between two frames
(a 40 ms step). A track that is not matched survives ``max_missed`` frames (a blink of the
detector keeps the id); after that its id is retired and never reused.

Ids are ``face1``, ``face2``, ... in order of first appearance: valid ROS topic tokens.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Track:
    """One tracked face.

    Attributes
    ----------
    face_id : str
        Stable id (``face<n>``).
    box : np.ndarray
        ``(4,)`` last normalised ``(xmin, ymin, xmax, ymax)``.
    missed : int
        Frames since it was last matched (0: in view this frame).
    age : int
        Frames it has been matched in.
    """

    face_id: str
    box: np.ndarray
    missed: int = 0
    age: int = 0

    @property
    def center(self) -> np.ndarray:
        """``(2,)`` normalised box centre ``(x, y)``."""
        return np.array([(self.box[0] + self.box[2]) / 2, (self.box[1] + self.box[3]) / 2])


def box_iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two ``(xmin, ymin, xmax, ymax)`` boxes (0 when disjoint)."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def _match_score(track_box: np.ndarray, box: np.ndarray) -> float:
    """Higher is better; below 0 means "not the same face"."""
    iou = box_iou(track_box, box)
    if iou > 0:
        return 1.0 + iou
    size = max(track_box[2] - track_box[0], track_box[3] - track_box[1], 1e-3)
    ct = np.array([(track_box[0] + track_box[2]) / 2, (track_box[1] + track_box[3]) / 2])
    cb = np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2])
    dist = float(np.linalg.norm(ct - cb)) / size
    return 1.0 - dist  # > 0 within one face size


class FaceTracker:
    """Assigns stable ids to per-frame face boxes.

    Parameters
    ----------
    max_missed : int
        Frames an unmatched track is kept before its id is retired.
    """

    def __init__(self, max_missed: int = 12) -> None:
        if int(max_missed) < 0:
            raise ValueError(f"max_missed must be >= 0, got {max_missed!r}")
        self.max_missed = int(max_missed)
        self.reset()

    def reset(self) -> None:
        """Forget every track (ids start again at ``face1``)."""
        self.tracks: list[Track] = []
        self._next_id = 1

    def update(self, boxes: list[np.ndarray]) -> list[str]:
        """Match this frame's boxes to the tracks.

        Parameters
        ----------
        boxes : list of np.ndarray
            ``(4,)`` normalised boxes of the faces found in this frame.

        Returns
        -------
        list of str
            The id of each box, in the order given.
        """
        boxes = [np.asarray(b, dtype=np.float64).reshape(4) for b in boxes]
        pairs = sorted(((_match_score(t.box, b), ti, bi) for ti, t in enumerate(self.tracks)
                        for bi, b in enumerate(boxes)), reverse=True)
        ids: list[str | None] = [None] * len(boxes)
        used_tracks: set[int] = set()
        for score, ti, bi in pairs:
            if score <= 0 or ti in used_tracks or ids[bi] is not None:
                continue
            used_tracks.add(ti)
            ids[bi] = self.tracks[ti].face_id
            self.tracks[ti].box, self.tracks[ti].missed = boxes[bi], 0
            self.tracks[ti].age += 1
        for ti, track in enumerate(self.tracks):
            if ti not in used_tracks:
                track.missed += 1
        self.tracks = [t for t in self.tracks if t.missed <= self.max_missed]
        for bi, box in enumerate(boxes):
            if ids[bi] is None:
                track = Track(f"face{self._next_id}", box, 0, 1)
                self._next_id += 1
                self.tracks.append(track)
                ids[bi] = track.face_id
        return [str(i) for i in ids]

    def visible(self) -> list[Track]:
        """Tracks matched in the last frame."""
        return [t for t in self.tracks if t.missed == 0]


__all__ = ["FaceTracker", "Track", "box_iou"]
