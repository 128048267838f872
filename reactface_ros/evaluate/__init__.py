"""Evaluation: the streaming engine on every clip of a split, the baselines, report and plots.

Public API: :func:`evaluate_checkpoint`, :class:`EvaluationConfig`, :func:`score_reactions`.
"""
from reactface_ros.evaluate.runner import EvaluationConfig, evaluate_checkpoint, stream_clip
from reactface_ros.evaluate.scoring import score_reactions

__all__ = ["EvaluationConfig", "evaluate_checkpoint", "score_reactions", "stream_clip"]
