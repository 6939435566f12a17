"""Pipeline transforms for ViLD-image's precomputed CLIP regions."""
from .load_clip_regions import LoadCLIPRegions
from .pack_det_inputs_with_regions import PackDetInputsWithRegions

__all__ = ['LoadCLIPRegions', 'PackDetInputsWithRegions']
