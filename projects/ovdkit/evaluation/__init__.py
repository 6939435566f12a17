"""What mmdet's OVCocoMetric / LVISMetric lack (registered in mmdet's METRICS)."""
from .ov_coco_all_metric import OVCocoAllMetric

__all__ = ['OVCocoAllMetric']
