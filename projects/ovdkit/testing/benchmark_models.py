"""What the benchmarks (``tools/benchmark``) build so that they need no download and no trained
checkpoint: a randomly initialised CLIP saved as a weights file, a config's detector at random
initialisation and its checkpoint, toy-world images and synthetic class names."""
from pathlib import Path
from typing import List, Optional, Tuple, Union

import numpy as np
import open_clip
import torch
from mmdet.registry import MODELS
from mmdet.utils import register_all_modules
from mmengine.config import Config, ConfigDict
from torch import nn

from ..text import register_model_configs
from ..toyworld import ToyWorldSpec, render_scene


def save_random_clip(path: Union[str, Path], model_name: str) -> Path:
    """Saves a randomly initialised open_clip model's state dict, so that a benchmark loads
    CLIP through the real weights-file path (cache keys, hashing) without a download.

    Args:
        path: The file to write.
        model_name: An open_clip model name (OVDKit's ``OVD-*`` configs included).

    Returns:
        ``path``.
    """
    register_model_configs()
    torch.save(open_clip.create_model(model_name).state_dict(), path)
    return Path(path)


def build_random_detector(cfg: Config, seed: Optional[int] = None) -> nn.Module:
    """The detector of ``cfg.model``, built and initialised (``init_weights``).

    Args:
        cfg: A loaded config, its vocabularies and options already set.
        seed: ``torch.manual_seed`` before the build, or ``None`` to use the current state.

    Returns:
        The model, in training mode (as ``MODELS.build`` gives it).
    """
    register_all_modules()
    if seed is not None:
        torch.manual_seed(seed)
    model = MODELS.build(ConfigDict(cfg.model))
    model.init_weights()
    return model


def save_detector_checkpoint(model: nn.Module, path: Union[str, Path]) -> str:
    """Saves ``model`` as an mmengine checkpoint (``{'state_dict': ...}``); returns its path."""
    torch.save(dict(state_dict=model.state_dict()), path)
    return str(path)


def toy_images(num: int, seed: int, size: int = 128) -> List[np.ndarray]:
    """``num`` toy-world scenes (up to 6 objects of 16-40 px) as ``(size, size, 3)`` BGR
    arrays, image ``i`` drawn from ``numpy.random.default_rng([seed, i])``."""
    categories = ToyWorldSpec(image_size=size).category_list()
    images = []
    for i in range(num):
        image, _ = render_scene(np.random.default_rng([seed, i]), categories, size, 6, 16, 40)
        images.append(np.asarray(image)[..., ::-1].copy())
    return images


def synthetic_names(num: int) -> Tuple[str, ...]:
    """``num`` distinct made-up names of 2-3 words (deterministic), e.g. ``'kobe ralu'``."""
    syllables = [c + v for c in 'bdfgklmnprstvz' for v in 'aeiou']  # 70
    names = []
    for i in range(num):
        a, b, c = i % 70, (i // 70) % 70, i // 4900
        word = syllables[a] + syllables[(a + b) % 70]
        names.append(f'{word} {syllables[b]}{syllables[c % 70]}' +
                     (f' {syllables[c // 70]}' if c >= 70 else ''))
    return tuple(names)
