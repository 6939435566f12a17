"""A COCO-format dataset of your own, with its base / novel split read from class lists."""
from typing import Optional, Sequence, Union

from mmdet.datasets import CocoDataset
from mmdet.registry import DATASETS

from .vocabularies import resolve_vocabulary

VocabularySpec = Union[str, Sequence[str]]


@DATASETS.register_module()
class OVCustomDataset(CocoDataset):
    """``CocoDataset`` whose ``classes``, ``base_classes`` and ``novel_classes`` (what
    ``OVCocoAllMetric`` reads) come from vocabulary specs, e.g. the class lists
    ``tools/dataset_converters/coco2ov.py`` writes; they are read when the dataset is built.

    Args:
        classes: The dataset's labels, in order: a vocabulary spec (file, ``'a,b'``, list).
        base_classes: Base names (default: ``classes`` minus ``novel_classes``).
        novel_classes: Novel names (default: none).
        **kwargs: ``CocoDataset`` arguments (``metainfo`` is set from the above).

    Raises:
        ValueError: a base or novel name is not one of ``classes`` (it is named).
    """

    def __init__(self, *args, classes: VocabularySpec,
                 base_classes: Optional[VocabularySpec] = None,
                 novel_classes: Optional[VocabularySpec] = None, **kwargs) -> None:
        names = resolve_vocabulary(classes)
        novel = resolve_vocabulary(novel_classes) if novel_classes is not None else ()
        base = (resolve_vocabulary(base_classes) if base_classes is not None else
                tuple(n for n in names if n not in novel))
        for what, split in (('base_classes', base), ('novel_classes', novel)):
            unknown = [n for n in split if n not in names]
            if unknown:
                raise ValueError(f'OVCustomDataset: {what} {unknown} are not among its classes '
                                 f'({classes})')
        palette = CocoDataset.METAINFO['palette']
        kwargs['metainfo'] = dict(classes=names, base_classes=base, novel_classes=novel,
                                  palette=[palette[i % len(palette)] for i in range(len(names))])
        super().__init__(*args, **kwargs)
