#!/usr/bin/env python
"""The toy open-vocabulary world, end to end (the README's first command runs it as is).

    python tools/toyworld.py [--work-dir work_dirs/toyworld] [--methods vild-text,... | all]
        [--hard] [--seed 0] [--shapes circle,square,...] [--colors red,green,...]
        [--image-size 128] [--num-train N] [--num-val N] [--max-objects N] [--object-size MIN,MAX]
        [--novel-shapes star,heart | --novel "red star,..." | --novel-fraction 0.25]
        [--shape-synonyms "square|box,circle|disk|ring"]
        [--clip-steps N] [--base-iters N] [--det-iters N] [--threads N]
        [--config-dir configs/toyworld]
        [--weak-scenes 250,500,1000 [--weak-methods vild-text,vild,grounding]
         [--reuse-from FINISHED_WORK_DIR]]

Draws the world; trains its tiny CLIP and, beside it, a base detector (closed-vocabulary
Faster R-CNN on the base boxes); builds text embeddings; embeds the base detector's proposals
with the CLIP (ViLD's targets); trains every detector method from the base detector's weights,
side by side, and evaluates it; writes work_dir/report.md and report.json. Steps already done
are skipped on a rerun. The last line printed is one JSON object of the figures. ``--hard`` is
a harder world and schedule (up to 6 objects of 16-40 px, every method 800 iterations from
scratch, no base detector); any flag given explicitly overrides the preset.

``--weak-scenes`` adds the image-label study (off by default): weak scenes that carry the labels
of every object in them and a caption naming them, novel ones included, no boxes; each
``--weak-methods`` method trains again from the base detector with that many weak scenes
beside the base boxes (ViLD heads: the labels; grounding: the names in the captions), one job
at a time, in ``work_dir/image-labels``. With ``--reuse-from`` the study reads that finished
run's world, CLIP, base detector, region store and method results (never writing there)
instead of running the demo; its options must draw the same world.
"""
import argparse
import json
from pathlib import Path
from typing import Dict, Tuple

from ovdkit.toyworld import (DEFAULT_COLORS, IMAGE_LABEL_CONFIGS, METHODS, SHAPE_NAMES,
                             ImageLabelStudy, ToyWorldPipeline, ToyWorldSpec, parse_name_list,
                             world_is_complete)

REPO = Path(__file__).resolve().parents[1]
#: The default demo and a harder world. Default schedule: the tiny CLIP's 900 steps and, beside
#: it (one thread each), a 1500-iteration base detector whose checkpoint at iteration 1000
#: proposes the regions that the CLIP's thread embeds after the CLIP; then 300 iterations of
#: every method from the base detector's weights. Shorter CLIP or base schedules cost accuracy
#: (docs/experiments.md has the measurements).
PRESETS = {
    'default': dict(max_objects=4, object_size='24,44', clip_steps=900, base_iters=1500,
                    det_iters=300, methods='vild-text,vild,vild-ensemble'),
    'hard': dict(max_objects=6, object_size='16,40', clip_steps=900, base_iters=0,
                 det_iters=800, methods='vild-text,vild,vild-ensemble'),
}


def parse_args(argv=None):
    spec = ToyWorldSpec()
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--work-dir', default='work_dirs/toyworld')
    p.add_argument('--methods',
                   help=f'comma-separated detector methods, or "all" ({", ".join(METHODS)}); '
                        f'default: {PRESETS["default"]["methods"]} (grounding adds about 1.5 '
                        f'minutes: make demo-all)')
    p.add_argument('--hard', action='store_true',
                   help=f'a harder world, every method from scratch: {PRESETS["hard"]} '
                        f'unless given explicitly')
    p.add_argument('--seed', type=int, default=spec.seed)
    p.add_argument('--shapes', default=','.join(SHAPE_NAMES))
    p.add_argument('--colors', default=','.join(DEFAULT_COLORS))
    p.add_argument('--image-size', type=int, default=spec.image_size)
    p.add_argument('--num-train', type=int, default=spec.num_train)
    p.add_argument('--num-val', type=int, default=spec.num_val)
    p.add_argument('--num-clip-train', type=int, default=spec.num_clip_train)
    p.add_argument('--num-clip-val', type=int, default=spec.num_clip_val)
    p.add_argument('--max-objects', type=int, help='most objects a scene')
    p.add_argument('--object-size', help='MIN,MAX object diameter in pixels')
    split = p.add_mutually_exclusive_group()
    split.add_argument('--novel-shapes', help='concepts split: these shapes are novel')
    split.add_argument('--novel', help='combinations split: these categories are novel')
    split.add_argument('--novel-fraction', type=float,
                       help='combinations split: this fraction of categories, chosen by seed')
    p.add_argument('--shape-synonyms',
                   help='other names the CLIP captions use for shapes, e.g. '
                        '"square|box,circle|disk|ring" (world/annotations/*_synonyms.txt '
                        'then lists the classes with them)')
    p.add_argument('--clip-steps', type=int, help='tiny-CLIP optimiser steps')
    p.add_argument('--det-iters', type=int,
                   help='training iterations of each detector method (after the base detector)')
    p.add_argument('--base-iters', type=int,
                   help='iterations of the shared base detector (a closed-vocabulary Faster '
                        'R-CNN on the base boxes) that proposes ViLD\'s regions and that every '
                        'method starts from; 0: every method from scratch')
    p.add_argument('--threads', type=int,
                   help='CPU threads (default: OMP_NUM_THREADS, else all cores); detectors '
                        'trained side by side share them')
    p.add_argument('--config-dir', default=str(REPO / 'configs' / 'toyworld'),
                   help='folder of the toy-world detector configs')
    p.add_argument('--no-progress', action='store_true')
    p.add_argument('--weak-scenes',
                   help='comma-separated numbers of weakly labelled scenes: train each '
                        '--weak-methods method with each (the image-label study; off by default)')
    p.add_argument('--weak-methods', default=','.join(IMAGE_LABEL_CONFIGS),
                   help=f'methods of the image-label study ({", ".join(IMAGE_LABEL_CONFIGS)})')
    p.add_argument('--reuse-from',
                   help='a finished run\'s work dir: the study uses its world, CLIP, base '
                        'detector and results (read only) instead of running the demo')
    args = p.parse_args(argv)
    preset = PRESETS['hard' if args.hard else 'default']
    for key, value in preset.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    try:
        low, high = (int(v) for v in args.object_size.split(','))
    except ValueError:
        p.error(f'--object-size: expected MIN,MAX in pixels, got {args.object_size!r}')
    args.object_size = (low, high)
    methods = list(METHODS) if args.methods == 'all' else parse_name_list(args.methods) or []
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        p.error(f'--methods: unknown {unknown}; available: {", ".join(METHODS)} or all')
    args.methods = methods
    if args.weak_scenes:
        try:
            args.weak_scenes = [int(v) for v in args.weak_scenes.split(',') if v.strip()]
        except ValueError:
            p.error(f'--weak-scenes: expected numbers like 250,500, got {args.weak_scenes!r}')
        if not args.weak_scenes or min(args.weak_scenes) < 1:
            p.error(f'--weak-scenes: numbers must be >= 1, got {args.weak_scenes}')
        args.weak_methods = parse_name_list(args.weak_methods) or []
        unknown = [m for m in args.weak_methods if m not in IMAGE_LABEL_CONFIGS]
        if unknown or not args.weak_methods:
            p.error(f'--weak-methods: unknown {unknown}; available: '
                    f'{", ".join(IMAGE_LABEL_CONFIGS)}')
    elif args.reuse_from:
        p.error('--reuse-from needs --weak-scenes')
    if args.base_iters < 0:
        p.error(f'--base-iters must be >= 0, got {args.base_iters}')
    for name in ('clip_steps', 'det_iters', 'threads', 'max_objects'):
        value = getattr(args, name)
        if value is not None and value < 1:
            p.error(f'--{name.replace("_", "-")} must be >= 1, got {value}')
    return args


def run(argv=None) -> Tuple[Path, Dict]:
    """Runs the demo with these command-line arguments; returns its report's path and its
    flat figures (the last line :func:`main` prints)."""
    args = parse_args(argv)
    novel_shapes, novel = parse_name_list(args.novel_shapes), parse_name_list(args.novel)
    spec = ToyWorldSpec(
        seed=args.seed, shapes=tuple(parse_name_list(args.shapes)),
        colors=tuple(parse_name_list(args.colors)), image_size=args.image_size,
        num_train=args.num_train, num_val=args.num_val, num_clip_train=args.num_clip_train,
        num_clip_val=args.num_clip_val, max_objects=args.max_objects,
        min_object_size=args.object_size[0], max_object_size=args.object_size[1],
        novel_shapes=tuple(novel_shapes) if novel_shapes else None,
        novel=tuple(novel) if novel else None, novel_fraction=args.novel_fraction,
        shape_synonyms=tuple(parse_name_list(args.shape_synonyms) or ()))
    work_dir = Path(args.work_dir)
    if args.reuse_from:
        if not world_is_complete(spec, str(Path(args.reuse_from) / 'world')):
            raise SystemExit(f'--reuse-from {args.reuse_from}: its world is not the one these '
                             f'options draw (another seed or spec?)')
        report, summary, source = None, {}, Path(args.reuse_from)
    else:
        pipeline = ToyWorldPipeline(spec, args.work_dir, args.config_dir,
                                    clip_steps=args.clip_steps, methods=args.methods,
                                    det_iters=args.det_iters, base_iters=args.base_iters,
                                    threads=args.threads,
                                    progress=not args.no_progress)
        summary = pipeline.run()
        report, source = pipeline.work_dir / 'report.md', work_dir
    if args.weak_scenes:
        study = ImageLabelStudy(str(source), str(work_dir / 'image-labels'), args.config_dir,
                                spec, args.weak_methods, args.weak_scenes, args.det_iters,
                                progress=not args.no_progress)
        summary = dict(summary, **study.run())
        report = report or work_dir / 'image-labels' / 'image_labels.json'
    return report, summary


def main(argv=None) -> None:
    report, summary = run(argv)
    print(f'\nreport: {report}')
    print(json.dumps(summary))


if __name__ == '__main__':
    main()
