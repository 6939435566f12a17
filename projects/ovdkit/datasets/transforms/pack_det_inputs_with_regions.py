"""mmdet's PackDetInputs that also packs the CLIP regions of :class:`LoadCLIPRegions`."""
from typing import Dict

import torch
from mmdet.datasets.transforms import PackDetInputs
from mmdet.registry import TRANSFORMS
from mmengine.structures import InstanceData


@TRANSFORMS.register_module()
class PackDetInputsWithRegions(PackDetInputs):
    """``PackDetInputs`` + ``data_sample.clip_regions``.

    ``clip_regions`` is an ``InstanceData`` with ``bboxes`` ``(K, 4)`` float32 (the transformed
    image's pixels) and ``embeddings`` ``(K, D)`` float16 (CLIP image embeddings, unit norm),
    the targets of :class:`ovdkit.models.ViLDRoIHead`'s distillation. Samples without regions
    (test pipelines) are packed exactly as ``PackDetInputs`` packs them.
    """

    def transform(self, results: Dict) -> Dict:
        """Packs like ``PackDetInputs``, then attaches the regions if present."""
        packed = super().transform(results)
        if 'clip_region_bboxes' in results:
            regions = InstanceData()
            regions.bboxes = torch.from_numpy(results['clip_region_bboxes'])
            regions.embeddings = torch.from_numpy(results['clip_region_embeddings'])
            packed['data_samples'].clip_regions = regions
        return packed
