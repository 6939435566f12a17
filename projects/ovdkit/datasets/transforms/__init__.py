"""Pipeline transforms: ViLD-image's precomputed CLIP regions, image-labelled images."""
from .load_clip_regions import LoadCLIPRegions
from .pack_det_inputs_with_regions import PackDetInputsWithRegions
from .pack_image_label_inputs import PackImageLabelInputs

__all__ = ['LoadCLIPRegions', 'PackDetInputsWithRegions', 'PackImageLabelInputs']
