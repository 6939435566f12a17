"""The toy open-vocabulary world: colour x shape scenes, a tiny CLIP, the demo pipeline."""
from .detector_runs import METHOD_CONFIGS, DetectorJob, run_jobs
from .image_label_study import IMAGE_LABEL_CONFIGS, ImageLabelStudy
from .image_label_summary import summarise_image_label_runs
from .pipeline import METHODS, ToyWorldPipeline, parse_name_list
from .scene_renderer import render_scene
from .seed_summary import summarise_seed_runs
from .shapes import COLORS, DEFAULT_COLORS, SHAPE_NAMES, shape_polygon
from .toy_clip import (TOY_CLIP_MODEL, crop_and_normalize, square_crop_boxes, train_toy_clip,
                       zero_shot_accuracy)
from .weak_scenes import generate_weak_scenes
from .world_spec import ToyWorldSpec
from .world_writer import generate_world, world_is_complete

__all__ = [
    'METHOD_CONFIGS', 'DetectorJob', 'run_jobs', 'METHODS', 'ToyWorldPipeline',
    'parse_name_list', 'render_scene', 'summarise_seed_runs', 'COLORS',
    'DEFAULT_COLORS', 'SHAPE_NAMES', 'shape_polygon', 'TOY_CLIP_MODEL', 'crop_and_normalize',
    'square_crop_boxes', 'train_toy_clip', 'zero_shot_accuracy', 'ToyWorldSpec',
    'generate_world', 'world_is_complete', 'IMAGE_LABEL_CONFIGS', 'ImageLabelStudy',
    'summarise_image_label_runs', 'generate_weak_scenes'
]
