"""ViLD-image region targets (CLIP crops of proposals, the sharded store, the precompute job)
and classes given by example boxes, cut and embedded the same way."""
from ..datasets.region_store import CLIPRegionStore, RegionStoreError
from .clip_region_embedder import CLIPRegionEmbedder
from .crops import crop_and_normalize, square_crop_boxes
from .exemplar_cache import load_exemplar_embeddings
from .exemplar_embeddings import ExemplarEmbedder, packed_image
from .exemplar_vocabulary import (fuse_text_and_examples, install_vocabulary_classes,
                                  vocabulary_class_embeddings)
from .region_precompute import precompute_clip_regions

__all__ = ['CLIPRegionEmbedder', 'CLIPRegionStore', 'RegionStoreError', 'crop_and_normalize',
           'precompute_clip_regions', 'square_crop_boxes', 'ExemplarEmbedder', 'packed_image',
           'load_exemplar_embeddings', 'fuse_text_and_examples', 'install_vocabulary_classes',
           'vocabulary_class_embeddings']
