"""Contingency: smile-back with the other-speaker control, nods after pause onsets, report."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from reaction_fixture import make_reaction_dataset
from reactface_ros.constants import BLENDSHAPE_INDEX, SAMPLES_PER_FRAME
from reactface_ros.data import DatasetConfig, ReactionDataset
from reactface_ros.evaluate import EvaluationConfig, evaluate_checkpoint
from reactface_ros.evaluate import contingency as C
from reactface_ros.model import ReactFace, ReactFaceConfig
from reactface_ros.train.features import ensure_face_features

SMILE = (BLENDSHAPE_INDEX["mouthSmileLeft"], BLENDSHAPE_INDEX["mouthSmileRight"])
LAG = 20   # 0.8 s at 25 fps


def smile_episodes(rng, t):
    """Sparse smooth smile episodes (about 1 s long, 1-4 s apart)."""
    s = np.zeros(t)
    i = int(rng.integers(10, 40))
    while i < t:
        n = int(rng.integers(15, 35))
        s[i:i + n] = rng.uniform(0.4, 0.9)
        i += n + int(rng.integers(25, 100))
    k = np.exp(-0.5 * (np.arange(-9, 10) / 3.0) ** 2)
    return np.convolve(s, k / k.sum(), mode="same")


def delayed(x, lag):
    """``x`` shifted later by ``lag`` frames (negative: earlier), edges held at 0."""
    out = np.zeros_like(x)
    if lag >= 0:
        out[lag:] = x[:len(x) - lag]
    else:
        out[:lag] = x[-lag:]
    return out


def faces(smiles=None, pitches=None):
    """``(M, T)`` smile and/or pitch tracks -> ``(M, T, 58)`` coefficients."""
    ref = smiles if smiles is not None else pitches
    out = np.zeros(np.shape(ref) + (58,))
    out[..., 52] = np.pi
    if smiles is not None:
        out[..., SMILE[0]] = out[..., SMILE[1]] = smiles
    if pitches is not None:
        out[..., 52] = np.pi + np.asarray(pitches)
    return out


@pytest.fixture(scope="module")
def tracks():
    rng = np.random.default_rng(7)
    t = 1500
    return rng, smile_episodes(rng, t), smile_episodes(rng, t)


def test_lagged_pearson_direction_and_values(tracks):
    rng, speaker, _ = tracks
    listener = delayed(speaker, LAG) + 0.01 * rng.normal(size=len(speaker))
    r = C.lagged_pearson(speaker[None], listener[None], [LAG, -LAG, 0])[0, 0]
    # Positive lag: the listener comes later. Check against np.corrcoef on the overlap.
    want = np.corrcoef(speaker[:-LAG], listener[LAG:])[0, 1]
    assert r[0] == pytest.approx(want, abs=1e-12) and r[0] > 0.99
    assert r[1] == pytest.approx(np.corrcoef(speaker[LAG:], listener[:-LAG])[0, 1], abs=1e-12)
    assert r[1] < 0.5


def test_listener_that_follows_smiles_back_and_one_that_leads_does_not(tracks):
    rng, speaker, other = tracks
    noise = 0.01 * rng.normal(size=len(speaker))
    follows = 0.8 * delayed(speaker, LAG) + noise
    leads = 0.8 * delayed(speaker, -LAG) + noise
    independent = smile_episodes(np.random.default_rng(99), len(speaker))
    white = 0.2 + 0.05 * rng.normal(size=len(speaker))
    out = C.smile_back(speaker, np.stack([follows, leads, independent, white]), other[None])
    r, lag, control, amp = out["r"], out["lag_s"], out["control"], out["amplitude"]
    assert r[0] > 0.97 and lag[0] == pytest.approx(0.8, abs=0.041)
    assert amp[0] == pytest.approx(0.8, abs=0.05)
    assert control[0] < 0.4 and out["control_max"][0] == control[0]   # one other speaker
    # Leading by 0.8 s is not a reaction: only autocorrelation at lags >= 1 s is left.
    assert r[1] < 0.5
    assert r[2] < 0.35 and r[3] < 0.2
    assert C.smiles_back(r, control, amp).tolist() == [True, False, False, False]


def test_thresholds_and_unknown_control():
    sb = C.smiles_back([0.6, 0.6, 0.6, 0.49, 0.9], [0.3, 0.45, 0.3, 0.0, np.nan],
                       [0.5, 0.5, 0.29, 1.0, 1.0])
    assert sb.tolist() == [True, False, False, False, False]
    assert C.nods([1.5, 1.49, np.nan]).tolist() == [True, False, False]


def test_constant_input_gives_zero_not_nan(tracks):
    _, speaker, other = tracks
    t = len(speaker)
    const = np.full((2, t), 0.3)
    out = C.smile_back(speaker, const, other[None])
    for key in ("r", "control", "control_max", "amplitude"):
        assert np.array_equal(out[key], np.zeros(2)), key
    out = C.smile_back(np.full(t, 0.7), speaker[None], np.full((1, t), 0.1))
    assert out["r"][0] == 0 and out["control"][0] == 0 and out["amplitude"][0] == 0
    speech = np.ones(t, bool)
    speech[100:150] = False
    assert C.nod_ratio(np.full((2, t), np.pi), speech).tolist() == [0.0, 0.0]


def speech_audio(rng, t, noise=3e-4):
    """Tone bursts with a syllable envelope, silences of 0.4-1.5 s: (audio, true speech)."""
    speaking = np.zeros(t, bool)
    i = 12
    while i < t:
        n = int(rng.integers(40, 120))
        speaking[i:i + n] = True
        i += n + int(rng.integers(10, 38))
    tt = np.arange(t * SAMPLES_PER_FRAME) / 16000
    env = np.repeat(speaking, SAMPLES_PER_FRAME) * (0.3 + 0.7 * np.abs(np.sin(2 * np.pi * 3 * tt)))
    audio = 0.3 * env * np.sin(2 * np.pi * 190 * tt) + noise * rng.normal(size=len(tt))
    return audio.astype(np.float32), speaking


def test_voice_activity_finds_the_pauses():
    rng = np.random.default_rng(1)
    audio, speaking = speech_audio(rng, 1500)
    speech = C.voice_activity(audio)
    assert speech.shape == (1500,) and (speech == speaking).mean() > 0.95
    true = C.pause_onsets(speaking)
    got = C.pause_onsets(speech)
    assert len(true) >= 10 and len(got) == len(true)
    assert np.all(np.abs(got - true) <= 3)
    # The silence before the first word is not a pause.
    assert got[0] > np.flatnonzero(speaking)[0]
    # Continuous speech and digital silence have no pause: the nod ratio is NaN (null).
    tt = np.arange(500 * SAMPLES_PER_FRAME) / 16000
    tone = 0.3 * np.sin(2 * np.pi * 190 * tt)
    pitch = np.random.default_rng(2).normal(size=(1, 500))
    for a in (tone, np.zeros_like(tt)):
        s = C.voice_activity(a)
        assert len(C.pause_onsets(s)) == 0
        assert np.isnan(C.nod_ratio(pitch, s)[0])
    assert C.voice_activity(tone).all() and not C.voice_activity(np.zeros_like(tt)).any()


def sway(rng, t, scale=0.01):
    """Smooth random head sway (pitch, radians)."""
    k = np.exp(-0.5 * (np.arange(-12, 13) / 4.0) ** 2)
    return scale * np.convolve(rng.normal(size=t), k, mode="same")


def test_nods_after_pause_onsets_give_a_high_ratio_and_sway_about_one():
    rng = np.random.default_rng(3)
    t = 3000
    audio, speaking = speech_audio(rng, t)
    speech = C.voice_activity(audio, t)
    base = sway(rng, t)
    nodding = base.copy()
    early = base.copy()
    for o in C.pause_onsets(speaking):      # nods placed from the true timeline
        seg = np.arange(o + 2, min(t, o + 22))
        nodding[seg] += 0.05 * np.sin(2 * np.pi * (seg - o - 2) / 10)
        seg = np.arange(max(0, o - 40), o - 20)   # the same nods during speech instead
        early[seg] += 0.05 * np.sin(2 * np.pi * (seg - seg[0]) / 10)
    ratio = C.nod_ratio(np.stack([nodding, base, early]), speech)
    assert ratio[0] > 3.0 and C.nods(ratio)[0]
    assert 0.7 < ratio[1] < 1.4 and not C.nods(ratio)[1]
    assert ratio[2] < 1.0
    # Face coefficients route through the same computation.
    per = C.session_contingency(faces(pitches=np.zeros((1, t)))[0],
                                faces(pitches=np.stack([nodding, base])), speech)
    np.testing.assert_allclose(per["nod_ratio"], ratio[:2])


def test_session_best_sample_and_report(tracks, tmp_path):
    rng, _, _ = tracks
    t = 750
    clips = [f"spk{k}" for k in range(4)]
    smiles = np.stack([smile_episodes(rng, t) for _ in clips])
    sp_pitch = np.zeros((4, t))
    speakers = faces(smiles, sp_pitch)
    speech = []
    for k in range(4):
        audio, _ = speech_audio(np.random.default_rng(10 + k), t)
        speech.append(C.voice_activity(audio, t))
    follows, leads = [], []
    for k in range(4):
        pitch = np.stack([sway(rng, t), sway(rng, t)])
        for o in C.pause_onsets(speech[k]):
            seg = np.arange(o + 2, min(t, o + 22))
            pitch[1, seg] += 0.05 * np.sin(2 * np.pi * (seg - o - 2) / 10)
        sm = np.stack([0.1 + 0.05 * rng.normal(size=t), 0.8 * delayed(smiles[k], LAG)])
        follows.append(faces(sm, pitch))            # sample 1 smiles back and nods
        leads.append(faces(np.stack([delayed(smiles[k], -LAG)] * 2), pitch[:1].repeat(2, 0)))
    report = C.contingency_report({"follows": follows, "leads": leads}, speakers, speech,
                                  clips, [{c} for c in clips])
    json.dumps(report, allow_nan=False)      # NaN is written as null
    f = report["methods"]["follows"]
    assert f["summary"]["speakers"] == 4 and f["summary"]["speakers_both"] == 4
    assert all(s["best"]["sample"] == 1 and s["both"] for s in f["speakers"])
    assert f["summary"]["best_smile_r"] > 0.95 and f["summary"]["best_nod_ratio"] > 1.5
    assert f["summary"]["best_control"] < 0.5
    assert len(f["rows"][0]["samples"]["smile_r"]) == 2
    lead = report["methods"]["leads"]["summary"]
    assert lead["speakers_smile"] == 0 and lead["speakers_nod"] == 0 and lead["rows_both"] == 0
    assert set(report["speech"]) == set(clips)
    assert C.summary_line("follows", f["summary"]).endswith("both 4/4")
    from reactface_ros.evaluate.plots import write_contingency_plot

    name = write_contingency_plot(tmp_path, report, {"follows": np.stack(follows)},
                                  np.stack([x[1] for x in follows]), speakers, speech, clips=2)
    data = (tmp_path / name).read_bytes()
    assert name == "contingency.png" and data[:4] == b"\x89PNG" and len(data) > 5000
    # Controls never use the row's own or excluded clips; at most max_control_speakers.
    bank, ctrl = C.control_clips(["a", "a", "b", "c", "d"], [{"b"}, set(), set(), set(), set()],
                                 2)
    assert bank == ["a", "b", "c", "d"]
    assert ctrl[0] == [2, 3] and ctrl[1] == [1, 3] and ctrl[2] == [0, 3]
    # Extra speakers (the training split's) only fill a control the rows cannot.
    bank, ctrl = C.control_clips(["a", "b"], [{"b"}, set()], 2, ["x", "a", "y", "z"])
    assert bank == ["a", "b", "x", "y", "z"]
    assert ctrl[0] == [2, 4] and ctrl[1] == [0, 2]


def test_best_sample_prefers_both_then_more_tests_then_r():
    per = {"smiles_back": np.array([True, False, True, False]),
           "nods": np.array([False, True, True, False]),
           "smile_r": np.array([0.9, 0.2, 0.6, 0.95])}
    assert C.best_sample(per) == 2
    per["nods"][2] = False
    assert C.best_sample(per) == 0


@pytest.fixture(scope="module")
def two_sessions(tmp_path_factory):
    root = make_reaction_dataset(tmp_path_factory.mktemp("dyadic2"), frames=100,
                                 sessions={"train": 2, "val": 2}, seed=5)
    ensure_face_features(ReactionDataset(root, "val", DatasetConfig(
        load_face_features=False)).face_feature_jobs())
    torch.manual_seed(0)
    model = ReactFace(ReactFaceConfig(hidden_size=32, num_heads=4, ff_size=64, latent_size=16,
                                      horizon=16, n_mels=20))
    model.set_normalisation(np.load(root / "3D_FV_files/site/s00/listener1/1.npy").mean(0))
    ckpt = tmp_path_factory.mktemp("ckpt2")
    model.save_pretrained(ckpt)
    return root, ckpt


def test_evaluate_writes_contingency_for_model_baselines_and_real_listeners(
        two_sessions, tmp_path):
    root, ckpt = two_sessions
    out = tmp_path / "eval"
    evaluate_checkpoint(ckpt, root, out, EvaluationConfig(num_samples=3, fr_dist=False,
                                                          progress=False))
    text = (out / "metrics.json").read_text()
    saved = json.loads(text)
    assert "NaN" not in text and "Infinity" not in text
    cont = saved["contingency"]
    names = ["ReactFace (streaming)", "Mirror", "Random", "NN motion", "NN audio",
             "Real listener (reference)", "Real appropriate listeners"]
    assert list(cont["methods"]) == names
    assert set(cont["speech"]) == {r["speaker"] for r in cont["methods"]["Mirror"]["rows"]}
    for name in names:
        m = cont["methods"][name]
        s = m["summary"]
        assert s["rows"] == 8 and s["speakers"] == 6
        assert 0 <= s["speakers_both"] <= min(s["speakers_smile"], s["speakers_nod"])
        expect = {"ReactFace (streaming)": 3, "Real listener (reference)": 1,
                  "Real appropriate listeners": 2}.get(name, 3)
        for row in m["rows"]:
            assert len(row["samples"]["smile_r"]) == expect
            assert set(row["samples"]) == {"smile_r", "smile_lag_s", "control", "control_max",
                                           "amplitude", "nod_ratio", "smiles_back", "nods"}
            assert row["samples"]["control"][0] is not None   # two sessions: a control exists
    # Listener 1 of every fixture session copies its speaker's smile 5 frames (0.2 s) later.
    ref = cont["methods"]["Real listener (reference)"]["rows"]
    for k in (0, 2):
        assert ref[k]["best"]["smile_r"] > 0.9 and ref[k]["best"]["smile_lag_s"] == 0.2
        assert ref[k]["smiles_back"]
    assert cont["plot"] == "contingency.png"
    data = (out / "contingency.png").read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
    table = (out / "metrics.md").read_text().split("## Contingency")[1]
    for name in names:
        assert f"| {name} |" in table


def test_cli_prints_contingency_and_can_skip_it(two_sessions, tmp_path, capsys):
    root, ckpt = two_sessions
    from reactface_ros.cli import main

    base = ["evaluate", "--checkpoint", str(ckpt), "--data-root", str(root), "--samples", "2",
            "--no-fr-dist", "--no-plots", "--no-baselines"]
    assert main(base + ["--out", str(tmp_path / "a")]) == 0
    printed = capsys.readouterr().out
    assert "contingency ReactFace (streaming): smile-back r" in printed
    assert main(base + ["--no-contingency", "--out", str(tmp_path / "b")]) == 0
    assert "contingency" not in json.loads((tmp_path / "b" / "metrics.json").read_text())
