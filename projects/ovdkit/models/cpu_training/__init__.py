"""Layers that make Faster R-CNN training cheaper on a CPU (registered in mmdet's MODELS).

The toy-world configs (``configs/_base_/models/faster-rcnn_r18_fpn_toyworld.py``) use them so
that a detector trains in minutes without a GPU:

- :class:`GatherRoIAlign`: mmcv's ``RoIAlign`` (average pooling) computed as an
  ``embedding_bag`` gather, whose backward is one sorted scatter instead of mmcv's CPU loop
  over output elements. Same values and feature gradients as mmcv's layer.
- :class:`RegistryRoIExtractor`: mmdet's ``SingleRoIExtractor`` that also accepts an RoI
  layer registered in ``MODELS`` (mmdet's looks only in ``mmcv.ops``); it carries
  ``GatherRoIAlign`` into a config.
- :class:`AutocastTrunkFasterRCNN`: ``FasterRCNN`` whose backbone and neck train under
  bfloat16 autocast, heads, losses and inference in float32.

On a real config trained on GPUs, keep mmdet's ``SingleRoIExtractor`` with mmcv's
``RoIAlign`` (its CUDA kernel is fast) and mixed precision through mmengine's
``AmpOptimWrapper``. Use these layers when training on CPUs: ``RegistryRoIExtractor`` with
``GatherRoIAlign`` changes no value, and ``AutocastTrunkFasterRCNN`` pays where the CPU has
bfloat16 units (AMX or AVX-512 BF16).
"""
from .autocast_trunk_faster_rcnn import AutocastTrunkFasterRCNN
from .gather_roi_align import GatherRoIAlign
from .registry_roi_extractor import RegistryRoIExtractor

__all__ = ['AutocastTrunkFasterRCNN', 'GatherRoIAlign', 'RegistryRoIExtractor']
