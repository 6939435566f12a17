"""mmdet's ``SingleRoIExtractor`` with an RoI layer from the model registry."""
from typing import List

import mmcv.ops
from mmdet.models.roi_heads.roi_extractors import SingleRoIExtractor
from mmdet.registry import MODELS
from mmdet.utils import ConfigType
from torch import nn


@MODELS.register_module()
class RegistryRoIExtractor(SingleRoIExtractor):
    """``SingleRoIExtractor`` (FPN level per RoI scale) whose ``roi_layer`` may be any module
    registered in mmdet's ``MODELS``, such as
    :class:`~ovdkit.models.cpu_training.GatherRoIAlign`; mmdet's own extractor only looks
    names up in ``mmcv.ops``, which it still does first.

    Example:
        ``bbox_roi_extractor=dict(type='RegistryRoIExtractor', roi_layer=dict(
        type='GatherRoIAlign', output_size=7, sampling_ratio=0), out_channels=256,
        featmap_strides=[4, 8, 16, 32])``
    """

    def build_roi_layers(self, layer_cfg: ConfigType,
                         featmap_strides: List[int]) -> nn.ModuleList:
        """One RoI layer a level, built with ``spatial_scale=1 / stride``.

        Raises:
            KeyError: the layer type is neither in ``mmcv.ops`` nor registered.
        """
        layer_type = layer_cfg['type']
        if not isinstance(layer_type, str) or hasattr(mmcv.ops, layer_type):
            return super().build_roi_layers(layer_cfg, featmap_strides)
        layer_cls = MODELS.get(layer_type)
        if layer_cls is None:
            raise KeyError(f'RegistryRoIExtractor: roi_layer type {layer_type!r} is neither in '
                           f'mmcv.ops nor registered in mmdet MODELS')
        cfg = {k: v for k, v in layer_cfg.items() if k != 'type'}
        return nn.ModuleList([layer_cls(spatial_scale=1 / s, **cfg) for s in featmap_strides])
