"""mmdet's OVCocoMetric, also reporting AP50 over all classes under an explicit name."""
from typing import Dict

from mmdet.evaluation import OVCocoMetric
from mmdet.registry import METRICS


@METRICS.register_module()
class OVCocoAllMetric(OVCocoMetric):
    """``OVCocoMetric`` (``novel_ap50``, ``base_ap50``) plus ``all_ap50``.

    ``all_ap50`` is mmdet's ``bbox_mAP_50`` of the same evaluation, whose categories are all of
    ``dataset_meta['classes']`` (65 on OV-COCO): the figure OV papers print as "all", which
    users of mmdet's metric otherwise have to dig out themselves. Like ``bbox_mAP_50`` it is
    rounded to 3 decimals.
    """

    def compute_metrics(self, results: list) -> Dict[str, float]:
        """Computes mmdet's OV-COCO metrics and adds ``all_ap50``."""
        metrics = super().compute_metrics(results)
        if 'bbox_mAP_50' in metrics:
            metrics['all_ap50'] = metrics['bbox_mAP_50']
        return metrics
