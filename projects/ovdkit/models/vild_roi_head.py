"""ViLD's RoI head: mmdet's StandardRoIHead plus the image branch on precomputed regions."""
from typing import List, Optional, Tuple

import torch
from mmdet.models.roi_heads import StandardRoIHead
from mmdet.registry import MODELS
from mmdet.structures import DetDataSample
from mmdet.structures.bbox import bbox2roi
from mmengine.structures import InstanceData
from torch import Tensor

from ..utils.config_variables import OVDConfigError


@MODELS.register_module()
class ViLDRoIHead(StandardRoIHead):
    """StandardRoIHead whose training also distils CLIP image embeddings (ViLD-image).

    Besides the sampled RoIs of the text branch (mmdet's own ``loss``), the precomputed
    proposals of each image (``data_sample.clip_regions``, packed by
    :class:`ovdkit.datasets.PackDetInputsWithRegions`) are RoI-aligned from the same features,
    embedded by the box head's image branch (:meth:`ViLDBBoxHead.region_embeddings`) and
    pulled onto their stored CLIP embeddings by the head's ``loss_distill``. Prediction is
    mmdet's unchanged.

    Args:
        num_distill_regions: Regions per image used in a step, drawn at random from the stored
            ones; ``None`` uses all of them (ViLD).
        **kwargs: ``StandardRoIHead`` arguments; ``bbox_head`` must be a
            :class:`ovdkit.models.ViLDBBoxHead`.
    """

    def __init__(self, num_distill_regions: Optional[int] = None, **kwargs) -> None:
        super().__init__(**kwargs)
        if not hasattr(self.bbox_head, 'region_embeddings'):
            raise TypeError(f'ViLDRoIHead needs a bbox head with an image branch '
                            f'(ViLDBBoxHead), got {type(self.bbox_head).__name__}')
        self.num_distill_regions = num_distill_regions

    def _distill_targets(self, batch_data_samples: List[DetDataSample]
                         ) -> Tuple[List[Tensor], Tensor]:
        boxes, targets = [], []
        for sample in batch_data_samples:
            regions: Optional[InstanceData] = sample.get('clip_regions')
            if regions is None:
                raise OVDConfigError(
                    f"image {sample.metainfo.get('img_path', '?')} has no clip_regions: ViLD's "
                    f"train pipeline needs LoadCLIPRegions (after the geometric transforms) "
                    f"and PackDetInputsWithRegions")
            keep = torch.arange(len(regions.bboxes), device=regions.bboxes.device)
            if self.num_distill_regions is not None and len(keep) > self.num_distill_regions:
                keep = torch.randperm(len(keep), device=keep.device)[:self.num_distill_regions]
            boxes.append(regions.bboxes[keep].float())
            targets.append(regions.embeddings[keep])
        return boxes, torch.cat(targets)

    def distill_loss(self, x: Tuple[Tensor], batch_data_samples: List[DetDataSample]) -> Tensor:
        """The distillation loss of a batch.

        Args:
            x: FPN features, each ``(B, C, H_l, W_l)``.
            batch_data_samples: B samples carrying ``clip_regions``.

        Returns:
            The weighted loss (a scalar).
        """
        boxes, targets = self._distill_targets(batch_data_samples)
        rois = bbox2roi(boxes)
        if len(rois) == 0:
            return sum(level.sum() for level in x) * 0
        roi_feats = self.bbox_roi_extractor(x[:self.bbox_roi_extractor.num_inputs], rois)
        embeddings = self.bbox_head.region_embeddings(roi_feats)
        return self.bbox_head.loss_distill(embeddings, targets)

    def loss(self, x: Tuple[Tensor], rpn_results_list, batch_data_samples: List[DetDataSample]
             ) -> dict:
        """mmdet's losses of the sampled RoIs plus ``loss_distill``."""
        losses = super().loss(x, rpn_results_list, batch_data_samples)
        losses['loss_distill'] = self.distill_loss(x, batch_data_samples)
        return losses
