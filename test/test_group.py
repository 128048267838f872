"""Group conversations: tracking, active speaker, gaze, and `reactface generate` on two people.

The clip tests use two synthetic speakers side by side taking turns (made here with espeak-ng
and the mesh renderer; :mod:`reactface_ros.data.group_clip`).
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from reactface_ros.active_speaker import ActiveSpeakerEstimator, mouth_openness
from reactface_ros.constants import BLENDSHAPE_INDEX, FPS, SAMPLES_PER_FRAME
from reactface_ros.face_tracking import FaceTracker
from reactface_ros.gaze import GazeController, speaker_angles
from reactface_ros.group import GroupFace, GroupListener

CHECKPOINT = "models/reactface_cpu"
TURN_S = 4.0


# --------------------------------------------------------------------------- unit level

def test_tracker_keeps_ids_when_order_changes_and_through_a_dropout():
    tracker = FaceTracker(max_missed=3)
    left, right = np.array([0.05, 0.3, 0.35, 0.7]), np.array([0.6, 0.3, 0.9, 0.7])
    first = tracker.update([left, right])
    assert first == ["face1", "face2"]
    # MediaPipe's order is arbitrary: the ids follow the boxes, not the order.
    assert tracker.update([right + 0.01, left - 0.01]) == ["face2", "face1"]
    assert tracker.update([left]) == ["face1"]             # face2 missed one frame
    assert tracker.update([right, left]) == ["face2", "face1"]
    for _ in range(4):
        tracker.update([left])
    assert tracker.update([left, right]) == ["face1", "face3"]   # retired ids are not reused


def _talk(rng, frames):
    """Loudness per frame (speech bursts) and the RMS audio that has it."""
    env = np.clip(np.convolve(rng.random(frames), np.ones(3) / 3, "same") - 0.3, 0, None)
    audio = np.concatenate([rng.standard_normal(SAMPLES_PER_FRAME) * e * 0.2 for e in env])
    return env, audio.astype(np.float32)


def test_active_speaker_follows_the_mouth_that_moves_with_the_sound_and_holds_in_pauses():
    rng = np.random.default_rng(0)
    est = ActiveSpeakerEstimator()
    frames = 4 * FPS
    env, audio = _talk(rng, frames)
    # Turn 1 (a talks), a pause (silence), turn 2 (b talks).
    silence = np.zeros(FPS * SAMPLES_PER_FRAME, np.float32)
    env2, audio2 = _talk(rng, frames)
    audio_all = np.concatenate([audio, silence, audio2])
    mouth_a = np.concatenate([env, np.zeros(FPS), 0.01 * rng.random(frames)])
    mouth_b = np.concatenate([0.01 * rng.random(frames), np.zeros(FPS), env2])
    est.push_audio(audio_all[:SAMPLES_PER_FRAME], 16000, 0.0)
    active = []
    for k in range(len(mouth_a)):
        est.push_audio(audio_all[(k + 1) * SAMPLES_PER_FRAME:(k + 2) * SAMPLES_PER_FRAME], 16000,
                       (k + 1) / FPS)
        active.append(est.update(k / FPS, {"a": mouth_a[k], "b": mouth_b[k]}).active)
    assert all(a == "a" for a in active[FPS:frames])
    assert all(a == "a" for a in active[frames:frames + FPS])         # the pause keeps the floor
    assert all(a == "b" for a in active[frames + 2 * FPS + FPS:])
    assert est.switches == 1
    # One face in view is the speaker whatever its mouth does.
    assert est.update(len(mouth_a) / FPS, {"c": 0.0}).active == "c"


def test_mouth_openness_reads_jaw_and_lips():
    b = np.zeros(52)
    closed = mouth_openness(b)
    b[BLENDSHAPE_INDEX["jawOpen"]] = 0.5
    assert mouth_openness(b) > closed + 0.4
    with pytest.raises(ValueError, match="52 values"):
        mouth_openness(np.zeros(10))


def test_gaze_sign_gain_and_smoothing():
    right_box = np.array([0.7, 0.4, 0.9, 0.6])       # centre x = 0.8, y = 0.5
    h, v = speaker_angles(right_box, 60.0, 45.0)
    assert h > 0 and abs(v) < 1e-9
    assert h == pytest.approx(np.arctan(0.6 * np.tan(np.radians(30))))
    gaze = GazeController(gain=2.0, eye_gain=0.0, smoothing_s=0.2)
    offsets = [gaze.step(right_box, 2)[0] for _ in range(3 * FPS)]
    assert offsets[0] < 0.5 * h                      # no jump at the first frame
    assert np.all(np.diff(offsets) >= -1e-9)         # critically damped: no overshoot back
    assert offsets[-1] == pytest.approx(h, abs=1e-3)
    coeffs = np.zeros((4, 58), np.float32)
    turned = gaze.apply(coeffs, np.array([offsets[-1], 0.0]))
    assert np.allclose(turned[:, 53], 2.0 * offsets[-1], atol=1e-6)   # ry += gain * angle
    # One face in view: straight ahead, the reactions untouched.
    single = GazeController()
    assert np.array_equal(single.apply(coeffs, single.step(right_box, 1)), coeffs)
    off = GazeController(gain=0.0, eye_gain=0.0)
    assert np.array_equal(off.apply(coeffs, off.step(right_box, 2)), coeffs)
    with pytest.raises(ValueError, match="hfov_deg"):
        GazeController(hfov_deg=0)


def test_eyes_turn_the_same_way_as_the_head():
    gaze = GazeController(gain=1.0, eye_gain=1.0)
    out = gaze.apply(np.zeros(58, np.float32), np.array([0.3, 0.0]))
    # Positive yaw looks to the viewer's left: the face's right eye turns outward.
    assert out[BLENDSHAPE_INDEX["eyeLookOutRight"]] > 0.2
    assert out[BLENDSHAPE_INDEX["eyeLookOutLeft"]] == 0.0


def test_group_listener_cross_fades_the_features_at_a_change_of_speaker():
    group = GroupListener(crossfade_s=0.4)
    va, vb = np.zeros(59, np.float32), np.ones(59, np.float32)
    box_a, box_b = np.array([0.0, 0.3, 0.4, 0.7]), np.array([0.6, 0.3, 0.95, 0.7])
    faces = [GroupFace("a", va, box_a), GroupFace("b", vb, box_b)]
    group.fed = "a"
    group.estimator.active = "b"        # as if the estimate had just switched
    group.estimator.update = lambda stamp, mouths: type(
        "E", (), {"active": "b", "scores": {}, "silent": False, "switched": False})()
    values = [float(group.frame(k / FPS, faces).vector[0]) for k in range(15)]
    assert values[0] > 0 and values[0] < 0.2              # starts near a, not at b
    assert np.all(np.diff(values) > 0) or values[-1] == 1.0
    assert max(np.diff(values)) <= 1.0 / 10 + 1e-6        # no step bigger than 1/(n+1)
    assert values[-1] == 1.0
    # One face: that face's vector, exactly.
    lone = GroupListener()
    vec = np.random.default_rng(1).random(59).astype(np.float32)
    decided = lone.frame(0.0, [GroupFace("x", vec, box_a)])
    assert decided.vector is vec and np.array_equal(decided.gaze, np.zeros(2))


# --------------------------------------------------------------------------- on clips

needs_media = pytest.mark.skipif(shutil.which("espeak-ng") is None,
                                 reason="espeak-ng is not installed (scripts/setup_env.sh)")


@pytest.fixture(scope="module")
def two_clips(tmp_path_factory):
    from reactface_ros.data.group_clip import two_person_clip

    root = tmp_path_factory.mktemp("group")
    normal = two_person_clip(root / "two.mp4", seconds=12.0, turn_s=TURN_S, seed=7,
                             workdir=root)
    swapped = two_person_clip(root / "two_swapped.mp4", seconds=12.0, turn_s=TURN_S, seed=7,
                              swap=True, workdir=root)
    return normal, swapped


def _generate(repo_root, video, out, *extra):
    proc = subprocess.run(
        [sys.executable, "-m", "reactface_ros.cli", "generate", "--speaker-video", str(video),
         "--checkpoint", str(repo_root / CHECKPOINT), "--samples", "2", "--out", str(out),
         *extra], capture_output=True, text=True, timeout=900, cwd=repo_root)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return np.load(out), proc.stdout


def _far_from_turns(clip, margin=FPS):
    far = np.ones(clip.num_frames, bool)
    far[:margin] = False
    for a, _, _ in clip.turns[1:]:
        far[max(0, a - margin):a + margin] = False
    return far


@needs_media
@pytest.mark.slow
def test_generate_reacts_to_and_looks_at_whoever_speaks(two_clips, tmp_path, repo_root):
    yaw_by_side = {}
    for clip in two_clips:
        tracks_path = tmp_path / f"{clip.path.stem}.json"
        reactions, log = _generate(repo_root, clip.path, tmp_path / f"{clip.path.stem}.npy",
                                   "--tracks", str(tracks_path))
        assert reactions.shape == (2, clip.num_frames, 58)
        tracks = json.loads(tracks_path.read_text())["frames"]
        assert len(tracks) == clip.num_frames and "change(s) of active speaker" in log
        assert all(len(t["faces"]) == 2 for t in tracks), "both faces must be tracked"
        ids = {f["id"] for t in tracks for f in t["faces"]}
        assert len(ids) == 2, f"ids must stay stable, got {sorted(ids)}"
        # The active speaker, as a side of the image, against the clip's ground truth.
        side = []
        for t in tracks:
            boxes = {f["id"]: f["box"] for f in t["faces"]}
            box = boxes.get(t["active"])
            side.append(0 if box is None else (1 if box[0] + box[2] > 1.0 else -1))
        side = np.array(side)
        truth = clip.side_of_speaker()
        far = _far_from_turns(clip)
        accuracy = float((side[far] == truth[far]).mean())
        assert accuracy >= 0.9, f"active speaker right on {accuracy:.0%} of frames"
        # After each turn change the head yaw (ry) moves toward the new speaker.
        yaw = reactions[0, :, 53]
        for (a0, b0, _), (a1, b1, _) in zip(clip.turns, clip.turns[1:]):
            before = yaw[max(a0, b0 - FPS):b0].mean()
            after = yaw[a1 + int(1.5 * FPS):b1].mean()
            toward = truth[a1]             # +1: the new speaker is on the right
            assert toward * (after - before) >= 0.1, (clip.path.name, a1, before, after)
        yaw_by_side[clip.sides[0]] = yaw[int(1.5 * FPS):clip.turns[0][1]].mean()
    # Person 0 speaks first: on the left the head turns to negative ry, on the right positive.
    assert yaw_by_side["left"] < -0.05 and yaw_by_side["right"] > 0.05


@needs_media
@pytest.mark.slow
def test_one_face_in_view_gives_the_same_reactions_as_the_dyadic_path(tmp_path, repo_root):
    from reactface_ros.data.synth import synthesize_session
    from reactface_ros.render import make_renderer
    from reactface_ros.video import write_video

    session = synthesize_session(11, 0, 6 * FPS, 1, workdir=tmp_path)
    with make_renderer(style="mesh", size=192) as renderer:
        images = renderer.render_sequence(session.speaker.coefficients)
    video = tmp_path / "one.mp4"
    write_video(video, images, fps=FPS, audio=(session.speaker.audio, 16000))
    dyadic, _ = _generate(repo_root, video, tmp_path / "dyadic.npy", "--max-faces", "1")
    group, _ = _generate(repo_root, video, tmp_path / "group.npy", "--tracks",
                         str(tmp_path / "tracks.json"))
    assert np.abs(dyadic - group).max() <= 1e-5
    tracks = json.loads((tmp_path / "tracks.json").read_text())["frames"]
    assert sum(len(t["faces"]) == 1 for t in tracks) >= 0.9 * len(tracks)


def test_generate_rejects_bad_group_arguments(tmp_path, repo_root):
    for flag, value, text in (("--max-faces", "0", "--max-faces"),
                              ("--gaze-gain", "nan", "--gaze-gain")):
        proc = subprocess.run(
            [sys.executable, "-m", "reactface_ros.cli", "generate", "--speaker-video",
             str(repo_root / "models/sample/speaker.mp4"), "--checkpoint",
             str(repo_root / CHECKPOINT), "--out", str(tmp_path / "x.npy"), flag, value],
            capture_output=True, text=True, timeout=300, cwd=repo_root)
        assert proc.returncode == 2 and text in proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1


def test_analyzer_tracks_two_real_faces_with_stable_ids_and_keeps_a_lone_face_exact():
    skimage_data = pytest.importorskip("skimage.data")
    from reactface_ros.face_analysis import FaceAnalysisConfig, FaceAnalyzer

    face = skimage_data.astronaut()[:320, 96:416]
    pair = np.ascontiguousarray(np.concatenate([face, face[:, ::-1]], axis=1))
    with FaceAnalyzer(FaceAnalysisConfig(max_faces=4, return_crop=False)) as group, \
            FaceAnalyzer(FaceAnalysisConfig(max_faces=1, return_crop=False)) as single:
        lone = [group.analyze_faces(face, 40.0 * k) for k in range(6)]
        ref = [single.analyze(face, 40.0 * k) for k in range(6)]
        for got, want in zip(lone, ref):
            assert len(got) == 1
            np.testing.assert_array_equal(got[0][1].to_vector(), want.to_vector())
        # A second person is looked for every probe_frames (5) frames.
        frames = [group.analyze_faces(pair, 40.0 * k) for k in range(6, 18)][5:]
    for faces in frames:
        assert [fid for fid, _ in faces] == [frames[0][0][0], frames[0][1][0]]
        left, right = faces[0][1].box, faces[1][1].box
        assert left[2] <= 0.55 and right[0] >= 0.45
