#!/usr/bin/env python
"""Classes given by example boxes against classes given by names, on trained toy worlds.

    python tools/benchmark/exemplar_prompts.py RUN [RUN ...] --out-dir /work/exemplar_runs \
        [--methods vild-text vild vild-ensemble] [--draw-seed 0] \
        [--picture docs/exemplars_demo.png]

Each RUN is a finished toy-world run (``tools/toyworld.py`` / ``tools/benchmark/toyworld_seeds.py``
output: ``world/``, ``regions/meta.json``, one folder per method with its config and
checkpoint). Inference only: for each method, novel / base / all AP50 on the validation set
when every class is given by its name, by 1 example box, by 5, and by its name + 5 (the plain
normalised mean of the two embeddings). The example boxes come from TRAINING scenes only,
drawn with a seeded generator: each training scene is rendered again to get its ground truth,
which holds the novel objects the training annotations leave unboxed (checked against the
stored image), and a box is the object's bounds rounded to whole pixels, as a user draws it.
Crops are cut at the region store's scales. With several runs, paired differences (same world,
same detector) with 95% t-intervals. Progress on stderr; the last stdout line is one flat JSON
object (``vild/novel_ap50_exemplars5_mean``...). Nothing is written into the runs.
"""
import argparse
import contextlib
import json
import sys
import time
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

import numpy as np

CONDITIONS = ('name', 'exemplars1', 'exemplars5', 'name_exemplars5')
#: Example boxes per class in the example conditions.
FEW, MANY = 1, 5
HEAD = 'model.roi_head.bbox_head.'


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('runs', nargs='+', help='finished toy-world run folders (one per seed)')
    parser.add_argument('--out-dir', required=True, help='work dirs and caches (not the runs)')
    parser.add_argument('--methods', nargs='+', default=['vild-text', 'vild', 'vild-ensemble'])
    parser.add_argument('--draw-seed', type=int, default=0, help='seed of the example draws')
    parser.add_argument('--picture', help='write the example box beside its detections here')
    return parser.parse_args(argv)


def training_examples(world: Path, shots: int, draw_seed: int) -> Dict[str, List[Tuple]]:
    """Up to ``shots`` (image path, xyxy box) per class, from training scenes in a seeded
    order, boxes from the world's ground truth (novel objects included)."""
    from PIL import Image

    from ovdkit.toyworld import ToyWorldSpec, render_scene
    from ovdkit.toyworld.world_writer import scene_rng
    info = json.loads((world / 'world.json').read_text())
    spec = ToyWorldSpec(**{k: tuple(v) if isinstance(v, list) else v
                           for k, v in info['spec'].items()})
    categories = json.loads((world / 'annotations' / 'categories.json').read_text())
    names = {c['id']: c['name'] for c in categories}
    found: Dict[str, List[Tuple]] = {c['name']: [] for c in categories}
    order = np.random.default_rng([spec.seed, draw_seed]).permutation(spec.num_train)
    for checked, index in enumerate(order):
        if all(len(v) >= shots for v in found.values()):
            break
        image, objects = render_scene(scene_rng(spec.seed, 'train', int(index)), categories,
                                      spec.image_size, spec.max_objects, spec.min_object_size,
                                      spec.max_object_size)
        path = world / 'images' / 'train' / f'{index + 1:06d}.png'
        if checked < 3 and not np.array_equal(np.asarray(image), np.asarray(Image.open(path))):
            raise RuntimeError(f'{path} is not the scene its world renders: another world?')
        for obj in objects:
            x, y, w, h = obj['bbox']
            box = [max(0, round(x)), max(0, round(y)), min(spec.image_size, round(x + w)),
                   min(spec.image_size, round(y + h))]
            if len(found[names[obj['category_id']]]) < shots:
                found[names[obj['category_id']]].append((str(path), box))
    empty = [n for n, v in found.items() if not v]
    if empty:
        raise RuntimeError(f'{world}: no training instance of {empty}')
    return found


def write_vocabularies(out_dir: Path, classes: Sequence[str], examples: Dict[str, List[Tuple]],
                       few: int, many: int) -> Dict[str, Path]:
    """One vocabulary file per example condition (docs/exemplars.md syntax, absolute paths):
    what ``tools/test.py`` takes as the test vocabulary to give the same figures."""
    out_dir.mkdir(parents=True, exist_ok=True)
    files = {}
    for condition, shots, marker in (('exemplars1', few, ':='), ('exemplars5', many, ':='),
                                     ('name_exemplars5', many, '+=')):
        lines = [f'{name} {marker} ' + '; '.join(
            f'{path} [{",".join(str(v) for v in box)}]' for path, box in examples[name][:shots])
            for name in classes]
        files[condition] = out_dir / f'vocab_{condition}.txt'
        files[condition].write_text('\n'.join(lines) + '\n')
    return files


def row_figures(rows, text_rows) -> Dict[str, float]:
    """How a condition's class rows ``(C, D)`` relate to the names' text rows ``(C, D)``:
    mean cosine with its own class's text row, the share of rows whose nearest text row is
    their own class's, and the mean of each row's largest cosine with another class's row of
    the same condition (how close the classes are to one another)."""
    import torch
    cos = rows @ text_rows.t()
    own = cos.diagonal()
    among = rows @ rows.t() - 2 * torch.eye(len(rows))
    return dict(own_text_cosine=round(float(own.mean()), 4),
                nearest_text_is_own=round(float((cos.argmax(1) == torch.arange(len(rows)))
                                                .float().mean()), 4),
                max_other_class_cosine=round(float(among.max(1).values.mean()), 4))


def method_files(run: Path, method: str) -> Tuple[Path, Path]:
    """A method's config and its last checkpoint in a run."""
    folder = run / method
    configs = sorted(folder.glob('*.py'))
    checkpoints = sorted(folder.glob('iter_*.pth'), key=lambda p: int(p.stem.split('_')[1]))
    if len(configs) != 1 or not checkpoints:
        raise FileNotFoundError(f'{folder}: expected one config and an iter_*.pth')
    return configs[0], checkpoints[-1]


def test_method(run: Path, method: str, out_dir: Path, classes, files, crop_scales
                ) -> Dict[str, Dict[str, float]]:
    """AP50s (percent) of each condition for one trained method."""
    from mmengine.config import Config
    from mmengine.runner import Runner

    from ovdkit.datasets import resolve_vocabulary_classes
    from ovdkit.models import open_vocabulary_heads
    from ovdkit.regions import (ExemplarEmbedder, install_vocabulary_classes,
                                vocabulary_class_embeddings)
    from ovdkit.regions.exemplar_embeddings import pipeline_prepare
    from ovdkit.text.vocabulary_embeddings import vocabulary_embeddings
    config, checkpoint = method_files(run, method)
    cfg = Config.fromfile(str(config))
    cache = str(out_dir / 'embeddings')
    cfg.merge_from_dict({'work_dir': str(out_dir / method), 'load_from': str(checkpoint),
                         HEAD + 'vocabulary.cache_dir': cache,
                         HEAD + 'test_vocabulary.cache_dir': cache, 'log_level': 'WARNING'})
    cfg.test_dataloader.update(num_workers=0, persistent_workers=False)
    runner = Runner.from_cfg(cfg)
    heads = open_vocabulary_heads(runner.model)
    prepare = pipeline_prepare(cfg.test_dataloader.dataset.pipeline)
    results = {}
    cfg_text = heads[0][1].test_vocabulary_cfg
    _, text_rows = vocabulary_embeddings(dict({k: v for k, v in cfg_text.items() if k != 'path'},
                                              classes=list(classes)))
    for condition in CONDITIONS:
        start = time.perf_counter()
        if condition == 'name':
            for _, head in heads:
                head.use_vocabulary(list(classes))
        else:
            install_vocabulary_classes(heads, resolve_vocabulary_classes(str(files[condition])),
                                       lambda c: ExemplarEmbedder(
                                           c['model'], c['pretrained'], crop_scales,
                                           c['cache_dir'], prepare))
        rows = text_rows if condition == 'name' else vocabulary_class_embeddings(
            resolve_vocabulary_classes(str(files[condition])), cfg_text, ExemplarEmbedder(
                cfg_text['model'], cfg_text['pretrained'], crop_scales, cfg_text['cache_dir'],
                prepare))[1]
        metrics = runner.test()
        results[condition] = {k: round(100 * float(metrics[f'coco/{k}_ap50']), 1)
                              for k in ('novel', 'base', 'all')}
        results[condition]['rows'] = row_figures(rows, text_rows)
        print(f'[exemplars] {run.name} {method} {condition}: {results[condition]} '
              f'({time.perf_counter() - start:.0f} s)', file=sys.stderr)
    return results


def draw_picture(run: Path, method: str, out_dir: Path, classes, examples, files, crop_scales,
                 novel: Sequence[str], path: Path) -> None:
    """The first novel class's example box (left) beside what it finds in a validation scene
    (right: that class's detections, score >= 0.3)."""
    import cv2
    import mmcv

    from ovdkit.apis import OVDInferencer
    from ovdkit.apis.ov_inferencer import draw_prediction, save_drawing
    config, checkpoint = method_files(run, method)
    inferencer = OVDInferencer(str(config), str(checkpoint), exemplar_crop_scales=crop_scales,
                               cfg_options={HEAD + 'test_vocabulary.cache_dir':
                                            str(out_dir / 'embeddings')})
    inferencer.set_vocabulary(str(files['exemplars1']))
    target = novel[0]
    val = json.loads((run / 'world' / 'annotations' / 'val.json').read_text())
    cat = next(c['id'] for c in val['categories'] if c['name'] == target)
    image_id = min(a['image_id'] for a in val['annotations'] if a['category_id'] == cat)
    file_name = next(i['file_name'] for i in val['images'] if i['id'] == image_id)
    image_path = str(run / 'world' / 'images' / file_name)
    sample = inferencer([image_path], return_datasamples=True)['predictions'][0]
    keep = sample.pred_instances.labels == classes.index(target)
    sample.pred_instances = sample.pred_instances[keep]
    right = draw_prediction(inferencer.visualizer, mmcv.imread(image_path, channel_order='rgb'),
                            sample, Path(image_path).name, zoom=3)
    example_path, box = examples[target][0]
    left = mmcv.imrescale(mmcv.imread(example_path, channel_order='rgb'), 3,
                          interpolation='nearest').copy()
    x1, y1, x2, y2 = (3 * v for v in box)
    cv2.rectangle(left, (x1, y1), (x2, y2), (255, 255, 255), 2)
    cv2.putText(left, f'example: {target}', (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.45,
                (255, 255, 255), 1, cv2.LINE_AA)
    gap = np.full((left.shape[0], 8, 3), 255, np.uint8)
    save_drawing(np.concatenate([left, gap, right], axis=1), path)
    print(f'[exemplars] picture: {path} ({target}: {int(keep.sum())} detections)',
          file=sys.stderr)


def summarise(per_run: Dict[str, Dict], methods: Sequence[str]) -> Dict:
    """Means, stds and paired differences (condition - name) with 95% t-intervals."""
    from ovdkit.toyworld.seed_summary import mean_std, t_interval
    flat: Dict = dict(runs=','.join(per_run), num_runs=len(per_run))
    for method in methods:
        for condition in CONDITIONS:
            for split in ('novel', 'base', 'all'):
                values = [r[method][condition][split] for r in per_run.values()]
                key = f'{method}/{split}_ap50_{condition}'
                for run, value in zip(per_run, values):
                    flat[f'{key}_{run}'] = value
                mean, std = mean_std(values) if len(values) > 1 else (values[0], 0.0)
                flat[f'{key}_mean'], flat[f'{key}_std'] = round(mean, 2), round(std, 2)
                if split == 'novel':
                    for stat in next(iter(per_run.values()))[method][condition]['rows']:
                        stats = [r[method][condition]['rows'][stat] for r in per_run.values()]
                        flat[f'{method}/rows_{condition}_{stat}_mean'] = round(
                            sum(stats) / len(stats), 4)
                if condition == 'name' or len(values) < 2:
                    continue
                diffs = [r[method][condition][split] - r[method]['name'][split]
                         for r in per_run.values()]
                mean, low, high = t_interval(diffs)
                diff = f'{method}/{split}_ap50_{condition}_minus_name'
                flat.update({f'{diff}_mean': round(mean, 2), f'{diff}_ci95_low': round(low, 2),
                             f'{diff}_ci95_high': round(high, 2)})
    return flat


def main(argv=None) -> Dict:
    args = parse_args(argv)
    few, many = FEW, MANY
    out_root = Path(args.out_dir)
    per_run: Dict[str, Dict] = {}
    start = time.perf_counter()
    with contextlib.redirect_stdout(sys.stderr):  # mmengine's and pycocotools' logs
        for run_arg in args.runs:
            run = Path(run_arg)
            world = run / 'world'
            classes = [n for n in (world / 'annotations' / 'all_classes.txt').read_text()
                       .splitlines() if n.strip()]
            novel = json.loads((world / 'world.json').read_text())['novel_classes']
            crop_scales = tuple(json.loads((run / 'regions' / 'meta.json').read_text())
                                ['crop_scales'])
            examples = training_examples(world, many, args.draw_seed)
            out_dir = out_root / run.name
            files = write_vocabularies(out_dir, classes, examples, few, many)
            per_run[run.name] = {m: test_method(run, m, out_dir, classes, files, crop_scales)
                                 for m in args.methods}
            if args.picture and run_arg == args.runs[0]:
                method = 'vild' if 'vild' in args.methods else args.methods[0]
                draw_picture(run, method, out_dir, classes, examples, files, crop_scales, novel,
                             Path(args.picture))
            (out_dir / 'results.json').write_text(json.dumps(per_run[run.name], indent=1))
    flat = summarise(per_run, args.methods)
    flat.update(shots_few=few, shots_many=many, draw_seed=args.draw_seed,
                seconds=round(time.perf_counter() - start, 1))
    print(json.dumps(flat))
    return flat


if __name__ == '__main__':
    main()
