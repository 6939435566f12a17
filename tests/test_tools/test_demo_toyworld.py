"""tools/demo.py with a trained toy-world ViLD-text model: a novel category is found by name.

The session fixture trains the whole chain (about 170 s of one CPU core here: 70 s the tiny
CLIP, 80 s the detector): a 3 x 3 toy world (circle / triangle / star x red / green / blue)
whose novel category, "blue star", is an unseen combination of a seen colour and a seen shape;
a tiny CLIP trained on captions of all nine categories (150 steps); ViLD-text trained on the
eight base categories' boxes only (200 iterations; blue stars are in the training images,
unannotated). ViLD-text then transfers by the text embedding alone, but at this budget not for
every seed: with these seeds (world, CLIP and detector all seeded, each trained in a one-thread
subprocess, so the run is bitwise reproducible) 7 of the 8 scenes' blue stars are found,
scores 0.35-0.89; other seeds, and a circle / square / star world, called them "blue triangle"
or "blue square" at this budget.
"""
import json
import resource
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import REPO, run_tool

NOVEL = 'blue star'
# tools/toyworld.py options of the world and its CLIP (no detector: trained below)
WORLD_OPTIONS = ['--shapes', 'circle,triangle,star', '--colors', 'red,green,blue', '--novel',
                 NOVEL, '--num-train', 400, '--num-val', 8, '--num-clip-train', 600,
                 '--num-clip-val', 8, '--max-objects', 4, '--object-size', '20,44',
                 '--methods', '', '--no-progress']
CLIP_STEPS = 150
DET_ITERS = 200
SCORE_THR = 0.3

CONFIG = '''_base_ = '{repo}/configs/toyworld/vild-text_r18_fpn_1xb8-800i_toyworld.py'
work_root = '{work}/'
vocabulary = dict(classes=work_root + 'world/annotations/base_classes.txt',
                  model='OVD-TinyCLIP-RN', pretrained=work_root + 'clip/toyclip.pt',
                  templates='vild', cache_dir=work_root + 'embeddings')
model = dict(roi_head=dict(bbox_head=dict(
    vocabulary=vocabulary,
    test_vocabulary=dict(classes=work_root + 'world/annotations/all_classes.txt'))))
train_dataloader = dict(dataset=dict(data_root=work_root + 'world/'))
val_dataloader = dict(dataset=dict(data_root=work_root + 'world/'))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=work_root + 'world/annotations/val.json')
test_evaluator = val_evaluator
max_iters = {iters}
train_cfg = dict(max_iters=max_iters, val_interval=max_iters, val_begin=max_iters + 1)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=20),
    dict(type='CosineAnnealingLR', by_epoch=False, begin=20, end=max_iters,
         T_max=max_iters - 20, eta_min=1e-5)]
default_hooks = dict(logger=dict(interval=40), checkpoint=dict(interval=max_iters))
randomness = dict(seed={seed})
'''


def cpu_seconds() -> float:
    """CPU time of this process and its finished children (what the work costs on an idle
    machine, whatever else shares the CPU)."""
    return sum(getattr(resource.getrusage(who), field)
               for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
               for field in ('ru_utime', 'ru_stime'))


def train_toy_detector(work: Path, seed: int = 0) -> dict:
    """World and tiny CLIP (tools/toyworld.py), then ViLD-text (tools/train.py), under
    ``work``; returns paths and the wall and CPU seconds it took.

    Both run as subprocesses with one thread (``run_tool``), so the fixed seeds give the same
    model whatever thread count the test session has.
    """
    start, cpu_start = time.perf_counter(), cpu_seconds()
    run_tool(['tools/toyworld.py', '--work-dir', work, '--seed', seed, '--clip-steps',
              CLIP_STEPS, *WORLD_OPTIONS])
    config = work / 'vild-text_toy3x3.py'
    config.write_text(CONFIG.format(repo=REPO, work=work, iters=DET_ITERS, seed=seed))
    run_tool(['tools/train.py', config, '--work-dir', work / 'det'])
    return dict(config=str(config), checkpoint=str(work / 'det' / f'iter_{DET_ITERS}.pth'),
                world=work / 'world', wall_s=time.perf_counter() - start,
                cpu_s=cpu_seconds() - cpu_start)


def novel_scenes(world: Path, out_dir: Path, num: int = 8, seed: int = 1000):
    """``num`` new scenes of the world (not its train or val images) each holding a blue
    star among other objects; returns {file name: blue-star box (x1, y1, x2, y2)}."""
    from ovdkit.toyworld import render_scene
    categories = json.loads((world / 'annotations' / 'categories.json').read_text())
    novel_id = next(c['id'] for c in categories if c['name'] == NOVEL)
    out_dir.mkdir(parents=True, exist_ok=True)
    boxes = {}
    index = 0
    while len(boxes) < num:
        image, objects = render_scene(np.random.default_rng([seed, index]), categories, 128,
                                      4, 24, 44, min_objects=3)
        index += 1
        stars = [o['bbox'] for o in objects if o['category_id'] == novel_id]
        if len(stars) == 1 and len(objects) >= 2:
            x, y, w, h = stars[0]
            name = f'scene{len(boxes)}.png'
            image.save(out_dir / name)
            boxes[name] = (x, y, x + w, y + h)
    return boxes


def iou(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def run_demo(trained, images: Path, out_dir: Path, vocab_file: Path):
    proc = run_tool(['tools/demo.py', images, '--config', trained['config'], '--checkpoint',
                     trained['checkpoint'], '--vocab-file', vocab_file, '--score-thr',
                     SCORE_THR, '--out-dir', out_dir, '--batch-size', 2])
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary['failed'] == 0 and summary['images'] == len(list(images.iterdir()))
    return {p.stem + '.png': json.loads(p.read_text())['detections']
            for p in (out_dir / 'preds').glob('*.json')}


@pytest.fixture(scope='session')
def trained_toy_detector(tmp_path_factory):
    trained = train_toy_detector(tmp_path_factory.mktemp('toy3x3'))
    print(f"\ntoy 3x3 ViLD-text fixture: {trained['wall_s']:.0f} s wall, "
          f"{trained['cpu_s']:.0f} s CPU")
    return trained


def test_novel_category_found_only_when_named(trained_toy_detector, tmp_path):
    world = trained_toy_detector['world']
    stars = novel_scenes(world, tmp_path / 'images')
    all_names = world / 'annotations' / 'all_classes.txt'
    base_names = world / 'annotations' / 'base_classes.txt'
    assert NOVEL in all_names.read_text().splitlines()
    assert NOVEL not in base_names.read_text().splitlines()

    named = run_demo(trained_toy_detector, tmp_path / 'images', tmp_path / 'named', all_names)
    found = {}
    for image, star in stars.items():
        hits = [d for d in named[image] if iou(d['bbox'], star) > 0.5]
        # the best detection on the blue star is called "blue star"
        found[image] = bool(hits) and max(hits, key=lambda d: d['score'])['name'] == NOVEL
    # 7 of 8 with these seeds (see the module docstring); 2 misses are tolerated
    assert sum(found.values()) >= len(stars) - 2, (found, named)
    assert (tmp_path / 'named' / 'vis' / 'scene0.png').is_file()

    unnamed = run_demo(trained_toy_detector, tmp_path / 'images', tmp_path / 'unnamed',
                       base_names)
    for image, star in stars.items():
        assert all(d['name'] != NOVEL for d in unnamed[image])
        assert {d['name'] for d in unnamed[image]} <= set(base_names.read_text().split('\n'))
