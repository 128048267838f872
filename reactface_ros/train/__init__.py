"""Training ReactFace: typed config, Algorithm 1 loop, checkpoints, logs and the face cache.

Public API: :class:`TrainConfig`, :func:`load_train_config`, :func:`train`,
:class:`TrainResult`.
"""
from reactface_ros.train.config import TrainConfig, TrainConfigError, load_train_config
from reactface_ros.train.loop import TrainResult, train

__all__ = ["TrainConfig", "TrainConfigError", "TrainResult", "load_train_config", "train"]
