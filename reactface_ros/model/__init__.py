"""ReactFace in PyTorch: causal encoders, AFRG, SLBS, losses and safetensors checkpoints.

Public API: :class:`ReactFace`, :class:`ReactFaceConfig`, :class:`ReactFaceOutput`.
"""
from reactface_ros.model.config import ReactFaceConfig
from reactface_ros.model.reactface import ReactFace, ReactFaceOutput, neutral_face

__all__ = ["ReactFace", "ReactFaceConfig", "ReactFaceOutput", "neutral_face"]
