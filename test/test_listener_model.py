"""The reacting listener: anchored output, persona slots, context path, smooth noise, the
own-history training pass, listener face files and WTA matching."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from reactface_ros.constants import BLENDSHAPE_INDEX, NUM_BLENDSHAPES
from reactface_ros.listener_face import load_listener_face, neutral_listener_face
from reactface_ros.model import ReactFace, ReactFaceConfig
from reactface_ros.model.losses import appropriate_reconstruction_loss
from reactface_ros.model.reactface import resting_face
from reactface_ros.streaming import ReactionStream
from test_streaming import inputs

TINY = dict(hidden_size=16, num_heads=2, ff_size=32, latent_size=8, horizon=12, n_mels=16,
            period=4, window=8, dropout=0.0, cie_pool=4)


def listener_model(seed: int = 0, **overrides) -> ReactFace:
    torch.manual_seed(seed)
    model = ReactFace(ReactFaceConfig.listener_default(**{**TINY, **overrides})).eval()
    rng = np.random.default_rng(seed)
    model.set_normalisation(model.mean_face.numpy() + rng.normal(0, 0.05, 58),
                            rng.uniform(0.02, 0.3, 58))
    model.set_motion_scale(rng.uniform(0.01, 0.1, 58))
    return model


def a_listener_face() -> np.ndarray:
    face = neutral_listener_face()
    face[:NUM_BLENDSHAPES] = np.linspace(0.0, 0.6, NUM_BLENDSHAPES)
    face[52:55] += [0.1, -0.2, 0.05]
    return face


def test_stream_equals_whole_sequence_with_anchor_and_persona():
    model = listener_model()
    audio, face = inputs(45)
    anchor = a_listener_face()
    for persona in (None, 2):
        ref = model.generate(audio[None], face[None], num_samples=3, seed=5,
                             listener_face=anchor, persona=persona)[0].numpy()
        stream = ReactionStream(model, num_samples=3, seed=5, listener_face=anchor,
                                persona=persona)
        wins = []
        for i in range(45):
            wins += stream.push_audio(audio[i * 640:(i + 1) * 640], 16000, i / 25)
            wins += stream.push_face(face[i], i / 25)
        wins += stream.flush()
        out = np.concatenate([w.reactions for w in wins], axis=1)
        np.testing.assert_allclose(out, ref, atol=1e-5, rtol=0)


def test_motion_gain_scales_every_window_and_never_the_history(tmp_path):
    """With motion_gain g, every window's blendshape logit offsets and pose tanh arguments are
    g times those at 1: the model's history (what later windows see) is the unscaled reaction,
    so only the size of the motion changes, never its timing. Streaming agrees, the value
    travels in the checkpoint and bad values are refused."""
    model = listener_model(7)
    audio, face = inputs(40, 7)
    anchor = a_listener_face()
    anchor[:NUM_BLENDSHAPES] = np.linspace(0.2, 0.6, NUM_BLENDSHAPES)   # away from 0 and 1
    ref = model.generate(audio[None], face[None], num_samples=3, seed=2,
                         listener_face=anchor)[0].double().numpy()
    model.set_motion_gain(2.5)
    out = model.generate(audio[None], face[None], num_samples=3, seed=2,
                         listener_face=anchor)[0].double().numpy()

    def logit(x):
        return np.log(x) - np.log1p(-x)

    nb = NUM_BLENDSHAPES
    u_ref = logit(ref[..., :nb]) - logit(anchor[:nb])
    u_out = logit(out[..., :nb]) - logit(anchor[:nb])
    assert np.abs(u_ref).max() > 1e-3                    # there is motion to scale
    np.testing.assert_allclose(u_out, 2.5 * u_ref, atol=2e-3)
    rng = model.pose_range.double().numpy()
    p_ref = np.arctanh((ref[..., nb:] - anchor[nb:]) / rng)
    p_out = np.arctanh((out[..., nb:] - anchor[nb:]) / rng)
    np.testing.assert_allclose(p_out, 2.5 * p_ref, atol=2e-4)
    stream = ReactionStream(model, num_samples=3, seed=2, listener_face=anchor)
    wins = []
    for i in range(40):
        wins += stream.push_audio(audio[i * 640:(i + 1) * 640], 16000, i / 25)
        wins += stream.push_face(face[i], i / 25)
    wins += stream.flush()
    np.testing.assert_allclose(np.concatenate([w.reactions for w in wins], axis=1), out,
                               atol=1e-5, rtol=0)
    model.save_pretrained(tmp_path / "ckpt")
    assert ReactFace.from_pretrained(tmp_path / "ckpt").config.motion_gain == 2.5
    for bad in (0.0, -1.0, 11.0, float("nan"), True):
        with pytest.raises(ValueError, match="motion_gain"):
            model.set_motion_gain(bad)
    with pytest.raises(ValueError, match="anchored"):
        ReactFaceConfig(motion_gain=2.0)


def test_own_history_pass_equals_autoregressive_generation():
    """The parallel training pass over the model's own history computes the same reactions
    as the window-by-window path (eval mode, same noise), and gradients reach the decoder."""
    model = listener_model(1)
    audio, face = inputs(40, 1)
    a, f = torch.from_numpy(audio)[None].repeat(2, 1), torch.from_numpy(face)[None].repeat(2, 1, 1)
    anchor = torch.from_numpy(np.stack([a_listener_face(), neutral_listener_face()]))
    with torch.no_grad():
        ar = model(a, f, num_samples=3, seed=3, listener_face=anchor)
    own = model(a, f, num_samples=3, seed=3, listener_face=anchor, own_history=True)
    torch.testing.assert_close(own.reactions, ar.reactions, atol=1e-5, rtol=0)
    torch.testing.assert_close(own.mu, ar.mu, atol=1e-5, rtol=0)
    own.reactions.square().mean().backward()
    assert model.lrd.in_proj.weight.grad is not None
    assert float(model.persona.grad.abs().sum()) > 0
    assert float(model.context.weight.grad.abs().sum()) > 0
    with pytest.raises(ValueError, match="exclusive"):
        model(a, f, a.new_zeros(2, 40, 58), own_history=True)


def test_causal_with_anchor_and_context_path():
    model = listener_model(2)
    audio, face = inputs(48, 2)
    ref = model.generate(audio[None], face[None], num_samples=2, seed=1)
    audio2, face2 = audio.copy(), face.copy()
    audio2[30 * 640:] = 1.0
    face2[30:, :58] = 0.9
    out = model.generate(audio2[None], face2[None], num_samples=2, seed=1)
    assert torch.equal(out[:, :, :30], ref[:, :, :30])
    assert not torch.equal(out[:, :, 30:], ref[:, :, 30:])


def test_faces_are_valid_by_construction():
    """Even a wildly wrong head cannot produce blendshapes outside [0, 1] or a pose far from
    the anchor (the renderer never has to clamp)."""
    model = listener_model(3)
    with torch.no_grad():
        model.slbs.head.weight.mul_(500.0)
        model.slbs.head.bias.fill_(40.0)
    audio, face = inputs(32, 3)
    anchor = a_listener_face()
    out = model.generate(audio[None], face[None], num_samples=4, seed=0,
                         listener_face=anchor)[0].numpy()
    bs = out[..., :NUM_BLENDSHAPES]
    assert bs.min() >= 0.0 and bs.max() <= 1.0
    assert bs.max() > 0.99                       # the head really was pushed to the limit
    offset = np.abs(out[..., 52:] - anchor[52:])
    assert np.all(offset <= np.array([0.6, 0.6, 0.6, 0.25, 0.25, 0.4]) + 1e-5)
    from reactface_ros.commands.demo import clamp_counts

    assert clamp_counts(out) == {"blendshapes": 0, "translation": 0}
    broken = out.copy()
    broken[0, 0, 3] = 1.2
    assert clamp_counts(broken) == {"blendshapes": 1, "translation": 0}


def test_persona_picks_one_slot_for_every_sample():
    model = listener_model(4)
    audio, face = inputs(24, 4)
    mixed = model.generate(audio[None], face[None], num_samples=4, seed=2)[0]
    for k in range(4):
        only = model.generate(audio[None], face[None], num_samples=4, seed=2, persona=k)[0]
        # sample k draws the same noise and uses slot k in both runs
        torch.testing.assert_close(only[k], mixed[k], atol=1e-6, rtol=0)
    assert not torch.allclose(mixed[0], mixed[1], atol=1e-4)
    with pytest.raises(ValueError, match="persona must be an integer in"):
        model.generate(audio[None], face[None], num_samples=2, persona=4)
    plain = ReactFace(ReactFaceConfig(**TINY))
    with pytest.raises(ValueError, match="no persona slots"):
        plain.persona_slots(2, 0)


def test_anchor_moves_the_resting_face_and_is_validated():
    model = listener_model(5)
    audio, face = inputs(24, 5)
    anchor = a_listener_face()
    out = model.generate(audio[None], face[None], num_samples=2, seed=0,
                         listener_face=anchor)[0].numpy()
    # the reaction stays around the given face, not around the training mean face
    assert np.abs(np.median(out[..., :NUM_BLENDSHAPES], axis=(0, 1))
                  - anchor[:NUM_BLENDSHAPES]).mean() < 0.15
    bad = anchor.copy()
    bad[BLENDSHAPE_INDEX["jawOpen"]] = 1.5
    with pytest.raises(ValueError, match="blendshapes must lie in"):
        model.generate(audio[None], face[None], listener_face=bad)
    with pytest.raises(ValueError, match="listener_face must be"):
        model.generate(audio[None], face[None], listener_face=np.zeros(57))


def test_listener_face_files(tmp_path):
    names = tmp_path / "robot.json"
    names.write_text(json.dumps({"mouthSmileLeft": 0.2, "browInnerUp": 0.1,
                                 "rotation": [3.1, 0.0, 0.0]}))
    face = load_listener_face(names)
    assert face[BLENDSHAPE_INDEX["mouthSmileLeft"]] == pytest.approx(0.2)
    assert face[52] == pytest.approx(3.1) and face[57] == pytest.approx(1.84)
    arr = tmp_path / "robot.npy"
    np.save(arr, face)
    np.testing.assert_array_equal(load_listener_face(arr), face)
    (tmp_path / "typo.json").write_text(json.dumps({"mouthSmileLeftt": 0.2}))
    with pytest.raises(ValueError, match="unknown key 'mouthSmileLeftt'"):
        load_listener_face(tmp_path / "typo.json")
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match="not a plain numeric"):
        load_listener_face(tmp_path / "obj.npy")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_listener_face(tmp_path / "missing.json")


def test_checkpoint_round_trip_keeps_motion_scale(tmp_path):
    model = listener_model(6)
    model.save_pretrained(tmp_path / "ckpt")
    back = ReactFace.from_pretrained(tmp_path / "ckpt")
    torch.testing.assert_close(back.motion_std, model.motion_std)
    audio, face = inputs(16, 6)
    torch.testing.assert_close(back.generate(audio[None], face[None], num_samples=2, seed=1),
                               model.generate(audio[None], face[None], num_samples=2, seed=1))


def test_resting_face_ignores_expression_episodes():
    t = torch.zeros(100, 58)
    t[:, :NUM_BLENDSHAPES] = 0.2
    t[20:60, BLENDSHAPE_INDEX["mouthSmileLeft"]] = 0.9      # a long smile: 40 % of the clip
    t[:, 52] = torch.linspace(3.0, 3.2, 100)
    rest = resting_face(t)
    assert float(rest[BLENDSHAPE_INDEX["mouthSmileLeft"]]) == pytest.approx(0.2)
    assert float(rest[52]) == pytest.approx(3.1, abs=0.01)


def test_wta_matching_trains_only_the_winner():
    """Each appropriate reaction pulls only its closest sample; others get relax * sample."""
    real = torch.zeros(1, 2, 4, 58)
    real[:, 1] = 2.0
    pred = torch.zeros(1, 3, 4, 58)
    pred[:, 1] = 1.9
    pred[:, 2] = 5.0
    pred.requires_grad_(True)
    loss = appropriate_reconstruction_loss(pred, real, matching="wta", relax=0.0)
    loss.backward()
    g = pred.grad.abs().sum(dim=(0, 2, 3))
    assert g[0] == 0 and g[1] > 0 and g[2] == 0        # sample 0 is exact, 2 wins nothing
    # by hand: coverage = mean(0, smoothl1(0.1)) = 0.5 * 0.5 * 0.01
    assert float(loss.detach()) == pytest.approx(0.5 * 0.5 * 0.01, rel=1e-5)
    relaxed = appropriate_reconstruction_loss(pred.detach(), real, matching="wta", relax=0.1)
    sample = appropriate_reconstruction_loss(pred.detach(), real, matching="sample")
    assert float(relaxed) == pytest.approx(float(loss.detach()) + 0.1 * float(sample), rel=1e-5)


def test_persona_summary_groups_samples_by_slot():
    from reactface_ros.evaluate.runner import persona_summary

    rows = [{"samples": {"smile_r": [0.9, 0.1, 0.8, 0.2], "control": [0.1] * 4,
                         "amplitude": [1.0, 0.1, 1.0, 0.1], "nod_ratio": [1.0, 3.0, None, 2.0],
                         "smiles_back": [True, False, True, False],
                         "nods": [False, True, False, True]}}]
    slots = persona_summary({"rows": rows}, 2)
    assert [s["samples"] for s in slots] == [2, 2]
    assert slots[0]["smile_r"] == pytest.approx(0.85) and slots[1]["smile_r"] == pytest.approx(0.15)
    assert slots[0]["nod_ratio"] == pytest.approx(1.0)            # the null one is skipped
    assert slots[0]["smiles_back"] == 1.0 and slots[1]["nods"] == 1.0


def test_baselines_move_onto_the_listener_rest():
    from reactface_ros.evaluate.runner import move_to_rest, resting_faces

    rng = np.random.default_rng(0)
    reactions = np.repeat(neutral_listener_face()[None, None, None], 40, axis=2).repeat(2, 1)
    reactions = reactions.astype(np.float32)
    reactions[..., :NUM_BLENDSHAPES] += 0.3 + 0.1 * rng.random((1, 2, 40, NUM_BLENDSHAPES))
    rest = a_listener_face()[None]
    moved = move_to_rest(reactions, rest)
    np.testing.assert_allclose(resting_faces(moved)[0, :, NUM_BLENDSHAPES:],
                               np.repeat(rest[:, NUM_BLENDSHAPES:], 2, 0), atol=1e-5)
    expected = reactions - resting_faces(reactions)[:, :, None] + rest[:, None, None]
    inside = (expected[..., :NUM_BLENDSHAPES] > 0) & (expected[..., :NUM_BLENDSHAPES] < 1)
    assert inside.mean() > 0.9
    np.testing.assert_allclose(moved[..., :NUM_BLENDSHAPES][inside],
                               expected[..., :NUM_BLENDSHAPES][inside], atol=1e-5)
    np.testing.assert_allclose(moved[..., NUM_BLENDSHAPES:], expected[..., NUM_BLENDSHAPES:],
                               atol=1e-5)
    assert moved[..., :NUM_BLENDSHAPES].min() >= 0.0
    assert moved[..., :NUM_BLENDSHAPES].max() <= 1.0


def test_hungarian_matching_gives_each_reaction_its_own_sample():
    """Plain WTA lets one sample win both reactions; the balanced assignment does not."""
    real = torch.zeros(1, 2, 4, 58)
    real[:, 1] = 2.0
    pred = torch.zeros(1, 2, 4, 58)
    pred[:, 0] = 0.9           # closest to both reactions
    pred[:, 1] = 4.0
    pred.requires_grad_(True)
    appropriate_reconstruction_loss(pred, real, matching="wta", relax=0.0).backward()
    assert float(pred.grad[:, 1].abs().sum()) == 0           # sample 1 learns nothing
    pred.grad = None
    loss = appropriate_reconstruction_loss(pred, real, matching="hungarian", relax=0.0)
    loss.backward()
    assert float(pred.grad[:, 0].abs().sum()) > 0 and float(pred.grad[:, 1].abs().sum()) > 0
    # by hand: best one-to-one assignment is sample 0 -> reaction 0 (0.9), 1 -> 1 (|4 - 2|)
    expected = 0.5 * ((0.5 * 0.9 ** 2) + (2.0 - 0.5))
    assert float(loss.detach()) == pytest.approx(expected, rel=1e-5)
    # three reactions, two samples: each sample takes at most two, padding ignored
    real3 = torch.zeros(1, 4, 4, 58)
    real3[:, 1], real3[:, 2], real3[:, 3] = 2.0, 0.1, 100.0
    valid = torch.tensor([[True, True, True, False]])
    loss3 = appropriate_reconstruction_loss(pred.detach(), real3, valid, matching="hungarian",
                                            relax=0.0)
    assert torch.isfinite(loss3) and float(loss3) < 10


def test_envelope_distance_prefers_a_late_nod_to_a_still_or_jittering_head():
    """Pointwise, a still head is closer to a nod than the same nod 8 frames late; the
    envelope distance ranks the late nod first, ahead of a still head and of a fast jitter
    of small amplitude, and it reaches the matching and the gradient of the head only."""
    from reactface_ros.data.behaviour import nod
    from reactface_ros.model.losses import envelope_distance

    t = 160

    def head(start):
        x = torch.zeros(t, 58)
        if start is not None:
            x[:, NUM_BLENDSHAPES] = torch.tensor(nod(t, start, 4.0, 2), dtype=torch.float32)
        return x

    real = head(50)[None, None]
    still, late, far = head(None), head(58), head(120)
    jitter = torch.zeros(t, 58)
    jitter[:, NUM_BLENDSHAPES] = 0.3 * torch.tensor([(-1.0) ** i for i in range(t)])
    pointwise = [float(torch.nn.functional.smooth_l1_loss(x, real[0, 0]))
                 for x in (still, late)]
    assert pointwise[0] < pointwise[1]                       # the diagnosis: still wins
    env = {name: float(envelope_distance(x[None, None], real, sigma=5.0))
           for name, x in (("still", still), ("late", late), ("far", far),
                           ("jitter", jitter))}
    assert env["late"] < 0.5 * min(env["still"], env["jitter"], env["far"])
    assert float(envelope_distance(real, real)) == pytest.approx(0.0, abs=1e-6)
    # in the matching: one nodding reaction, a still and a late-nodding sample; plain
    # winner-takes-all trains the still sample on it, with the envelope the late nodder
    pred = torch.stack([still, late])[None].requires_grad_(True)        # (1, 2, T, 58)
    appropriate_reconstruction_loss(pred, real, matching="wta", relax=0.0).backward()
    assert float(pred.grad[0, 1].abs().sum()) == 0 < float(pred.grad[0, 0].abs().sum())
    pred.grad = None
    appropriate_reconstruction_loss(pred, real, matching="wta", relax=0.0, envelope=1.0,
                                    envelope_sigma=5.0).backward()
    assert float(pred.grad[0, 0].abs().sum()) == 0 < float(pred.grad[0, 1].abs().sum())


def test_pose_l2_fits_the_mean_nod_where_smooth_l1_fits_the_median():
    """One free curve fitted to nods at uncertain lags (the appropriate reactions of a
    pause): with ``pose_loss: l2`` its head rotation converges to their mean, the head of
    SmoothL1 to their median (lower, and zero where fewer than half nod); blendshapes keep
    SmoothL1 either way."""
    from reactface_ros.data.behaviour import nod
    from reactface_ros.model.losses import elementwise_distance

    t, onset = 80, 20
    real = torch.zeros(8, t, 58)
    for k, lag in enumerate((2, 4, 6, 30, 34, 38, 42, 46)):       # 0.1-1.8 s
        real[k, :, NUM_BLENDSHAPES] = torch.tensor(nod(t, onset + lag, 4.0), dtype=torch.float32)
        real[k, :, 0] = 2.0 * k                                     # a blendshape: median 7
    x = torch.full((t, 58), 3.0)
    diff = elementwise_distance(x[None], real[:1], pose_l2=True)[0]
    assert torch.allclose(diff[:, NUM_BLENDSHAPES], 0.5 * (3.0 - real[0, :, NUM_BLENDSHAPES]) ** 2)
    assert torch.allclose(diff[:, 1], torch.full((t,), 2.5))       # SmoothL1 of 3 vs 0
    fits = {}
    for pose_l2 in (False, True):
        x = torch.zeros(t, 58, requires_grad=True)
        opt = torch.optim.Adam([x], lr=0.05)
        for _ in range(600):
            opt.zero_grad()
            elementwise_distance(x[None].expand_as(real), real, pose_l2).mean().backward()
            opt.step()
        fits[pose_l2] = x.detach()
    pitch = real[:, :, NUM_BLENDSHAPES]
    assert torch.allclose(fits[True][:, NUM_BLENDSHAPES], pitch.mean(0), atol=0.05)
    assert float(fits[False][:, NUM_BLENDSHAPES].max()) < 0.6 * float(pitch.mean(0).max())
    for fit in fits.values():                                      # blendshapes: the median
        assert 5.5 < float(fit[:, 0].mean()) < 8.5
