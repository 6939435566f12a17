"""Test helpers shared by tests/test_apis and tests/test_tools/test_demo*.py: random-init
open-vocabulary detectors saved as checkpoints, and toy scenes."""
from pathlib import Path

import numpy as np
import open_clip
import torch
from mmdet.registry import MODELS
from mmdet.utils import register_all_modules
from mmengine.config import Config, ConfigDict

import ovdkit  # noqa: F401  (registers OVDKit's modules)
from ovdkit.toyworld import ToyWorldSpec, render_scene

REPO = Path(__file__).resolve().parents[2]
VILD_TEXT = 'configs/toyworld/vild-text_r18_fpn_1xb8-800i_toyworld.py'
HEAD = 'model.roi_head.bbox_head.'


def build_checkpoint(config: str, work: Path, embed_dim: int = 128, **head):
    """A random-init detector of ``config`` saved as a checkpoint, with a random-weights
    ``OVD-TinyCLIP-RN`` saved as a CLIP checkpoint file; returns (config, checkpoint).

    The config is written to ``work/config.py`` with its vocabularies pointed at that CLIP
    file, the single prompt template and a cache in ``work``.
    """
    register_all_modules()
    clip_path = work / 'clip.pt'
    if not clip_path.is_file():
        torch.manual_seed(0)
        torch.save(open_clip.create_model('OVD-TinyCLIP-RN').state_dict(), clip_path)
    cfg = Config.fromfile(str(REPO / config))
    cfg.merge_from_dict({
        HEAD + 'vocabulary': dict(classes=['red star', 'blue circle'], model='OVD-TinyCLIP-RN',
                                  pretrained=str(clip_path), templates='single',
                                  cache_dir=str(work / 'embeddings')),
        HEAD + 'test_vocabulary': dict(classes=['red star', 'blue circle', 'green cross']),
        HEAD + 'embed_dim': embed_dim, **{HEAD + k: v for k, v in head.items()}})
    torch.manual_seed(0)
    model = MODELS.build(ConfigDict(cfg.model))
    model.init_weights()
    checkpoint = work / 'model.pth'
    torch.save(dict(state_dict=model.state_dict()), checkpoint)
    cfg.dump(str(work / 'config.py'))
    return str(work / 'config.py'), str(checkpoint)


def scenes(num: int, size: int = 128):
    """Toy-world scenes as BGR arrays (what DetInferencer takes for in-memory images)."""
    cats = ToyWorldSpec().category_list()
    return [np.asarray(render_scene(np.random.default_rng(i), cats, size, 4, 16, 40)[0])
            [..., ::-1].copy() for i in range(num)]
