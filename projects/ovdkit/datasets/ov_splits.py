"""The open-vocabulary splits, defined here and nowhere else.

OV-COCO (OVR-CNN / ViLD): 48 base and 17 novel COCO categories. OV-LVIS (ViLD): the 337 rare
LVIS v1 categories are novel, the 866 common + frequent ones base; frequencies are read from an
LVIS annotation file, never retyped.
"""
import json
from typing import Dict, Sequence, Tuple, Union

from mmdet.datasets import CocoDataset, LVISV1Dataset

#: COCO's 80 category names in category-id order (mmdet's).
COCO_CLASSES: Tuple[str, ...] = tuple(CocoDataset.METAINFO['classes'])
#: COCO's 80 category ids, aligned with :data:`COCO_CLASSES` (ids skip 12, 26, 29, 30, ...).
COCO_CATEGORY_IDS: Tuple[int, ...] = (
    1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 27,
    28, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 46, 47, 48, 49, 50, 51, 52, 53,
    54, 55, 56, 57, 58, 59, 60, 61, 62, 63, 64, 65, 67, 70, 72, 73, 74, 75, 76, 77, 78, 79, 80,
    81, 82, 84, 85, 86, 87, 88, 89, 90)

OV_COCO_NOVEL_CLASSES: Tuple[str, ...] = (
    'airplane', 'bus', 'cat', 'dog', 'cow', 'elephant', 'umbrella', 'tie', 'snowboard',
    'skateboard', 'cup', 'knife', 'cake', 'couch', 'keyboard', 'sink', 'scissors')
OV_COCO_BASE_CLASSES: Tuple[str, ...] = (
    'person', 'bicycle', 'car', 'motorcycle', 'train', 'truck', 'boat', 'bench', 'bird', 'horse',
    'sheep', 'bear', 'zebra', 'giraffe', 'backpack', 'handbag', 'suitcase', 'frisbee', 'skis',
    'kite', 'surfboard', 'bottle', 'fork', 'spoon', 'bowl', 'banana', 'apple', 'sandwich',
    'orange', 'broccoli', 'carrot', 'pizza', 'donut', 'chair', 'bed', 'toilet', 'tv', 'laptop',
    'mouse', 'remote', 'microwave', 'oven', 'toaster', 'refrigerator', 'book', 'clock', 'vase',
    'toothbrush')
#: The 65 OV-COCO categories in COCO order (the evaluation vocabulary).
OV_COCO_CLASSES: Tuple[str, ...] = tuple(
    c for c in COCO_CLASSES if c in OV_COCO_BASE_CLASSES or c in OV_COCO_NOVEL_CLASSES)

#: LVIS v1's 1203 category names in category-id order (mmdet's; id = index + 1).
LVIS_V1_CLASSES: Tuple[str, ...] = tuple(LVISV1Dataset.METAINFO['classes'])


def ov_coco_split_of_category_ids(categories: Sequence[Dict]) -> Dict[int, str]:
    """Maps the category ids of a COCO-format category list to ``'seen'`` / ``'unseen'``.

    The strings are the ones mmdet's ``coco2ovd.py`` uses; categories outside OV-COCO's 65 are
    left out.
    """
    split = {}
    for cat in categories:
        if cat['name'] in OV_COCO_BASE_CLASSES:
            split[cat['id']] = 'seen'
        elif cat['name'] in OV_COCO_NOVEL_CLASSES:
            split[cat['id']] = 'unseen'
    return split


def lvis_split(annotations: Union[str, Dict]) -> Dict[str, Tuple]:
    """OV-LVIS split from an LVIS annotation file's category frequencies.

    Args:
        annotations: Path of an LVIS json (train or val) or its loaded dict.

    Returns:
        dict with ``classes`` (all names, id order), ``base_classes`` (frequency ``'c'`` or
        ``'f'``), ``novel_classes`` (``'r'``) and ``novel_category_ids``.

    Raises:
        KeyError: a category has no ``frequency`` field (not an LVIS v1 file); names the file.
    """
    source = annotations if isinstance(annotations, str) else '<dict>'
    if isinstance(annotations, str):
        with open(annotations) as f:
            annotations = json.load(f)
    cats = sorted(annotations['categories'], key=lambda c: c['id'])
    missing = [c['name'] for c in cats if 'frequency' not in c]
    if missing:
        raise KeyError(f'{source}: categories without an LVIS "frequency" field, '
                       f'e.g. {missing[:3]}')
    return dict(
        classes=tuple(c['name'] for c in cats),
        base_classes=tuple(c['name'] for c in cats if c['frequency'] in ('c', 'f')),
        novel_classes=tuple(c['name'] for c in cats if c['frequency'] == 'r'),
        novel_category_ids=tuple(c['id'] for c in cats if c['frequency'] == 'r'))
