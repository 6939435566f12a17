"""mmdet's OVCocoMetric for any base / novel split, also reporting AP50 over all classes."""
from typing import Dict, Optional, Sequence, Union

from mmdet.evaluation import OVCocoMetric
from mmdet.registry import METRICS

from ..datasets.vocabularies import resolve_vocabulary


@METRICS.register_module()
class OVCocoAllMetric(OVCocoMetric):
    """``OVCocoMetric`` (``novel_ap50``, ``base_ap50``) plus ``all_ap50``, for any split.

    ``all_ap50`` is mmdet's ``bbox_mAP_50`` of the same evaluation, whose categories are all of
    ``dataset_meta['classes']`` (65 on OV-COCO): the figure OV papers print as "all". Like
    ``bbox_mAP_50`` it is rounded to 3 decimals. The split is the dataset's
    (``dataset_meta['base_classes']`` / ``['novel_classes']``, as mmdet reads it) unless given
    here by names.

    Args:
        novel_classes: Novel names: a vocabulary spec (file, ``'a,b'``, list), or None.
        base_classes: Base names; default with ``novel_classes``: every other class.
        **kwargs: ``OVCocoMetric`` arguments.
    """

    def __init__(self, *args, novel_classes: Optional[Union[str, Sequence[str]]] = None,
                 base_classes: Optional[Union[str, Sequence[str]]] = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.novel_classes, self.base_classes = novel_classes, base_classes

    def _split_meta(self) -> None:
        """Puts the split given by names into ``dataset_meta``; checks the names."""
        classes = tuple(self.dataset_meta['classes'])
        novel = (resolve_vocabulary(self.novel_classes) if self.novel_classes is not None
                 else tuple(self.dataset_meta.get('novel_classes', ())))
        base = (resolve_vocabulary(self.base_classes) if self.base_classes is not None
                else tuple(n for n in classes if n not in novel)
                if self.novel_classes is not None
                else tuple(self.dataset_meta.get('base_classes', ())))
        for what, names in (('novel_classes', novel), ('base_classes', base)):
            unknown = [n for n in names if n not in classes]
            if unknown:
                raise ValueError(f'OVCocoAllMetric: {what} {unknown} are not classes of the '
                                 f'evaluated dataset ({len(classes)} classes: '
                                 f'{list(classes[:5])}...)')
        self.dataset_meta = dict(self.dataset_meta, base_classes=base, novel_classes=novel)

    def compute_metrics(self, results: list) -> Dict[str, float]:
        """Computes mmdet's OV-COCO metrics for the split and adds ``all_ap50``."""
        if self.novel_classes is not None or self.base_classes is not None:
            self._split_meta()
        metrics = super().compute_metrics(results)
        if 'bbox_mAP_50' in metrics:
            metrics['all_ap50'] = metrics['bbox_mAP_50']
        return metrics
