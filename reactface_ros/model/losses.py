"""The five training losses of ReactFace (paper Algorithm 1).

``L = L_rec^a + L_rec^s + l_kl KL + l_smo L_smo + l_div L_div`` with the paper's weights
``l_kl = 1e-5``, ``l_smo = 10``, ``l_div = 100`` (:class:`LossWeights`). Every coefficient
tensor here is normalised (minus the mean face), as :class:`ReactFaceOutput` holds them.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from reactface_ros.constants import ROTATION_SLICE
from reactface_ros.model.reactface import ReactFaceOutput

#: How ``L_rec^a`` compares the head rotation (:func:`elementwise_distance`).
POSE_LOSSES = ("smooth_l1", "l2")

#: How ``L_rec^a`` pairs generated samples with appropriate real reactions.
MATCHINGS = ("sample", "chamfer", "coverage", "wta", "hungarian")


@dataclass
class LossWeights:
    """Weights of the auxiliary terms and the diversity kernel width."""

    kl: float = 1e-5
    smooth: float = 10.0
    diversity: float = 100.0
    diversity_sigma: float = 1.0
    resting_face: float = 1.0
    matching: str = "sample"
    matching_relax: float = 0.1
    envelope: float = 0.0
    envelope_sigma: float = 5.0
    pose_loss: str = "smooth_l1"


def appropriate_reconstruction_loss(reactions: torch.Tensor, appropriate: torch.Tensor,
                                    valid: torch.Tensor | None = None,
                                    resting_face: float = 1.0,
                                    matching: str = "sample",
                                    relax: float = 0.1, envelope: float = 0.0,
                                    envelope_sigma: float = 5.0,
                                    pose_loss: str = "smooth_l1") -> torch.Tensor:
    """``L_rec^a``: for each sample, SmoothL1 to the closest appropriate real reaction.

    ``matching: chamfer`` adds the other direction: for each appropriate real reaction, the
    distance to the closest sample, averaged over the valid ones; the loss is the mean of the
    two directions. The paper's term alone (``sample``) is met by every sample copying the one
    appropriate reaction that is easiest to predict (on data with a still, attentive listener
    among the appropriate ones: no reaction at all), and ``L_div`` then spreads the samples with
    noise; the coverage direction makes the M samples between them reproduce each kind of
    appropriate reaction, as a distribution over reactions should. ``matching: coverage`` keeps
    only that direction (each appropriate reaction pulls its closest sample, and nothing pulls a
    sample towards the reaction that is easiest to predict). ``matching: wta`` (winner takes
    all, multiple-choice learning) is ``coverage`` plus ``relax`` times ``sample``: each
    appropriate reaction trains only the sample closest to it, so samples (persona slots)
    specialise, and the small ``sample`` term keeps samples that win nothing from drifting.
    ``matching: hungarian`` is winner-takes-all under a balanced assignment: the appropriate
    reactions of a clip are assigned to samples one to one (each sample takes at most
    ``ceil(K / M)`` of them, by minimum total distance), plus ``relax`` times ``sample``. Plain
    winner-takes-all lets one sample that is a little closer to everything win every
    reaction and learn their average; the balanced assignment makes each sample take a
    different kind of reaction.

    With ``resting_face`` other than 1 each distance is split into the distance of the
    movements (both sequences minus their mean over time) plus ``resting_face`` times the
    distance of the means (the resting faces); for squared errors 1 is exactly the plain
    distance. A weight below 1 lets the motion, not the unpredictable resting face of each
    real listener, decide which appropriate reaction a sample is closest to.

    Parameters
    ----------
    reactions : torch.Tensor
        ``(B, M, T, 58)`` generated.
    appropriate : torch.Tensor
        ``(B, K, T, 58)`` real reactions appropriate to each speaker clip.
    valid : torch.Tensor, optional
        ``(B, K)`` bool, False for padding entries (each row needs at least one True).
    resting_face : float
        Weight of the resting-face part (1: the paper's plain SmoothL1).
    matching : str
        ``sample`` (the paper), ``chamfer``, ``coverage``, ``wta`` or ``hungarian`` (see
        above).
    relax : float
        Weight of the ``sample`` direction in ``wta`` and ``hungarian``.
    envelope : float
        Weight of the head-motion envelope distance (:func:`envelope_distance`) added to
        every sample-to-reaction distance before matching (0: the paper's distance only).
    envelope_sigma : float
        Width in frames of the envelope's Gaussian smoothing.
    pose_loss : str
        ``smooth_l1`` (the paper: every coefficient alike) or ``l2``: the head rotation is
        compared with ``0.5 x^2`` (:func:`elementwise_distance`).

    Returns
    -------
    torch.Tensor
        Scalar: mean over B and M of ``min_K mean_{T,58} SmoothL1`` (``coverage``: the mean
        over B and valid K of ``min_M``; ``chamfer``: the mean of the two).
    """
    if matching not in MATCHINGS:
        raise ValueError(f"matching must be one of {MATCHINGS}, got {matching!r}")
    if reactions.ndim != 4 or appropriate.ndim != 4:
        raise ValueError("reactions must be (B, M, T, 58) and appropriate (B, K, T, 58)")
    b, m = reactions.shape[:2]
    k = appropriate.shape[1]
    pred = reactions[:, :, None].expand(b, m, k, *reactions.shape[2:])
    real = appropriate[:, None].to(reactions.dtype).expand(b, m, k, *appropriate.shape[2:])
    if pose_loss not in POSE_LOSSES:
        raise ValueError(f"pose_loss must be one of {POSE_LOSSES}, got {pose_loss!r}")
    pose_l2 = pose_loss == "l2"
    if resting_face == 1.0:
        diff = elementwise_distance(pred, real, pose_l2).mean(dim=(-1, -2))       # (B, M, K)
    else:
        rest_pred, rest_real = pred.mean(dim=-2, keepdim=True), real.mean(dim=-2, keepdim=True)
        diff = (elementwise_distance(pred - rest_pred, real - rest_real, pose_l2)
                .mean(dim=(-1, -2))
                + resting_face * elementwise_distance(rest_pred, rest_real, pose_l2)
                .mean(dim=(-1, -2)))
    if envelope > 0:
        diff = diff + envelope * envelope_distance(reactions, appropriate.to(reactions.dtype),
                                                   envelope_sigma)
    if valid is not None:
        if not bool(valid.any(dim=1).all()):
            raise ValueError("every clip needs at least one valid appropriate reaction")
        mask = valid[:, None, :].to(diff.device)
    else:
        mask = torch.ones_like(diff[:, :1], dtype=torch.bool)
    per_sample = diff.masked_fill(~mask, float("inf")).min(dim=2).values.mean()
    if matching == "sample":
        return per_sample
    per_real = diff.min(dim=1).values                                           # (B, K)
    keep = mask[:, 0].expand_as(per_real)
    per_real = (per_real * keep).sum() / keep.sum()
    if matching == "wta":
        return per_real + relax * per_sample
    if matching == "hungarian":
        return balanced_assignment_loss(diff, mask[:, 0]) + relax * per_sample
    return per_real if matching == "coverage" else 0.5 * (per_sample + per_real)


def elementwise_distance(pred: torch.Tensor, real: torch.Tensor,
                         pose_l2: bool = False) -> torch.Tensor:
    """SmoothL1 (beta 1) per element of ``(..., 58)``; ``pose_l2``: ``0.5 x^2`` for the head.

    With ``pose_l2`` the head rotation (coefficients 52:55) uses the squared error instead.
    In motion units a listener's nod is 3-5 standard deviations, where SmoothL1 is an L1 loss
    whose optimum is the conditional median: against nods at uncertain times the median head
    does not move. The squared error's optimum is the conditional mean, a head that moves
    (down, as every nod does) when nods are likely.
    """
    out = F.smooth_l1_loss(pred, real, reduction="none")
    if not pose_l2:
        return out
    sq = 0.5 * (pred[..., ROTATION_SLICE] - real[..., ROTATION_SLICE]).pow(2)
    return torch.cat([out[..., :ROTATION_SLICE.start], sq, out[..., ROTATION_SLICE.stop:]],
                     dim=-1)


def motion_envelope(x: torch.Tensor, sigma: float = 5.0,
                    channels: slice = ROTATION_SLICE) -> torch.Tensor:
    """How far ``channels`` move around their local mean: ``(..., T, 58)`` -> ``(..., T, C)``.

    The local standard deviation ``sqrt(G * (x - G * x)^2)``, ``G`` a Gaussian of ``sigma``
    frames (edges replicated). Two nods a few frames apart have nearly the same envelope,
    while their pitch curves are far apart in any pointwise distance; slow sway (seconds)
    is mostly removed by the local mean, and a fast jitter of small amplitude has a small
    envelope (an envelope of speed would reward jitter as much as a nod).
    """
    y = x[..., channels]
    half = max(1, int(round(3 * sigma)))
    taps = torch.exp(-0.5 * (torch.arange(-half, half + 1, dtype=y.dtype, device=y.device)
                             / sigma) ** 2)
    taps = (taps / taps.sum()).view(1, 1, -1)
    lead, (t, c) = y.shape[:-2], y.shape[-2:]

    def smooth(v: torch.Tensor) -> torch.Tensor:
        flat = v.reshape(-1, t, c).transpose(1, 2).reshape(-1, 1, t)
        out = F.conv1d(F.pad(flat, (half, half), mode="replicate"), taps)
        return out.reshape(-1, c, t).transpose(1, 2).reshape(*lead, t, c)

    return torch.sqrt(smooth((y - smooth(y)).pow(2)) + 1e-6)


def envelope_distance(reactions: torch.Tensor, appropriate: torch.Tensor,
                      sigma: float = 5.0) -> torch.Tensor:
    """``(B, M, K)`` mean absolute difference of the head-motion envelopes.

    A timing-tolerant distance for the head: a pointwise loss between a sample and a listener
    who nods at an unknown lag is smallest for a still head (the conditional median of
    out-of-phase nods is no motion), whereas matching :func:`motion_envelope` rewards moving
    the head when the listener does, a little early or late. ``reactions`` ``(B, M, T, 58)``,
    ``appropriate`` ``(B, K, T, 58)``.
    """
    env_pred = motion_envelope(reactions, sigma)                           # (B, M, T, C)
    env_real = motion_envelope(appropriate, sigma)                         # (B, K, T, C)
    return (env_pred[:, :, None] - env_real[:, None]).abs().mean(dim=(-1, -2))


def balanced_assignment_loss(diff: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Mean distance of a balanced one-to-one assignment of reactions to samples.

    ``diff`` ``(B, M, K)`` distances, ``valid`` ``(B, K)``. Per clip, the valid reactions are
    assigned to samples (each sample at most ``ceil(K_valid / M)`` times) with the minimum
    total distance (Hungarian algorithm on the detached distances); returns the mean of the
    assigned distances over clips.
    """
    from scipy.optimize import linear_sum_assignment

    cost_all = diff.detach().float().cpu().numpy()
    keep = valid.cpu().numpy()
    b, m, _ = diff.shape
    total = diff.new_zeros(())
    for i in range(b):
        cols = np.flatnonzero(keep[i])
        reps = -(-len(cols) // m)
        cost = np.tile(cost_all[i][:, cols], (reps, 1))          # (reps M, Kv)
        rows, picked = linear_sum_assignment(cost)
        total = total + diff[i, torch.as_tensor(rows % m), torch.as_tensor(cols[picked])].mean()
    return total / b


def speaker_reconstruction_loss(reconstruction: torch.Tensor,
                                speaker: torch.Tensor) -> torch.Tensor:
    """``L_rec^s``: SmoothL1 of the auxiliary head against the speaker's coefficients.

    Both ``(B, T, 58)``, normalised.
    """
    return F.smooth_l1_loss(reconstruction, speaker.to(reconstruction.dtype))


def kl_loss(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, sigma^2) || N(0, I)), summed over the latent and averaged over the rest."""
    return (-0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(dim=-1)).mean()


def smoothness_loss(reactions: torch.Tensor) -> torch.Tensor:
    """``L_smo``: SmoothL1 between consecutive velocities of ``(..., T, 58)`` reactions."""
    vel = reactions[..., 1:, :] - reactions[..., :-1, :]
    if vel.shape[-2] < 2:
        return reactions.new_zeros(())
    return F.smooth_l1_loss(vel[..., 1:, :], vel[..., :-1, :])


def diversity_loss(reactions: torch.Tensor, sigma: float = 1.0) -> torch.Tensor:
    """``L_div``: mean over sample pairs i < j of ``exp(-||R_i - R_j||^2 / sigma)``.

    ``reactions`` is ``(B, M, T, 58)`` with M >= 2 samples drawn from one shared speaker
    encoding; ``||.||^2`` is the squared L2 norm over the 58 coefficients averaged over the T
    frames (so sigma does not depend on the clip length). Low when samples differ.
    """
    b, m = reactions.shape[:2]
    if m < 2:
        raise ValueError("the diversity loss needs num_samples >= 2")
    flat = reactions.reshape(b, m, -1, reactions.shape[-1])
    d2 = (flat[:, :, None] - flat[:, None]).pow(2).sum(-1).mean(-1)          # (B, M, M)
    i, j = torch.triu_indices(m, m, offset=1, device=reactions.device)
    return torch.exp(-d2[:, i, j] / sigma).mean()


def reactface_loss(output: ReactFaceOutput, appropriate: torch.Tensor,
                   speaker_target: torch.Tensor, valid: torch.Tensor | None = None,
                   weights: LossWeights | None = None) -> dict[str, torch.Tensor]:
    """Total loss and its terms.

    Parameters
    ----------
    output : ReactFaceOutput
        From ``ReactFace.forward`` (normalised).
    appropriate : torch.Tensor
        ``(B, K, T, 58)`` normalised appropriate real reactions.
    speaker_target : torch.Tensor
        ``(B, T, 58)`` normalised speaker coefficients.
    valid : torch.Tensor, optional
        ``(B, K)`` validity of the appropriate reactions.
    weights : LossWeights, optional
        Paper weights by default.

    Returns
    -------
    dict
        ``total``, ``rec_listener``, ``rec_speaker``, ``kl``, ``smooth``, ``diversity``
        (``diversity`` is 0 when M = 1).
    """
    w = weights or LossWeights()
    terms = {
        "rec_listener": appropriate_reconstruction_loss(output.reactions, appropriate, valid,
                                                        w.resting_face, w.matching,
                                                        w.matching_relax, w.envelope,
                                                        w.envelope_sigma, w.pose_loss),
        "rec_speaker": speaker_reconstruction_loss(output.speaker_reconstruction,
                                                   speaker_target),
        "kl": kl_loss(output.mu, output.logvar),
        "smooth": smoothness_loss(output.reactions),
    }
    if output.reactions.shape[1] >= 2:
        terms["diversity"] = diversity_loss(output.reactions, w.diversity_sigma)
    else:
        terms["diversity"] = output.reactions.new_zeros(())
    terms["total"] = (terms["rec_listener"] + terms["rec_speaker"] + w.kl * terms["kl"]
                      + w.smooth * terms["smooth"] + w.diversity * terms["diversity"])
    return terms
