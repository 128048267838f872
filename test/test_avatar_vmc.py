"""VMC sender against python-osc's real OSC server on loopback; paced playback; bad input."""
import threading
import time

import numpy as np
import pytest
from pythonosc import dispatcher as osc_dispatcher
from pythonosc import osc_server

from reactface_ros.avatar import (FramePacer, HeadPoseConfig, VmcConfig, VmcSender,
                                  play_reaction)
from reactface_ros.avatar.validation import InputLimits, invalid_frames, load_reactions
from reactface_ros.cli import main as cli_main
from reactface_ros.constants import BLENDSHAPE_INDEX, PERFECT_SYNC_BLENDSHAPE_NAMES
from reactface_ros.geometry import FRONTAL_ROTATION

from avatar_helpers import PacketWaiter, TimedSender, assert_paced, frontal_frame


class VmcReceiver(PacketWaiter):
    """python-osc's BlockingOSCUDPServer; one handle_request() is one datagram, so the messages
    gathered during one call are exactly one packet (bundle atomicity is observable)."""

    def __init__(self):
        self.current = []
        self.packets = []  # (arrival time, [(address, args), ...])
        disp = osc_dispatcher.Dispatcher()
        disp.set_default_handler(lambda address, *args: self.current.append((address, args)))
        self.server = osc_server.BlockingOSCUDPServer(("127.0.0.1", 0), disp)
        self.server.timeout = 0.05
        self.port = self.server.server_address[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self):
        deadline = time.monotonic() + 20.0  # never outlives a broken test
        while not self._stop.is_set() and time.monotonic() < deadline:
            self.server.handle_request()
            if self.current:
                self.packets.append((time.monotonic(), self.current))
                self.current = []

    def close(self):
        self._stop.set()
        self._thread.join(timeout=2)
        self.server.server_close()


@pytest.fixture
def receiver():
    r = VmcReceiver()
    yield r
    r.close()


def quat_rotate(q, v):
    x, y, z, w = q
    u = np.array([x, y, z])
    v = np.asarray(v, float)
    return v + 2 * w * np.cross(u, v) + 2 * np.cross(u, np.cross(u, v))


def head_of(packet):
    (args,) = [a for addr, a in packet if addr == "/VMC/Ext/Bone/Pos"]
    assert args[0] == "Head"
    return np.array(args[1:4]), np.array(args[4:8])


def test_each_frame_is_one_bundle_with_every_blendshape_then_apply(receiver):
    rng = np.random.default_rng(0)
    frames = [frontal_frame(rng) for _ in range(3)]
    frames[1][BLENDSHAPE_INDEX["jawOpen"]] = 1.3      # slightly out of range: clamped
    frames[1][BLENDSHAPE_INDEX["eyeBlinkLeft"]] = -0.2
    with VmcSender("127.0.0.1", receiver.port) as sender:
        for i, f in enumerate(frames):
            assert sender.send_frame(f, i)
        packets = receiver.wait_for(3)
        assert sender.stats.sent == 3 and sender.stats.errors == 0
        assert sender.stats.clamped == 2
    assert len(packets) == 3
    for (_, packet), frame in zip(packets, frames):
        addresses = [a for a, _ in packet]
        vals = [args for a, args in packet if a == "/VMC/Ext/Blend/Val"]
        # The whole face is in this one datagram, and Apply comes after every value and the head.
        assert len(vals) == 52 and addresses.count("/VMC/Ext/Blend/Apply") == 1
        apply_at = addresses.index("/VMC/Ext/Blend/Apply")
        assert max(i for i, a in enumerate(addresses) if a == "/VMC/Ext/Blend/Val") < apply_at
        assert addresses.index("/VMC/Ext/Bone/Pos") < apply_at
        assert [name for name, _ in vals] == list(PERFECT_SYNC_BLENDSHAPE_NAMES)
        got = np.array([v for _, v in vals])
        np.testing.assert_allclose(got, np.clip(frame[:52], 0, 1), atol=1e-6)
        assert ("/VMC/Ext/OK", (1,)) in packet
    got_jaw = dict(vals)["JawOpen"]
    assert got_jaw == pytest.approx(np.clip(frames[2][BLENDSHAPE_INDEX["jawOpen"]], 0, 1))
    clamped = dict(packets[1][1][i][1] for i in range(52))
    assert clamped["JawOpen"] == 1.0 and clamped["EyeBlinkLeft"] == 0.0


def test_lower_case_names_and_no_head(receiver):
    cfg = VmcConfig(name_case="lower", send_head=False, send_status=False)
    with VmcSender("127.0.0.1", receiver.port, cfg) as sender:
        sender.send_frame(frontal_frame())
        (_, packet), = receiver.wait_for(1)
    assert [a for a, _ in packet] == ["/VMC/Ext/Blend/Val"] * 52 + ["/VMC/Ext/Blend/Apply"]
    assert packet[24][1][0] == "jawOpen"


def test_head_turns_nods_and_tilts_the_way_the_listener_does(receiver):
    def frame_with(rx=0.0, ry=0.0, rz=0.0):
        f = frontal_frame()
        f[52:55] = FRONTAL_ROTATION + (rx, ry, rz)
        return f

    # ry > 0 turns the face toward the subject's right (the image's left), rx > 0 lowers the
    # chin, rz > 0 moves the top of the head to the subject's left (geometry.py convention).
    frames = [frontal_frame(), frame_with(ry=0.4), frame_with(rx=0.3), frame_with(rz=0.25)]
    with VmcSender("127.0.0.1", receiver.port) as sender:
        for f in frames:
            sender.send_frame(f)
        packets = [p for _, p in receiver.wait_for(4)]
    pos, q = head_of(packets[0])
    np.testing.assert_allclose(q, [0, 0, 0, 1], atol=1e-6)
    np.testing.assert_allclose(pos, 0, atol=1e-7)
    # Unity: +x is the avatar's right, +y up, +z the avatar's forward (left-handed).
    forward = quat_rotate(head_of(packets[1])[1], [0, 0, 1])
    assert forward[0] == pytest.approx(np.sin(0.4), abs=1e-5)          # turned to its right
    forward = quat_rotate(head_of(packets[2])[1], [0, 0, 1])
    assert forward[1] == pytest.approx(-np.sin(0.3), abs=1e-5)          # looking down
    up = quat_rotate(head_of(packets[3])[1], [0, 1, 0])
    assert up[0] == pytest.approx(-np.sin(0.25), abs=1e-5)              # top toward its left
    for packet in packets:
        assert np.linalg.norm(head_of(packet)[1]) == pytest.approx(1.0, abs=1e-5)


def test_head_pose_options_reference_mirror_clamp_translation(receiver):
    turned = frontal_frame()
    turned[52:55] = FRONTAL_ROTATION + (0.0, 0.4, 0.0)
    turned[55:58] = (0.1, -0.05, 2.0)   # to the image's right, up, farther away
    configs = [
        HeadPoseConfig(reference_rotation=tuple(turned[52:55])),       # this pose is "ahead"
        HeadPoseConfig(angle_signs=(1.0, -1.0, -1.0)),                 # mirror view
        HeadPoseConfig(max_angle_deg=10.0),                            # clamp
        HeadPoseConfig(send_translation=True, translation_scale=2.0),
    ]
    for cfg in configs:
        with VmcSender("127.0.0.1", receiver.port, VmcConfig(head_pose=cfg)) as sender:
            sender.send_frame(turned)
    packets = [p for _, p in receiver.wait_for(4)]
    np.testing.assert_allclose(head_of(packets[0])[1], [0, 0, 0, 1], atol=1e-6)
    assert quat_rotate(head_of(packets[1])[1], [0, 0, 1])[0] == pytest.approx(-np.sin(0.4),
                                                                              abs=1e-5)
    angle = 2 * np.arccos(min(1.0, head_of(packets[2])[1][3]))
    assert angle == pytest.approx(np.deg2rad(10.0), abs=1e-5)
    pos, _ = head_of(packets[3])
    # image right = the subject's (and avatar's) left = Unity -x; up = +y; farther = back (-z)
    np.testing.assert_allclose(pos, [-0.2, 0.1, -0.32], atol=1e-5)


def test_mirror_swaps_sides_and_flips_yaw(receiver):
    frame = frontal_frame()
    frame[BLENDSHAPE_INDEX["eyeBlinkLeft"]] = 0.9
    frame[BLENDSHAPE_INDEX["mouthLeft"]] = 0.4
    frame[BLENDSHAPE_INDEX["jawOpen"]] = 0.3
    frame[52:55] = FRONTAL_ROTATION + (0.0, 0.4, 0.0)
    for mirror in (False, True):
        with VmcSender("127.0.0.1", receiver.port, VmcConfig(mirror=mirror)) as sender:
            sender.send_frame(frame)
    plain, mirrored = [p for _, p in receiver.wait_for(2)]
    plain_vals, mirror_vals = (dict(a for addr, a in p if addr == "/VMC/Ext/Blend/Val")
                               for p in (plain, mirrored))
    assert plain_vals["EyeBlinkLeft"] == pytest.approx(0.9) and plain_vals["EyeBlinkRight"] == 0
    assert mirror_vals["EyeBlinkRight"] == pytest.approx(0.9) and mirror_vals["EyeBlinkLeft"] == 0
    assert mirror_vals["MouthRight"] == pytest.approx(0.4) and mirror_vals["MouthLeft"] == 0
    assert mirror_vals["JawOpen"] == pytest.approx(0.3)
    yaw_plain = quat_rotate(head_of(plain)[1], [0, 0, 1])[0]
    yaw_mirror = quat_rotate(head_of(mirrored)[1], [0, 0, 1])[0]
    assert yaw_plain == pytest.approx(-yaw_mirror, abs=1e-6) and yaw_plain > 0.3


def test_paced_player_keeps_the_frame_rate(receiver):
    fps, n = 40.0, 24
    rng = np.random.default_rng(1)
    frames = np.stack([frontal_frame(rng) for _ in range(n)])
    with VmcSender("127.0.0.1", receiver.port) as sender:
        timed = TimedSender(sender)
        report = play_reaction(frames, [timed], fps=fps)
        packets = receiver.wait_for(report.played, timeout=10.0)
    assert_paced(report, timed, n, fps)
    # Every played frame arrives, in order, with what was sent for that frame index.
    assert len(packets) == report.played
    jaw = [dict(p[i][1] for i in range(52))["JawOpen"] for _, p in packets]
    sent = [frames[i, BLENDSHAPE_INDEX["jawOpen"]] for i, _ in timed.sent]
    np.testing.assert_allclose(jaw, sent, atol=1e-6)


def test_pacer_is_drift_free_with_slow_sends():
    now = [0.0]
    pacer = FramePacer(25.0, clock=lambda: now[0], sleep=lambda s: now.__setitem__(0, now[0] + s))
    lateness = []
    for i in range(100):
        lateness.append(pacer.wait(i))
        now[0] += 0.013  # each send takes a third of a period
    assert max(lateness) < 1e-9 and now[0] == pytest.approx(99 / 25 + 0.013)

    class Counter:
        def __init__(self):
            self.frames = []

        def send_frame(self, coeffs, i):
            self.frames.append(i)
            if i == 3:
                now[0] += 0.5  # a stall of 12.5 periods: frames behind the clock are skipped

    now[0] = 0.0
    pacer = FramePacer(25.0, clock=lambda: now[0], sleep=lambda s: now.__setitem__(0, now[0] + s))
    counter = Counter()
    report = play_reaction(np.tile(frontal_frame(), (30, 1)), [counter], pacer=pacer)
    assert counter.frames[:4] == [0, 1, 2, 3] and counter.frames[4] >= 14
    assert counter.frames[-1] == 29 and report.skipped_late == 30 - len(counter.frames)


def test_bad_frames_are_rejected_not_sent_and_shapes_are_named(receiver):
    good = frontal_frame()
    nan = good.copy()
    nan[5] = np.nan
    absurd = good.copy()
    absurd[BLENDSHAPE_INDEX["jawOpen"]] = 40.0
    with VmcSender("127.0.0.1", receiver.port) as sender:
        assert not sender.send_frame(nan, 17)
        assert "frame 17" in sender.stats.last_error and "NaN" in sender.stats.last_error
        assert "cheekPuff" in sender.stats.last_error
        assert not sender.send_frame(absurd, 18)
        assert "jawOpen=40" in sender.stats.last_error
        assert sender.send_frame(good, 19)
        with pytest.raises(ValueError, match=r"expected one frame of shape \(58,\)"):
            sender.send_frame(np.zeros((2, 58)))
        assert sender.stats.rejected == 2 and sender.stats.sent == 1
        assert len(receiver.wait_for(1)) == 1
        time.sleep(0.1)
        assert len(receiver.packets) == 1


def test_unreachable_target_never_blocks_or_raises(receiver):
    port = receiver.port
    receiver.close()  # nothing listens on this port any more
    with VmcSender("127.0.0.1", port) as sender:
        start = time.monotonic()
        for i in range(200):
            sender.send_frame(frontal_frame(), i)
        elapsed = time.monotonic() - start
    assert elapsed < 1.0
    assert sender.stats.errors > 0 and "refused" in sender.stats.last_error.lower()
    assert sender.stats.sent + sender.stats.errors == 200

    class FullSocket:
        def send(self, payload):
            raise BlockingIOError

        def close(self):
            pass

    sender = VmcSender("127.0.0.1", port)
    sender._udp._sock.close()
    sender._udp._sock = FullSocket()
    assert not sender.send_frame(frontal_frame())
    assert sender.stats.dropped == 1 and sender.stats.errors == 0
    with pytest.raises(ValueError, match="port"):
        VmcSender("127.0.0.1", 70000)


def test_reaction_file_checks(tmp_path):
    good = np.tile(frontal_frame(), (2, 5, 1))
    good[1, 3, 52] = np.inf
    good[0, 1, 0] = -7.0
    problems = invalid_frames(good)
    assert [(p.sample, p.frame) for p in problems] == [(0, 1), (1, 3)]
    assert "browDownLeft=-7" in str(problems[0]) and "rotationX" in str(problems[1])
    assert invalid_frames(good, InputLimits(blendshape_absurd=(-10, 10)))[0].frame == 3
    np.save(tmp_path / "flat.npy", np.zeros((5, 57)))
    with pytest.raises(ValueError, match=r"\(M, T, 58\) or \(T, 58\).*\(5, 57\)"):
        load_reactions(tmp_path / "flat.npy")
    np.save(tmp_path / "obj.npy", np.array([None, 1], dtype=object))
    with pytest.raises(ValueError, match="unpickling"):
        load_reactions(tmp_path / "obj.npy")
    np.save(tmp_path / "one.npy", good[0, :2])
    assert load_reactions(tmp_path / "one.npy").shape == (1, 2, 58)


def test_cli_plays_a_file_and_refuses_bad_ones(receiver, tmp_path, capsys):
    rng = np.random.default_rng(2)
    reactions = np.stack([np.stack([frontal_frame(rng) for _ in range(6)]) for _ in range(2)])
    np.save(tmp_path / "r.npy", reactions)
    code = cli_main(["avatar", "--reactions", str(tmp_path / "r.npy"),
                     "--vmc", f"127.0.0.1:{receiver.port}", "--fps", "50", "--sample", "1"])
    assert code == 0
    packets = receiver.wait_for(7)
    assert len(packets) == 7  # 6 frames, then a calm rest face
    jaw = [dict(p[i][1] for i in range(52))["JawOpen"] for _, p in packets]
    np.testing.assert_allclose(jaw[:6], reactions[1, :, BLENDSHAPE_INDEX["jawOpen"]], atol=1e-6)
    rest = [v for a, v in packets[6][1] if a == "/VMC/Ext/Blend/Val"]
    assert all(value == 0.0 for _, value in rest)
    assert "played 6/6 frames" in capsys.readouterr().out

    reactions[1, 4, 60 - 3] = np.nan
    np.save(tmp_path / "bad.npy", reactions)
    args = ["avatar", "--reactions", str(tmp_path / "bad.npy"), "--vmc",
            f"127.0.0.1:{receiver.port}", "--fps", "50", "--sample", "1"]
    assert cli_main(args) == 2
    err = capsys.readouterr().err
    assert "sample 1 frame 4" in err and "--skip-invalid" in err
    assert cli_main(args + ["--skip-invalid"]) == 0
    assert "sent=6 dropped=0 errors=0 rejected=1" in capsys.readouterr().out
    assert cli_main(args[:3] + ["--fps", "50"]) == 2
    assert "--vmc" in capsys.readouterr().err
    assert cli_main(args[:-1] + ["7"]) == 2
    assert "2 sample(s)" in capsys.readouterr().err


def test_yaw_pitch_roll_round_trip_and_clamp_keeps_the_axis():
    from reactface_ros.avatar.head_pose import (_clamp_angle, matrix_from_yaw_pitch_roll,
                                                yaw_pitch_roll)
    rng = np.random.default_rng(3)
    angles = np.stack([rng.uniform(-3, 3, 100), rng.uniform(-1.5, 1.5, 100),
                       rng.uniform(-3, 3, 100)], axis=1)
    np.testing.assert_allclose(yaw_pitch_roll(matrix_from_yaw_pitch_roll(angles)), angles,
                               atol=1e-9)
    big = matrix_from_yaw_pitch_roll(np.array([1.2, 0.5, -0.4]))
    small = _clamp_angle(big, 0.3)
    axis_big = np.array([big[2, 1] - big[1, 2], big[0, 2] - big[2, 0], big[1, 0] - big[0, 1]])
    axis_small = np.array([small[2, 1] - small[1, 2], small[0, 2] - small[2, 0],
                           small[1, 0] - small[0, 1]])
    np.testing.assert_allclose(axis_small / np.linalg.norm(axis_small),
                               axis_big / np.linalg.norm(axis_big), atol=1e-9)
    assert np.arccos((np.trace(small) - 1) / 2) == pytest.approx(0.3)
    np.testing.assert_allclose(small @ small.T, np.eye(3), atol=1e-12)
