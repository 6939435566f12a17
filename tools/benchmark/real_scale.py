#!/usr/bin/env python
"""Latency and memory of the shipped R50-FPN configs at 1333x800 against mmdet's own detector.

    python tools/benchmark/real_scale.py [--names 65,1203,20000] [--batch-sizes 1,4]
        [--rounds 3] [--threads 2] [--models vild_text,vild_ensemble,grounding]
        [--scale 1333,800] [--proposals N] [--family auto] [--no-onnx] [--no-per-image]

No data or weights are needed: every detector is built at random initialisation (the R50 too),
its RPN given spread objectness weights (as a trained RPN's: otherwise every anchor ties at
0.5), and saved as a checkpoint; CLIP is a random ``OVD-TestCLIP-RN512`` (512-d, as ViT-B/32)
saved to a file, so the vocabularies go through the real weights-file and cache path. The
image is a toy-world scene enlarged to the test pipeline's scale (1333x800).

For each vocabulary size, the family of configs a user runs at that size: OV-COCO's (Faster
R-CNN) at 65 names, OV-LVIS's (Mask R-CNN, class-agnostic masks) above. The baseline is the
mmdet config the family inherits (``faster-rcnn_r50_fpn_1x_coco`` / ``mask-rcnn_r50_fpn_
sample1e-3_ms-1x_lvis-v1``) with ``num_classes`` = the names and the family's test settings,
i.e. mmdet's linear classifier (class-specific boxes and masks); ``--family ov-coco`` times
OV-COCO's configs (boxes only) against Faster R-CNN at every size. The baseline runs up to
1203 names (``--baseline-max-names``): at 20,000 its class-specific mask layer alone would need
tens of GB. Timed: ``model.test_step`` on a preprocessed batch (the same for every model), per
image; rounds interleave the models of a cell, which go first alternating; medians of the
rounds.
Peak memory: the process's resident memory sampled every 2 ms during a call, above its value
before the call (MB, largest of the rounds).

``--onnx``: the OV-COCO ViLD-text detector exported (``tools/deploy/export_onnx.py``'s path;
boxes only, the vocabulary a graph input), onnxruntime's ``session.run`` against PyTorch's
``test_step`` of the same detector per image, at every vocabulary size.
``--per-image``: four images, each with its own vocabulary of 100 LVIS names, through
``OVDInferencer`` in one batch against a loop of one call per image (both end to end).

Each vocabulary size, the ONNX comparison and the per-image comparison run in a process of
their own (a peak is its section's; memory an allocator keeps does not carry over).
Last line: one flat JSON object (``vild_text_over_faster_rcnn_65``,
``vild_text_over_mask_rcnn_1203``, ``grounding_over_vild_text_1203``,
``onnx_over_torch_1203``, ``per_image_batch_over_loop``, ``ms_...``, ``mb_...``).
"""
import argparse
import contextlib
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from ovdkit.testing.real_scale_models import (BASELINE_NAMES, RealScaleModels, check_names,
                                              family_of, peak_memory_mb, vocabulary_of)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--names', default='65,1203,20000',
                   help='vocabulary sizes: 65 = OV-COCO, 1203 = LVIS, others synthetic')
    p.add_argument('--batch-sizes', default='1,4')
    p.add_argument('--rounds', type=int, default=3)
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--models', default='vild_text,vild_ensemble,grounding',
                   help='OVDKit models besides the baseline')
    p.add_argument('--scale', default='1333,800', help='test pipeline scale W,H')
    p.add_argument('--family', choices=('auto', 'ov-coco', 'ov-lvis'), default='auto',
                   help="the configs at every size: auto = OV-COCO's at 65 names, OV-LVIS's "
                        "above; ov-coco: Faster R-CNN's (boxes only) at every size")
    p.add_argument('--baseline-max-names', type=int, default=1203)
    p.add_argument('--proposals', type=int,
                   help="RPN proposals per image at test time (default: the configs' 1000)")
    p.add_argument('--onnx', action=argparse.BooleanOptionalAction, default=True)
    p.add_argument('--per-image', action=argparse.BooleanOptionalAction, default=True)
    p.add_argument('--work-dir', help='keep checkpoints, graphs and caches here '
                                      '(default: a temporary folder)')
    p.add_argument('--section', help=argparse.SUPPRESS)  # a vocabulary size, onnx, per-image
    args = p.parse_args(argv)
    try:
        args.names = check_names(args.names)
        args.batch_sizes = [int(b) for b in args.batch_sizes.split(',')]
        args.scale = tuple(int(v) for v in args.scale.split(','))
    except ValueError as e:
        p.error(str(e))
    if any(b < 1 for b in args.batch_sizes) or len(args.scale) != 2 or min(args.scale) < 32:
        p.error('--batch-sizes must be >= 1 and --scale two sizes >= 32 (W,H)')
    if args.rounds < 1 or args.threads < 1:
        p.error('--rounds and --threads must be >= 1')
    unknown = set(args.models.split(',')) - {'vild_text', 'vild_ensemble', 'grounding'}
    if unknown:
        p.error(f'--models: unknown {sorted(unknown)}; choose from vild_text, vild_ensemble, '
                f'grounding')
    args.models = args.models.split(',')
    return args


def timed(fn):
    """Seconds of one call, the resident-memory peak above its start (MB) and its output."""
    with peak_memory_mb() as peak:
        start = time.perf_counter()
        output = fn()
        seconds = time.perf_counter() - start
    return seconds, peak(), output


def interleaved(runs: dict, rounds: int):
    """Median seconds, the largest memory peak and the last output per run; a warm-up call
    each first (first-call allocations), then rounds that alternate the order."""
    seconds = {name: [] for name in runs}
    memory = {name: 0.0 for name in runs}
    outputs = {name: fn() for name, fn in runs.items()}
    for r in range(rounds):
        for name in (list(runs) if r % 2 == 0 else list(reversed(runs))):
            s, mb, outputs[name] = timed(runs[name])
            seconds[name].append(s)
            memory[name] = max(memory[name], mb)
    return {n: statistics.median(t) for n, t in seconds.items()}, memory, outputs


def size_figures(models: 'RealScaleModels', num: int, args) -> dict:
    """Latency, memory and detections of the baseline and the OVDKit models at one size."""
    figures = {}
    family = family_of(num) if args.family == 'auto' else args.family
    names = vocabulary_of(num)
    runs_by_model = {}
    if num <= args.baseline_max_names:
        runs_by_model[BASELINE_NAMES[family]] = models.baseline(family, num)
    for name in args.models:
        runs_by_model[name] = models.ov_model(family, name, names)
    for batch in args.batch_sizes:
        print(f'[real_scale] {num} names, batch {batch}: {", ".join(runs_by_model)}',
              file=sys.stderr)
        data = models.batch(batch)
        runs = {k: (lambda m=m: m.test_step(data)) for k, m in runs_by_model.items()}
        seconds, memory, preds = interleaved(runs, args.rounds)
        for k in runs:
            figures[f'ms_{k}_{num}_b{batch}'] = round(1000 * seconds[k] / batch, 1)
            figures[f'mb_{k}_{num}_b{batch}'] = round(memory[k], 1)
            figures[f'detections_{k}_{num}'] = round(
                sum(len(p.pred_instances) for p in preds[k]) / batch, 1)
    ratio_batch = 1 if 1 in args.batch_sizes else args.batch_sizes[0]

    def ratio(a, b):
        ka, kb = f'ms_{a}_{num}_b{ratio_batch}', f'ms_{b}_{num}_b{ratio_batch}'
        if ka in figures and kb in figures:
            return round(figures[ka] / figures[kb], 3)
    base = BASELINE_NAMES[family]
    for name in args.models:
        value = ratio(name, base)
        if value is not None:
            figures[f'{name}_over_{base}_{num}'] = value
    if 'grounding' in args.models and 'vild_text' in args.models:
        figures[f'grounding_over_vild_text_{num}'] = ratio('grounding', 'vild_text')
    return figures


def run_section(section: str, args, work: Path) -> dict:
    """One section's figures, in this process (``--section``)."""
    torch.set_num_threads(args.threads)
    # mmengine logs every initialised weight on stdout: the figures' line stays the last one
    with contextlib.redirect_stdout(sys.stderr):
        models = RealScaleModels(work, args.scale, args.threads, args.proposals)
        if section == 'onnx':
            return onnx_figures(models, args)
        if section == 'per-image':
            return per_image_figures(models, args)
        return size_figures(models, int(section), args)


def main(argv=None) -> None:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.work_dir or tmp)
        if args.section:
            print(json.dumps(run_section(args.section, args, work)))
            return
        figures = dict(threads=args.threads, rounds=args.rounds, scale=f'{args.scale[0]}x'
                       f'{args.scale[1]}', torch_version=torch.__version__)
        sections = [str(n) for n in args.names] + ['onnx'] * args.onnx + \
            ['per-image'] * args.per_image
        for section in sections:
            # a process per section: the memory one leaves (the allocator keeps it) does not
            # count against the next one, and each peak is its own
            proc = subprocess.run([sys.executable, __file__, *argv, '--section', section,
                                   '--work-dir', str(work)], stdout=subprocess.PIPE,
                                  text=True)
            if proc.returncode != 0:
                sys.exit(f'real_scale.py: section {section} failed (exit {proc.returncode})')
            figures.update(json.loads(proc.stdout.strip().splitlines()[-1]))
    print(json.dumps(figures))


def onnx_figures(models: 'RealScaleModels', args) -> dict:
    """onnxruntime's ``session.run`` against PyTorch's ``test_step`` per image, one detector."""
    out = {}
    torch_model, detector = models.onnx_pair()
    for num in args.names:
        names = vocabulary_of(num)
        inferencer = models.inferencer('ov-coco', 'vild_text', names)
        detector.set_vocabulary(names)
        inputs, _ = detector.preprocess(models.image)
        data = models.batch(1)
        runs = dict(torch=lambda: torch_model.test_step(data),
                    onnx=lambda: detector.session.run(None, inputs))
        print(f'[real_scale] onnx vs torch, {num} names', file=sys.stderr)
        seconds, memory, _ = interleaved(runs, args.rounds)
        out[f'onnx_over_torch_{num}'] = round(seconds['onnx'] / seconds['torch'], 3)
        out[f'ms_onnx_{num}'] = round(1000 * seconds['onnx'], 1)
        out[f'ms_torch_boxes_{num}'] = round(1000 * seconds['torch'], 1)
        out[f'mb_onnx_{num}'] = round(memory['onnx'], 1)
        del inferencer
    return out


def per_image_figures(models: 'RealScaleModels', args) -> dict:
    """Four images with a vocabulary each: one batch against a loop of single calls."""
    lvis = vocabulary_of(1203)
    rng = np.random.default_rng(0)
    vocabularies = [[lvis[i] for i in sorted(rng.choice(len(lvis), 100, replace=False))]
                    for _ in range(4)]
    inferencer = models.inferencer('ov-coco', 'vild_text', vocabularies[0])
    images = [models.image] * 4
    inferencer(images, vocabulary=vocabularies, batch_size=4)  # encodes and keeps all four

    def loop():
        for image, vocabulary in zip(images, vocabularies):
            inferencer([image], vocabulary=vocabulary)
    runs = dict(batch=lambda: inferencer(images, vocabulary=vocabularies, batch_size=4),
                loop=loop)
    print('[real_scale] per-image vocabularies: one batch vs a loop', file=sys.stderr)
    seconds, _, _ = interleaved(runs, args.rounds)
    return dict(per_image_batch_images_per_s=round(4 / seconds['batch'], 3),
                per_image_loop_images_per_s=round(4 / seconds['loop'], 3),
                per_image_batch_over_loop=round(seconds['loop'] / seconds['batch'], 3))


if __name__ == '__main__':
    main()
