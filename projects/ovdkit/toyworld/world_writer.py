"""Writes a toy world to disk in COCO format, plus the caption set its CLIP learns from.

Layout under ``out_dir``::

    world.json                      the spec, the split and the counts (written last)
    images/{train,val,clip_train,clip_val}/NNNNNN.png
    annotations/train.json          base annotations only (novel objects drawn, unannotated)
    annotations/val.json            every object annotated, all categories
    annotations/categories.json     id, name, shape, colour, split
    annotations/{all,base,novel}_classes.txt  vocabulary files, one name per line
    annotations/{all,base,novel}_classes_synonyms.txt  with ``shape_synonyms`` only: the same
                                    classes with their synonyms ("red square|red box")
    annotations/clip_{train,val}.json  caption set: every object of every category, each
                                    with its box and a caption ("a photo of a red star.";
                                    with ``shape_synonyms``, any of the shape's names)
    samples.png                     a few val scenes with their boxes (novel in white)
"""
import json
import multiprocessing
import sys
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Tuple

import numpy as np
from mmengine.utils import ProgressBar
from PIL import Image, ImageDraw

from ..utils.atomic_io import atomic_write, write_json_atomic, write_text_atomic
from .scene_renderer import render_scene
from .world_spec import ToyWorldSpec

SPLITS = ('train', 'val', 'clip_train', 'clip_val')
_SPLIT_SALT = {name: i for i, name in enumerate(SPLITS)}


def scene_rng(seed: int, split: str, index: int) -> np.random.Generator:
    """The generator of one scene: independent of every other scene, fixed by the seed."""
    return np.random.default_rng([seed, _SPLIT_SALT[split], index])


def caption_rng(seed: int, split: str, index: int) -> np.random.Generator:
    """The generator of one scene's caption names: apart from :func:`scene_rng`, so that
    synonyms change the captions and nothing else."""
    return np.random.default_rng([seed, _SPLIT_SALT[split], index, 1])


def _count(spec: ToyWorldSpec, split: str) -> int:
    return dict(train=spec.num_train, val=spec.num_val, clip_train=spec.num_clip_train,
                clip_val=spec.num_clip_val)[split]


def _draw_samples(root: Path, val: Dict, categories: List[Dict], n: int = 8) -> None:
    names = {c['id']: c for c in categories}
    tiles = []
    for image in val['images'][:n]:
        img = Image.open(root / 'images' / image['file_name']).convert('RGB')
        img = img.resize((img.width * 2, img.height * 2), Image.NEAREST)
        draw = ImageDraw.Draw(img)
        for ann in val['annotations']:
            if ann['image_id'] != image['id']:
                continue
            x, y, w, h = (2 * v for v in ann['bbox'])
            cat = names[ann['category_id']]
            color = (255, 255, 255) if cat['split'] == 'novel' else (0, 0, 0)
            draw.rectangle((x, y, x + w, y + h), outline=color)
            draw.text((x + 1, y + 1), cat['name'], fill=color)
        tiles.append(img)
    if not tiles:
        return
    cols = min(4, len(tiles))
    rows = (len(tiles) + cols - 1) // cols
    sheet = Image.new('RGB', (cols * tiles[0].width, rows * tiles[0].height))
    for i, tile in enumerate(tiles):
        sheet.paste(tile, ((i % cols) * tile.width, (i // cols) * tile.height))
    atomic_write(root / 'samples.png', lambda tmp: sheet.save(tmp, format='PNG'))


# What a drawing worker needs, set once per process (:func:`_start_drawing`).
_DRAWING: Dict = {}


def _start_drawing(spec: ToyWorldSpec, categories: List[Dict], root: Path) -> None:
    _DRAWING.update(spec=spec, categories=categories, root=root)


def _draw_scene(task: Tuple[str, int]) -> List[Dict]:
    """Renders scene ``index`` of ``split``, saves its PNG and returns its objects."""
    split, index = task
    spec = _DRAWING['spec']
    image, objects = render_scene(
        scene_rng(spec.seed, split, index), _DRAWING['categories'], spec.image_size,
        spec.max_objects, spec.min_object_size, spec.max_object_size)
    image.save(_DRAWING['root'] / 'images' / f'{split}/{index + 1:06d}.png')
    return objects


def _annotate_split(spec: ToyWorldSpec, split: str, categories: List[Dict], novel_ids: set,
                    caption_names: Dict[int, List[str]], drawn: Iterator[List[Dict]],
                    bar: Optional[ProgressBar]) -> Dict:
    """The COCO dict of ``split`` from the objects of its scenes, taken in order from
    ``drawn``: novel objects of train left unannotated, captions for the caption set."""
    images, anns = [], []
    for index in range(_count(spec, split)):
        objects = next(drawn)
        image_id = index + 1
        names_rng = caption_rng(spec.seed, split, index) if spec.shape_synonyms else None
        images.append(dict(id=image_id, file_name=f'{split}/{image_id:06d}.png',
                           width=spec.image_size, height=spec.image_size))
        for obj in objects:
            if split == 'train' and obj['category_id'] in novel_ids:
                continue  # drawn but unannotated, like novel objects in OV-COCO train
            ann = dict(id=len(anns) + 1, image_id=image_id, category_id=obj['category_id'],
                       bbox=[round(v, 2) for v in obj['bbox']], iscrowd=0,
                       area=round(obj['bbox'][2] * obj['bbox'][3], 2))
            if split.startswith('clip'):
                names = caption_names[obj['category_id']]
                name = names[names_rng.integers(len(names))] if names_rng else names[0]
                ann['caption'] = f'a photo of a {name}.'
            anns.append(ann)
        if bar:
            bar.update()
    kept_cats = [c for c in categories if split != 'train' or c['split'] == 'base']
    return dict(images=images, annotations=anns, categories=kept_cats)


def world_is_complete(spec: ToyWorldSpec, out_dir: str) -> bool:
    """True when ``out_dir`` holds a finished world drawn from exactly this spec."""
    path = Path(out_dir) / 'world.json'
    if not path.is_file():
        return False
    return json.loads(path.read_text()).get('spec') == spec.to_dict()


def generate_world(spec: ToyWorldSpec, out_dir: str, progress: bool = True,
                   workers: int = 1) -> Dict:
    """Draws every scene of the world and writes the files listed in the module docstring.

    Args:
        spec: The world.
        out_dir: Folder to write (created); a finished world of the same spec is kept as is.
        progress: Show a progress bar over scenes.
        workers: Processes drawing scenes. Every scene has its own seeded generator
            (:func:`scene_rng`), so the files are the same for any count.

    Returns:
        The content of ``world.json``: spec, split kind, novel names and counts.
    """
    root = Path(out_dir)
    if world_is_complete(spec, out_dir):
        return json.loads((root / 'world.json').read_text())
    categories = spec.categories()
    novel_ids = {c['id'] for c in categories if c['split'] == 'novel'}
    caption_names = {c['id']: spec.caption_names(c) for c in categories}
    total = sum(_count(spec, s) for s in SPLITS)
    bar = ProgressBar(total, file=sys.stderr) if progress else None
    counts = {}
    datasets = {}
    for split in SPLITS:
        (root / 'images' / split).mkdir(parents=True, exist_ok=True)
    tasks = [(split, index) for split in SPLITS for index in range(_count(spec, split))]
    pool: Optional[multiprocessing.pool.Pool] = None
    if workers > 1:
        pool = multiprocessing.Pool(workers, _start_drawing, (spec, categories, root))
        drawn = pool.imap(_draw_scene, tasks,
                          chunksize=max(1, min(32, len(tasks) // (4 * workers))))
    else:
        _start_drawing(spec, categories, root)
        drawn = iter(map(_draw_scene, tasks))
    try:
        for split in SPLITS:
            datasets[split] = _annotate_split(spec, split, categories, novel_ids,
                                              caption_names, drawn, bar)
            counts[split] = dict(images=len(datasets[split]['images']),
                                 annotations=len(datasets[split]['annotations']))
    finally:
        if pool is not None:
            pool.terminate()
    (root / 'annotations').mkdir(exist_ok=True)
    for split, data in datasets.items():
        write_json_atomic(data, root / 'annotations' / f'{split}.json')
    write_json_atomic(categories, root / 'annotations' / 'categories.json')
    for name, cats in (('all', categories),
                       ('base', [c for c in categories if c['split'] == 'base']),
                       ('novel', [c for c in categories if c['split'] == 'novel'])):
        write_text_atomic('\n'.join(c['name'] for c in cats) + '\n',
                           root / 'annotations' / f'{name}_classes.txt')
        if spec.shape_synonyms:
            write_text_atomic('\n'.join(spec.vocabulary_entries(cats)) + '\n',
                               root / 'annotations' / f'{name}_classes_synonyms.txt')
    _draw_samples(root, datasets['val'], categories)
    summary = dict(spec=spec.to_dict(), split_kind=spec.split_kind,
                   novel_classes=[c['name'] for c in categories if c['split'] == 'novel'],
                   base_classes=[c['name'] for c in categories if c['split'] == 'base'],
                   counts=counts)
    write_json_atomic(summary, root / 'world.json')  # last: marks the world complete
    return summary
