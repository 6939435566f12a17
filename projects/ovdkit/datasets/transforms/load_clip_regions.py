"""Loads an image's precomputed CLIP regions and moves their boxes with the image."""
import os
from typing import Dict, Optional

import numpy as np
from mmcv.transforms import BaseTransform
from mmdet.registry import TRANSFORMS
from mmdet.structures.bbox import HorizontalBoxes

from ..region_store import CLIPRegionStore


@TRANSFORMS.register_module()
class LoadCLIPRegions(BaseTransform):
    """Adds ViLD's distillation targets of an image: boxes and CLIP image embeddings.

    Put it *after* every geometric transform (``Resize``, ``RandomFlip``, ``RandomCrop``...)
    and before the packing step: the stored boxes are in original image pixels and are mapped
    through the ``homography_matrix`` those transforms record, so they land where the objects
    are in the transformed image. Boxes a crop cuts (less than ``min_visible`` of their area
    left) are dropped with their embeddings, since a partial box no longer matches the CLIP
    embedding of the whole crop.

    Added keys: ``clip_region_bboxes`` ``(K, 4)`` float32 and ``clip_region_embeddings``
    ``(K, D)`` float16.

    Args:
        store: The region store folder (``tools/precompute_clip_regions.py --out``).
        min_visible: Smallest fraction of a box's area that must stay inside the image.
        min_size: Boxes narrower or lower than this (pixels, after transforms) are dropped.
    """

    def __init__(self, store: str, min_visible: float = 0.9, min_size: float = 2.0) -> None:
        self.store_path = store
        self.min_visible = min_visible
        self.min_size = min_size
        self._store: Optional[CLIPRegionStore] = None
        self._store_pid: Optional[int] = None

    @property
    def store(self) -> CLIPRegionStore:
        """The store, opened on first use in each process.

        DataLoader workers are forked from the main process: each opens its own store (index
        arrays, file layouts) instead of inheriting the parent's, so nothing of it is shared
        copy-on-write and the main process, which never reads regions, never loads the index.
        """
        if self._store is None or self._store_pid != os.getpid():
            self._store = CLIPRegionStore(self.store_path)
            self._store_pid = os.getpid()
        return self._store

    def transform(self, results: Dict) -> Dict:
        """Loads the regions of ``results['img_id']`` and maps them to the current image."""
        boxes, embeddings = self.store.get(results['img_id'],
                                           describe=f"({results.get('img_path', '?')})")
        if len(boxes) and results.get('homography_matrix') is not None:
            projected = HorizontalBoxes(boxes.copy())
            projected.project_(np.asarray(results['homography_matrix'], np.float32))
            areas = projected.areas.numpy()
            projected.clip_(results['img_shape'][:2])
            visible = projected.areas.numpy() / np.maximum(areas, 1e-6)
            wh = projected.widths.numpy(), projected.heights.numpy()
            keep = (visible >= self.min_visible) & (wh[0] >= self.min_size) & \
                (wh[1] >= self.min_size)
            boxes = projected.tensor.numpy()[keep]
            embeddings = embeddings[keep]
        results['clip_region_bboxes'] = np.ascontiguousarray(boxes, np.float32)
        results['clip_region_embeddings'] = np.ascontiguousarray(embeddings)
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(store={self.store_path!r}, '
                f'min_visible={self.min_visible}, min_size={self.min_size})')
