"""OVLVISMetric: mmdet's LVISMetric on numpy 2, APr / APc / APf checked against hand-computed AP.

The case (two 100 x 100 images, one rare, one common and one frequent category):

- rare: one box, found exactly (score 0.9) -> AP 1 at every IoU threshold.
- common: two boxes; detections by score: hit (0.9), a false positive (0.8), hit (0.7).
  Precision at recall 0.5 is 1, at recall 1.0 it is 2/3; LVIS interpolates over 101 recall
  points, 51 of them <= 0.5: AP = (51 * 1 + 50 * 2/3) / 101 at every IoU threshold.
- frequent: one 40 x 40 box; the detection is shifted by 9 px: IoU = 31 / 49 = 0.633, a hit
  at the thresholds 0.50, 0.55, 0.60 only (3 of 10): AP = 0.3.
"""
import numpy as np
import pycocotools.mask as mask_utils
import pytest
import torch

from ovdkit.evaluation import OVLVISMetric, lvis_numpy_compat
from ovdkit.utils.atomic_io import write_json_atomic

SIZE = 100
CATS = [dict(id=1, name='applesauce', frequency='r', synset='applesauce.n.01'),
        dict(id=2, name='aerosol_can', frequency='c', synset='aerosol.n.02'),
        dict(id=3, name='apple', frequency='f', synset='apple.n.01')]
# (image id, category id, x, y, w, h)
GT = [(1, 1, 10, 10, 30, 30), (1, 2, 50, 50, 20, 20), (2, 2, 10, 10, 20, 20),
      (2, 3, 40, 40, 40, 40)]
# (image id, category id, x, y, w, h, score)
DETS = [(1, 1, 10, 10, 30, 30, 0.9), (1, 2, 50, 50, 20, 20, 0.9),
        (2, 2, 60, 60, 10, 10, 0.8), (2, 2, 10, 10, 20, 20, 0.7),
        (2, 3, 49, 40, 40, 40, 0.9)]
AP_R = 1.0
AP_C = (51 + 50 * 2 / 3) / 101
AP_F = 0.3


def polygon(x, y, w, h):
    return [[x, y, x + w, y, x + w, y + h, x, y + h]]


def rasterize(x, y, w, h):
    rles = mask_utils.frPyObjects(polygon(x, y, w, h), SIZE, SIZE)
    return mask_utils.decode(mask_utils.merge(rles)).astype(bool)


@pytest.fixture
def lvis_file(tmp_path):
    images = [dict(id=i, width=SIZE, height=SIZE, coco_url=f'http://x/val2017/{i:012d}.jpg',
                   neg_category_ids=[], not_exhaustive_category_ids=[]) for i in (1, 2)]
    anns = [dict(id=k + 1, image_id=img, category_id=cat, bbox=[x, y, w, h], area=w * h,
                 segmentation=polygon(x, y, w, h)) for k, (img, cat, x, y, w, h) in
            enumerate(GT)]
    path = tmp_path / 'lvis_v1_val.json'
    write_json_atomic(dict(images=images, annotations=anns, categories=CATS), path)
    return str(path)


def data_samples(shift_masks=True):
    """The detections as mmdet data samples; labels index the sorted category ids."""
    samples = []
    for img in (1, 2):
        dets = [d for d in DETS if d[0] == img]
        boxes = torch.tensor([[x, y, x + w, y + h] for _, _, x, y, w, h, _ in dets],
                             dtype=torch.float32)
        masks = torch.from_numpy(np.stack([rasterize(x, y, w, h) for _, _, x, y, w, h, _ in
                                           dets]))
        samples.append(dict(img_id=img, ori_shape=(SIZE, SIZE), pred_instances=dict(
            bboxes=boxes, scores=torch.tensor([d[-1] for d in dets]),
            labels=torch.tensor([d[1] - 1 for d in dets]), masks=masks)))
    return samples


def evaluate(metric_cls, ann_file, metric):
    metric_obj = metric_cls(ann_file=ann_file, metric=metric)
    metric_obj.dataset_meta = dict(classes=tuple(c['name'] for c in CATS))
    metric_obj.process({}, data_samples())
    return metric_obj.evaluate(2)


def test_mmdets_lvis_metric_fails_on_this_numpy(lvis_file):
    """Why OVLVISMetric exists: the pinned lvis calls np.float, gone since numpy 1.24."""
    from mmdet.evaluation import LVISMetric
    assert not hasattr(np, 'float')
    with pytest.raises(AttributeError, match="numpy.*float"):
        evaluate(LVISMetric, lvis_file, 'bbox')


def test_bbox_apr_apc_apf_match_hand_computed_values(lvis_file):
    results = evaluate(OVLVISMetric, lvis_file, 'bbox')
    assert results['lvis/bbox_APr'] == pytest.approx(AP_R, abs=5e-4)
    assert results['lvis/bbox_APc'] == pytest.approx(AP_C, abs=5e-4)   # 0.835
    assert results['lvis/bbox_APf'] == pytest.approx(AP_F, abs=5e-4)
    assert results['lvis/bbox_AP'] == pytest.approx((AP_R + AP_C + AP_F) / 3, abs=5e-4)
    # at IoU 0.5 the frequent detection is a hit
    assert results['lvis/bbox_AP50'] == pytest.approx((AP_R + AP_C + 1) / 3, abs=5e-4)
    # numpy itself was never patched, and lvis.eval has its own numpy back
    import lvis.eval
    assert not hasattr(np, 'float') and lvis.eval.np is np


def test_segm_ap_matches_mask_iou_computed_with_numpy(lvis_file):
    gt = rasterize(40, 40, 40, 40)
    det = rasterize(49, 40, 40, 40)
    iou = (gt & det).sum() / (gt | det).sum()
    thresholds = np.linspace(0.5, 0.95, 10)
    expected_f = float((thresholds <= iou + 1e-9).mean())
    assert 0.2 <= expected_f <= 0.4  # the pixel IoU is close to the box IoU 0.633
    results = evaluate(OVLVISMetric, lvis_file, ['bbox', 'segm'])
    assert results['lvis/segm_APr'] == pytest.approx(AP_R, abs=5e-4)
    assert results['lvis/segm_APc'] == pytest.approx(AP_C, abs=5e-4)
    assert results['lvis/segm_APf'] == pytest.approx(expected_f, abs=5e-4)
    assert results['lvis/bbox_APf'] == pytest.approx(AP_F, abs=5e-4)


def test_compat_restores_lvis_numpy_after_an_error():
    import lvis.eval
    with pytest.raises(RuntimeError):
        with lvis_numpy_compat():
            assert lvis.eval.np.float is float and lvis.eval.np.cumsum is np.cumsum
            raise RuntimeError('boom')
    assert lvis.eval.np is np
