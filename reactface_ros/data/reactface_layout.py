"""The ReactFace repository's dataset layout (mp4 video, wav audio, 3DMM ``.npy``).

::

    <root>/<split>.csv                                  ,speaker_path,listener_path
    <root>/Video_files/<site>/<session>/<role>/<clip>.mp4
    <root>/Audio_files/<site>/<session>/<role>/<clip>.wav
    <root>/3D_FV_files/<site>/<session>/<role>/<clip>.npy
    <root>/Emotion/<site>/<session>/<role>/<clip>.csv       (optional: header + T x 25)
    <root>/neighbour_emotion_new_<split>.npy                 (2P x 2P)

There is no split subfolder: the three split lists share the modality folders.
"""
from __future__ import annotations

from pathlib import Path

from reactface_ros.data.layouts import DyadicLayout


class ReactFaceLayout(DyadicLayout):
    """One split of a dataset in the ReactFace layout.

    Parameters
    ----------
    root : str or Path
        Dataset root (holding ``train.csv``, ``Video_files/``, ...).
    split : str
        ``"train"``, ``"val"`` or ``"test"``.
    """

    name = "reactface"
    description = ("ReactFace layout: <root>/<split>.csv, <root>/Video_files/<path>.mp4, "
                   "<root>/Audio_files/<path>.wav, <root>/3D_FV_files/<path>.npy, "
                   "<root>/neighbour_emotion_new_<split>.npy")
    video_kind = "mp4"

    def split_list_path(self) -> Path:
        """``<root>/<split>.csv``."""
        return self.root / f"{self.split}.csv"

    def coefficients_path(self, clip: str) -> Path:
        """``<root>/3D_FV_files/<clip>.npy``."""
        return self.root / "3D_FV_files" / f"{clip}.npy"

    def audio_path(self, clip: str) -> Path:
        """``<root>/Audio_files/<clip>.wav``."""
        return self.root / "Audio_files" / f"{clip}.wav"

    def video_path(self, clip: str) -> Path:
        """``<root>/Video_files/<clip>.mp4``."""
        return self.root / "Video_files" / f"{clip}.mp4"

    def emotion_path(self, clip: str) -> Path:
        """``<root>/Emotion/<clip>.csv``."""
        return self.root / "Emotion" / f"{clip}.csv"

    def face_features_path(self, clip: str) -> Path:
        """``<root>/face_features/<clip>.npy`` (a cache, written by training)."""
        return self.root / "face_features" / f"{clip}.npy"

    def neighbour_path(self) -> Path:
        """``<root>/neighbour_emotion_new_<split>.npy``."""
        return self.root / f"neighbour_emotion_new_{self.split}.npy"
