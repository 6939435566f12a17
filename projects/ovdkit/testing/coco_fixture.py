"""A tiny COCO-format detection dataset drawn on the fly, for smoke tests and the smoke config."""
from pathlib import Path
from typing import Dict, List, Sequence

import numpy as np
from PIL import Image, ImageDraw

from ..utils.atomic_io import write_json_atomic

#: (name, RGB fill, shape) of the fixture's categories; ids are 1..len.
FIXTURE_CATEGORIES = (
    ('red square', (220, 40, 40), 'square'),
    ('green disk', (40, 190, 60), 'disk'),
    ('blue triangle', (40, 70, 220), 'triangle'),
)


def _draw_object(draw: ImageDraw.ImageDraw, shape: str, box: Sequence[int], fill) -> None:
    x0, y0, x1, y1 = box
    if shape == 'square':
        draw.rectangle(box, fill=fill)
    elif shape == 'disk':
        draw.ellipse(box, fill=fill)
    else:
        draw.polygon([((x0 + x1) / 2, y0), (x1, y1), (x0, y1)], fill=fill)


def make_coco_fixture(out_dir: str, num_train: int = 24, num_val: int = 8,
                      image_size: int = 96, seed: int = 0) -> Dict[str, str]:
    """Draws shapes on noisy backgrounds and writes COCO instances files.

    Layout: ``out_dir/images/*.png``, ``out_dir/annotations/instances_{train,val}.json``.
    Boxes are exact (the shape's bounding rectangle), 1-3 objects per image.

    Args:
        out_dir: Folder to write into (created).
        num_train: Number of training images.
        num_val: Number of validation images.
        image_size: Side of the square images in pixels.
        seed: Random seed; the same seed writes identical files.

    Returns:
        Paths of the two annotation files, keyed ``'train'`` and ``'val'``.
    """
    rng = np.random.default_rng(seed)
    root = Path(out_dir)
    (root / 'images').mkdir(parents=True, exist_ok=True)
    (root / 'annotations').mkdir(parents=True, exist_ok=True)
    categories = [dict(id=i + 1, name=name) for i, (name, _, _) in enumerate(FIXTURE_CATEGORIES)]
    paths = {}
    image_id, ann_id = 0, 0
    for split, count in (('train', num_train), ('val', num_val)):
        images: List[Dict] = []
        annotations: List[Dict] = []
        for _ in range(count):
            image_id += 1
            pixels = rng.integers(90, 160, (image_size, image_size, 3), dtype=np.uint8)
            img = Image.fromarray(pixels)
            draw = ImageDraw.Draw(img)
            for _ in range(int(rng.integers(1, 4))):
                cat = int(rng.integers(len(FIXTURE_CATEGORIES)))
                _, fill, shape = FIXTURE_CATEGORIES[cat]
                side = int(rng.integers(image_size // 5, image_size // 2))
                x0 = int(rng.integers(0, image_size - side))
                y0 = int(rng.integers(0, image_size - side))
                _draw_object(draw, shape, (x0, y0, x0 + side - 1, y0 + side - 1), fill)
                ann_id += 1
                annotations.append(dict(id=ann_id, image_id=image_id, category_id=cat + 1,
                                        bbox=[x0, y0, side, side], area=float(side * side),
                                        iscrowd=0))
            file_name = f'{split}_{image_id:04d}.png'
            img.save(root / 'images' / file_name)
            images.append(dict(id=image_id, file_name=file_name, width=image_size,
                               height=image_size))
        path = root / 'annotations' / f'instances_{split}.json'
        write_json_atomic(dict(images=images, annotations=annotations,
                                categories=categories), path)
        paths[split] = str(path)
    return paths
