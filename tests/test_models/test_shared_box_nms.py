"""The shared-box NMS when most of its first top-k pairs are suppressed (its growth path).

The expected detections come from a plain per-class greedy NMS over every (box, class) pair,
written here from the definition.
"""
import torch

from ovdkit.models.bbox_nms import shared_box_multiclass_nms

NMS = dict(type='nms', iou_threshold=0.5)


def _iou(a, b):
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    area = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1])
    return inter / (area - inter)


def _reference(boxes, scores, score_thr, iou_thr, max_num):
    """Greedy NMS per class over all pairs above the threshold, best ``max_num`` overall."""
    kept = []
    for c in range(scores.shape[1] - 1):
        pairs = sorted(((float(scores[i, c]), i) for i in range(len(boxes))
                        if scores[i, c] > score_thr), reverse=True)
        survivors = []
        for score, i in pairs:
            if all(_iou(boxes[i].tolist(), boxes[j].tolist()) <= iou_thr
                   for _, j in survivors):
                survivors.append((score, i))
        kept += [(score, i, c) for score, i in survivors]
    return sorted(kept, reverse=True)[:max_num]


def test_growth_past_a_suppressed_top_k():
    gen = torch.Generator().manual_seed(0)
    # 40 jittered copies of one box, all scoring high in class 0 (one survives NMS), then
    # 12 boxes far apart with lower scores in classes 1 and 2: with max_num = 6 the first
    # 4 x 6 = 24 pairs are all copies, so only growing the candidate set finds the rest.
    copies = torch.tensor([10.0, 10.0, 50.0, 50.0]) + torch.rand(40, 4, generator=gen)
    grid = torch.arange(12, dtype=torch.float32)
    apart = torch.stack([grid * 60, torch.full((12,), 100.0), grid * 60 + 30,
                         torch.full((12,), 130.0)], dim=1)
    boxes = torch.cat([copies, apart])
    scores = torch.full((52, 4), 1e-3)
    scores[:40, 0] = 0.9 - torch.arange(40) * 1e-3
    scores[40 + torch.arange(12), 1 + torch.arange(12) % 2] = 0.5 - grid * 0.01
    scores[:, 3] = 1 - scores[:, :3].sum(1)  # background
    dets, labels = shared_box_multiclass_nms(boxes, scores, 0.05, NMS, max_num=6)
    expected = _reference(boxes, scores, 0.05, 0.5, 6)
    assert len(expected) == 6
    assert len(dets) == 6
    torch.testing.assert_close(dets[:, 4], torch.tensor([s for s, _, _ in expected]))
    assert labels.tolist() == [c for _, _, c in expected]
    torch.testing.assert_close(dets[:, :4], boxes[[i for _, i, _ in expected]])
    # Without max_num every surviving pair is returned, with the same rule.
    dets, labels = shared_box_multiclass_nms(boxes, scores, 0.05, NMS, max_num=-1)
    expected = _reference(boxes, scores, 0.05, 0.5, 1000)
    assert sorted(zip(dets[:, 4].tolist(), labels.tolist())) == \
        sorted((_as_float32(s), c) for s, _, c in expected)


def _as_float32(value):
    """float32 scores as the NMS returns them."""
    return torch.tensor(value, dtype=torch.float32).item()


def test_edges_threshold_one_pair_and_max_num():
    """A pair exactly at the threshold is dropped (mmdet keeps ``> score_thr``); a single
    candidate pair keeps its box; ``max_num`` of 0 or the default keeps every survivor, 1 the
    best one."""
    boxes = torch.tensor([[0.0, 0, 10, 10], [50, 50, 60, 60], [100, 0, 120, 20]])
    # two classes and background (last column, never detected)
    scores = torch.tensor([[0.5, 0.25, 0.25], [0.25, 0.375, 0.375], [0.125, 0.125, 0.75]])
    dets, labels = shared_box_multiclass_nms(boxes, scores, 0.25, NMS, max_num=6)
    assert labels.tolist() == [0, 1] and dets[:, 4].tolist() == [0.5, 0.375]
    torch.testing.assert_close(dets[:, :4], boxes[:2])
    dets, labels = shared_box_multiclass_nms(boxes, scores, 0.45, NMS, max_num=6)
    assert labels.tolist() == [0] and dets.tolist() == [[0.0, 0, 10, 10, 0.5]]
    for kwargs in (dict(max_num=0), dict()):
        dets, labels = shared_box_multiclass_nms(boxes, scores, 0.1, NMS, **kwargs)
        assert sorted(dets[:, 4].tolist()) == [0.125, 0.125, 0.25, 0.25, 0.375, 0.5]
    dets, labels = shared_box_multiclass_nms(boxes, scores, 0.1, NMS, max_num=1)
    assert dets.tolist() == [[0.0, 0, 10, 10, 0.5]] and labels.tolist() == [0]


def test_block_maxima_with_a_narrower_last_block():
    from ovdkit.models.bbox_nms import BLOCK_WIDTH, _block_maxima
    gen = torch.Generator().manual_seed(1)
    scores = torch.rand(3, 2 * BLOCK_WIDTH + 5, generator=gen)
    maxima = _block_maxima(scores[:, :-1])  # a column slice, as the NMS passes it
    expected = torch.stack([scores[:, :BLOCK_WIDTH].amax(1),
                            scores[:, BLOCK_WIDTH:2 * BLOCK_WIDTH].amax(1),
                            scores[:, 2 * BLOCK_WIDTH:-1].amax(1)], dim=1)
    assert torch.equal(maxima, expected)


def test_equal_scores_come_in_row_major_order_whatever_was_gathered(monkeypatch):
    """Equal scores (region, class) are ordered region first, then class, so the pairs
    max_num keeps among equal scores are the same with the bound (few blocks read) and without
    it (every pair above the threshold)."""
    import ovdkit.models.bbox_nms as nms_module
    num_boxes, num_classes = 40, 300
    grid = torch.arange(num_boxes, dtype=torch.float32)
    boxes = torch.stack([grid * 50, grid * 0, grid * 50 + 20, grid * 0 + 20], dim=1)  # apart
    scores = torch.full((num_boxes, num_classes + 1), 1e-3)
    scores[::3, 7] = 0.25  # 14 equal scores in class 7 ...
    scores[1::3, 290] = 0.25  # ... 13 in class 290 (the last, narrower block) ...
    scores[0, 200] = 0.25  # ... and one more in region 0
    scores[5, 100] = 0.5
    dets, labels = shared_box_multiclass_nms(boxes, scores, 0.01, NMS, max_num=6)
    pairs = [(5, 100)] + sorted([(i, 7) for i in range(0, num_boxes, 3)]
                                + [(i, 290) for i in range(1, num_boxes, 3)] + [(0, 200)])[:5]
    assert labels.tolist() == [c for _, c in pairs] == [100, 7, 200, 290, 7, 290]
    torch.testing.assert_close(dets[:, :4], boxes[[i for i, _ in pairs]])
    monkeypatch.setattr(nms_module, '_kth_best_lower_bound', lambda *args: None)
    ref_dets, ref_labels = shared_box_multiclass_nms(boxes, scores, 0.01, NMS, max_num=6)
    assert torch.equal(dets, ref_dets) and torch.equal(labels, ref_labels)


def test_block_path_edges_last_class_threshold_and_no_class():
    """On the path that reads only some blocks (40 regions x 70 classes: a last block of 6):
    the last class is detected and nothing past it, a pair exactly at ``score_thr`` is
    dropped also when the k-th best block maximum equals ``score_thr``, and scores without a
    class column give nothing."""
    from ovdkit.models.bbox_nms import BLOCK_WIDTH, _block_maxima
    grid = torch.arange(40, dtype=torch.float32)
    boxes = torch.stack([grid * 50, grid * 0, grid * 50 + 20, grid * 0 + 20], dim=1)  # apart
    scores = torch.full((40, 71), 1e-3)
    scores[0, 69], scores[1, 0], scores[3, 10], scores[2, 5] = 0.4, 0.4, 0.3, 0.25
    scores[0, 65] = 0.25  # in a block that is read (its maximum: 0.4 at class 69)
    dets, labels = shared_box_multiclass_nms(boxes, scores, 0.25, NMS, max_num=4)
    assert labels.tolist() == [69, 0, 10]  # not (2, 5), (0, 65): at the threshold, not above
    assert dets[:, 4].tolist() == [_as_float32(0.4)] * 2 + [_as_float32(0.3)]
    # k = 4 x 4 = 16: the 16th best block maximum is 0.25, the threshold itself
    scores[4:20, 30] = 0.25
    dets, labels = shared_box_multiclass_nms(boxes, scores, 0.25, NMS, max_num=4)
    assert labels.tolist() == [69, 0, 10]
    dets, labels = shared_box_multiclass_nms(boxes, scores[:, :1], 0.0, NMS, max_num=2)
    assert dets.shape == (0, 5) and labels.shape == (0,)
    # a class count that fills its last block
    full = torch.rand(2, 2 * BLOCK_WIDTH)
    assert torch.equal(_block_maxima(full), full.unflatten(1, (2, BLOCK_WIDTH)).amax(2))
