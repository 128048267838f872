"""Closed loop: MediaPipe Face Landmarker reads back what the mesh renderer was told to show.

Rendered frames with one expression driven are analysed by the speaker face analysis
(MediaPipe): the face must be found, the matching blendshape score must rise against the
neutral frame, left/right must not be mirrored, and a head turn must read back with the same
sign (FaceVerse convention).
"""
from __future__ import annotations

import numpy as np
import pytest

from reactface_ros.constants import BLENDSHAPE_INDEX, NUM_COEFFS
from reactface_ros.render import make_renderer
from reactface_ros.render.rig import REFERENCE_TRANSLATION

pytest.importorskip("mediapipe")
face_analysis = pytest.importorskip("reactface_ros.face_analysis")

SIZE = 256


def frame(yaw: float = 0.0, **weights) -> np.ndarray:
    x = np.zeros(NUM_COEFFS)
    x[52:55] = [np.pi, yaw, 0.0]
    x[55:58] = REFERENCE_TRANSLATION
    for name, value in weights.items():
        x[BLENDSHAPE_INDEX[name]] = value
    return x


@pytest.fixture(scope="module", params=["gl", "numpy"])
def readback(request):
    if request.param == "gl":
        from reactface_ros.render.raster_gl import gl_unavailable_reason
        reason = gl_unavailable_reason()
        if reason is not None:
            pytest.skip(f"no OpenGL: {reason}")
    try:
        analyzer = face_analysis.FaceAnalyzer(face_analysis.FaceAnalysisConfig(
            running_mode="image", return_crop=False))
    except (FileNotFoundError, RuntimeError) as exc:
        pytest.skip(f"Face Landmarker unavailable: {exc}")
    renderer = make_renderer("mesh", size=SIZE, backend=request.param)

    def analyse(coeffs: np.ndarray):
        features = analyzer.analyze(renderer.render(coeffs))
        assert features.face_found, "MediaPipe found no face in the rendered frame"
        return features

    yield analyse
    renderer.close()
    analyzer.close()


@pytest.fixture(scope="module")
def neutral(readback):
    return readback(frame())


def score(features, name: str) -> float:
    return float(features.blendshapes[BLENDSHAPE_INDEX[name]])


@pytest.mark.parametrize("driven,read,min_rise", [
    ({"jawOpen": 1.0}, ["jawOpen"], 0.3),
    ({"mouthSmileLeft": 1.0, "mouthSmileRight": 1.0}, ["mouthSmileLeft", "mouthSmileRight"], 0.3),
    ({"eyeBlinkLeft": 1.0, "eyeBlinkRight": 1.0}, ["eyeBlinkLeft", "eyeBlinkRight"], 0.2),
    ({"browInnerUp": 1.0}, ["browInnerUp"], 0.1),
    ({"mouthPucker": 1.0}, ["mouthPucker"], 0.3),
])
def test_driven_blendshape_reads_back(readback, neutral, driven, read, min_rise):
    features = readback(frame(**driven))
    rise = np.mean([score(features, n) - score(neutral, n) for n in read])
    assert rise > min_rise, {n: (score(neutral, n), score(features, n)) for n in read}


@pytest.mark.parametrize("side,other", [("Left", "Right"), ("Right", "Left")])
def test_sides_are_not_mirrored(readback, neutral, side, other):
    smile = readback(frame(**{f"mouthSmile{side}": 1.0}))
    assert score(smile, f"mouthSmile{side}") > score(smile, f"mouthSmile{other}") + 0.2
    blink = readback(frame(**{f"eyeBlink{side}": 1.0}))
    rise_own = score(blink, f"eyeBlink{side}") - score(neutral, f"eyeBlink{side}")
    rise_other = score(blink, f"eyeBlink{other}") - score(neutral, f"eyeBlink{other}")
    assert rise_own > rise_other + 0.1


def test_head_turn_reads_back_with_the_same_sign(readback, neutral):
    assert abs(neutral.head_rotation[1]) < 0.05
    assert abs(np.angle(np.exp(1j * (neutral.head_rotation[0] - np.pi)))) < 0.1
    for yaw in (-0.35, 0.35):
        features = readback(frame(yaw=yaw))
        recovered = float(features.head_rotation[1])
        assert np.sign(recovered) == np.sign(yaw)
        assert 0.5 * abs(yaw) < abs(recovered) < 1.5 * abs(yaw), recovered
