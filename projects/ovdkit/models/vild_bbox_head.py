"""ViLD: the ViLD-text head plus the image branch (distillation target) and the ensemble."""
from typing import Dict, Mapping, Optional, Tuple

import torch
import torch.nn.functional as F
from mmdet.registry import MODELS
from torch import Tensor, nn

from .competing_names import entry_names
from .vild_text_bbox_head import ViLDTextBBoxHead


def vild_ensemble_probabilities(text_prob: Tensor, image_prob: Tensor, base_mask: Tensor,
                                text_weight_base: float, text_weight_novel: float) -> Tensor:
    """ViLD-ensemble's class and background probabilities (the head's and the exporter's).

    Per class the weighted geometric mean ``p_c = text_c^w_c * image_c^(1 - w_c)``, with
    ``w_c = text_weight_base`` for classes of the training vocabulary and
    ``text_weight_novel`` for the others; the background gets ``1 - sum_c p_c`` (at least
    1e-12). The rows are not renormalised: where the ``p_c`` sum above 1, dividing by the row
    sum (mmdet's softmax of their log does) gives the scores.

    Args:
        text_prob: ``(N, C)`` text-branch probabilities of the classes (background dropped).
        image_prob: ``(N, C)`` image-branch probabilities.
        base_mask: ``(C,)`` bool or 0 / 1 float, whether a class is in the training vocabulary.
        text_weight_base: Text weight of training classes (ViLD: 2/3).
        text_weight_novel: Text weight of the other classes (ViLD: 1/3).

    Returns:
        ``(N, C + 1)`` probabilities, the background last.
    """
    base = base_mask.to(text_prob.dtype)
    text_weight = base * text_weight_base + (1 - base) * text_weight_novel
    prob = text_prob.clamp(min=1e-12) ** text_weight * \
        image_prob.clamp(min=1e-12) ** (1 - text_weight)
    background = (1 - prob.sum(dim=-1, keepdim=True)).clamp(min=1e-12)
    return torch.cat([prob, background], dim=-1)


@MODELS.register_module()
class ViLDBBoxHead(ViLDTextBBoxHead):
    """ViLD's box head: ViLD-text's classifier plus an image branch distilled from CLIP.

    The image branch embeds a region the way the text branch does (the classification
    features of mmdet's Shared2FC trunk, a linear projection, L2 norm): with
    ``image_projection='shared'`` it is the text branch's own projection (ViLD), with
    ``'separate'`` a second projection of the same features (ViLD-ensemble's separate heads).
    :class:`ovdkit.models.ViLDRoIHead` trains it with :attr:`loss_distill` on precomputed
    proposals.

    At test time, with ``ensemble`` set, the class probabilities are the weighted geometric
    mean of the text branch's (softmax over classes + background) and the image branch's
    (softmax of the image embedding's cosine with the class text embeddings /
    ``image_temperature``), :func:`vild_ensemble_probabilities`; the head returns their
    ``log`` so mmdet's softmax gives back exactly these scores (renormalised in the rare case
    the class probabilities sum above 1).

    Args:
        loss_distill: Config of the distillation loss (:class:`ViLDDistillationLoss`).
        image_projection: ``'shared'`` or ``'separate'``.
        ensemble: ``None`` (text branch only at test time) or a dict with
            ``text_weight_base`` (2/3), ``text_weight_novel`` (1/3) and ``image_temperature``
            (defaults to ``temperature``).
        **kwargs: :class:`ViLDTextBBoxHead` arguments.
    """

    def __init__(self, loss_distill: Mapping = dict(type='ViLDDistillationLoss',
                                                     loss_weight=0.5),
                 image_projection: str = 'shared', ensemble: Optional[Mapping] = None,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        if image_projection not in ('shared', 'separate'):
            raise ValueError(f"ViLDBBoxHead: image_projection must be 'shared' or 'separate', "
                             f'not {image_projection!r}')
        self.loss_distill = MODELS.build(dict(loss_distill))
        self.image_projection_mode = image_projection
        if image_projection == 'separate':
            self.image_projection = nn.Linear(self.fc_cls.projection.in_features,
                                              self.fc_cls.projection.out_features)
        unknown = set(ensemble or {}) - {'text_weight_base', 'text_weight_novel',
                                          'image_temperature'}
        if unknown:
            raise ValueError(f'ViLDBBoxHead: unknown ensemble options {sorted(unknown)}')
        self.ensemble: Optional[Dict] = None if ensemble is None else dict(
            dict(text_weight_base=2 / 3, text_weight_novel=1 / 3,
                 image_temperature=self.fc_cls.temperature), **ensemble)

    def _forward_with_cls_features(self, x: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        """mmdet's forward, also returning the classifier's input features ``(N, F)``."""
        captured = {}
        handle = self.fc_cls.register_forward_pre_hook(
            lambda module, args: captured.setdefault('features', args[0]))
        try:
            cls_score, bbox_pred = super().forward(x)
        finally:
            handle.remove()
        return cls_score, bbox_pred, captured['features']

    def image_embeddings_of(self, features: Tensor) -> Tensor:
        """Image-branch embeddings ``(N, D)`` (unit rows) of classifier features ``(N, F)``."""
        if self.image_projection_mode == 'separate':
            return F.normalize(self.image_projection(features), dim=-1)
        return self.fc_cls.embed(features)

    def region_embeddings(self, roi_feats: Tensor) -> Tensor:
        """Image-branch embeddings of RoI features.

        Args:
            roi_feats: ``(N, C, 7, 7)`` RoI-aligned features.

        Returns:
            ``(N, D)`` unit-norm region embeddings, the distillation's student side.
        """
        return self.image_embeddings_of(self._forward_with_cls_features(roi_feats)[2])

    def use_vocabulary(self, classes) -> Tuple[str, ...]:
        """ViLD-text's vocabulary swap; with ``ensemble`` the training vocabulary is resolved
        now too (its names decide each class's text weight), so that a missing vocabulary file
        is an error of the swap, not of the first image."""
        names = super().use_vocabulary(classes)
        if self.ensemble is not None:
            self._classes_of('train')  # resolves and memoises; raises if unreadable
        return names

    def _base_class_mask(self) -> Tensor:
        """``(R,)`` bool: which scored rows (test classes, then competing names) are in the
        training vocabulary (memoised per test vocabulary: needed on every eval forward)."""
        key = (self.scored_names, self.fc_cls.class_embeddings.device)
        if getattr(self, '_base_mask_key', None) != key:
            base = set(self.train_classes)
            self._base_mask = torch.tensor([entry_names(n)[0] in base for n in key[0]],
                                           device=key[1])
            self._base_mask_key = key
        return self._base_mask

    def forward(self, x: Tensor) -> tuple:
        """ViLD-text's forward; in eval mode with ``ensemble``, the ensembled log-scores.

        Returns:
            cls_score ``(N, C + 1)`` (logits, or log-probabilities when ensembling) and
            class-agnostic bbox_pred ``(N, 4)``.
        """
        if self.training or self.ensemble is None:
            return super().forward(x)
        text_logits, bbox_pred, features = self._forward_with_cls_features(x)
        text_prob = text_logits.softmax(dim=-1)[:, :-1]
        image_logits = self.image_embeddings_of(features) @ self.fc_cls.class_embeddings.t()
        image_prob = (image_logits / self.ensemble['image_temperature']).softmax(dim=-1)
        prob = vild_ensemble_probabilities(text_prob, image_prob, self._base_class_mask(),
                                           self.ensemble['text_weight_base'],
                                           self.ensemble['text_weight_novel'])
        return prob.log(), bbox_pred
