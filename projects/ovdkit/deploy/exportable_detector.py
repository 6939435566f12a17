"""An OVDKit two-stage detector as one traceable module: image + class embeddings -> detections.

What :meth:`mmdet.models.TwoStageDetector.predict` does for one image, written with operators
that export to standard ONNX (``NonMaxSuppression``, ``RoiAlign``, ``TopK``) and with the class
text embeddings as an *input*, so the exported graph detects any vocabulary without re-export:

- RPN: per level the top ``nms_pre`` sigmoid scores, anchors decoded (mmdet's
  ``delta2bbox``), boxes with zero width or height dropped (``min_bbox_size=0``), NMS with
  mmcv's level offsets, the top ``max_per_img`` proposals;
- RoI features: each proposal pooled from its FPN level (mmdet's ``map_roi_levels``) with
  ``roi_align(aligned=True)``, as mmcv's ``RoIAlign`` with ``sampling_ratio=0``;
- the box head's shared FCs, its class-agnostic regression, and the open-vocabulary
  classifier (ViLD-text, or the ViLD ensemble with a per-class base / novel input);
- the final multi-class NMS over every (box, class) pair above ``score_thr`` and the best
  ``max_per_img``: the result :func:`ovdkit.models.shared_box_multiclass_nms` gives.
"""
import math
from typing import Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.ops import nms, roi_align

from ..models import ViLDTextBBoxHead, vild_ensemble_probabilities


def decode_deltas(priors: Tensor, deltas: Tensor, means: Tuple[float, ...],
                  stds: Tuple[float, ...], img_hw: Tensor,
                  wh_ratio_clip: float = 16 / 1000) -> Tensor:
    """mmdet's ``delta2bbox`` (no centre clamp) with a tensor image size, for tracing.

    Args:
        priors: ``(N, 4)`` anchors or proposals (x1, y1, x2, y2).
        deltas: ``(N, 4)`` predicted (dx, dy, dw, dh).
        means: Coder means (4).
        stds: Coder stds (4).
        img_hw: ``(2,)`` float (height, width) the boxes are clipped to.
        wh_ratio_clip: Largest log-ratio of width / height change, as mmdet.

    Returns:
        ``(N, 4)`` boxes.
    """
    deltas = deltas * deltas.new_tensor(stds) + deltas.new_tensor(means)
    pxy = (priors[:, :2] + priors[:, 2:]) * 0.5
    pwh = priors[:, 2:] - priors[:, :2]
    max_ratio = abs(math.log(wh_ratio_clip))
    gxy = pxy + pwh * deltas[:, :2]
    gwh = pwh * deltas[:, 2:].clamp(min=-max_ratio, max=max_ratio).exp()
    boxes = torch.cat([gxy - gwh * 0.5, gxy + gwh * 0.5], dim=-1)
    max_xy = img_hw.flip(0).repeat(2)  # (w, h, w, h)
    return torch.minimum(boxes.clamp(min=0), max_xy)


class _MultiClassNMS(torch.autograd.Function):
    """Per-class NMS over ``(1, C, N)`` scores of ``(1, N, 4)`` shared boxes.

    Eager: torchvision's ``batched_nms`` on every (box, class) pair above the threshold.
    Exported: ONNX's ``NonMaxSuppression`` (which is per class by definition). Returns ``(K, 3)``
    int64 rows ``(batch, class, box)``, as ONNX does.
    """

    @staticmethod
    def forward(ctx, boxes: Tensor, scores: Tensor, max_per_class: Tensor, iou: Tensor,
                score_thr: Tensor) -> Tensor:
        from torchvision.ops import batched_nms
        num_classes = scores.shape[1]
        flat = scores[0].t().reshape(-1)  # pair index = box * C + class
        pairs = (flat > score_thr).nonzero().squeeze(1)
        keep = batched_nms(boxes[0][pairs // num_classes], flat[pairs], pairs % num_classes,
                           float(iou))
        pairs = pairs[keep]
        classes, box = pairs % num_classes, pairs // num_classes
        # At most max_per_class per class, highest first (keep is sorted by score).
        rank = torch.zeros_like(classes)
        for c in classes.unique():
            sel = (classes == c).nonzero().squeeze(1)
            rank[sel] = torch.arange(len(sel))
        ok = rank < int(max_per_class)
        return torch.stack([torch.zeros_like(box[ok]), classes[ok], box[ok]], dim=1)

    @staticmethod
    def symbolic(g, boxes, scores, max_per_class, iou, score_thr):
        return g.op('NonMaxSuppression', boxes, scores, max_per_class, iou, score_thr,
                    center_point_box_i=0)


class ExportableOVDetector(nn.Module):
    """The export view of a built OVDKit Faster R-CNN (ViLD-text, ViLD or ViLD-ensemble).

    The module shares the detector's weights; it holds no vocabulary.

    Args:
        detector: A built, loaded mmdet ``TwoStageDetector`` whose box head is a
            :class:`ovdkit.models.ViLDTextBBoxHead` (or :class:`~ovdkit.models.ViLDBBoxHead`).

    Raises:
        TypeError: the detector is not of that kind.
    """

    def __init__(self, detector: nn.Module) -> None:
        super().__init__()
        roi_head = getattr(detector, 'roi_head', None)
        head = getattr(roi_head, 'bbox_head', None)
        if not isinstance(head, ViLDTextBBoxHead):
            raise TypeError(f'ONNX export covers ViLD-text / ViLD / ViLD-ensemble detectors; '
                            f'this box head is {type(head).__name__}')
        if head.num_shared_convs or head.num_cls_convs or head.num_cls_fcs or \
                head.num_reg_convs or head.num_reg_fcs or head.with_avg_pool:
            raise TypeError('ONNX export covers box heads with shared FCs only '
                            '(Shared2FCBBoxHead layout)')
        self.backbone, self.neck, self.rpn_head = (detector.backbone, detector.neck,
                                                   detector.rpn_head)
        self.roi_extractor = roi_head.bbox_roi_extractor
        self.bbox_head = head
        self.rpn_cfg = detector.test_cfg.rpn
        self.rcnn_cfg = detector.test_cfg.rcnn
        self.ensemble = getattr(head, 'ensemble', None)

    # -- the stages --------------------------------------------------------------------------
    def proposals(self, feats: Tuple[Tensor, ...], img_hw: Tensor) -> Tensor:
        """RPN proposals ``(P, 4)`` of one image, as mmdet's ``RPNHead.predict``."""
        cls_scores, bbox_preds = self.rpn_head(feats)
        priors = self.rpn_head.prior_generator.grid_priors(
            [s.shape[-2:] for s in cls_scores], device=cls_scores[0].device)
        coder = self.rpn_head.bbox_coder
        nms_pre = int(self.rpn_cfg.get('nms_pre', -1))
        boxes, scores, levels = [], [], []
        for level, (score, delta, prior) in enumerate(zip(cls_scores, bbox_preds, priors)):
            score = score[0].permute(1, 2, 0).reshape(-1).sigmoid()
            delta = delta[0].permute(1, 2, 0).reshape(-1, 4)
            if nms_pre > 0:
                score, order = score.sort(descending=True)
                score, order = score[:nms_pre], order[:nms_pre]
                delta, prior = delta[order], prior[order]
            boxes.append(decode_deltas(prior, delta, coder.means, coder.stds, img_hw))
            scores.append(score)
            levels.append(torch.full_like(score, level))
        boxes, scores, levels = torch.cat(boxes), torch.cat(scores), torch.cat(levels)
        if self.rpn_cfg.get('min_bbox_size', -1) >= 0:
            size = float(self.rpn_cfg.min_bbox_size)
            valid = ((boxes[:, 2] - boxes[:, 0]) > size) & ((boxes[:, 3] - boxes[:, 1]) > size)
            boxes, scores, levels = boxes[valid], scores[valid], levels[valid]
        # mmcv's batched_nms: one NMS over boxes moved apart per level.
        offsets = levels * (boxes.max() + 1)
        keep = nms(boxes + offsets[:, None], scores,
                   float(self.rpn_cfg.nms.get('iou_threshold', 0.7)))
        return boxes[keep[:int(self.rpn_cfg.max_per_img)]]

    def roi_features(self, feats: Tuple[Tensor, ...], proposals: Tensor) -> Tensor:
        """``(P, C, 7, 7)`` RoI features, each proposal from its FPN level."""
        extractor = self.roi_extractor
        num_levels = len(extractor.featmap_strides)
        wh = proposals[:, 2:] - proposals[:, :2]
        scale = torch.sqrt(wh[:, 0] * wh[:, 1])
        target = torch.floor(torch.log2(scale / extractor.finest_scale + 1e-6))
        target = target.clamp(min=0, max=num_levels - 1)
        rois = torch.cat([proposals.new_zeros(len(proposals), 1), proposals], dim=1)
        out = 0
        for level, layer in enumerate(extractor.roi_layers):
            pooled = roi_align(feats[level], rois, layer.output_size,
                               spatial_scale=layer.spatial_scale,
                               sampling_ratio=layer.sampling_ratio, aligned=layer.aligned)
            out = out + pooled * (target == level).to(pooled.dtype)[:, None, None, None]
        return out

    def class_scores(self, features: Tensor, class_embeddings: Tensor,
                     base_mask: Tensor) -> Tensor:
        """``(P, C)`` class probabilities from the head's classification features ``(P, F)``.

        ViLD-text: softmax over the cosine logits of the classes and the background / T.
        ViLD-ensemble: :func:`ovdkit.models.vild_ensemble_probabilities` with ``base_mask``,
        renormalised where the class probabilities sum above 1 (as the PyTorch head's scores).
        """
        classifier = self.bbox_head.fc_cls
        text = F.normalize(class_embeddings, dim=-1)
        weights = torch.cat([text, F.normalize(classifier.background_embedding, dim=0)[None]])
        text_prob = (classifier.embed(features) @ weights.t() /
                     classifier.temperature).softmax(dim=-1)[:, :-1]
        if self.ensemble is None:
            return text_prob
        image = self.bbox_head.image_embeddings_of(features) @ text.t()
        image_prob = (image / self.ensemble['image_temperature']).softmax(dim=-1)
        prob = vild_ensemble_probabilities(text_prob, image_prob, base_mask,
                                           self.ensemble['text_weight_base'],
                                           self.ensemble['text_weight_novel'])
        return prob[:, :-1] / prob.sum(dim=-1, keepdim=True)

    def forward(self, image: Tensor, img_hw: Tensor, class_embeddings: Tensor,
                base_mask: Tensor, report_mask: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        """Detections of one image.

        Args:
            image: ``(1, 3, H, W)`` normalised and padded image (the data preprocessor's).
            img_hw: ``(2,)`` float, the resized image's height and width before padding.
            class_embeddings: ``(C, D)`` text embeddings of the vocabulary.
            base_mask: ``(C,)`` float, 1 for classes of the training vocabulary (used by the
                ViLD ensemble; ignored otherwise).
            report_mask: ``(C,)`` float, 1 for the names asked for, 0 for the rows that only
                compete in the softmax (negative and reference names): their pairs never
                enter the NMS.

        Returns:
            ``(K, 4)`` boxes in the resized image's pixels, ``(K,)`` scores and ``(K,)``
            int64 labels, best first, ``K <= max_per_img``.
        """
        feats = self.neck(self.backbone(image))
        proposals = self.proposals(feats, img_hw)
        x = self.roi_features(feats, proposals).flatten(1)
        for fc in self.bbox_head.shared_fcs:
            x = self.bbox_head.relu(fc(x))
        scores = self.class_scores(x, class_embeddings, base_mask)
        coder = self.bbox_head.bbox_coder
        boxes = decode_deltas(proposals, self.bbox_head.fc_reg(x), coder.means, coder.stds,
                              img_hw)
        cfg = self.rcnn_cfg
        max_per_img = int(cfg.max_per_img)
        selected = _MultiClassNMS.apply(
            boxes[None], (scores * report_mask).t()[None],
            torch.tensor([max_per_img], dtype=torch.int64),
            torch.tensor([float(cfg.nms.get('iou_threshold', 0.5))]),
            torch.tensor([float(cfg.score_thr)]))
        labels, box_index = selected[:, 1], selected[:, 2]
        pair_scores = scores[box_index, labels]
        order = pair_scores.argsort(descending=True)[:max_per_img]
        return boxes[box_index[order]], pair_scores[order], labels[order]
