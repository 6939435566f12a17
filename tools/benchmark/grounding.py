#!/usr/bin/env python
"""Grounding head cost: training step vs ViLD-text at 65 classes, inference at 1203 vs 65.

    python tools/benchmark/grounding.py [--model OVD-TestCLIP-RN] [--steps 8] [--repeats 8]

Both heads sit on the toy world's Faster R-CNN R-18 FPN (configs/toyworld/), with the OV-COCO
vocabulary (65 names) as training vocabulary and random images with random boxes
(mmdet's ``demo_mm_inputs``), the same batches for both. Text features come from a randomly
initialised open_clip model saved to a local checkpoint (context 77 like real CLIP), so the
cache is the real one; they are built before any timing. Inference uses mmdet's usual Faster
R-CNN test settings (1000 proposals an image) on one image, with the grounding head's test
vocabulary swapped between the 65 OV-COCO names and the 1203 LVIS names
(``use_vocabulary``: prompt chunks, token features, positive map). The latency ratio is taken
with the alignment at GLIP's starting point (projection zeroed: every token at the prior
probability 0.01, below mmdet's 0.05 score threshold), so it measures what the vocabulary size
costs, not the NMS load of an untrained model: at random init 40% of the (region, class) pairs
pass the threshold at 1203 classes, ~470k boxes into NMS, which no trained detector produces.
That figure is printed too (``*_random_init``). Times are medians; the compared models run
alternately, step by step, so a change in machine load hits both alike.
Last line: one JSON object.
"""
import argparse
import json
import logging
import statistics
import tempfile
import time
from pathlib import Path

import open_clip
import torch
from mmdet.testing import demo_mm_inputs
from mmdet.utils import register_all_modules
from mmengine.config import Config, ConfigDict
from mmengine.logging import MMLogger

import ovdkit  # noqa: F401  (registers the heads)
from ovdkit.testing.benchmark_models import build_random_detector, save_random_clip

REPO = Path(__file__).resolve().parents[2]
CONFIGS = {
    'vild-text': REPO / 'configs/toyworld/vild-text_r18_fpn_1xb8-300i_toyworld.py',
    'grounding': REPO / 'configs/toyworld/grounding_r18_fpn_1xb8-300i_toyworld.py',
}


def build(method, model_name, checkpoint, cache_dir, embed_dim):
    """A toy-world detector of ``method`` on the 65 OV-COCO names, text from ``checkpoint``."""
    cfg = Config.fromfile(str(CONFIGS[method]))
    head = cfg.model.roi_head.bbox_head
    head.vocabulary = dict(classes='ov-coco', model=model_name, pretrained=checkpoint,
                           templates='single', cache_dir=cache_dir)
    head.test_vocabulary = dict(classes='ov-coco')
    head.embed_dim = embed_dim
    # mmdet's Faster R-CNN test settings, not the toy world's smaller ones
    cfg.model.test_cfg = ConfigDict(
        rpn=dict(nms_pre=1000, max_per_img=1000, nms=dict(type='nms', iou_threshold=0.7),
                 min_bbox_size=0),
        rcnn=dict(score_thr=0.05, nms=dict(type='nms', iou_threshold=0.5), max_per_img=100))
    return build_random_detector(cfg, seed=0)


def train_step_seconds(models, batches, warmup):
    """Median training step of each model; steps alternate between the models so that a
    change in machine load affects both alike."""
    optimizers = {}
    for name, model in models.items():
        model.train()
        optimizers[name] = torch.optim.AdamW(model.parameters(), lr=1e-4)
    times = {name: [] for name in models}
    for index, packed in enumerate(batches):
        for name, model in models.items():
            start = time.perf_counter()
            data = model.data_preprocessor(packed, True)
            loss, _ = model.parse_losses(model(**data, mode='loss'))
            optimizers[name].zero_grad()
            loss.backward()
            optimizers[name].step()
            if index >= warmup:
                times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def predict_seconds(models, packed, repeats):
    """Median prediction time of each model on one batch, alternating between the models."""
    times = {name: [] for name in models}
    with torch.no_grad():
        for index in range(repeats + 1):
            for name, model in models.items():
                model.eval()
                data = model.data_preprocessor(packed, False)
                start = time.perf_counter()
                model(**data, mode='predict')
                if index:  # the first call installs the vocabulary's tokens
                    times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--model', default='OVD-TestCLIP-RN')
    parser.add_argument('--steps', type=int, default=8, help='timed training steps')
    parser.add_argument('--warmup', type=int, default=2)
    parser.add_argument('--batch-size', type=int, default=2)
    parser.add_argument('--train-size', type=int, default=320)
    parser.add_argument('--test-size', type=int, default=512)
    parser.add_argument('--repeats', type=int, default=8, help='timed predictions')
    args = parser.parse_args()
    register_all_modules()
    MMLogger.get_instance('mmengine').setLevel(logging.WARNING)
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = save_random_clip(Path(tmp) / 'random_clip.pt', args.model)
        embed_dim = int(open_clip.get_model_config(args.model)['embed_dim'])
        models = {m: build(m, args.model, str(checkpoint), tmp, embed_dim) for m in CONFIGS}
        shape = (3, args.train_size, args.train_size)
        batches = [demo_mm_inputs(batch_size=args.batch_size, image_shapes=shape,
                                  num_items=[5] * args.batch_size, num_classes=65)
                   for _ in range(args.warmup + args.steps)]
        step = train_step_seconds(models, batches, args.warmup)

        # two copies of the same grounding detector (same seed), one per test vocabulary
        detectors = {}
        for vocabulary in ('ov-coco', 'lvis'):
            detector = build('grounding', args.model, str(checkpoint), tmp, embed_dim)
            names = detector.roi_head.bbox_head.use_vocabulary(vocabulary)
            detectors[len(names)] = detector
        image = demo_mm_inputs(batch_size=1, num_items=[0], num_classes=65,
                               image_shapes=(3, args.test_size, args.test_size))
        random_init = predict_seconds(detectors, image, args.repeats)
        for detector in detectors.values():
            torch.nn.init.zeros_(detector.roi_head.bbox_head.fc_cls.projection.weight)
            torch.nn.init.zeros_(detector.roi_head.bbox_head.fc_cls.projection.bias)
        latency = predict_seconds(detectors, image, args.repeats)
        for num_classes, detector in detectors.items():
            tokens = detector.roi_head.bbox_head.fc_cls.token_features.shape[0]
            print(f'grounding, {num_classes} classes ({tokens} name tokens): '
                  f'{latency[num_classes] * 1000:.1f} ms an image '
                  f'({random_init[num_classes] * 1000:.1f} ms at random init)')
    print(f'training step (batch {args.batch_size}, {args.train_size} px, 65 classes): '
          f'grounding {step["grounding"]:.3f} s, ViLD-text {step["vild-text"]:.3f} s')
    print(json.dumps(dict(
        grounding_over_vild_text_step=round(step['grounding'] / step['vild-text'], 3),
        latency_1203_over_65=round(latency[1203] / latency[65], 3),
        grounding_step_s=round(step['grounding'], 4),
        vild_text_step_s=round(step['vild-text'], 4),
        latency_65_s=round(latency[65], 4), latency_1203_s=round(latency[1203], 4),
        latency_1203_over_65_random_init=round(random_init[1203] / random_init[65], 3))))


if __name__ == '__main__':
    main()
