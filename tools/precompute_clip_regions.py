#!/usr/bin/env python
"""Precomputes ViLD's distillation targets: CLIP image embeddings of every training image's
proposals.

    python tools/precompute_clip_regions.py CONFIG CHECKPOINT --clip-model ViT-B-32 \
        --clip-pretrained openai --out data/coco/clip_regions/NAME \
        [--num-regions 300] [--crop-scales 1.0 1.5] [--batch-size 8] [--workers 2] \
        [--shard-size 256] [--device cpu] [--cfg-options KEY=VALUE ...] \
        [--launcher {none,pytorch,slurm,mpi}]

CONFIG + CHECKPOINT: a detector whose RPN gives the class-agnostic proposals (top-M after NMS)
and whose train_dataloader lists the images. Restartable: rerun the same command after an
interruption and it finishes the shards that are not complete; a store made with other CLIP
weights or settings is refused. The last stdout line is a JSON object of figures.

Distributed: tools/dist_precompute_clip_regions.sh CONFIG CHECKPOINT NPROC [options] (torchrun,
one node or several) or tools/slurm_precompute_clip_regions.sh; each rank computes its own
shards (shard % world size == rank), rank 0 writes meta.json and index.json and prints the
figures summed over the ranks. Rerun with any number of ranks after a failure.
"""
import argparse
import json
import os
import sys

from mmengine.config import DictAction
from torch.distributed.elastic.multiprocessing.errors import record

from ovdkit.regions import RegionStoreError, precompute_clip_regions
from ovdkit.text import CLIPWeightsError
from ovdkit.utils.mmdet_tools import finish_tool_distributed, init_tool_distributed


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config', help='detector config (proposal source and image list)')
    parser.add_argument('checkpoint', help='detector checkpoint')
    parser.add_argument('--clip-model', required=True, help='open_clip model, e.g. ViT-B-32')
    parser.add_argument('--clip-pretrained', required=True,
                        help='open_clip tag (e.g. openai) or a local checkpoint file')
    parser.add_argument('--out', required=True, help='region store folder')
    parser.add_argument('--num-regions', type=int, default=300,
                        help='proposals kept per image after NMS (ViLD: 300)')
    parser.add_argument('--crop-scales', type=float, nargs='+', default=[1.0, 1.5])
    parser.add_argument('--batch-size', type=int, default=8, help='images per batch')
    parser.add_argument('--workers', type=int, default=2, help='DataLoader workers')
    parser.add_argument('--shard-size', type=int, default=256,
                        help='images per shard (the unit of restart)')
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--no-progress', action='store_true')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, as in tools/train.py')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none', help='job launcher (as in tools/train.py)')
    return parser.parse_args(argv)


@record  # under torchrun, a rank's uncaught error is reported in the launcher's summary
def main(argv=None) -> int:
    args = parse_args(argv)
    init_tool_distributed(args.launcher)
    try:
        figures = precompute_clip_regions(
            args.config, args.checkpoint, args.clip_model, args.clip_pretrained, args.out,
            num_regions=args.num_regions, crop_scales=args.crop_scales,
            batch_size=args.batch_size, workers=args.workers, shard_size=args.shard_size,
            device=args.device, cfg_options=args.cfg_options, progress=not args.no_progress)
    except (RegionStoreError, CLIPWeightsError, FileNotFoundError, ValueError) as exc:
        rank = os.environ.get('RANK')
        where = f' (rank {rank})' if args.launcher != 'none' and rank is not None else ''
        print(f'precompute_clip_regions{where}: error: {exc}', file=sys.stderr)
        return 2
    if int(os.environ.get('RANK', 0)) == 0 or args.launcher == 'none':
        print(json.dumps(figures))
    finish_tool_distributed()
    return 0


if __name__ == '__main__':
    sys.exit(main())
