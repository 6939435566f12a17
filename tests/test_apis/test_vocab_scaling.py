"""Large vocabularies: the head's NMS equals mmdet's, and the latency benchmark's output."""
import json

import pytest
import torch
from mmdet.models.layers import multiclass_nms
from mmdet.models.roi_heads.bbox_heads import BBoxHead
from mmengine.config import ConfigDict

from ovdkit.models.bbox_nms import shared_box_multiclass_nms
from ovdkit.testing import run_tool
from ovdkit.testing.detectors import VILD_TEXT_CONFIG, build_checkpoint

NMS = dict(type='nms', iou_threshold=0.5)


def random_case(seed, num_boxes, num_classes, sharpness):
    """Boxes and ``(N, C + 1)`` class probabilities without ties (no saturated softmax: with
    equal scores, which box suppresses which is arbitrary in mmdet too)."""
    gen = torch.Generator().manual_seed(seed)
    xy = torch.rand(num_boxes, 2, generator=gen) * 100
    boxes = torch.cat([xy, xy + 1 + torch.rand(num_boxes, 2, generator=gen) * 40], dim=1)
    weights = 1e-3 + torch.rand(num_boxes, num_classes + 1, generator=gen) ** sharpness
    return boxes, weights / weights.sum(dim=1, keepdim=True)


def assert_same_detections(dets, labels, ref_dets, ref_labels):
    """Same detections with the same scores in the same (descending) order."""
    torch.testing.assert_close(dets[:, 4], ref_dets[:, 4])
    assert sorted(zip(dets.tolist(), labels.tolist())) == \
        sorted(zip(ref_dets.tolist(), ref_labels.tolist()))


@pytest.mark.parametrize('num_classes', [1, 65, 1203])
@pytest.mark.parametrize('score_thr,max_num', [(0.05, 100), (0.01, 50), (1e-4, 300), (0.0, 7)])
def test_shared_box_nms_equals_mmdet(num_classes, score_thr, max_num):
    for seed, (num_boxes, sharpness) in enumerate([(100, 4.0), (300, 16.0), (17, 1.0)]):
        boxes, scores = random_case(seed, num_boxes, num_classes, sharpness)
        dets, labels = shared_box_multiclass_nms(boxes, scores, score_thr, NMS, max_num)
        ref_dets, ref_labels = multiclass_nms(boxes, scores, score_thr, NMS, max_num)
        assert len(dets) == len(ref_dets) <= max_num
        assert_same_detections(dets, labels, ref_dets, ref_labels)


def test_shared_box_nms_without_max_num_keeps_the_same_set():
    # past mmcv's split_thr (10000 pairs) mmdet loops over the classes: same detections
    boxes, scores = random_case(0, 200, 800, 4.0)
    dets, labels = shared_box_multiclass_nms(boxes, scores, 0.0, NMS, -1)
    ref_dets, ref_labels = multiclass_nms(boxes, scores, 0.0, NMS, -1)
    assert len(dets) == len(ref_dets) > 10000
    assert_same_detections(dets, labels, ref_dets, ref_labels)


def test_nothing_above_the_threshold():
    boxes, scores = random_case(0, 10, 5, 0.1)
    dets, labels = shared_box_multiclass_nms(boxes, scores, 0.99, NMS, 100)
    assert dets.shape == (0, 5) and labels.shape == (0,)


def test_head_predictions_equal_mmdet_post_processing(tmp_path):
    from ovdkit.apis import OVDInferencer
    config, checkpoint = build_checkpoint(VILD_TEXT_CONFIG, tmp_path)
    head = OVDInferencer(config, checkpoint, vocabulary='lvis').model.roi_head.bbox_head
    rois = torch.cat([torch.zeros(100, 1), random_case(1, 100, 1, 1.0)[0]], dim=1)
    cls_score, bbox_pred = head(torch.randn(100, 64, 7, 7, generator=torch.Generator()
                                            .manual_seed(0)))
    meta = dict(img_shape=(128, 128), scale_factor=(2.0, 2.0))
    cfg = ConfigDict(score_thr=1e-4, nms=NMS, max_per_img=300)
    ours = head._predict_by_feat_single(rois, cls_score, bbox_pred, meta, True, cfg)
    ref = BBoxHead._predict_by_feat_single(head, rois, cls_score, bbox_pred, meta, True, cfg)
    assert len(ours) == len(ref) == 300
    assert_same_detections(torch.cat([ours.bboxes, ours.scores[:, None]], 1), ours.labels,
                           torch.cat([ref.bboxes, ref.scores[:, None]], 1), ref.labels)


def test_benchmark_prints_the_ratio_last():
    proc = run_tool(['tools/benchmark/vocab_scaling.py', '--num-images', '2', '--rounds', '1',
                     '--compare-mmdet-nms'])
    lines = proc.stdout.strip().splitlines()
    result = json.loads(lines[-1])
    assert set(result) == {'latency_1203_over_65', 'ms_65', 'ms_1203'}
    assert result['ms_65'] > 0 and result['ms_1203'] > 0
    assert result['latency_1203_over_65'] == pytest.approx(
        result['ms_1203'] / result['ms_65'], rel=0.01)
    assert 'mmdet_nms_latency_1203_over_65' in json.loads(lines[-2])
