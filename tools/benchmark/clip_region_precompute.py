#!/usr/bin/env python
"""Region-embedding throughput of the precompute: batched vs one box at a time, and peak memory.

    python tools/benchmark/clip_region_precompute.py [--model OVD-TinyCLIP-RN] [--images 64]
        [--regions 32] [--batch-size 8] [--loop-images 4]

Toy-world-sized inputs (128 px images, M proposals each, crops at 1x and 1.5x) through
:class:`ovdkit.regions.CLIPRegionEmbedder` with a randomly initialised open_clip model saved
to a local checkpoint (loaded through the real weights path). Batched: B images and all their
boxes per image-tower pass, as tools/precompute_clip_regions.py runs it. Loop: what a
one-box-at-a-time script does (ViLD's demo does it this way): for each box and scale, a PIL
crop, open_clip's own preprocessing transform, one image-tower call; run on the first
--loop-images images and compared per crop. `same_code_one_box_over` is the embedder itself
called with one box at a time (batching alone, same crop code).
peak_rss_mb is the process's peak resident memory after the batched run (the loop runs after
it). Last line: one JSON object.
"""
import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

import open_clip
import torch
import torch.nn.functional as F
from PIL import Image

from ovdkit.regions import CLIPRegionEmbedder, square_crop_boxes
from ovdkit.testing.benchmark_models import save_random_clip
from ovdkit.text import register_model_configs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--model', default='OVD-TinyCLIP-RN')
    parser.add_argument('--images', type=int, default=64)
    parser.add_argument('--regions', type=int, default=32, help='boxes per image (M)')
    parser.add_argument('--image-size', type=int, default=128)
    parser.add_argument('--batch-size', type=int, default=8, help='images per batch')
    parser.add_argument('--loop-images', type=int, default=4)
    args = parser.parse_args()
    register_model_configs()
    torch.manual_seed(0)
    size = args.image_size
    images = [torch.rand(3, size, size) for _ in range(args.images)]
    xy = torch.rand(args.images, args.regions, 2) * size * 0.7
    wh = 8 + torch.rand(args.images, args.regions, 2) * size * 0.3
    boxes = list(torch.cat([xy, xy + wh], dim=2))
    with tempfile.TemporaryDirectory() as tmp:
        ckpt = save_random_clip(Path(tmp) / 'random_clip.pt', args.model)
        embedder = CLIPRegionEmbedder(args.model, str(ckpt))
    scales = len(embedder.crop_scales)
    embedder(images[:2], boxes[:2])  # warm-up

    start = time.perf_counter()
    for i in range(0, args.images, args.batch_size):
        embedder(images[i:i + args.batch_size], boxes[i:i + args.batch_size])
    batched_s = time.perf_counter() - start
    batched_crops = args.images * args.regions * scales
    peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    loop_crops = args.loop_images * args.regions * scales
    start = time.perf_counter()
    for image, image_boxes in zip(images[:args.loop_images], boxes[:args.loop_images]):
        for box in image_boxes:
            embedder([image], [box[None]])
    one_box_s = time.perf_counter() - start

    preprocess = open_clip.image_transform(embedder.input_size, is_train=False,
                                           mean=embedder.mean, std=embedder.std)
    start = time.perf_counter()
    with torch.no_grad():
        for image, image_boxes in zip(images[:args.loop_images], boxes[:args.loop_images]):
            pil = Image.fromarray((image.permute(1, 2, 0) * 255).byte().numpy())
            for box in image_boxes:
                per_scale = []
                for scale in embedder.crop_scales:
                    square = square_crop_boxes(box[None], scale)[0].round().int().tolist()
                    crop = preprocess(pil.crop(square))[None]
                    per_scale.append(F.normalize(embedder.visual(crop), dim=-1))
                F.normalize(torch.stack(per_scale).mean(0), dim=-1)
    loop_s = time.perf_counter() - start

    batched_rate, loop_rate = batched_crops / batched_s, loop_crops / loop_s
    print(f'{args.model}: batched {batched_rate:.0f} crops/s ({args.images} images x '
          f'{args.regions} boxes x {scales} scales in {batched_s:.2f} s), one box at a time '
          f'{loop_rate:.0f} crops/s, peak RSS {peak_rss_mb:.0f} MB', file=sys.stderr)
    print(json.dumps(dict(batched_over_loop=round(batched_rate / loop_rate, 1),
                          crops_per_s=round(batched_rate, 1), peak_rss_mb=round(peak_rss_mb, 1),
                          loop_crops_per_s=round(loop_rate, 1),
                          same_code_one_box_over=round(batched_rate * one_box_s / loop_crops, 1),
                          images_per_s=round(args.images / batched_s, 2))))


if __name__ == '__main__':
    main()
