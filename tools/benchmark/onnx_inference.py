#!/usr/bin/env python
"""onnxruntime vs PyTorch latency of an exported open-vocabulary detector, and vocabulary size.

    python tools/benchmark/onnx_inference.py [--num-images 16] [--rounds 5] [--threads 1]

Builds the toy-world ViLD-text detector (R-18 FPN, 128 px, 100 proposals) at random
initialisation with a random tiny CLIP saved to a file (no checkpoint needed), exports it with
the vocabulary as a graph input, and times, per image and end to end (loading, resizing,
normalising, detection, post-processing): PyTorch (:class:`ovdkit.apis.OVDInferencer`) and
onnxruntime (:class:`ovdkit.deploy.ONNXDetector`) with the 65 OV-COCO names, and onnxruntime
with the 1203 LVIS names from the same graph. Rounds alternate the runs; per image the best of
--rounds is kept; figures are means over images. max_score_diff is the largest score
difference between matched detections (same class, IoU >= 0.99) with 65 names. Last line: one
flat JSON object (onnx_over_torch, onnx_latency_1203_over_65, max_score_diff, ms_...).
"""
import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[2]
CONFIG = 'configs/toyworld/vild-text_r18_fpn_1xb8-300i_toyworld.py'
HEAD = 'model.roi_head.bbox_head.'


def build(work: Path):
    """Config, checkpoint and exported graph of a random toy ViLD-text detector."""
    from mmengine.config import Config

    from ovdkit.deploy import export_onnx
    from ovdkit.testing.benchmark_models import (build_random_detector, save_detector_checkpoint,
                                                 save_random_clip)
    torch.manual_seed(0)
    save_random_clip(work / 'clip.pt', 'OVD-TinyCLIP-RN')
    cfg = Config.fromfile(str(REPO / CONFIG))
    cfg.merge_from_dict({HEAD + 'vocabulary': dict(
        classes='ov-coco-base', model='OVD-TinyCLIP-RN', pretrained=str(work / 'clip.pt'),
        templates='single', cache_dir=str(work / 'embeddings')),
        HEAD + 'test_vocabulary': dict(classes='ov-coco')})
    model = build_random_detector(cfg)
    # spread objectness, as a trained RPN's: see tests/test_deploy (near-ties otherwise)
    model.rpn_head.rpn_cls.weight.data.normal_()
    save_detector_checkpoint(model, work / 'model.pth')
    cfg.dump(str(work / 'config.py'))
    export_onnx(str(work / 'config.py'), str(work / 'model.pth'), work / 'model.onnx')
    return str(work / 'config.py'), str(work / 'model.pth'), work / 'model.onnx'


def iou(a: np.ndarray, b: np.ndarray) -> float:
    lt, rb = np.maximum(a[:2], b[:2]), np.minimum(a[2:], b[2:])
    inter = float(np.prod(np.clip(rb - lt, 0, None)))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--num-images', type=int, default=16)
    parser.add_argument('--rounds', type=int, default=5)
    parser.add_argument('--threads', type=int, default=1,
                        help='threads of both runtimes (torch.set_num_threads, onnxruntime)')
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    from ovdkit.apis import OVDInferencer
    from ovdkit.datasets import resolve_vocabulary
    from ovdkit.deploy import ONNXDetector
    from ovdkit.testing.benchmark_models import toy_images

    images = toy_images(args.num_images, seed=0)
    with tempfile.TemporaryDirectory() as tmp:
        config, checkpoint, graph = build(Path(tmp))
        inferencer = OVDInferencer(config, checkpoint)
        coco, lvis = resolve_vocabulary('ov-coco'), resolve_vocabulary('lvis')
        inferencer.set_vocabulary(coco)
        onnx_65 = ONNXDetector(graph, num_threads=args.threads)
        onnx_65.set_vocabulary(coco)
        onnx_1203 = ONNXDetector(graph, num_threads=args.threads)
        onnx_1203.set_vocabulary(lvis)
        runs = dict(torch_65=lambda im: inferencer(im)['predictions'][0],
                    onnx_65=onnx_65, onnx_1203=onnx_1203)
        best = {name: [np.inf] * len(images) for name in runs}
        outputs = {}
        for r in range(args.rounds):
            order = list(runs) if r % 2 == 0 else list(reversed(runs))
            for i, image in enumerate(images):
                for name in order:
                    start = time.perf_counter()
                    outputs[name, i] = runs[name](image)
                    best[name][i] = min(best[name][i], time.perf_counter() - start)
    diffs, unmatched = [], 0
    for i in range(len(images)):
        ref, got = outputs['torch_65', i], outputs['onnx_65', i]
        for box, score, label in zip(np.array(ref['bboxes']), ref['scores'], ref['labels']):
            same = [abs(got['scores'][j] - score) for j in range(len(got['scores']))
                    if got['labels'][j] == label and iou(box, got['bboxes'][j]) >= 0.99]
            if same:
                diffs.append(min(same))
            else:
                unmatched += 1
    ms = {name: 1000 * float(np.mean(times)) for name, times in best.items()}
    figures = dict(onnx_over_torch=round(ms['onnx_65'] / ms['torch_65'], 3),
                   onnx_latency_1203_over_65=round(ms['onnx_1203'] / ms['onnx_65'], 3),
                   max_score_diff=float(f'{max(diffs):.3g}') if diffs else None,
                   unmatched_torch_detections=unmatched, matched=len(diffs),
                   ms_torch_65=round(ms['torch_65'], 2), ms_onnx_65=round(ms['onnx_65'], 2),
                   ms_onnx_1203=round(ms['onnx_1203'], 2), images=len(images),
                   rounds=args.rounds, threads=args.threads)
    print(f'per image (best of {args.rounds}, mean over {len(images)}): PyTorch '
          f'{ms["torch_65"]:.1f} ms, onnxruntime {ms["onnx_65"]:.1f} ms (65 names), '
          f'{ms["onnx_1203"]:.1f} ms (1203 names)', file=sys.stderr)
    print(json.dumps(figures))


if __name__ == '__main__':
    main()
