"""Drawings of detections: a fixed colour per name, mmdet's visualizer, atomic image files."""
import hashlib
from pathlib import Path
from typing import List, Sequence, Tuple, Union

import cv2
import mmcv
import numpy as np
from mmdet.structures import DetDataSample

from ..utils.atomic_io import atomic_write


def name_palette(names: Sequence[str]) -> List[Tuple[int, int, int]]:
    """One bright RGB colour per name, fixed by the name (the same in every vocabulary)."""
    palette = []
    for name in names:
        digest = hashlib.md5(name.encode('utf-8')).digest()
        palette.append(tuple(64 + int(b) * 191 // 255 for b in digest[:3]))
    return palette


def draw_prediction(visualizer, image: np.ndarray, pred: DetDataSample, name: str,
                    zoom: int = 1, pred_score_thr: float = 0.3, **kwargs) -> np.ndarray:
    """Draws a prediction's boxes, names and scores with mmdet's visualizer.

    Args:
        visualizer: A ``DetLocalVisualizer`` whose ``dataset_meta`` holds the vocabulary.
        image: ``(H, W, 3)`` RGB image.
        pred: Prediction (``pred_instances`` with bboxes, scores, labels).
        name: Image name (for the visualizer's backends).
        zoom: Integer nearest-neighbour enlargement before drawing.
        pred_score_thr: Lowest score drawn.
        **kwargs: ``show``, ``wait_time``, ``draw_pred`` of ``add_datasample``.

    Returns:
        ``(H * zoom, W * zoom, 3)`` RGB drawing.
    """
    # clone() is shallow: new instances, so the caller's prediction keeps its boxes. Drawn in
    # ascending score order: where one box carries several names (NMS is per class), the best
    # one is drawn last, on top.
    pred = pred.clone()
    instances = pred.pred_instances
    instances = instances[instances.scores.argsort()]
    if zoom != 1:
        image = mmcv.imrescale(image, zoom, interpolation='nearest')
        instances.bboxes = instances.bboxes * zoom
    pred.pred_instances = instances
    visualizer.add_datasample(name, image, pred, draw_gt=False, pred_score_thr=pred_score_thr,
                              **kwargs)
    return visualizer.get_image()


def save_drawing(drawn: np.ndarray, path: Union[str, Path]) -> None:
    """Writes an RGB drawing atomically, in the format of ``path``'s suffix (PNG if none)."""
    path = Path(path)
    # Encoded in memory: the temporary name's suffix would not tell cv2 the format.
    suffix = path.suffix.lower() or '.png'
    # cv2's default PNG level (1) makes files about twice as large as level 9
    params = [cv2.IMWRITE_PNG_COMPRESSION, 9] if suffix == '.png' else []
    ok, encoded = cv2.imencode(suffix, drawn[..., ::-1], params)
    if not ok:
        raise ValueError(f'cannot encode a drawing as {path.suffix!r} ({path})')
    atomic_write(path, lambda tmp: tmp.write_bytes(encoded.tobytes()))
