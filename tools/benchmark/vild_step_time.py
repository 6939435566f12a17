#!/usr/bin/env python
"""Training step time of ViLD (text + image) vs ViLD-text vs plain Faster R-CNN, same backbone.

    python tools/benchmark/vild_step_time.py [--steps 12] [--batch-size 8] [--regions 32]

The toy-world detector (Faster R-CNN R-18 FPN, 128 px, 128 sampled RoIs per image) in three
variants: mmdet's linear classifier (base config), ViLD-text (frozen text-embedding
classifier) and ViLD (plus the image branch on --regions precomputed regions per image). Same
random inputs for all; class embeddings are random unit vectors in a stored embedding file (no
CLIP is needed to time a step). Steps (forward, backward, AdamW step) are interleaved
round-robin so the machine's noise hits all three alike; medians are compared.
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


def build(name: str, num_classes: int, vocab_file: str, classes):
    cfg = Config.fromfile(CONFIGS[name])
    head = cfg.model.roi_head.bbox_head
    if name == 'faster_rcnn':
        head.num_classes = num_classes
    else:
        head.vocabulary = dict(classes=list(classes), path=vocab_file)
        head.test_vocabulary = dict(classes=list(classes), path=vocab_file)
    model = build_random_detector(cfg, seed=0)
    model.train()
    return model, torch.optim.AdamW(model.parameters(), lr=1e-4)


def make_batch(batch_size: int, num_classes: int, regions: int, dim: int):
    packed = demo_mm_inputs(batch_size=batch_size, image_shapes=(3, 128, 128),
                            num_items=[4] * batch_size, num_classes=num_classes)
    for sample in packed['data_samples']:
        xy = torch.rand(regions, 2) * 90
        region = InstanceData()
        region.bboxes = torch.cat([xy, xy + 8 + torch.rand(regions, 2) * 30], dim=1)
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
    parser.add_argument('--steps', type=int, default=12, help='timed steps per model')
    parser.add_argument('--warmup', type=int, default=2)
    parser.add_argument('--batch-size', type=int, default=8)
    parser.add_argument('--regions', type=int, default=32, help='distilled regions per image')
    parser.add_argument('--num-classes', type=int, default=36)
    args = parser.parse_args()
    register_all_modules()
    dim = 128
    classes = [f'class {i}' for i in range(args.num_classes)]
    with tempfile.TemporaryDirectory() as tmp:
        emb = F.normalize(torch.randn(args.num_classes, dim), dim=-1)
        meta = make_meta('random', None, 'random', 'single', ['{}'], classes, dim)
        vocab_file = str(save_text_embeddings(Path(tmp) / 'vocab.pt', emb, meta))
        models = {name: build(name, args.num_classes, vocab_file, classes) for name in CONFIGS}
        torch.manual_seed(1)
        packed = make_batch(args.batch_size, args.num_classes, args.regions, dim)
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
                          batch_size=args.batch_size, regions_per_image=args.regions)))


if __name__ == '__main__':
    main()
