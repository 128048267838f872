"""Face analysis in a child process that runs ahead of the model: same frames, same features,
same reactions as the serial path; errors come back to the caller."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from test_streaming import _write_speaker_video, tiny_model

pytest.importorskip("mediapipe")

from reactface_ros.face_analysis import (FaceAnalysisConfig,  # noqa: E402
                                         FaceLandmarkerModelNotFound)
from reactface_ros.face_process import FaceAnalysisProcess, analyse_video  # noqa: E402


@pytest.fixture(scope="module")
def speaker_video(tmp_path_factory):
    path = tmp_path_factory.mktemp("face_process") / "speaker.mp4"
    _write_speaker_video(path, frames=30)
    return path


def _vectors(frames, group: bool):
    out = []
    for item in frames:
        faces = item.faces if group else [("only", item.faces)]
        out.append((item.index, item.stamp,
                    [(fid, f.to_vector(), None if f.crop is None else f.crop) for fid, f in faces]))
    return out


@pytest.mark.parametrize("group", [False, True])
def test_child_process_gives_the_serial_features(speaker_video, group):
    config = FaceAnalysisConfig(max_faces=4 if group else 1, return_crop=True)
    serial = _vectors(analyse_video(speaker_video, config, group=group), group)
    with FaceAnalysisProcess(speaker_video, config, group=group) as child:
        parallel = _vectors(child, group)
    assert len(serial) == len(parallel) == 30
    found = 0
    for (i, t, faces), (j, u, other) in zip(serial, parallel):
        assert (i, t) == (j, u)
        assert [fid for fid, _, _ in faces] == [fid for fid, _, _ in other]
        for (_, v, crop), (_, w, crop2) in zip(faces, other):
            assert np.array_equal(v, w)
            assert (crop is None and crop2 is None) or np.array_equal(crop, crop2)
            found += int(v[-1] > 0.5)
    assert found >= 20                      # the clip has a face in most frames


def test_child_errors_come_back_to_the_caller(speaker_video, tmp_path):
    bad_model = FaceAnalysisConfig(model_path=str(tmp_path / "missing.task"))
    with FaceAnalysisProcess(speaker_video, bad_model) as child:
        with pytest.raises(FaceLandmarkerModelNotFound, match="missing.task"):
            list(child)
    not_video = tmp_path / "notes.mp4"
    not_video.write_bytes(b"not a video at all" * 100)
    import av

    with FaceAnalysisProcess(not_video, FaceAnalysisConfig()) as child:
        with pytest.raises(av.error.InvalidDataError, match="notes.mp4"):
            list(child)


def test_generate_in_a_child_process_equals_the_serial_path(speaker_video, tmp_path, repo_root):
    """The CLI as users run it (a fresh process: the child is forked before torch is
    imported) against ``--serial`` in this process, with one and with several faces."""
    from reactface_ros.cli import main

    tiny_model().save_pretrained(tmp_path / "ckpt")
    for faces in ("1", "4"):
        args = ["generate", "--speaker-video", str(speaker_video), "--checkpoint",
                str(tmp_path / "ckpt"), "--samples", "3", "--seed", "5", "--max-faces", faces]
        proc = subprocess.run([sys.executable, "-m", "reactface_ros.cli", *args, "--out",
                               str(tmp_path / f"child{faces}.npy")], cwd=repo_root,
                              capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert main(args + ["--serial", "--out", str(tmp_path / f"serial{faces}.npy")]) == 0
        child = np.load(tmp_path / f"child{faces}.npy")
        serial = np.load(tmp_path / f"serial{faces}.npy")
        assert child.shape == (3, 30, 58)
        assert np.array_equal(child, serial)
