"""Tiny COCO / LVIS v1 datasets with the real category names and ids, in the real layouts.

What the shipped OV-COCO / OV-LVIS configs read, at a scale that trains in seconds: the tests
run the converters (``tools/dataset_converters/``) on these files exactly as a user runs them
on the downloads, then the configs with only ``data_root`` changed. Images are flat colour
rectangles on noise (64 px by default), deterministic for a seed; everything is written in
well under a second.
"""
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

import numpy as np
from PIL import Image, ImageDraw

from ..datasets.ov_splits import (COCO_CATEGORY_IDS, COCO_CLASSES, LVIS_V1_CLASSES,
                                  OV_COCO_BASE_CLASSES, OV_COCO_NOVEL_CLASSES)
from ..utils.atomic_io import write_json_atomic
from .lvis_v1_frequencies import LVIS_V1_FREQUENCIES

# mmdet's class list corrects one typo of the official LVIS v1 files; the fixture writes the
# name as the official files spell it, so the converters meet what users download.
_LVIS_JSON_NAMES = {'speaker_(stereo_equipment)': 'speaker_(stero_equipment)'}
# A few of the official files' synonyms (every other category lists only its name), so the
# ``lvis-synonyms:`` vocabulary meets real ones.
LVIS_FIXTURE_SYNONYMS = {
    'aerosol_can': ['spray_can'],
    'television_set': ['tv', 'tv_set'],
    'sofa': ['couch', 'davenport', 'lounge', 'sofa_bed'],
    'cellular_telephone': ['cellular_phone', 'cellphone', 'mobile_phone', 'smart_phone'],
    'car_(automobile)': ['auto_(automobile)', 'automobile'],
}


def lvis_v1_categories() -> List[Dict]:
    """The 1203 LVIS v1 categories as the official files list them (id, name, frequency...)."""
    cats = []
    for i, (name, freq) in enumerate(zip(LVIS_V1_CLASSES, LVIS_V1_FREQUENCIES)):
        name = _LVIS_JSON_NAMES.get(name, name)
        cats.append(dict(id=i + 1, name=name, frequency=freq, synset=f'{name}.n.01',
                         synonyms=[name, *LVIS_FIXTURE_SYNONYMS.get(name, [])],
                         image_count=1, instance_count=1))
    return cats


def _draw_images(folder: Path, file_names: Sequence[str], boxes: Sequence[Sequence],
                 size: int, rng: np.random.Generator) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, image_boxes in zip(file_names, boxes):
        img = Image.fromarray(rng.integers(90, 160, (size, size, 3), dtype=np.uint8))
        draw = ImageDraw.Draw(img)
        for x, y, w, h in image_boxes:
            draw.rectangle((x, y, x + w - 1, y + h - 1),
                           fill=tuple(int(v) for v in rng.integers(0, 256, 3)))
        img.save(folder / name, quality=95)


def _layout(rng: np.random.Generator, count: int, size: int) -> List[Tuple[int, ...]]:
    """``count`` non-overlapping boxes (x, y, w, h), one per vertical band of the image."""
    band = size // count
    boxes = []
    for k in range(count):
        h = int(rng.integers(band // 2, band))
        w = int(rng.integers(size // 4, size // 2))
        boxes.append((int(rng.integers(0, size - w)), k * band, w, h))
    return boxes


def _polygon(box: Sequence[int]) -> List[List[float]]:
    x, y, w, h = box
    return [[x, y, x + w, y, x + w, y + h, x, y + h]]


def make_ov_coco_fixture(root: str, num_train: int = 4, num_val: int = 2,
                         image_size: int = 64, seed: int = 0) -> Dict[str, str]:
    """COCO 2017 layout with all 80 categories (real names and ids).

    Writes ``root/annotations/instances_{train,val}2017.json`` and ``root/{train,val}2017/``
    ``<12-digit id>.jpg``. Every image holds one OV-COCO base object, one novel object and one
    object of a category outside OV-COCO's 65 (what ``coco2ovcoco.py`` drops), cycling through
    the classes in order, so the converter's train file keeps base boxes only.

    Returns:
        The two annotation file paths, keyed ``'train'`` and ``'val'``.
    """
    rng = np.random.default_rng(seed)
    root_path = Path(root)
    name_to_id = dict(zip(COCO_CLASSES, COCO_CATEGORY_IDS))
    base = [c for c in COCO_CLASSES if c in OV_COCO_BASE_CLASSES]
    novel = [c for c in COCO_CLASSES if c in OV_COCO_NOVEL_CLASSES]
    other = [c for c in COCO_CLASSES if c not in base and c not in novel]
    categories = [dict(id=i, name=n, supercategory='object')
                  for n, i in zip(COCO_CLASSES, COCO_CATEGORY_IDS)]
    paths, image_id, ann_id = {}, 0, 0
    for split, count in (('train', num_train), ('val', num_val)):
        images, annotations, boxes = [], [], []
        for k in range(count):
            image_id += 1
            names = [base[image_id % len(base)], novel[image_id % len(novel)],
                     other[image_id % len(other)]]
            layout = _layout(rng, len(names), image_size)
            for name, (x, y, w, h) in zip(names, layout):
                ann_id += 1
                annotations.append(dict(id=ann_id, image_id=image_id,
                                        category_id=name_to_id[name], bbox=[x, y, w, h],
                                        area=float(w * h), iscrowd=0,
                                        segmentation=_polygon((x, y, w, h))))
            images.append(dict(id=image_id, file_name=f'{image_id:012d}.jpg',
                               width=image_size, height=image_size))
            boxes.append(layout)
        _draw_images(root_path / f'{split}2017', [i['file_name'] for i in images], boxes,
                     image_size, rng)
        path = root_path / 'annotations' / f'instances_{split}2017.json'
        write_json_atomic(dict(images=images, annotations=annotations,
                               categories=categories), path)
        paths[split] = str(path)
    return paths


def make_ov_lvis_fixture(root: str, num_train: int = 4, num_val: int = 2,
                         image_size: int = 64, seed: int = 0) -> Dict[str, str]:
    """LVIS v1 layout with all 1203 categories, frequencies and (official) names.

    Writes ``root/lvis/annotations/lvis_v1_{train,val}.json`` and the images where LVIS finds
    them, ``root/coco/{train,val}2017/<12-digit id>.jpg`` (from each image's ``coco_url``).
    Every image holds one rare, one common and one frequent object (polygon masks), cycling
    through each frequency's categories in id order; the frequent category of the previous
    image is a verified negative (``neg_category_ids``), as in LVIS's federated labels.

    Returns:
        The two annotation file paths, keyed ``'train'`` and ``'val'``.
    """
    rng = np.random.default_rng(seed)
    root_path = Path(root)
    categories = lvis_v1_categories()
    by_freq = {f: [c['id'] for c in categories if c['frequency'] == f] for f in 'rcf'}
    paths, image_id, ann_id = {}, 0, 0
    for split, count in (('train', num_train), ('val', num_val)):
        images, annotations, boxes = [], [], []
        for _ in range(count):
            image_id += 1
            cat_ids = [by_freq[f][image_id % len(by_freq[f])] for f in 'rcf']
            layout = _layout(rng, len(cat_ids), image_size)
            for cat_id, (x, y, w, h) in zip(cat_ids, layout):
                ann_id += 1
                annotations.append(dict(id=ann_id, image_id=image_id, category_id=cat_id,
                                        bbox=[x, y, w, h], area=float(w * h),
                                        segmentation=_polygon((x, y, w, h))))
            negative = by_freq['f'][(image_id - 1) % len(by_freq['f'])]
            images.append(dict(
                id=image_id, width=image_size, height=image_size,
                coco_url=f'http://images.cocodataset.org/{split}2017/{image_id:012d}.jpg',
                neg_category_ids=[negative] if negative not in cat_ids else [],
                not_exhaustive_category_ids=[]))
            boxes.append(layout)
        _draw_images(root_path / 'coco' / f'{split}2017',
                     [f'{i["id"]:012d}.jpg' for i in images], boxes, image_size, rng)
        path = root_path / 'lvis' / 'annotations' / f'lvis_v1_{split}.json'
        write_json_atomic(dict(images=images, annotations=annotations,
                               categories=categories), path)
        paths[split] = str(path)
    return paths
