"""Runner and hooks (registered in mmengine's RUNNERS and mmdet's HOOKS)."""
from .exemplar_vocabulary_hook import ExemplarVocabularyHook
from .ovd_runner import OVDRunner
from .training_vocabulary_hook import TrainingVocabularyHook, first_difference

__all__ = ['ExemplarVocabularyHook', 'OVDRunner', 'TrainingVocabularyHook', 'first_difference']
