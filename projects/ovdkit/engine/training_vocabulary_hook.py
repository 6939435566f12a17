"""Checks, before the first training step, that each head's vocabulary is the dataset's labels."""
from typing import Optional, Sequence

from mmdet.registry import HOOKS
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from ..models.open_vocabulary_head import OpenVocabularyHeadMixin
from ..utils.config_variables import OVDConfigError


def first_difference(vocabulary: Sequence[str], classes: Sequence[str]) -> Optional[str]:
    """The first difference between two ordered class lists, as a sentence; ``None`` if equal."""
    for i, (a, b) in enumerate(zip(vocabulary, classes)):
        if a != b:
            return f'at index {i} the vocabulary has {a!r}, the dataset {b!r}'
    if len(vocabulary) != len(classes):
        longer, name = ((vocabulary, 'vocabulary') if len(vocabulary) > len(classes)
                        else (classes, 'dataset'))
        return (f'the vocabulary has {len(vocabulary)} names, the dataset {len(classes)}; '
                f'the first extra one ({name}) is {longer[min(len(vocabulary), len(classes))]!r}')
    return None


@HOOKS.register_module()
class TrainingVocabularyHook(Hook):
    """Refuses to train a head whose training vocabulary is not the dataset's classes.

    A label ``k`` of the training dataset is the ``k``-th name of its ``metainfo['classes']``;
    an open-vocabulary head scores column ``k`` with the text embedding of the ``k``-th name
    of its training vocabulary. A vocabulary file in another order (or with other names)
    would train every box against another class's text, without any error. ``OVDRunner``
    registers this hook; other runners can list it in ``custom_hooks``.
    """

    priority = 'VERY_HIGH'

    def before_train(self, runner) -> None:
        """Compares every open-vocabulary head's training vocabulary with the dataset's classes.

        Raises:
            OVDConfigError: naming the head, the vocabulary source and the first difference.
        """
        dataset = runner.train_dataloader.dataset
        classes = tuple(dataset.metainfo.get('classes') or ())
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        for name, module in model.named_modules():
            if not isinstance(module, OpenVocabularyHeadMixin):
                continue
            difference = first_difference(module.train_classes, classes)
            if difference:
                source = module.vocabulary_cfg['classes']
                if not isinstance(source, str):
                    source = f'{len(source)} names in the config'
                raise OVDConfigError(
                    f'the training vocabulary of model.{name} '
                    f'({source!r}) is not the training dataset\'s '
                    f'classes ({type(dataset).__name__}, metainfo["classes"]): {difference}. '
                    f'Labels would train against the wrong names; give the head the '
                    f'dataset\'s classes in their order')
            runner.logger.info(f'[ovdkit] training vocabulary of model.{name} = the training '
                               f'dataset\'s {len(classes)} classes')
