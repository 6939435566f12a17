"""OVDKit: open-vocabulary detection plugins for MMDetection 3.x.

Importing the package registers every module with mmdet's registries (configs do it through
``custom_imports = dict(imports=['ovdkit'], allow_failed_imports=False)``) and lets torch's safe
loader read mmengine's checkpoints.
"""
from .utils import register_mmengine_checkpoint_globals
from .version import __version__

register_mmengine_checkpoint_globals()

# importing registers the modules
from . import apis, datasets, engine, evaluation, models, regions, text, toyworld  # noqa: E402
from .toyworld import toy_world_dataset  # noqa: E402,F401  (ToyWorldDataset)

__all__ = ['__version__', 'apis', 'datasets', 'engine', 'evaluation', 'models', 'regions', 'text',
           'toyworld']
