"""Small utilities that do not belong to a model, a dataset or the text side."""
from .checkpoint_globals import mmengine_checkpoint_globals, register_mmengine_checkpoint_globals

__all__ = ['mmengine_checkpoint_globals', 'register_mmengine_checkpoint_globals']
