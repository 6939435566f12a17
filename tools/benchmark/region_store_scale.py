#!/usr/bin/env python
"""Reading a large CLIP region store from DataLoader workers: throughput and worker memory.

    python tools/benchmark/region_store_scale.py [--images 20000] [--regions 300] [--dim 512]
        [--samples 4000] [--workers 2] [--store DIR] [--keep]

Writes a synthetic store with the real writer (default 20k images x 300 regions x 512-d
float16: ~6 GB, about OV-LVIS's size / 5; reused if --store already holds one with the same
shape), then reads --samples random images through the real ``LoadCLIPRegions`` transform
(a random flip and rescale recorded as mmdet's ``homography_matrix``) in --workers DataLoader
workers. Prints samples/s, each worker's resident memory (RSS) after its first sample and its
growth by its last, and the store's size per image. Last line: one flat JSON object.
"""
import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from ovdkit.datasets.transforms import LoadCLIPRegions
from ovdkit.regions import CLIPRegionStore


def rss_mb() -> float:
    """Resident set size of this process (MB), from /proc."""
    for line in open('/proc/self/status'):
        if line.startswith('VmRSS:'):
            return int(line.split()[1]) / 1024
    raise RuntimeError('no VmRSS in /proc/self/status')


def write_store(root: Path, images: int, regions: int, dim: int, shard_size: int) -> float:
    """Fills ``root`` with a synthetic store; returns the seconds it took."""
    settings = dict(image_keys=[str(i) for i in range(images)], shard_size=shard_size,
                    embed_dim=dim, num_regions=regions, synthetic=True)
    store = CLIPRegionStore.create(root, settings)
    pending = store.pending_shards()
    start = time.perf_counter()
    rng = np.random.default_rng(0)
    for n, shard in enumerate(pending):
        count = len(store.shard_keys(shard))
        xy = rng.uniform(0, 400, (count, regions, 2)).astype(np.float32)
        wh = rng.uniform(8, 200, (count, regions, 2)).astype(np.float32)
        boxes = np.concatenate([xy, xy + wh], axis=2)
        emb = rng.standard_normal((count, regions, dim), dtype=np.float32)
        emb /= np.linalg.norm(emb, axis=2, keepdims=True)
        store.write_shard(shard, list(boxes), list(emb.astype(np.float16)),
                          update_index=n + 1 == len(pending))
        print(f'\rwriting the store: shard {n + 1}/{len(pending)}', end='', file=sys.stderr)
    print(file=sys.stderr)
    return time.perf_counter() - start


class RandomRegionReads(Dataset):
    """Random images of the store through ``LoadCLIPRegions``; each item reports the worker's
    memory so the main process can follow it."""

    def __init__(self, store: str, images: int, samples: int) -> None:
        self.transform = LoadCLIPRegions(store=store)
        self.ids = np.random.default_rng(1).integers(0, images, samples)

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i):
        rng = np.random.default_rng(i)
        scale = rng.uniform(0.5, 1.5)
        flip = rng.random() < 0.5
        # Resize then horizontal flip of a 640 x 480 image, as mmdet records them.
        h, w = int(480 * scale), int(640 * scale)
        m = np.diag([scale, scale, 1.0]).astype(np.float32)
        if flip:
            m = np.array([[-1, 0, w], [0, 1, 0], [0, 0, 1]], np.float32) @ m
        results = self.transform(dict(img_id=str(self.ids[i]), img_shape=(h, w),
                                      homography_matrix=m))
        info = torch.utils.data.get_worker_info()
        return (info.id if info else -1, rss_mb(), len(results['clip_region_bboxes']),
                results['clip_region_embeddings'].shape[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--images', type=int, default=20000)
    parser.add_argument('--regions', type=int, default=300)
    parser.add_argument('--dim', type=int, default=512)
    parser.add_argument('--shard-size', type=int, default=256)
    parser.add_argument('--samples', type=int, default=4000)
    parser.add_argument('--workers', type=int, default=2)
    parser.add_argument('--store', help='store folder (default: a temporary one, deleted)')
    parser.add_argument('--keep', action='store_true', help='keep the temporary store')
    args = parser.parse_args()
    if args.workers < 1:
        parser.error('--workers must be >= 1 (the point is reading from workers)')
    root = Path(args.store or tempfile.mkdtemp(prefix='region_store_scale_'))
    try:
        write_s = write_store(root, args.images, args.regions, args.dim, args.shard_size)
        size = sum(p.stat().st_size for p in root.iterdir())
        loader = DataLoader(RandomRegionReads(str(root), args.images, args.samples),
                            batch_size=8, num_workers=args.workers, collate_fn=list)
        first, last, kept, dims = {}, {}, 0, set()
        main_rss = rss_mb()
        start = time.perf_counter()
        for batch in loader:
            for worker, rss, k, d in batch:
                first.setdefault(worker, rss)
                last[worker] = rss
                kept += k
                dims.add(d)
        read_s = time.perf_counter() - start
    finally:
        if not args.store and not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    assert dims == {args.dim}, dims
    growth = [last[w] - first[w] for w in sorted(first)]
    figures = dict(
        images=args.images, regions=args.regions, dim=args.dim, workers=args.workers,
        store_gb=round(size / 1e9, 3), store_mb_per_image=round(size / 1e6 / args.images, 4),
        write_s=round(write_s, 1), samples=args.samples,
        samples_per_s=round(args.samples / read_s, 1),
        regions_kept_per_sample=round(kept / args.samples, 1),
        main_rss_mb=round(main_rss, 1),
        worker_rss_first_mb=round(max(first.values()), 1),
        worker_rss_growth_mb_max=round(max(growth), 1),
        worker_rss_growth_mb_mean=round(float(np.mean(growth)), 1))
    print(f'{args.samples} random reads of a {figures["store_gb"]} GB store in {read_s:.1f} s '
          f'({figures["samples_per_s"]} samples/s, {args.workers} workers); worker RSS '
          f'{figures["worker_rss_first_mb"]} MB after its first sample, +'
          f'{figures["worker_rss_growth_mb_max"]} MB by its last', file=sys.stderr)
    print(json.dumps(figures))


if __name__ == '__main__':
    main()
