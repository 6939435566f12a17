"""NMS for boxes shared by every class (class-agnostic regression), as a layer beside mmdet's
``multiclass_nms`` (``mmdet/models/layers/bbox_nms.py``): only the top-scored (box, class)
pairs enter NMS, so its cost hardly grows with the vocabulary.
"""
from typing import Mapping, Tuple

import torch
from mmcv.ops import batched_nms
from torch import Tensor

#: Columns per block of :func:`_block_maxima`: 20,000 classes x 100 regions give 31,300 maxima,
#: few enough to rank, while one pass over the scores computes them.
BLOCK_WIDTH = 64


def _block_maxima(class_scores: Tensor) -> Tensor:
    """``(N, B)`` maxima of ``class_scores`` ``(N, C)`` over blocks of ``BLOCK_WIDTH`` columns
    (the last block may be narrower); ``B = ceil(C / BLOCK_WIDTH)``. One pass, no copy of the
    scores (``class_scores`` may be a column slice of a wider matrix)."""
    num, num_classes = class_scores.shape
    full = num_classes // BLOCK_WIDTH
    parts = [class_scores[:, :full * BLOCK_WIDTH].unflatten(1, (full, BLOCK_WIDTH)).amax(2)]
    if full * BLOCK_WIDTH < num_classes:
        parts.append(class_scores[:, full * BLOCK_WIDTH:].amax(1, keepdim=True))
    return torch.cat(parts, dim=1) if len(parts) > 1 else parts[0]


def _kth_best_lower_bound(maxima: Tensor, k: int):
    """A score that at least ``k`` pairs reach, or None: the k-th best of ``maxima`` (any
    tensor of real pairs' scores, e.g. the block maxima of :func:`_block_maxima`; each is a
    pair's score, so at least ``k`` pairs score that much). Far above a low ``score_thr``."""
    if maxima.numel() < k:
        return None
    return maxima.reshape(-1).topk(k).values[-1]


def _pairs_above(class_scores: Tensor, maxima: Tensor, threshold: Tensor,
                 strict: bool) -> Tuple[Tensor, Tensor, Tensor]:
    """Every pair of ``class_scores`` ``(N, C)`` scoring ``> threshold`` (``strict``) or
    ``>= threshold``, in row-major order, read only from the blocks whose maximum passes.

    Returns:
        ``(P,)`` rows, ``(P,)`` columns and ``(P,)`` scores of the pairs.
    """
    num, num_classes = class_scores.shape
    passes = maxima > threshold if strict else maxima >= threshold
    rows, blocks = passes.nonzero(as_tuple=True)  # row-major, blocks ascending in a row
    if rows.numel() * BLOCK_WIDTH * 4 > class_scores.numel():  # most blocks: one plain pass
        mask = class_scores > threshold if strict else class_scores >= threshold
        rows, cols = mask.nonzero(as_tuple=True)
        return rows, cols, class_scores[rows, cols]
    cols = blocks[:, None] * BLOCK_WIDTH + torch.arange(BLOCK_WIDTH, device=blocks.device)
    inside = cols < num_classes  # the last block may be narrower
    values = class_scores[rows[:, None], cols.clamp(max=num_classes - 1)]  # (blocks, width)
    keep = (values > threshold if strict else values >= threshold) & inside
    return rows[:, None].expand_as(cols)[keep], cols[keep], values[keep]


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

    The scores are read in one pass (the maxima of blocks of ``BLOCK_WIDTH`` classes); the top
    ``k`` can only be pairs scoring at least the ``k``-th best of those maxima, which lie in
    the blocks whose maximum reaches it: only those blocks are read again. With 20,000 classes
    that is a few hundred blocks out of 31,300, not a comparison and a ``nonzero`` over all
    ``N x C`` pairs.

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
    maxima = _block_maxima(class_scores) if num_classes > 0 else class_scores
    threshold = scores.new_tensor(score_thr)
    k = 4 * max_num
    while True:
        # Only pairs scoring at least the k-th best of some k real pairs can be among the top
        # k: with a low threshold and many classes this leaves thousands of pairs, not millions.
        bound = _kth_best_lower_bound(maxima, k) if max_num > 0 else None
        complete = bound is None or bound <= score_thr  # every pair above score_thr is in
        rows, cols, candidate_scores = _pairs_above(
            class_scores, maxima, threshold if complete else bound, strict=complete)
        total = candidate_scores.numel()
        # a stable sort of row-major candidates: of equal scores at the k-th place, the
        # first in row-major order go in, however many candidates were gathered
        top, order = candidate_scores.sort(descending=True, stable=True)
        if max_num > 0:
            top, order = top[:k], order[:k]
        labels = cols[order]
        if top.numel() == 0:
            return torch.cat([bboxes.new_zeros(0, 4), top[:, None]], -1), labels
        dets, keep = batched_nms(bboxes[rows[order]], top, labels, dict(nms_cfg))
        if (complete and top.numel() == total) or len(keep) >= max_num:
            break
        k = 4 * k
    # Equal scores in row-major pair order, so that the detections (and which of equal scores
    # max_num keeps) do not depend on how many candidates were gathered (up to which of two
    # overlapping boxes of one class with equal scores mmcv's NMS keeps).
    pairs = (rows[order] * num_classes + labels)[keep]
    by_pair = pairs.argsort(stable=True)
    ranked = by_pair[dets[by_pair, 4].argsort(descending=True, stable=True)]
    if max_num > 0:
        ranked = ranked[:max_num]
    return dets[ranked], labels[keep[ranked]]
