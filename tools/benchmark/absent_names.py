#!/usr/bin/env python
"""How often names that are not in an image are detected, per scoring design, on toy worlds.

    python tools/benchmark/absent_names.py WORK_DIR [WORK_DIR ...] [--methods vild-text,...]
        [--designs none,train,generic,floor] [--floor 0.5] [--score-thr 0.3] [--sample-seed 0]
        [--out-dir work_dirs/absent_names] [--picture docs/absent_names.png]

Each ``WORK_DIR`` is a finished ``tools/toyworld.py`` run (``world/``, ``clip/``, one folder
per method with its config and last ``iter_*.pth``; e.g. ``tools/benchmark/toyworld_seeds.py``'s
``seed0``, ``seed1``...). Nothing is retrained; the same detector is scored with each design:

- ``none``: ViLD's softmax over the vocabulary's names and the background only;
- ``train``: the training vocabulary competes in the softmax, its detections dropped (the
  heads' ``reference_vocabulary='train'``);
- ``generic``: a fixed list of generic names competes instead (:data:`GENERIC_NAMES`);
- ``world``: every name of the world competes (an oracle: a user does not know the novel
  names; it shows the confusions left when every name of the world is in the softmax);
- ``floor``: ``none`` with a similarity floor: a name's probability counts only where the
  region's cosine with its text embedding reaches ``--floor`` (the rest goes to background);
- ``one-name``: ``train`` with one name per box: the NMS is class-agnostic (mmcv's
  ``nms=dict(..., class_agnostic=True)``), so a box keeps only its best-scoring name and
  overlapping boxes of other names are suppressed too.

Figures per work dir, method and design, on the world's validation images:

- **absent names** (per-image vocabularies): each image is asked for its true names plus
  absent ones, drawn with ``random.Random(sample_seed * 1000003 + image_id)``: 2 world names
  of a shape in the image in another colour, 2 of a colour in the image on another shape, 1
  other world name (all not in the image; topped up from the other world names when short),
  ``zebra`` and one more name from outside the world (:data:`OUTSIDE_NAMES`), in a shuffled
  order. Counted: detections of absent names scoring ``>= --score-thr`` (total, per image,
  images with one or more; by kind: outside the world, novel, base; and how many lie on a box,
  IoU >= 0.5, that a name of the image scores higher: a second label of a found object), and
  the true objects found at that threshold (a detection of the object's name with IoU >= 0.5,
  each object once) out of all objects.
- **the issue's vocabulary** ``red star,blue hexagon,yellow hexagon,orange star,zebra`` on
  every image: detections of ``zebra`` and of those names absent from the image, ``>= thr``.
- **AP50** (mmdet's OV-COCO metric, the standard evaluation): novel / base / all with every
  world name as the vocabulary, and novel AP50 with the novel names only as the vocabulary.

With several work dirs: per design, the paired difference design - ``none`` over the dirs
(mean and 95% t-interval). The last stdout line is one flat JSON object of every figure.
Each (work dir, method, design) result is kept in ``<out-dir>/results/`` and reused by a rerun
with the same settings and checkpoint (a work dir can be measured as soon as it is trained).
"""
import argparse
import json
import sys
import time
from pathlib import Path
from typing import Dict, List

from ovdkit.toyworld.absent_name_scoring import ISSUE_VOCABULARY, ScoredDetector, checkpoint_of

METHODS = ('vild-text', 'vild', 'vild-ensemble')
DESIGNS = ('none', 'train', 'generic', 'world', 'floor', 'one-name')
def measure(detector: ScoredDetector, design: str, args) -> Dict[str, float]:
    detector.use_design(design)
    figures = detector.absent_counts(args.sample_seed, args.score_thr)
    figures.update(detector.issue_counts(args.score_thr))
    figures.update(detector.ap50(detector.classes))
    figures['novel_only_novel_ap50'] = detector.ap50(detector.novel)['novel_ap50']
    return figures


def draw_picture(work_dir: Path, method: str, cache_dir: Path, path: Path, thr: float) -> str:
    """The first validation image where ``zebra`` fires without references, before / after."""
    import mmcv
    import numpy as np
    from mmdet.visualization import DetLocalVisualizer

    from ovdkit.apis.detection_drawing import draw_prediction, name_palette, save_drawing
    detector = ScoredDetector(work_dir, method, cache_dir, floor=0.0)
    visualizer = DetLocalVisualizer(name='absent-names-picture')
    visualizer.dataset_meta = dict(classes=ISSUE_VOCABULARY,
                                   palette=name_palette(ISSUE_VOCABULARY))
    detector.set_names(ISSUE_VOCABULARY)
    zebra = ISSUE_VOCABULARY.index('zebra')
    for index in range(len(detector.dataset)):
        drawings = []
        for design in ('none', 'train'):
            detector.use_design(design)
            detector.set_names(ISSUE_VOCABULARY)
            sample = detector.predict([index])[0]
            inst = sample.pred_instances
            if design == 'none' and not bool(((inst.labels == zebra) &
                                             (inst.scores >= thr)).any()):
                break
            image = mmcv.imread(sample.img_path, channel_order='rgb')
            drawings.append(draw_prediction(visualizer, image, sample, f'{design}', 4, thr))
        if len(drawings) == 2:
            import cv2
            titled = []
            for drawing, title in zip(drawings, ('only the names asked for compete',
                                                 'the training names compete too (default)')):
                band = np.full((36, drawing.shape[1], 3), 255, np.uint8)
                cv2.putText(band, title, (8, 25), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (0, 0, 0), 2,
                            cv2.LINE_AA)
                titled.append(np.concatenate([band, drawing]))
            gap = np.full((titled[0].shape[0], 16, 3), 255, np.uint8)
            save_drawing(np.concatenate([titled[0], gap, titled[1]], axis=1), path)
            return sample.img_path
    raise SystemExit(f'{work_dir}/{method}: zebra never fires above {thr}; no picture')


def paired_lines(per_dir: Dict[str, Dict], methods, designs, flat: Dict) -> List[str]:
    from ovdkit.toyworld.seed_summary import t_interval
    keys = ('absent_dets', 'issue_zebra', 'true_found', 'novel_ap50', 'base_ap50', 'all_ap50',
            'novel_only_novel_ap50')
    lines = ['', 'Paired differences design - none over the work dirs, mean [95% t-interval]',
             '', '| method | design | ' + ' | '.join(keys) + ' |',
             '|---|---|' + '---|' * len(keys)]
    dirs = list(per_dir)
    for method in methods:
        for design in designs:
            if design == 'none':
                continue
            cells = []
            for key in keys:
                diffs = [per_dir[d][f'{method}/{design}/{key}'] -
                         per_dir[d][f'{method}/none/{key}'] for d in dirs]
                mean, low, high = t_interval(diffs)
                name = f'{method}/{design}-minus-none/{key}'
                flat[f'{name}_mean'] = round(mean, 2)
                flat[f'{name}_ci95_low'], flat[f'{name}_ci95_high'] = round(low, 2), round(high, 2)
                cells.append(f'{mean:+.1f} [{low:+.1f}, {high:+.1f}]')
            lines.append(f'| {method} | {design} | ' + ' | '.join(cells) + ' |')
    return lines


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('work_dirs', nargs='+', type=Path)
    parser.add_argument('--methods', default=','.join(METHODS))
    parser.add_argument('--designs', default=','.join(DESIGNS))
    parser.add_argument('--floor', type=float, default=0.5,
                        help='cosine floor of the floor design')
    parser.add_argument('--score-thr', type=float, default=0.3,
                        help="tools/demo.py's default threshold")
    parser.add_argument('--sample-seed', type=int, default=0)
    parser.add_argument('--max-images', type=int, default=0,
                        help='only the first N validation images (quick checks; 0: all)')
    parser.add_argument('--out-dir', type=Path, default=Path('work_dirs/absent_names'))
    parser.add_argument('--picture', type=Path, help='write the before / after picture here '
                        '(first work dir, last method)')
    args = parser.parse_args(argv)
    methods = [m for m in args.methods.split(',') if m]
    designs = [d for d in args.designs.split(',') if d]
    unknown = sorted(set(designs) - set(DESIGNS)) + sorted(set(methods) - set(METHODS))
    if unknown:
        parser.error(f'unknown designs / methods {unknown}')
    if 'none' not in designs:
        designs.insert(0, 'none')
    for work_dir in args.work_dirs:
        missing = [m for m in methods if not list((work_dir / m).glob('iter_*.pth'))]
        if missing:
            parser.error(f'{work_dir}: no trained {", ".join(missing)} (iter_*.pth)')
    from ovdkit.utils.atomic_io import write_json_atomic
    start = time.perf_counter()
    flat: Dict = dict(score_thr=args.score_thr, sample_seed=args.sample_seed, floor=args.floor)
    per_dir: Dict[str, Dict] = {}
    lines = ['| work dir | method | design | absent dets >= thr (per image) | images with '
             'absent | true found / objects | issue: zebra / absent | novel / base / all AP50 '
             '| novel AP50, novel names only |', '|---|---|---|---|---|---|---|---|---|']
    for work_dir in args.work_dirs:
        tag = work_dir.name
        per_dir[tag] = {}
        cache_dir = args.out_dir / 'embeddings' / tag
        for method in methods:
            detector = None
            for design in designs:
                stored = args.out_dir / 'results' / tag / method / f'{design}.json'
                settings = dict(sample_seed=args.sample_seed, score_thr=args.score_thr,
                                max_images=args.max_images, checkpoint=checkpoint_of(
                                    work_dir / method).name,
                                **(dict(floor=args.floor) if design == 'floor' else {}))
                previous = json.loads(stored.read_text()) if stored.is_file() else {}
                if previous.get('settings') == settings:
                    f = previous['figures']
                else:
                    if detector is None:
                        detector = ScoredDetector(work_dir, method, cache_dir, args.floor,
                                                  args.max_images)
                    f = measure(detector, design, args)
                    write_json_atomic(dict(settings=settings, figures=f), stored)
                print(f'{tag} {method} {design}: {json.dumps(f)}', file=sys.stderr, flush=True)
                for key, value in f.items():
                    per_dir[tag][f'{method}/{design}/{key}'] = value
                    flat[f'{tag}/{method}/{design}/{key}'] = value
                lines.append(
                    f'| {tag} | {method} | {design} | {f["absent_dets"]} '
                    f'({f["absent_per_image"]:.3f}) | {f["images_with_absent"]} | '
                    f'{f["true_found"]} / {f["true_objects"]} | {f["issue_zebra"]} / '
                    f'{f["issue_absent"]} | {f["novel_ap50"]} / {f["base_ap50"]} / '
                    f'{f["all_ap50"]} | {f["novel_only_novel_ap50"]} |')
    if len(per_dir) >= 2:
        lines += paired_lines(per_dir, methods, designs, flat)
    if args.picture is not None:
        first = args.work_dirs[0]
        image = draw_picture(first, methods[-1], args.out_dir / 'embeddings' / first.name,
                             args.picture, args.score_thr)
        flat['picture'], flat['picture_image'] = str(args.picture), image
    flat['seconds'] = round(time.perf_counter() - start, 1)
    print('\n'.join(lines))
    print(json.dumps(flat))


if __name__ == '__main__':
    main()
