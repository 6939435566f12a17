"""NMS for boxes shared by every class (class-agnostic regression), as a layer beside mmdet's
``multiclass_nms`` (``mmdet/models/layers/bbox_nms.py``): only the top-scored (box, class)
pairs enter NMS, so its cost hardly grows with the vocabulary.
"""
from typing import Mapping, Tuple

import torch
from mmcv.ops import batched_nms
from torch import Tensor


def _kth_best_lower_bound(class_scores: Tensor, k: int):
    """A score that at least ``k`` pairs of ``class_scores`` ``(N, C)`` reach, or None.

    The k-th best of the maxima of column blocks (8 a row, over the first ``8 * (C // 8)``
    columns): each maximum is a real pair, so at least ``k`` pairs score that much. One pass
    over the scores, and much higher than a low ``score_thr``.
    """
    num, num_classes = class_scores.shape
    blocks = 8 if num_classes >= 8 else 1
    width = num_classes // blocks
    maxima = class_scores[:, :blocks * width].reshape(num, blocks, width).amax(dim=2)
    if maxima.numel() < k:
        return None
    return maxima.reshape(-1).topk(k).values[-1]


def shared_box_multiclass_nms(bboxes: Tensor, scores: Tensor, score_thr: float, nms_cfg: Mapping,
                              max_num: int = -1) -> Tuple[Tensor, Tensor]:
    """mmdet's ``multiclass_nms`` for boxes shared by all classes, without the ``N x C`` cost.

    mmdet repeats each class-agnostic box once per class and runs NMS over every (box, class)
    pair above ``score_thr``: with 1203 LVIS names that is up to ``N x 1203`` boxes, past
    mmcv's ``split_thr`` (10000) a Python loop over classes. Here only the top-``k`` pairs by
    score enter NMS (``k = 4 * max_num``, grown until ``max_num`` survive or every pair is in).
    The result is the same: per-class NMS keeps or drops a pair looking only at higher-scored
    pairs of its class, which are all among the top ``k``; so the survivors among the top ``k``
    are exactly the full run's survivors above the ``k``-th score, and once ``max_num`` of them
    survive they are the full run's best ``max_num`` (up to the order of equal scores).

    Args:
        bboxes: ``(N, 4)`` boxes, one per region, shared by all classes.
        scores: ``(N, C + 1)`` class probabilities; the last column (background) is ignored.
        score_thr: Pairs scoring ``<= score_thr`` are dropped, as in mmdet.
        nms_cfg: mmcv ``batched_nms`` config (``dict(type='nms', iou_threshold=0.5)``).
        max_num: Detections kept; ``<= 0`` keeps all.

    Returns:
        ``(K, 5)`` detections (x1, y1, x2, y2, score) sorted by score, and ``(K,)`` labels.
    """
    num_classes = scores.size(1) - 1
    class_scores = scores[:, :-1]  # a view: no (N, C) copy
    k = 4 * max_num
    while True:
        # Only pairs scoring at least the k-th best of some k real pairs can be among the top
        # k: with a low threshold and many classes this leaves thousands of pairs, not millions.
        bound = _kth_best_lower_bound(class_scores, k) if max_num > 0 else None
        complete = bound is None or bound <= score_thr  # every pair above score_thr is in
        mask = class_scores > score_thr if complete else class_scores >= bound
        rows, cols = mask.nonzero(as_tuple=True)  # row-major, as flattened
        candidate_scores = class_scores[rows, cols]
        total = candidate_scores.numel()
        top, order = candidate_scores.topk(total if max_num <= 0 else min(k, total))
        pairs = (rows * num_classes + cols)[order]
        labels = pairs % num_classes
        if top.numel() == 0:
            return torch.cat([bboxes.new_zeros(0, 4), top[:, None]], -1), labels
        dets, keep = batched_nms(bboxes[pairs // num_classes], top, labels, dict(nms_cfg))
        if (complete and top.numel() == total) or len(keep) >= max_num:
            break
        k = 4 * k
    if max_num > 0:
        dets, keep = dets[:max_num], keep[:max_num]
    return dets, labels[keep]
