"""What mmdet's OVCocoMetric / LVISMetric lack (registered in mmdet's METRICS)."""
from .ov_coco_all_metric import OVCocoAllMetric
from .ov_lvis_metric import OVLVISMetric, lvis_numpy_compat

__all__ = ['OVCocoAllMetric', 'OVLVISMetric', 'lvis_numpy_compat']
