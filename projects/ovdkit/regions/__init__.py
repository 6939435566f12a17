"""ViLD-image region targets: CLIP crops of proposals, the sharded store, the precompute job."""
from ..datasets.region_store import CLIPRegionStore, RegionStoreError
from .clip_region_embedder import CLIPRegionEmbedder
from .crops import crop_and_normalize, square_crop_boxes
from .region_precompute import precompute_clip_regions

__all__ = ['CLIPRegionEmbedder', 'CLIPRegionStore', 'RegionStoreError', 'crop_and_normalize',
           'precompute_clip_regions', 'square_crop_boxes']
