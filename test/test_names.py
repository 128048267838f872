"""The single table of blendshape names: FaceVerse, MediaPipe, Live Link Face, VMC Perfect Sync."""
import numpy as np
import pytest

from reactface_ros import constants as c


def _lower_first(name):
    return name[0].lower() + name[1:]


def test_every_table_is_a_bijection_over_the_right_names():
    arkit = set(c.ARKIT_BLENDSHAPE_NAMES)
    assert len(arkit) == 52
    # Live Link: the same 52 ARKit names, each once, in another order.
    assert len(c.LIVELINK_BLENDSHAPE_NAMES) == 52
    assert set(c.LIVELINK_BLENDSHAPE_NAMES) == arkit
    assert list(c.LIVELINK_BLENDSHAPE_NAMES) != list(c.ARKIT_BLENDSHAPE_NAMES)
    # MediaPipe: _neutral + every ARKit name but tongueOut.
    assert len(set(c.MEDIAPIPE_BLENDSHAPE_NAMES)) == 52
    assert set(c.MEDIAPIPE_BLENDSHAPE_NAMES) == (arkit - {"tongueOut"}) | {"_neutral"}
    assert c.MEDIAPIPE_BLENDSHAPE_NAMES[0] == "_neutral"
    # Perfect Sync: a one-to-one renaming (first letter upper-case) in FaceVerse order.
    upper = c.perfect_sync_names("upper")
    assert len(set(upper)) == 52 and all(n[0].isupper() for n in upper)
    assert [_lower_first(n) for n in upper] == list(c.ARKIT_BLENDSHAPE_NAMES)
    assert c.perfect_sync_names("lower") == c.ARKIT_BLENDSHAPE_NAMES
    assert c.PERFECT_SYNC_BLENDSHAPE_NAMES == upper
    with pytest.raises(ValueError, match="unknown Perfect Sync name case"):
        c.perfect_sync_names("snake")


def test_mediapipe_order_matches_mediapipe_itself():
    vision = pytest.importorskip("mediapipe.tasks.python.vision.face_landmarker")
    from_enum = []
    for member in sorted(vision.Blendshapes, key=int):
        if member.name == "NEUTRAL":
            from_enum.append("_neutral")
            continue
        words = member.name.lower().split("_")
        from_enum.append(words[0] + "".join(w.capitalize() for w in words[1:]))
    assert tuple(from_enum) == c.MEDIAPIPE_BLENDSHAPE_NAMES


def test_known_positions():
    ll = c.LIVELINK_BLENDSHAPE_NAMES
    # Unreal's EARFaceBlendShape / Live Link Face packet positions.
    assert ll[0] == "eyeBlinkLeft" and ll[1] == "eyeLookDownLeft" and ll[7] == "eyeBlinkRight"
    assert ll[14] == "jawForward" and ll[17] == "jawOpen" and ll[18] == "mouthClose"
    assert ll[23] == "mouthSmileLeft" and ll[41] == "browDownLeft" and ll[46] == "cheekPuff"
    assert ll[49] == "noseSneerLeft" and ll[51] == "tongueOut"
    assert c.LIVELINK_POSE_CURVE_NAMES[0] == "HeadYaw" and c.LIVELINK_NUM_CURVES == 61
    # FaceVerse (alphabetical) positions.
    assert c.BLENDSHAPE_INDEX["jawOpen"] == 24 and c.BLENDSHAPE_INDEX["tongueOut"] == 51
    assert c.MEDIAPIPE_BLENDSHAPE_NAMES[25] == "jawOpen"
    assert c.PERFECT_SYNC_BLENDSHAPE_NAMES[24] == "JawOpen"
    assert c.PERFECT_SYNC_BLENDSHAPE_NAMES[8] == "EyeBlinkLeft"


def test_reorder_moves_values_with_their_names():
    rng = np.random.default_rng(0)
    faceverse = rng.random((3, 4, 52))
    ll = c.reorder_by_name(faceverse, c.ARKIT_BLENDSHAPE_NAMES, c.LIVELINK_BLENDSHAPE_NAMES)
    assert ll.shape == (3, 4, 52)
    for j, name in enumerate(c.LIVELINK_BLENDSHAPE_NAMES):
        np.testing.assert_array_equal(ll[..., j], faceverse[..., c.BLENDSHAPE_INDEX[name]])
    # Round trips.
    back = c.reorder_by_name(ll, c.LIVELINK_BLENDSHAPE_NAMES, c.ARKIT_BLENDSHAPE_NAMES)
    np.testing.assert_array_equal(back, faceverse)
    ps = c.reorder_by_name(faceverse, c.ARKIT_BLENDSHAPE_NAMES, c.PERFECT_SYNC_BLENDSHAPE_NAMES)
    np.testing.assert_array_equal(ps, faceverse)  # same order, names differ only in case


def test_mediapipe_round_trip_drops_neutral_and_fills_tongue_out():
    scores = np.linspace(0.01, 0.52, 52)  # MediaPipe order, _neutral first
    fv = c.reorder_by_name(scores, c.MEDIAPIPE_BLENDSHAPE_NAMES, c.ARKIT_BLENDSHAPE_NAMES,
                           missing=-1.0)
    assert fv[c.BLENDSHAPE_INDEX["tongueOut"]] == -1.0
    assert fv[c.BLENDSHAPE_INDEX["browDownLeft"]] == scores[1]
    assert fv[c.BLENDSHAPE_INDEX["jawOpen"]] == scores[25]
    mp = c.reorder_by_name(fv, c.ARKIT_BLENDSHAPE_NAMES, c.MEDIAPIPE_BLENDSHAPE_NAMES)
    assert mp[0] == 0.0  # _neutral has no FaceVerse counterpart
    np.testing.assert_array_equal(mp[1:], scores[1:])


def test_reorder_case_handling_and_errors():
    upper = c.PERFECT_SYNC_BLENDSHAPE_NAMES
    values = np.arange(52.0)
    ll = c.reorder_by_name(values, upper, c.LIVELINK_BLENDSHAPE_NAMES)
    assert ll[17] == c.BLENDSHAPE_INDEX["jawOpen"]
    strict = c.reorder_by_name(values, upper, c.LIVELINK_BLENDSHAPE_NAMES, case_sensitive=True,
                               missing=np.nan)
    assert np.isnan(strict).all()
    with pytest.raises(ValueError, match=r"shape \(\.\.\., 52\)"):
        c.reorder_by_name(np.zeros(51), c.ARKIT_BLENDSHAPE_NAMES, c.LIVELINK_BLENDSHAPE_NAMES)
    with pytest.raises(ValueError, match="duplicate"):
        c.reorder_by_name(np.zeros(2), ["jawOpen", "JawOpen"], ["jawOpen"])
    index, present = c.name_permutation(c.ARKIT_BLENDSHAPE_NAMES, c.MEDIAPIPE_BLENDSHAPE_NAMES)
    assert index[0] == -1 and not present[0] and present[1:].all()
    assert sorted(index[1:].tolist()) == sorted(set(range(52)) - {51})


def test_mirror_permutation_swaps_left_and_right():
    perm = np.array(c.MIRROR_PERMUTATION)
    assert sorted(perm.tolist()) == list(range(52))
    np.testing.assert_array_equal(perm[perm], np.arange(52))  # mirroring twice is identity
    names = c.ARKIT_BLENDSHAPE_NAMES
    unsided = {names[i] for i in range(52) if perm[i] == i}
    assert unsided == {"browInnerUp", "cheekPuff", "jawForward", "jawOpen", "mouthClose",
                       "mouthFunnel", "mouthPucker", "mouthRollLower", "mouthRollUpper",
                       "mouthShrugLower", "mouthShrugUpper", "tongueOut"}
    assert names[perm[c.BLENDSHAPE_INDEX["mouthLeft"]]] == "mouthRight"
    assert names[perm[c.BLENDSHAPE_INDEX["eyeLookInLeft"]]] == "eyeLookInRight"
    assert c.mirrored_name("jawRight") == "jawLeft"
