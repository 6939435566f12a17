#!/usr/bin/env python
"""Training step time of ViLD (text + image) vs ViLD-text vs plain Faster R-CNN, same backbone.

    python tools/benchmark/vild_step_time.py [--steps 12] [--batch-size 8] [--regions 32]
    python tools/benchmark/vild_step_time.py --real-scale [--steps 3]

The toy-world detector (Faster R-CNN R-18 FPN, 128 px, 128 sampled RoIs per image) in three
variants: mmdet's linear classifier (base config), ViLD-text (frozen text-embedding
classifier) and ViLD (plus the image branch on --regions precomputed regions per image). Same
random inputs for all; class embeddings are random unit vectors in a stored embedding file (no
CLIP is needed to time a step). Steps (forward, backward, AdamW step) are interleaved
round-robin so the machine's noise hits all three alike; medians are compared.

``--real-scale``: the shipped OV-COCO R50-FPN configs (ViLD-text, ViLD) against mmdet's
``faster-rcnn_r50_fpn_1x_coco`` with the 48 base classes, random R50 weights, images of
1333x800, batch 2, 300 precomputed regions an image, 512-d embeddings (ViT-B/32's); defaults
then 3 steps after 1 of warm-up (a step takes tens of seconds on a CPU).
Last line: one JSON object.
"""
import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from mmdet.testing import demo_mm_inputs
from mmdet.utils import register_all_modules
from mmengine.config import Config
from mmengine.structures import InstanceData

import ovdkit  # noqa: F401
from ovdkit.testing.benchmark_models import build_random_detector
from ovdkit.text import make_meta, save_text_embeddings

CONFIGS = {
    'faster_rcnn': 'configs/_base_/models/faster-rcnn_r18_fpn_toyworld.py',
    'vild_text': 'configs/toyworld/vild-text_r18_fpn_1xb8-300i_toyworld.py',
    'vild': 'configs/toyworld/vild_r18_fpn_1xb8-300i_toyworld.py',
}


REAL_SCALE_CONFIGS = {
    'faster_rcnn': 'faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py',  # in mmdet's .mim/configs
    'vild_text': 'configs/vild/vild-text_r50_fpn_8xb2-90k_ov-coco.py',
    'vild': 'configs/vild/vild_r50_fpn_8xb2-90k_ov-coco.py',
}


def load_config(name: str, real_scale: bool) -> Config:
    """The toy-world config of ``name``, or with ``real_scale`` the shipped R50 one (mmdet's
    for Faster R-CNN) with a random backbone."""
    if not real_scale:
        return Config.fromfile(CONFIGS[name])
    if name == 'faster_rcnn':
        import mmdet
        cfg = Config.fromfile(str(Path(mmdet.__file__).parent / '.mim' / 'configs' /
                                  REAL_SCALE_CONFIGS[name]))
        cfg.model.backbone.init_cfg = None
        return cfg
    from ovdkit.utils.config_variables import merge_cfg_options
    cfg = Config.fromfile(REAL_SCALE_CONFIGS[name])
    merge_cfg_options(cfg, dict(backbone_checkpoint=None))
    return cfg


def build(name: str, num_classes: int, vocab_file: str, classes, real_scale: bool = False):
    cfg = load_config(name, real_scale)
    head = cfg.model.roi_head.bbox_head
    if name == 'faster_rcnn':
        head.num_classes = num_classes
    else:
        head.vocabulary = dict(classes=list(classes), path=vocab_file)
        head.test_vocabulary = dict(classes=list(classes), path=vocab_file)
    model = build_random_detector(cfg, seed=0)
    model.train()
    return model, torch.optim.AdamW(model.parameters(), lr=1e-4)


def make_batch(batch_size: int, num_classes: int, regions: int, dim: int,
               image_hw=(128, 128)):
    """Random images of ``image_hw`` with 4 boxes each and ``regions`` precomputed regions
    (boxes up to a quarter of the image's side) with random unit ``dim``-d embeddings."""
    h, w = image_hw
    packed = demo_mm_inputs(batch_size=batch_size, image_shapes=(3, h, w),
                            num_items=[4] * batch_size, num_classes=num_classes)
    side = min(h, w) / 4
    for sample in packed['data_samples']:
        xy = torch.rand(regions, 2) * torch.tensor([w - side - 8, h - side - 8])
        region = InstanceData()
        region.bboxes = torch.cat([xy, xy + 8 + torch.rand(regions, 2) * side], dim=1)
        region.embeddings = F.normalize(torch.randn(regions, dim), dim=-1).half()
        sample.clip_regions = region
    return packed


def step(model, optimizer, packed) -> float:
    start = time.perf_counter()
    data = model.data_preprocessor(packed, True)
    losses = model(**data, mode='loss')
    loss = sum(v.sum() for k, v in losses.items() if 'loss' in k
               for v in (v if isinstance(v, list) else [v]))
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--real-scale', action='store_true',
                        help='the shipped OV-COCO R50-FPN configs at 1333x800 (see above)')
    parser.add_argument('--steps', type=int, help='timed steps per model (default 12; 3 with '
                                                  '--real-scale)')
    parser.add_argument('--warmup', type=int, help='default 2; 1 with --real-scale')
    parser.add_argument('--batch-size', type=int, help='default 8; 2 with --real-scale')
    parser.add_argument('--regions', type=int,
                        help='distilled regions per image (default 32; 300 with --real-scale)')
    parser.add_argument('--num-classes', type=int,
                        help='base classes (default 36; 48 with --real-scale)')
    parser.add_argument('--image-size', help='H,W (default 128,128; 800,1333 with '
                                             '--real-scale)')
    args = parser.parse_args()
    defaults = dict(steps=3, warmup=1, batch_size=2, regions=300, num_classes=48) \
        if args.real_scale else dict(steps=12, warmup=2, batch_size=8, regions=32,
                                     num_classes=36)
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
        if getattr(args, key) < (0 if key == 'warmup' else 1):
            parser.error(f'--{key.replace("_", "-")} must be >= 1, got {getattr(args, key)}')
    register_all_modules()
    dim = 512 if args.real_scale else 128
    image_hw = (800, 1333) if args.real_scale else (128, 128)
    if args.image_size:
        image_hw = tuple(int(v) for v in args.image_size.split(','))
        if len(image_hw) != 2 or min(image_hw) < 64:
            parser.error(f'--image-size must be H,W, each >= 64, got {args.image_size}')
    classes = [f'class {i}' for i in range(args.num_classes)]
    with tempfile.TemporaryDirectory() as tmp:
        emb = F.normalize(torch.randn(args.num_classes, dim), dim=-1)
        meta = make_meta('random', None, 'random', 'single', ['{}'], classes, dim)
        vocab_file = str(save_text_embeddings(Path(tmp) / 'vocab.pt', emb, meta))
        models = {name: build(name, args.num_classes, vocab_file, classes, args.real_scale)
                  for name in CONFIGS}
        torch.manual_seed(1)
        packed = make_batch(args.batch_size, args.num_classes, args.regions, dim, image_hw)
        times = {name: [] for name in CONFIGS}
        for i in range(args.warmup + args.steps):
            for name, (model, optimizer) in models.items():
                seconds = step(model, optimizer, packed)
                if i >= args.warmup:
                    times[name].append(seconds)
    ms = {name: 1000 * statistics.median(t) for name, t in times.items()}
    print(' '.join(f'{k}: {v:.0f} ms/step' for k, v in ms.items()), file=sys.stderr)
    print(json.dumps(dict(vild_over_faster_rcnn=round(ms['vild'] / ms['faster_rcnn'], 3),
                          vild_over_vild_text=round(ms['vild'] / ms['vild_text'], 3),
                          vild_text_over_faster_rcnn=round(ms['vild_text'] / ms['faster_rcnn'],
                                                           3),
                          ms_faster_rcnn=round(ms['faster_rcnn'], 1),
                          ms_vild_text=round(ms['vild_text'], 1), ms_vild=round(ms['vild'], 1),
                          batch_size=args.batch_size, regions_per_image=args.regions,
                          image=f'{image_hw[1]}x{image_hw[0]}', real_scale=args.real_scale,
                          steps=args.steps)))


if __name__ == '__main__':
    main()
