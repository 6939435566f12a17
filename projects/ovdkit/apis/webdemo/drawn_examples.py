"""Boxes drawn on the web demo's image, as classes given by example boxes ("more like this")."""
from typing import List

import numpy as np

from ...datasets.exemplar_classes import Exemplar, VisualClass

#: Most classes drawn in one request, and boxes per class.
MAX_DRAWN_CLASSES = 8
MAX_DRAWN_BOXES = 16


def drawn_classes(value, image: np.ndarray, scale: float) -> List[VisualClass]:
    """The classes of a request's ``exemplars``, each given by boxes drawn on its image.

    Args:
        value: ``[{"name": str, "boxes": [[x1, y1, x2, y2], ...], "use_name": bool}, ...]``,
            boxes in the uploaded image's pixels.
        image: The decoded ``(H, W, 3)`` BGR image the detector sees.
        scale: The factor the upload was scaled by to give ``image``.

    Returns:
        One :class:`VisualClass` per item (its boxes checked when it is embedded).

    Raises:
        ValueError: not that form, a blank name, no box, a box that is not four numbers,
            or more classes or boxes than the page allows.
    """
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise ValueError('example boxes: expected a list of {"name", "boxes"} objects')
    if len(value) > MAX_DRAWN_CLASSES:
        raise ValueError(f'example boxes: {len(value)} classes, more than the limit of '
                             f'{MAX_DRAWN_CLASSES}')
    classes = []
    for item in value:
        name = item.get('name')
        if not isinstance(name, str) or not name.strip():
            raise ValueError('example boxes: give the class of the boxes you drew a name '
                                 '(it labels what they find)')
        boxes = item.get('boxes')
        if not isinstance(boxes, list) or not boxes:
            raise ValueError(f'example boxes: class {name.strip()!r} has no box; draw one '
                                 f'on the image')
        if len(boxes) > MAX_DRAWN_BOXES:
            raise ValueError(f'example boxes: class {name.strip()!r} has {len(boxes)} '
                                 f'boxes, more than the limit of {MAX_DRAWN_BOXES}')
        if not all(isinstance(b, list) and len(b) == 4 and all(
                isinstance(v, (int, float)) and not isinstance(v, bool) for v in b)
                for b in boxes):
            raise ValueError(f'example boxes: class {name.strip()!r}: each box must be '
                                 f'four numbers [x1, y1, x2, y2]')
        try:
            classes.append(VisualClass(name.strip(), [Exemplar(
                image, [[v * scale for v in b] for b in boxes])], bool(item.get('use_name'))))
        except ValueError as exc:
            raise ValueError(f'example boxes: {exc}') from None
    return classes
