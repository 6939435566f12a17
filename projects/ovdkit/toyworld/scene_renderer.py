"""Draws one toy-world scene: cluttered background plus 1..max_objects coloured shapes."""
from typing import Dict, List, Sequence, Tuple

import numpy as np
from PIL import Image, ImageDraw

from .shapes import COLORS, shape_polygon

Box = Tuple[float, float, float, float]


def _iou(a: Box, b: Box) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _background(rng: np.random.Generator, size: int) -> Image.Image:
    """Noise, a colour gradient, thin lines and dots in muted colours: not a flat canvas."""
    base = rng.integers(70, 170, 3)
    ramp = np.linspace(-25, 25, size)[None, :, None] * rng.choice([-1, 1], 3)
    img = base[None, None, :] + ramp + rng.normal(0, 12, (size, size, 3))
    canvas = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(canvas)
    for _ in range(int(rng.integers(3, 9))):
        grey = int(rng.integers(40, 220))
        tint = rng.integers(-30, 31, 3)
        color = tuple(int(v) for v in np.clip(grey + tint, 0, 255))
        pts = rng.uniform(0, size, 4)
        draw.line(pts.tolist(), fill=color, width=int(rng.integers(1, 3)))
    for _ in range(int(rng.integers(10, 40))):
        grey = int(rng.integers(30, 230))
        x, y = rng.uniform(0, size, 2)
        r = rng.uniform(0.5, 2.0)
        draw.ellipse((x - r, y - r, x + r, y + r), fill=(grey, grey, grey))
    return canvas


def render_scene(rng: np.random.Generator, categories: Sequence[Dict], image_size: int,
                 max_objects: int, min_size: int, max_size: int,
                 min_objects: int = 1) -> Tuple[Image.Image, List[Dict]]:
    """Renders a scene and returns it with its objects.

    Objects are placed fully inside the image, rotated at random, with slight colour jitter;
    a new object may overlap earlier ones by at most 0.2 IoU (boxes), so every object stays
    visible. Boxes are the exact bounds of the drawn polygon.

    Args:
        rng: Random generator (its state decides everything drawn).
        categories: Category dicts with ``id``, ``shape``, ``color``.
        image_size: Side of the square image in pixels.
        max_objects: At most this many objects.
        min_size: Smallest object diameter in pixels.
        max_size: Largest object diameter in pixels.
        min_objects: At least this many objects are attempted.

    Returns:
        The RGB image and a list of ``dict(category_id, bbox=[x, y, w, h])``.
    """
    canvas = _background(rng, image_size)
    draw = ImageDraw.Draw(canvas)
    objects: List[Dict] = []
    boxes: List[Box] = []
    for _ in range(int(rng.integers(min_objects, max_objects + 1))):
        cat = categories[int(rng.integers(len(categories)))]
        for _attempt in range(20):
            radius = rng.uniform(min_size, max_size) / 2
            angle = rng.uniform(0, 2 * np.pi)
            rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
            poly = shape_polygon(cat['shape']) @ rot.T * radius
            lo, hi = poly.min(0), poly.max(0)
            cx = rng.uniform(-lo[0], image_size - hi[0])
            cy = rng.uniform(-lo[1], image_size - hi[1])
            pts = poly + (cx, cy)
            box = (float(pts[:, 0].min()), float(pts[:, 1].min()),
                   float(pts[:, 0].max()), float(pts[:, 1].max()))
            if all(_iou(box, other) <= 0.2 for other in boxes):
                break
        else:
            continue  # no free spot for this object
        jitter = rng.integers(-18, 19, 3)
        fill = tuple(int(v) for v in np.clip(np.array(COLORS[cat['color']]) + jitter, 0, 255))
        draw.polygon([tuple(p) for p in pts.tolist()], fill=fill)
        boxes.append(box)
        objects.append(dict(category_id=cat['id'],
                            bbox=[box[0], box[1], box[2] - box[0], box[3] - box[1]]))
    return canvas, objects
