"""ReactFace model: alignment bias (eq. 17), AFRG equations, causality, seeding, losses."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from reactface_ros.model import ReactFace, ReactFaceConfig
from reactface_ros.model.afrg import interpolate_latents, interpolation_weights, momentum_update
from reactface_ros.model.attention import alibi_slopes, alignment_bias
from reactface_ros.model.losses import (LossWeights, appropriate_reconstruction_loss,
                                        diversity_loss, reactface_loss, smoothness_loss)

TINY = dict(hidden_size=16, num_heads=2, ff_size=32, latent_size=8, horizon=12, n_mels=16,
            period=4, window=8, dropout=0.0)


def tiny_model(**overrides) -> ReactFace:
    torch.manual_seed(0)
    cfg = ReactFaceConfig(**{**TINY, **overrides})
    return ReactFace(cfg).eval()


def speaker_inputs(t: int, b: int = 1, seed: int = 0, crop: int | None = None):
    rng = np.random.default_rng(seed)
    audio = (0.1 * rng.standard_normal((b, t * 640))).astype(np.float32)
    if crop:
        face = rng.integers(0, 256, (b, t, 3, crop, crop), dtype=np.uint8)
    else:
        face = rng.random((b, t, 59)).astype(np.float32)
        face[..., 58] = 1.0
    return torch.from_numpy(audio), torch.from_numpy(face)


# ---------------------------------------------------------------- alignment bias (eq. 17)
def test_video_alignment_bias_matches_eq17():
    p, n = 3, 11
    pos = torch.arange(n)
    bias = alignment_bias(pos, pos, p, torch.ones(1), horizon=None)[0]
    for i in range(n):
        for j in range(n):
            expected = -np.floor((i - j) / p) if j <= i else -np.inf
            assert bias[i, j].item() == expected, (i, j)
    # per-head ALiBi-style slopes scale the same matrix; 8 heads: 1/2 ... 1/256
    slopes = alibi_slopes(8)
    assert torch.allclose(slopes, torch.tensor([2.0 ** -(h + 1) for h in range(8)]))
    heads = alignment_bias(pos, pos, p, slopes, horizon=None)
    finite = torch.isfinite(bias)
    for h in range(8):
        assert torch.equal(heads[h][finite], slopes[h] * bias[finite])
        assert torch.equal(torch.isfinite(heads[h]), finite)


def test_audio_alignment_bias_matches_eq17():
    p, k, n = 2, 2, 6
    q = torch.arange(n)
    keys = torch.arange(k * n)
    bias = alignment_bias(q, keys, p, torch.ones(1), horizon=None, tokens_per_frame=k)[0]
    for i in range(n):
        for j in range(k * n):
            expected = -np.floor((k * i - j) / (k * p)) if j <= k * i else -np.inf
            assert bias[i, j].item() == expected, (i, j)


def test_horizon_limits_keys_and_positions_are_relative():
    h, p = 5, 2
    q = torch.arange(20)
    bias = alignment_bias(q, q, p, torch.ones(1), horizon=h)[0]
    allowed = torch.isfinite(bias)
    i, j = torch.meshgrid(q, q, indexing="ij")
    assert torch.equal(allowed, (j <= i) & (i - j < h))
    audio = alignment_bias(q, torch.arange(40), p, torch.ones(1), horizon=h,
                           tokens_per_frame=2)[0]
    frame_of_key = torch.arange(40)[None, :] // 2
    assert torch.equal(torch.isfinite(audio),
                       (torch.arange(40)[None] <= 2 * q[:, None])
                       & (q[:, None] - frame_of_key < h))
    # only differences of positions matter: a session 10 days in gives the same bias
    far = 25 * 3600 * 24 * 10
    assert torch.equal(alignment_bias(q + far, q + far, p, alibi_slopes(4), h),
                       alignment_bias(q, q, p, alibi_slopes(4), h))


# ---------------------------------------------------------------- AFRG equations 10-11
def test_momentum_matches_eq10():
    z_prev, z_star = torch.randn(3, 5), torch.randn(3, 5)
    for a in (0.9, 0.999, 0.0):
        assert torch.allclose(momentum_update(z_prev, z_star, a), a * z_prev + (1 - a) * z_star)
    assert torch.equal(momentum_update(None, z_star, 0.9), z_star)


def test_interpolation_matches_eq11_and_torch_linear():
    w = 8
    lam = interpolation_weights(w)
    expected = np.clip((np.arange(w) + 0.5) * 2 / w - 0.5, 0, 1)
    np.testing.assert_allclose(lam.numpy(), expected, atol=1e-7)
    z_prev, z = torch.randn(4, 6), torch.randn(4, 6)
    lat = interpolate_latents(z_prev, z, w)
    ref = F.interpolate(torch.stack([z_prev, z], dim=2), size=w, mode="linear",
                        align_corners=False).transpose(1, 2)
    assert torch.allclose(lat, ref, atol=1e-6)
    assert torch.allclose(lat[:, 0], z_prev) and torch.allclose(lat[:, -1], z)


def test_momentum_is_a_config_value_with_public_code_default():
    assert ReactFaceConfig().momentum == 0.9
    with pytest.raises(ValueError, match="momentum"):
        ReactFaceConfig(momentum=1.5)


# ---------------------------------------------------------------- config
def test_window_must_be_a_multiple_of_period():
    with pytest.raises(ValueError, match=r"window w \(12\) must be a multiple of period p \(8\)"):
        ReactFaceConfig(window=12, period=8)


def test_presets():
    cpu = ReactFaceConfig.cpu_default()
    assert (cpu.audio_encoder, cpu.face_encoder, cpu.hidden_size, cpu.num_heads) == \
        ("logmel", "blendshapes", 128, 8)
    assert (cpu.period, cpu.window, cpu.audio_tokens_per_frame) == (8, 8, 2)
    paper = ReactFaceConfig.paper()
    assert (paper.audio_encoder, paper.face_encoder, paper.crop_size) == \
        ("wav2vec2", "conv3d", 224)
    with pytest.raises(ValueError, match="audio_encoder"):
        ReactFaceConfig(audio_encoder="mfcc")


# ---------------------------------------------------------------- causality
@pytest.mark.parametrize("crop", [None, 16])
def test_causality_probe(crop):
    extra = dict(face_encoder="conv3d", crop_size=16, conv3d_channels=[4, 8],
                 face_transformer_layers=1) if crop else {}
    model = tiny_model(**extra)
    t_total = 40
    audio, face = speaker_inputs(t_total, crop=crop)
    ref = model.generate(audio, face, num_samples=2, seed=3)
    rng = np.random.default_rng(9)
    for t in (0, 5, 17, 31):
        a2, f2 = audio.clone(), face.clone()
        a2[:, (t + 1) * 640:] = torch.from_numpy(
            rng.standard_normal(a2[:, (t + 1) * 640:].shape).astype(np.float32))
        if crop:
            f2[:, t + 1:] = 255 - f2[:, t + 1:]
        else:
            f2[:, t + 1:] = torch.from_numpy(rng.random(f2[:, t + 1:].shape).astype(np.float32))
        out = model.generate(a2, f2, num_samples=2, seed=3)
        assert torch.equal(out[:, :, :t + 1], ref[:, :, :t + 1]), f"frame <= {t} changed"
        assert not torch.allclose(out[:, :, t + 1:], ref[:, :, t + 1:])


# ---------------------------------------------------------------- whole-sequence paths
def test_generate_shapes_seeding_and_chunking():
    model = tiny_model()
    audio, face = speaker_inputs(29, b=2)
    out = model.generate(audio, face, num_samples=3, seed=5)
    assert out.shape == (2, 3, 29, 58) and out.dtype == torch.float32
    assert torch.isfinite(out).all()
    assert torch.equal(out, model.generate(audio, face, num_samples=3, seed=5))
    assert not torch.allclose(out, model.generate(audio, face, num_samples=3, seed=6))
    assert not torch.allclose(out[:, 0], out[:, 1])        # samples differ from each other
    chunked = model.generate(audio, face, num_samples=3, seed=5, chunk_frames=5)
    assert torch.allclose(out, chunked, atol=1e-5)


def test_teacher_forcing_on_generated_history_reproduces_generation():
    """Training (parallel, teacher-forced) and inference see exactly the same context."""
    model = tiny_model()
    audio, face = speaker_inputs(37, b=2)
    gen = model.generate(audio, face, num_samples=1, seed=11)
    tf = model(audio, face, listener_reaction=gen[:, 0], num_samples=1, seed=11)
    assert torch.allclose(model.denormalise(tf.reactions), gen, atol=1e-5)
    auto = model(audio, face, num_samples=1, seed=11)
    assert torch.allclose(model.denormalise(auto.reactions), gen, atol=1e-6)


def test_outputs_are_denormalised_around_the_mean_face():
    model = tiny_model()
    audio, face = speaker_inputs(16)
    base = model.generate(audio, face, num_samples=1, seed=0)
    mean = np.linspace(-1, 1, 58).astype(np.float32)
    model.set_normalisation(mean)
    # features are centred on the same mean, so shift the input features with it
    face2 = face.clone()
    face2[..., :58] += torch.from_numpy(mean - ReactFace(model.config).mean_face.numpy())
    shifted = model.generate(audio, face2, num_samples=1, seed=0)
    delta = torch.from_numpy(mean) - torch.from_numpy(
        ReactFace(model.config).mean_face.numpy())
    assert torch.allclose(shifted - base, delta.expand_as(base), atol=1e-4)
    with pytest.raises(ValueError, match="mean_face"):
        model.set_normalisation(np.zeros(57))
    data = np.random.default_rng(0).normal(size=(3, 40, 58))
    data[0, 5, 3] = np.nan                                  # ignored frame
    got = model.set_normalisation_from_data(data)
    keep = np.ones((3, 40), bool)
    keep[0, 5] = False
    np.testing.assert_allclose(got, data[keep].mean(axis=0), rtol=1e-5)
    assert torch.allclose(model.mean_face, torch.from_numpy(got))


def test_default_mean_face_is_neutral_and_stays_float32():
    model = tiny_model()
    mean = model.mean_face
    assert mean[:52].abs().max() == 0
    assert torch.allclose(mean[52:], torch.tensor([np.pi, 0, 0, 0, 0, 1.84]))
    model.to(torch.bfloat16)
    assert model.mean_face.dtype == torch.float32
    assert model.listener_embed.weight.dtype == torch.bfloat16


def test_no_face_and_nonfinite_features_are_treated_as_no_face():
    model = tiny_model()
    face = torch.rand(1, 3, 59)
    face[0, 0, 58] = 1.0
    face[0, 1, 58] = 0.0
    face[0, 2, 58] = 1.0
    face[0, 2, 7] = float("nan")
    prepared = model.prepare_face(face)
    assert prepared[0, 0, 58] == 1 and prepared[0, 1, 58] == 0 and prepared[0, 2, 58] == 0
    assert prepared[0, 1:, :58].abs().max() == 0 and torch.isfinite(prepared).all()


def test_bad_inputs_raise_clear_errors():
    model = tiny_model()
    audio, face = speaker_inputs(8)
    with pytest.raises(ValueError, match=r"\(B, T, 59\)"):
        model.generate(audio, face[..., :58])
    with pytest.raises(ValueError, match="speaker_audio"):
        model.generate(audio[0], face)
    with pytest.raises(ValueError, match="num_samples"):
        model.generate(audio, face, num_samples=0)
    with pytest.raises(ValueError, match="listener_reaction"):
        model(audio, face, listener_reaction=torch.zeros(1, 8, 57))
    crop_model = tiny_model(face_encoder="conv3d", crop_size=16, conv3d_channels=[4, 8])
    with pytest.raises(ValueError, match=r"\(B, T, 3, 16, 16\)"):
        crop_model.generate(audio, torch.zeros(1, 8, 3, 32, 32))


# ---------------------------------------------------------------- losses
def test_losses_and_gradients():
    model = tiny_model()
    model.train()
    audio, face = speaker_inputs(16, b=2)
    listener = model.mean_face + 0.1 * torch.randn(2, 16, 58)
    out = model(audio, face, listener_reaction=listener, num_samples=3, seed=None)
    assert out.reactions.shape == (2, 3, 16, 58) and out.mu.shape == (2, 3, 2, 8)
    appropriate = torch.randn(2, 4, 16, 58) * 0.1
    valid = torch.tensor([[True, True, False, False], [True, True, True, True]])
    terms = reactface_loss(out, appropriate, torch.randn(2, 16, 58) * 0.1, valid)
    assert set(terms) == {"total", "rec_listener", "rec_speaker", "kl", "smooth", "diversity"}
    terms["total"].backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert sum(float(g.abs().sum()) for g in grads) > 0
    w = LossWeights()
    assert (w.kl, w.smooth, w.diversity) == (1e-5, 10.0, 100.0)


def test_resting_face_weight_lets_motion_pick_the_match():
    """resting_face < 1: the appropriate reaction with the same movement is the match even
    when another one rests closer; 1 is the plain loss (exactly, for squared errors)."""
    t = torch.arange(16.0)
    wave = 0.3 * torch.sin(t / 2.0)[:, None].expand(16, 58)
    pred = wave[None, None].clone()                              # (1, 1, 16, 58)
    same_motion = (wave + 0.4)[None, None]                       # rests 0.4 higher
    still = torch.full((1, 1, 16, 58), 0.05)                     # rests closer, never moves
    both = torch.cat([same_motion, still], dim=1)
    plain = appropriate_reconstruction_loss(pred, both)
    assert plain.item() == pytest.approx(
        torch.nn.functional.smooth_l1_loss(pred[0, 0], still[0, 0]).item())
    assert appropriate_reconstruction_loss(pred, both, resting_face=1.0).item() == plain.item()
    light = appropriate_reconstruction_loss(pred, both, resting_face=0.1)
    assert light.item() == pytest.approx(0.1 * 0.5 * 0.4 ** 2, rel=1e-5)   # matched by motion
    # in the quadratic range of SmoothL1 the split with weight 1 is the plain distance
    small = 0.1 * torch.randn(1, 2, 16, 58)
    real = 0.1 * torch.randn(1, 3, 16, 58)
    assert appropriate_reconstruction_loss(small, real).item() == pytest.approx(
        appropriate_reconstruction_loss(small, real, resting_face=1.0 - 1e-12).item(),
        rel=1e-5)


def test_chamfer_matching_makes_the_samples_cover_every_appropriate_reaction():
    """'sample' (the paper) is satisfied when all samples copy one appropriate reaction;
    'chamfer' also charges each appropriate reaction its distance to the closest sample, so
    only samples that cover all of them reach zero. Worked out by hand on constants."""
    still = torch.zeros(1, 1, 4, 58)
    smile = torch.full((1, 1, 4, 58), 2.0)
    frown = torch.full((1, 1, 4, 58), -1.0)
    real = torch.cat([still, smile, frown], dim=1)               # (1, K=3, 4, 58)
    collapsed = still.expand(1, 2, 4, 58)                        # both samples copy 'still'
    covering = torch.cat([still, smile], dim=1)                  # frown left uncovered
    assert appropriate_reconstruction_loss(collapsed, real).item() == 0.0
    assert appropriate_reconstruction_loss(covering, real).item() == 0.0
    # chamfer, collapsed: samples 0; reals still 0, smile 1.5 (SmoothL1 at 2), frown 0.5
    assert appropriate_reconstruction_loss(collapsed, real, matching="chamfer").item() == \
        pytest.approx(0.5 * (0.0 + (0.0 + 1.5 + 0.5) / 3))
    # covering two of three: only the frown (closest sample 'still', 0.5) is charged
    assert appropriate_reconstruction_loss(covering, real, matching="chamfer").item() == \
        pytest.approx(0.5 * (0.5 / 3))
    full = torch.cat([still, smile, frown], dim=1)
    assert appropriate_reconstruction_loss(full, real, matching="chamfer").item() == 0.0
    # coverage alone: only the reals' direction, so a stray sample costs nothing
    stray = torch.cat([still, smile, frown, torch.full((1, 1, 4, 58), 9.0)], dim=1)
    assert appropriate_reconstruction_loss(stray, real, matching="coverage").item() == 0.0
    assert appropriate_reconstruction_loss(collapsed, real, matching="coverage").item() == \
        pytest.approx((0.0 + 1.5 + 0.5) / 3)
    # padding entries are charged in neither direction
    valid = torch.tensor([[True, True, False]])
    assert appropriate_reconstruction_loss(covering, real, valid, matching="chamfer").item() == 0.0
    with pytest.raises(ValueError, match="matching must be one of"):
        appropriate_reconstruction_loss(covering, real, matching="greedy")


def test_loss_definitions():
    pred = torch.zeros(1, 2, 4, 58)
    pred[0, 1] += 1.0
    close = torch.zeros(1, 1, 4, 58)
    far = torch.full((1, 1, 4, 58), 5.0)
    both = torch.cat([far, close], dim=1)
    # min over appropriate reactions: sample 0 matches `close` exactly, sample 1 is 1 away
    expected = (0.0 + 0.5) / 2
    assert appropriate_reconstruction_loss(pred, both).item() == pytest.approx(expected)
    masked = appropriate_reconstruction_loss(pred, both, torch.tensor([[True, False]]))
    assert masked.item() == pytest.approx((4.5 + 3.5) / 2)   # only `far` is valid
    # constant velocity is perfectly smooth; a kink is not
    ramp = torch.arange(10.0)[:, None].expand(10, 58)
    assert smoothness_loss(ramp).item() == 0.0
    kink = ramp.clone()
    kink[5:] = kink[4]
    assert smoothness_loss(kink).item() > 0.0
    # identical samples give the maximum diversity penalty exp(0) = 1; distinct ones less
    same = torch.zeros(1, 3, 4, 58)
    assert diversity_loss(same).item() == pytest.approx(1.0)
    d2 = float((pred[0, 0] - pred[0, 1]).pow(2).sum(-1).mean())
    assert diversity_loss(pred, sigma=2.0).item() == pytest.approx(np.exp(-d2 / 2.0))


# ---------------------------------------------------------------- wav2vec2 via from_pretrained
def test_wav2vec2_encoder_loads_a_saved_model(tmp_path):
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(1)
    w2v_cfg = transformers.Wav2Vec2Config(
        hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32,
        conv_dim=(8,) * 7, num_conv_pos_embeddings=8, num_conv_pos_embedding_groups=2)
    saved = transformers.Wav2Vec2Model(w2v_cfg)
    saved.save_pretrained(tmp_path / "w2v")
    model = tiny_model(audio_encoder="wav2vec2", wav2vec2_path=str(tmp_path / "w2v"),
                       wav2vec2_context_frames=4, wav2vec2_frozen_layers=1)
    enc = model.speaker.audio_encoder.wav2vec2
    for name, value in saved.state_dict().items():
        assert torch.equal(enc.state_dict()[name], value), name
    assert not any(p.requires_grad for p in enc.feature_extractor.parameters())
    assert not any(p.requires_grad for p in enc.encoder.layers[0].parameters())
    assert all(p.requires_grad for p in enc.encoder.layers[1].parameters())
    assert model.config.wav2vec2_arch["hidden_size"] == 16
    audio, face = speaker_inputs(16)
    ref = model.generate(audio, face, num_samples=2, seed=0)
    assert ref.shape == (1, 2, 16, 58) and torch.isfinite(ref).all()
    a2 = audio.clone()
    a2[:, 9 * 640:] = 0.5
    out = model.generate(a2, face, num_samples=2, seed=0)
    assert torch.equal(out[:, :, :9], ref[:, :, :9])            # causal per frame
    assert not torch.allclose(out[:, :, 9:], ref[:, :, 9:])
    # a checkpoint rebuilds wav2vec2 from the stored architecture, without the directory
    model.save_pretrained(tmp_path / "ckpt")
    (tmp_path / "w2v" / "model.safetensors").unlink()
    loaded = ReactFace.from_pretrained(tmp_path / "ckpt")
    assert torch.equal(loaded.generate(audio, face, num_samples=2, seed=0), ref)


def test_standard_normalisation_scales_outputs_and_face_features():
    """``standard``: the model works in std units, so scaling every training statistic and
    input by the same factor scales its outputs by that factor."""
    model = tiny_model(normalisation="standard")
    assert "std_face" in model.state_dict()
    assert "std_face" not in tiny_model().state_dict()          # 'mean' keeps the paper's layout
    rng = np.random.default_rng(0)
    mean = rng.normal(size=58).astype(np.float32)
    std = rng.uniform(0.05, 0.5, 58).astype(np.float32)
    with pytest.raises(ValueError, match="std_face is required"):
        model.set_normalisation(mean)
    with pytest.raises(ValueError, match="std_face must be"):
        model.set_normalisation(mean, -std)
    model.set_normalisation(mean, std)
    x = torch.from_numpy(rng.normal(size=(2, 5, 58)).astype(np.float32))
    assert torch.allclose(model.normalise(x), (x - torch.from_numpy(mean)) / torch.from_numpy(std))
    assert torch.allclose(model.denormalise(model.normalise(x)), x, atol=1e-5)
    audio, face = speaker_inputs(16)
    face[..., :58] = torch.from_numpy(mean) + torch.from_numpy(std) * face[..., :58]
    out = model.generate(audio, face, num_samples=2, seed=3)
    # Twice the spread around the same mean, inputs included: outputs spread twice as far.
    model.set_normalisation(mean, 2 * std)
    face2 = face.clone()
    face2[..., :58] = torch.from_numpy(mean) + 2 * (face[..., :58] - torch.from_numpy(mean))
    out2 = model.generate(audio, face2, num_samples=2, seed=3)
    m = torch.from_numpy(mean)
    assert torch.allclose(out2 - m, 2 * (out - m), atol=1e-4)
    # A 'mean' model refuses a std it would ignore.
    with pytest.raises(ValueError, match="not used"):
        tiny_model().set_normalisation(mean, std)
    data = rng.normal(size=(3, 40, 58)) * std + mean
    model.set_normalisation_from_data(data)
    np.testing.assert_allclose(model.std_face.numpy(), data.reshape(-1, 58).std(0), rtol=1e-5)
