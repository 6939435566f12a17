#!/usr/bin/env python
"""The toy open-vocabulary world, end to end (the README's first command runs it as is).

    python tools/toyworld.py [--work-dir work_dirs/toyworld] [--methods vild-text,...]
        [--seed 0] [--shapes circle,square,...] [--colors red,green,...] [--image-size 128]
        [--num-train 2000] [--num-val 300] [--object-size 16,40]
        [--novel-shapes star,heart | --novel "red star,..." | --novel-fraction 0.25]
        [--clip-steps 900] [--det-iters N]

Draws the world, trains its tiny CLIP, builds text embeddings, trains and evaluates the
detector methods, and writes work_dir/report.md and report.json. Steps already done are
skipped on a rerun. The last line printed is one JSON object of the figures.
"""
import argparse
import json

from ovdkit.toyworld import (DEFAULT_COLORS, METHODS, SHAPE_NAMES, ToyWorldPipeline,
                             ToyWorldSpec, parse_name_list)


def parse_args(argv=None):
    defaults = ToyWorldSpec()
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--work-dir', default='work_dirs/toyworld')
    p.add_argument('--methods', default=','.join(METHODS),
                   help=f'comma-separated detector methods (available: {sorted(METHODS)})')
    p.add_argument('--seed', type=int, default=defaults.seed)
    p.add_argument('--shapes', default=','.join(SHAPE_NAMES))
    p.add_argument('--colors', default=','.join(DEFAULT_COLORS))
    p.add_argument('--image-size', type=int, default=defaults.image_size)
    p.add_argument('--num-train', type=int, default=defaults.num_train)
    p.add_argument('--num-val', type=int, default=defaults.num_val)
    p.add_argument('--num-clip-train', type=int, default=defaults.num_clip_train)
    p.add_argument('--num-clip-val', type=int, default=defaults.num_clip_val)
    p.add_argument('--max-objects', type=int, default=defaults.max_objects)
    p.add_argument('--object-size', default=f'{defaults.min_object_size},'
                   f'{defaults.max_object_size}', help='MIN,MAX object diameter in pixels')
    split = p.add_mutually_exclusive_group()
    split.add_argument('--novel-shapes', help='concepts split: these shapes are novel')
    split.add_argument('--novel', help='combinations split: these categories are novel')
    split.add_argument('--novel-fraction', type=float,
                       help='combinations split: this fraction of categories, chosen by seed')
    p.add_argument('--clip-steps', type=int, default=900, help='tiny-CLIP optimiser steps')
    p.add_argument('--det-iters', type=int,
                   help="detector iterations (default: each method config's schedule)")
    p.add_argument('--no-progress', action='store_true')
    return p.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    novel_shapes, novel = parse_name_list(args.novel_shapes), parse_name_list(args.novel)
    spec = ToyWorldSpec(
        seed=args.seed, shapes=tuple(parse_name_list(args.shapes)),
        colors=tuple(parse_name_list(args.colors)), image_size=args.image_size,
        num_train=args.num_train, num_val=args.num_val, num_clip_train=args.num_clip_train,
        num_clip_val=args.num_clip_val, max_objects=args.max_objects,
        min_object_size=int(args.object_size.split(',')[0]),
        max_object_size=int(args.object_size.split(',')[1]),
        novel_shapes=tuple(novel_shapes) if novel_shapes else None,
        novel=tuple(novel) if novel else None, novel_fraction=args.novel_fraction)
    pipeline = ToyWorldPipeline(spec, args.work_dir, clip_steps=args.clip_steps,
                                methods=parse_name_list(args.methods) or (),
                                det_iters=args.det_iters,
                                progress=not args.no_progress)
    summary = pipeline.run()
    print(f'\nreport: {pipeline.work_dir / "report.md"}')
    print(json.dumps(summary))


if __name__ == '__main__':
    main()
