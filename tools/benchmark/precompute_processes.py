#!/usr/bin/env python
"""The CLIP region precompute on 2 cores: 1 process x 2 threads vs 2 processes x 1 thread.

    python tools/benchmark/precompute_processes.py [--images 512] [--regions 32] [--work-dir D]

The toy world's setting: a generated toy world (--images training scenes of 128 px), the toy
Faster R-CNN R-18 FPN (random weights: the proposals' count, not their quality, sets the cost)
giving the top --regions proposals, and the tiny CLIP (random weights, loaded from a file)
embedding their 1x and 1.5x crops. Runs tools/precompute_clip_regions.py once with
OMP_NUM_THREADS=2, then tools/dist_precompute_clip_regions.sh with 2 ranks of one thread each,
into two stores, checks the stores are byte-identical, and prints images/s, crops/s and the
ratio (2 processes over 1). Last line: one flat JSON object.
"""
import argparse
import hashlib
import json
import os
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CONFIG = '''_base_ = ['{repo}/configs/_base_/models/faster-rcnn_r18_fpn_toyworld.py',
           '{repo}/configs/_base_/datasets/toyworld_detection.py']
custom_imports = dict(imports=['ovdkit'], allow_failed_imports=False)
train_dataloader = dict(dataset=dict(data_root='{world}/'))
'''


def _digest(folder: Path) -> dict:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.iterdir()) if not p.name.startswith('.')}


def _run(cmd, threads: int, port: int) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), PYTHON=sys.executable,
               PORT=str(port), PYTHONWARNINGS='ignore')
    proc = subprocess.run([str(c) for c in cmd], cwd=REPO, env=env, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if proc.returncode != 0:
        raise SystemExit(f'{" ".join(map(str, cmd))} failed:\n{proc.stderr[-4000:]}')
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--images', type=int, default=512)
    parser.add_argument('--regions', type=int, default=32)
    parser.add_argument('--work-dir', help='kept inputs and stores (default: temporary)')
    args = parser.parse_args()
    from mmengine.config import Config

    from ovdkit.testing.benchmark_models import (build_random_detector, save_detector_checkpoint,
                                                 save_random_clip)
    from ovdkit.toyworld import TOY_CLIP_MODEL, ToyWorldSpec, generate_world

    work = Path(args.work_dir or tempfile.mkdtemp(prefix='precompute_processes_'))
    work.mkdir(parents=True, exist_ok=True)
    generate_world(ToyWorldSpec(num_train=args.images, num_val=8, num_clip_train=8,
                                num_clip_val=8), str(work / 'world'), progress=False)
    config = work / 'toy_proposals.py'
    config.write_text(CONFIG.format(repo=REPO, world=work / 'world'))
    detector = build_random_detector(Config.fromfile(str(config)), seed=0)
    save_detector_checkpoint(detector, work / 'detector.pth')
    save_random_clip(work / 'clip.pt', TOY_CLIP_MODEL)

    common = ['--clip-model', TOY_CLIP_MODEL, '--clip-pretrained', work / 'clip.pt',
              '--num-regions', args.regions, '--batch-size', 8, '--workers', 0,
              '--shard-size', 32, '--no-progress']
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    one = _run([sys.executable, 'tools/precompute_clip_regions.py', config, work / 'detector.pth',
                '--out', work / 'store_1x2', *common], threads=2, port=port)
    two = _run(['bash', 'tools/dist_precompute_clip_regions.sh', config, work / 'detector.pth',
                2, '--out', work / 'store_2x1', *common], threads=1, port=port)
    identical = _digest(work / 'store_1x2') == _digest(work / 'store_2x1')
    figures = dict(
        images=args.images, regions=args.regions,
        one_process_images_per_s=one['images_per_s'], one_process_crops_per_s=one['crops_per_s'],
        two_processes_images_per_s=two['images_per_s'],
        two_processes_crops_per_s=two['crops_per_s'],
        two_over_one=round(two['images_per_s'] / one['images_per_s'], 2),
        stores_identical=identical)
    print(f'1 process x 2 threads: {one["images_per_s"]} img/s, {one["crops_per_s"]} crops/s; '
          f'2 processes x 1 thread: {two["images_per_s"]} img/s, {two["crops_per_s"]} crops/s; '
          f'stores identical: {identical} ({work})', file=sys.stderr)
    print(json.dumps(figures))
    if not identical:
        sys.exit(1)


if __name__ == '__main__':
    main()
