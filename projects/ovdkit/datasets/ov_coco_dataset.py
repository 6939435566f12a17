"""OV-COCO: COCO restricted to the 65 open-vocabulary categories, with the split in metainfo."""
from mmdet.datasets import CocoDataset
from mmdet.registry import DATASETS

from .ov_splits import COCO_CLASSES, OV_COCO_BASE_CLASSES, OV_COCO_CLASSES, OV_COCO_NOVEL_CLASSES

_PALETTE = dict(zip(COCO_CLASSES, CocoDataset.METAINFO['palette']))


@DATASETS.register_module()
class OVCocoDataset(CocoDataset):
    """COCO with ``classes`` (65), ``base_classes`` (48) and ``novel_classes`` (17) in
    ``metainfo``, as mmdet's ``OVCocoMetric`` reads them.

    Args:
        classes_split: ``'all'`` (labels index the 65 classes) or ``'base'``: labels index the
            48 base classes in COCO order, what a training vocabulary of base names
            (``'ov-coco-base'``) expects. An explicit ``metainfo['classes']`` wins.
        **kwargs: ``CocoDataset`` arguments.
    """

    METAINFO = dict(
        classes=OV_COCO_CLASSES,
        base_classes=tuple(c for c in OV_COCO_CLASSES if c in OV_COCO_BASE_CLASSES),
        novel_classes=tuple(c for c in OV_COCO_CLASSES if c in OV_COCO_NOVEL_CLASSES),
        palette=[_PALETTE[c] for c in OV_COCO_CLASSES])

    def __init__(self, *args, classes_split: str = 'all', **kwargs) -> None:
        if classes_split not in ('base', 'all'):
            raise ValueError(f"OVCocoDataset: classes_split must be 'base' or 'all', got "
                             f'{classes_split!r}')
        if classes_split == 'base':
            base = self.METAINFO['base_classes']
            kwargs['metainfo'] = dict(dict(classes=base, palette=[_PALETTE[c] for c in base]),
                                      **(kwargs.get('metainfo') or {}))
        super().__init__(*args, **kwargs)
