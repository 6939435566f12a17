"""tools/demo.py with a trained toy-world ViLD-text model: a novel category is found by name;
and the grounding model trained beside it grounds the phrases of a caption.

The session fixture runs the toy-world pipeline at small scale (``tools/toyworld.py
--methods vild-text,grounding``, one thread each): a 3 x 3 world (circle / triangle / star x
red / green / blue) whose novel category, "blue star", is an unseen combination of a seen
colour and a seen shape; a tiny CLIP trained on captions of all nine categories; ViLD-text
(and grounding) trained on the eight base categories' boxes (blue stars are in the training
images, unannotated). The seed is the
default one, not searched: every bound below holds with margin on each seed it was measured on
(the spread is given next to each bound), so the test does not depend on one run's luck or on
bitwise-reproducible training. At this budget the star's top label is usually a base name
("blue triangle"); what transfers is the ranking: a query for blue stars finds it.
"""
import json
from pathlib import Path

import numpy as np
import pytest

from ovdkit.testing import run_tool

pytestmark = pytest.mark.slow  # trains the toy world's CLIP and two detectors: minutes

NOVEL = 'blue star'
WORLD_OPTIONS = ['--shapes', 'circle,triangle,star', '--colors', 'red,green,blue', '--novel',
                 NOVEL, '--num-train', 400, '--num-val', 40, '--num-clip-train', 600,
                 '--num-clip-val', 40, '--max-objects', 4, '--object-size', '20,44',
                 '--clip-steps', 150, '--base-iters', 0, '--det-iters', 200,
                 '--methods', 'vild-text,grounding',
                 '--threads', 1, '--no-progress']
NUM_SCENES = 12


def train_toy_detector(work: Path, seed: int = 0) -> dict:
    """World, tiny CLIP and ViLD-text under ``work`` (``tools/toyworld.py``); returns the
    demo's figures, the ViLD-text result and the world folder."""
    proc = run_tool(['tools/toyworld.py', '--work-dir', work, '--seed', seed, *WORLD_OPTIONS],
                    timeout=3600)
    result = json.loads((work / 'vild-text' / 'result.json').read_text())
    grounding = json.loads((work / 'grounding' / 'result.json').read_text())
    return dict(summary=json.loads(proc.stdout.strip().splitlines()[-1]), world=work / 'world',
                config=str(work / 'vild-text' / 'vild-text_r18_fpn_1xb8-300i_toyworld.py'),
                checkpoint=result['checkpoint'],
                grounding=(str(work / 'grounding' / 'grounding_r18_fpn_1xb8-300i_toyworld.py'),
                           grounding['checkpoint']))


def novel_scenes(world: Path, out_dir: Path, num: int = NUM_SCENES, seed: int = 1000):
    """``num`` new scenes of the world (not its train or val images) each holding one blue
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


def run_demo(trained, images: Path, out_dir: Path, vocab_file: Path, score_thr: float):
    proc = run_tool(['tools/demo.py', images, '--config', trained['config'], '--checkpoint',
                     trained['checkpoint'], '--vocab-file', vocab_file, '--score-thr',
                     score_thr, '--out-dir', out_dir, '--batch-size', 4])
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary['failed'] == 0 and summary['images'] == len(list(images.iterdir()))
    return {p.stem + '.png': json.loads(p.read_text())['detections']
            for p in (out_dir / 'preds').glob('*.json')}


@pytest.fixture(scope='session')
def trained_toy_detector(tmp_path_factory):
    return train_toy_detector(tmp_path_factory.mktemp('toy3x3'))


def test_pipeline_trains_a_detector_that_transfers(trained_toy_detector):
    summary = trained_toy_detector['summary']
    # seeds 0-4 (val, 40 scenes): base AP50 59.8-68.3, novel ("blue star") AP50 25.9-59.8,
    # CLIP zero-shot 0.734-0.961 (measured spreads; chance is 1/9 and a detector that never
    # ranks a blue star first scores ~0 novel AP50)
    assert summary['vild-text/base_ap50'] >= 50, summary
    assert summary['vild-text/novel_ap50'] >= 15, summary
    assert summary['clip_zero_shot_acc'] >= 0.6, summary


def test_novel_category_found_by_name(trained_toy_detector, tmp_path):
    """Asked for blue stars (all nine names, every detection kept), the best "blue star"
    detection of a scene is the blue star, not one of the other objects around it."""
    world = trained_toy_detector['world']
    stars = novel_scenes(world, tmp_path / 'images')
    named = run_demo(trained_toy_detector, tmp_path / 'images', tmp_path / 'named',
                     world / 'annotations' / 'all_classes.txt', score_thr=0.01)
    on_star = {}
    for image, star in stars.items():
        asked = [d for d in named[image] if d['name'] == NOVEL]
        on_star[image] = bool(asked) and iou(max(asked, key=lambda d: d['score'])['bbox'],
                                             star) > 0.5
    # seeds 0-4: 8, 10, 10, 8, 9 of 12 scenes
    assert sum(on_star.values()) >= 6, (on_star, named)
    assert (tmp_path / 'named' / 'vis' / 'scene0.png').is_file()


def test_unnamed_novel_object_is_called_by_its_colour(trained_toy_detector, tmp_path):
    """With the base names only, the blue star is still detected, and called a blue shape
    (the colour it shares with base categories), not a star of another colour or nothing."""
    world = trained_toy_detector['world']
    stars = novel_scenes(world, tmp_path / 'images')
    base_file = world / 'annotations' / 'base_classes.txt'
    unnamed = run_demo(trained_toy_detector, tmp_path / 'images', tmp_path / 'unnamed',
                       base_file, score_thr=0.3)
    called = {}
    for image, star in stars.items():
        hits = [d for d in unnamed[image] if iou(d['bbox'], star) > 0.5]
        called[image] = max(hits, key=lambda d: d['score'])['name'] if hits else None
    assert NOVEL not in base_file.read_text().splitlines()
    # seeds 0-4: 11, 11, 11, 12, 12 of 12 scenes called "blue triangle" or "blue circle"
    assert sum(name in ('blue triangle', 'blue circle') for name in called.values()) >= 9, \
        (called, unnamed)


@pytest.mark.parametrize('colours', [('red', 'green'), ('red', 'blue')])
def test_caption_phrases_that_differ_in_colour_go_to_their_own_stars(trained_toy_detector,
                                                                     colours):
    """A caption naming two stars that differ only in colour, on scenes holding exactly those
    two: the best detection on each star carries that star's phrase and span. ("blue star"
    is this world's novel category: no blue star was ever boxed in training.)"""
    from ovdkit.apis import OVDInferencer
    from ovdkit.toyworld import render_scene
    inferencer = OVDInferencer(*trained_toy_detector['grounding'])
    phrases = [f'the {c} star' for c in colours]
    caption = f'{phrases[0]} and {phrases[1]}'
    stars = [dict(id=i + 1, shape='star', color=c) for i, c in enumerate(colours)]
    right, objects, index = [], 0, 0
    while objects < 24:
        image, drawn = render_scene(np.random.default_rng([7, index]), stars, 128, 2, 24, 44,
                                    min_objects=2)
        index += 1
        if sorted(o['category_id'] for o in drawn) != [1, 2]:
            continue
        pred = inferencer(np.asarray(image)[..., ::-1].copy(), caption=caption,
                          phrases=phrases, pred_score_thr=0.0,
                          no_save_pred=True)['predictions'][0]
        assert pred['char_spans'] == [[0, 12] if name == phrases[0] else
                                      [17, 17 + len(phrases[1])] for name in pred['label_names']]
        for star in drawn:
            x, y, w, h = star['bbox']
            hits = [(score, name) for box, score, name in zip(
                pred['bboxes'], pred['scores'], pred['label_names'])
                if iou(box, (x, y, x + w, y + h)) >= 0.5]
            objects += 1
            right.append(bool(hits) and max(hits)[1] == phrases[star['category_id'] - 1])
    # seeds 0, 1, 2: red / green 24, 24, 24 of 24 stars; red / blue 22, 24, 24 of 24
    assert sum(right) >= 20, right
