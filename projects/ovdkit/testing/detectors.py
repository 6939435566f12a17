"""Random-init open-vocabulary detectors of the toy-world configs, embedding files and toy
scenes, for tests of the heads, the inferencer, the demo and the ONNX export."""
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from mmdet.utils import register_all_modules
from mmengine.config import Config

from ..text import make_meta, save_text_embeddings
from ..toyworld import ToyWorldSpec, render_scene
from .benchmark_models import build_random_detector, save_detector_checkpoint, save_random_clip
from .tools import REPO

VILD_TEXT_CONFIG = 'configs/toyworld/vild-text_r18_fpn_1xb8-300i_toyworld.py'
GROUNDING_CONFIG = 'configs/toyworld/grounding_r18_fpn_1xb8-300i_toyworld.py'
#: The config key prefix of the toy-world detectors' open-vocabulary head.
HEAD = 'model.roi_head.bbox_head.'


def build_toy_detector(config: str, seed: int = 0, **head):
    """The detector of ``config`` (a path under the repository) with the bbox head's keys in
    ``head`` replaced (as ``_delete_=True`` would in a config file), built and initialised
    with ``torch.manual_seed(seed)``."""
    register_all_modules()
    cfg = Config.fromfile(str(REPO / config))
    bbox_head = cfg.model.roi_head.bbox_head
    for key, value in head.items():
        bbox_head[key] = value
    return build_random_detector(cfg, seed)


def random_embedding_file(folder: Path, names: Sequence[str], seed: int, dim: int = 128):
    """A stored embedding file of random unit rows for ``names`` (sidecar of the tiny CLIP);
    returns (path, embeddings ``(len(names), dim)``)."""
    torch.manual_seed(seed)
    emb = F.normalize(torch.randn(len(names), dim), dim=-1)
    meta = make_meta('OVD-TinyCLIP-RN', 'x.pt', 'sha256:0', 'single', ['{}'], list(names), dim)
    path = save_text_embeddings(Path(folder) / f'vocab{len(names)}_{seed}.pt', emb, meta)
    return str(path), emb


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
        save_random_clip(clip_path, 'OVD-TinyCLIP-RN')
    cfg = Config.fromfile(str(REPO / config))
    cfg.merge_from_dict({
        HEAD + 'vocabulary': dict(classes=['red star', 'blue circle'], model='OVD-TinyCLIP-RN',
                                  pretrained=str(clip_path), templates='single',
                                  cache_dir=str(work / 'embeddings')),
        HEAD + 'test_vocabulary': dict(classes=['red star', 'blue circle', 'green cross']),
        HEAD + 'embed_dim': embed_dim, **{HEAD + k: v for k, v in head.items()}})
    checkpoint = save_detector_checkpoint(build_random_detector(cfg, seed=0), work / 'model.pth')
    cfg.dump(str(work / 'config.py'))
    return str(work / 'config.py'), checkpoint


def toy_scenes(num: int, size: int = 128):
    """Toy-world scenes as BGR arrays (what DetInferencer takes for in-memory images)."""
    cats = ToyWorldSpec().category_list()
    return [np.asarray(render_scene(np.random.default_rng(i), cats, size, 4, 16, 40)[0])
            [..., ::-1].copy() for i in range(num)]
