"""Inference on any vocabulary: :class:`OVDInferencer` (mmdet's DetInferencer + a vocabulary)."""
from .ov_inferencer import (CheckpointMismatchError, OVDInferencer, name_palette,
                            open_vocabulary_heads)

__all__ = ['CheckpointMismatchError', 'OVDInferencer', 'name_palette', 'open_vocabulary_heads']
