"""OVCocoAllMetric on synthetic predictions whose AP50 per class is known by construction.

Every detection is either an exact copy of a ground-truth box of its class (a true positive)
or a box where its class has no ground truth (a false positive), so matching is trivial and
each class's AP50 follows from the ranked TP / FP sequence alone: COCO's 101-point
interpolated precision, computed here in numpy.
"""
import json

import numpy as np
import pytest
import torch

from ovdkit.evaluation import OVCocoAllMetric

CLASSES = ('cat', 'dog', 'cow', 'bus')
NOVEL, BASE = ('cat',), ('dog', 'cow', 'bus')
# class -> (number of ground-truth boxes, ranked detections: T = true, F = false positive)
RANKINGS = {'cat': (4, 'FTTFT'), 'dog': (4, 'TTFTT'), 'cow': (5, 'TFTTFT'),
            'bus': (4, 'TTFFT')}
NUM_IMAGES, SIZE = 6, 200


def coco_ap(num_gt, ranking):
    """COCO's AP: precision made monotone, read at recalls 0, 0.01, ..., 1 (101 points)."""
    tp = np.cumsum([c == 'T' for c in ranking])
    fp = np.cumsum([c == 'F' for c in ranking])
    recall, precision = tp / num_gt, tp / (tp + fp)
    precision = np.maximum.accumulate(precision[::-1])[::-1]
    points = []
    for r in np.linspace(0, 1, 101):
        idx = np.searchsorted(recall, r, side='left')
        points.append(precision[idx] if idx < len(recall) else 0.0)
    return float(np.mean(points))


def _gt_box(c, k):
    """The k-th ground-truth box of class c: its own cell of a grid, never at (150, 150)."""
    return [10 + 30 * c, 10 + 30 * (k // NUM_IMAGES), 30 + 30 * c, 30 + 30 * (k // NUM_IMAGES)]


@pytest.fixture()
def synthetic(tmp_path):
    images = [dict(id=i + 1, file_name=f'{i}.png', width=SIZE, height=SIZE)
              for i in range(NUM_IMAGES)]
    annotations, predictions = [], {i + 1: [] for i in range(NUM_IMAGES)}
    for c, name in enumerate(CLASSES):
        num_gt, ranking = RANKINGS[name]
        for k in range(num_gt):
            x1, y1, x2, y2 = _gt_box(c, k)
            annotations.append(dict(id=len(annotations) + 1, image_id=k % NUM_IMAGES + 1,
                                    category_id=c + 1, bbox=[x1, y1, x2 - x1, y2 - y1],
                                    area=(x2 - x1) * (y2 - y1), iscrowd=0))
        matched = 0
        for rank, kind in enumerate(ranking):
            score = 0.95 - 0.1 * rank
            if kind == 'T':  # the next ground-truth box, exactly
                image, box = matched % NUM_IMAGES + 1, _gt_box(c, matched)
                matched += 1
            else:  # far from any box of this class
                image, box = rank % NUM_IMAGES + 1, [150, 150, 190, 190]
            predictions[image].append((box, score, c))
    ann_file = tmp_path / 'gt.json'
    ann_file.write_text(json.dumps(dict(
        images=images, annotations=annotations,
        categories=[dict(id=c + 1, name=n) for c, n in enumerate(CLASSES)])))
    return str(ann_file), predictions


def test_novel_base_and_all_ap50(synthetic):
    ann_file, predictions = synthetic
    ap = {name: coco_ap(*RANKINGS[name]) for name in CLASSES}
    novel = np.mean([ap[n] for n in NOVEL])
    base = np.mean([ap[n] for n in BASE])
    every = np.mean(list(ap.values()))
    # distinct figures: any mix-up of groups, or "all" as the mean of the two groups, shows
    assert 0.3 <= novel <= 0.9 and 0.3 <= base <= 0.9
    assert min(abs(novel - base), abs(every - (novel + base) / 2), abs(every - novel),
               abs(every - base)) > 0.03

    metric = OVCocoAllMetric(ann_file=ann_file)
    metric.dataset_meta = dict(classes=CLASSES, base_classes=BASE, novel_classes=NOVEL)
    for image, dets in predictions.items():
        boxes = torch.tensor([d[0] for d in dets], dtype=torch.float32).reshape(-1, 4)
        metric.process({}, [dict(img_id=image, ori_shape=(SIZE, SIZE), pred_instances=dict(
            bboxes=boxes, scores=torch.tensor([d[1] for d in dets]),
            labels=torch.tensor([d[2] for d in dets], dtype=torch.long)))])
    results = metric.evaluate(size=len(predictions))
    assert results['coco/novel_ap50'] == pytest.approx(novel, abs=1e-6)
    assert results['coco/base_ap50'] == pytest.approx(base, abs=1e-6)
    assert results['coco/all_ap50'] == pytest.approx(every, abs=5e-4)  # rounded to 3 places
