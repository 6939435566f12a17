"""Vocabulary bookkeeping shared by OVDKit's open-vocabulary box heads."""
from typing import Dict, Mapping, Optional, Tuple

import torch
from mmcv.ops import batched_nms
from mmengine.structures import InstanceData
from torch import Tensor

from ..datasets.vocabularies import resolve_vocabulary


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


class OpenVocabularyHeadMixin:
    """Training / test vocabularies of a box head whose classifier is text, not weights.

    Put it before mmdet's head class (``class H(OpenVocabularyHeadMixin, Shared2FCBBoxHead)``)
    and call :meth:`_init_vocabularies` before ``super().__init__(num_classes=1, **kwargs)``,
    then set ``self._building = False``. ``num_classes`` then follows the vocabulary in use:
    the training vocabulary (the dataset's labels) in ``train()`` mode, the test vocabulary in
    ``eval()`` mode; mmdet reads it to place the background label and size predictions.
    Vocabularies are resolved on first use, so building a model needs no vocabulary file.
    Post-processing runs :func:`shared_box_multiclass_nms`, so its cost hardly grows with the
    vocabulary (class-agnostic boxes are not repeated per class).
    """

    def _init_vocabularies(self, vocabulary: Mapping, test_vocabulary: Optional[Mapping],
                           kwargs: Dict) -> None:
        """Records the vocabulary configs and fixes the mmdet arguments they decide.

        The test vocabulary inherits the training one's keys (CLIP model, weights, templates,
        cache) except its ``path`` when it names its own ``classes``.

        ``num_classes`` is dropped from ``kwargs`` (inherited mmdet configs say 80) and box
        regression is made class-agnostic (the classes are open).
        """
        self.vocabulary_cfg = dict(vocabulary)
        test_vocabulary = dict(test_vocabulary or {})
        inherited = dict(vocabulary)
        if 'classes' in test_vocabulary and 'path' not in test_vocabulary:
            # A `path` file holds the embeddings of the training names: test names given
            # without their own file come through the CLIP weights, never from that file.
            inherited.pop('path', None)
        self.test_vocabulary_cfg = dict(inherited, **test_vocabulary)
        kwargs.pop('num_classes', None)
        kwargs['reg_class_agnostic'] = True
        self._train_classes: Optional[Tuple[str, ...]] = None
        self._test_classes: Optional[Tuple[str, ...]] = None
        self._loaded: Optional[str] = None
        # While BBoxHead builds its layers it sees a placeholder of one class.
        self._building = True

    @property
    def train_classes(self) -> Tuple[str, ...]:
        """Names of the training vocabulary (the dataset's labels)."""
        if self._train_classes is None:
            self._train_classes = resolve_vocabulary(self.vocabulary_cfg['classes'])
        return self._train_classes

    @property
    def test_classes(self) -> Tuple[str, ...]:
        """Names of the evaluation vocabulary."""
        if self._test_classes is None:
            self._test_classes = resolve_vocabulary(self.test_vocabulary_cfg['classes'])
        return self._test_classes

    @property
    def num_classes(self) -> int:
        """Classes of the vocabulary in use (training or test), background excluded."""
        if self._building:
            return 1
        return len(self.train_classes if self.training else self.test_classes)

    @num_classes.setter
    def num_classes(self, value: int) -> None:
        """BBoxHead.__init__ assigns a placeholder; the vocabularies decide instead."""

    def _predict_by_feat_single(self, roi: Tensor, cls_score: Tensor, bbox_pred: Tensor,
                                img_meta: dict, rescale: bool = False,
                                rcnn_test_cfg=None) -> InstanceData:
        """mmdet's post-processing with :func:`shared_box_multiclass_nms` as the NMS.

        mmdet decodes and rescales the class-agnostic boxes (its path without NMS, asked for
        with ``rcnn_test_cfg=None``); the NMS then costs about the same for 65 or 1203 names.

        Returns:
            ``bboxes (K, 4)``, ``scores (K,)``, ``labels (K,)``, as mmdet's.
        """
        if rcnn_test_cfg is None or roi.shape[0] == 0:
            return super()._predict_by_feat_single(roi, cls_score, bbox_pred, img_meta,
                                                   rescale, rcnn_test_cfg)
        results = super()._predict_by_feat_single(roi, cls_score, bbox_pred, img_meta,
                                                  rescale, None)
        dets, labels = shared_box_multiclass_nms(results.bboxes, results.scores,
                                                 rcnn_test_cfg.score_thr, rcnn_test_cfg.nms,
                                                 rcnn_test_cfg.max_per_img)
        out = InstanceData()
        out.bboxes, out.scores, out.labels = dets[:, :-1], dets[:, -1], labels
        return out
