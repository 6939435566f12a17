"""The token-level classification loss of grounding heads, in mmdet's custom-loss form."""
from typing import Dict, Mapping, Optional

from mmdet.models.losses import accuracy
from mmdet.registry import MODELS
from torch import Tensor, nn


@MODELS.register_module()
class GroundingTokenLoss(nn.Module):
    """A sigmoid loss over prompt tokens, plus the activation mmdet's bbox head applies.

    Wraps any mmdet sigmoid loss that takes targets of the prediction's shape (``FocalLoss``
    with ``use_sigmoid=True``, GLIP's choice, or ``CrossEntropyLoss`` with ``use_sigmoid=True``
    for plain BCE). It declares mmdet's ``custom_cls_channels`` / ``custom_activation`` so
    that ``BBoxHead._predict_by_feat_single`` uses :meth:`get_activation` instead of a softmax:
    a grounding head's evaluation output is already class probabilities (the mean of each
    class's token probabilities), which must not be renormalised across classes. With
    ``custom_accuracy`` (and ``custom_activation``) mmdet's ``BBoxHead.loss`` takes the
    accuracy from :meth:`get_accuracy`.

    Args:
        loss: The wrapped loss config.

    Raises:
        ValueError: the wrapped loss is not a sigmoid loss.
    """

    custom_cls_channels = True
    custom_activation = True
    custom_accuracy = True

    def __init__(self, loss: Mapping) -> None:
        super().__init__()
        self.loss = MODELS.build(loss)
        if not getattr(self.loss, 'use_sigmoid', False):
            raise ValueError(f'GroundingTokenLoss: tokens are scored independently, so the loss '
                             f'must be a sigmoid loss (FocalLoss or CrossEntropyLoss with '
                             f'use_sigmoid=True), got {dict(loss)}')

    def get_cls_channels(self, num_classes: int) -> int:
        """mmdet sizes ``fc_cls`` with this; the aligner's width follows the prompt instead."""
        return num_classes + 1

    def get_activation(self, cls_score: Tensor) -> Tensor:
        """Identity: evaluation scores ``(N, C + 1)`` are probabilities already."""
        return cls_score

    def get_accuracy(self, cls_score: Tensor, labels: Tensor) -> Dict[str, Tensor]:
        """mmdet's accuracy of class probabilities.

        Args:
            cls_score: ``(N, C + 1)`` class probabilities, background last (what the head
                derives from the token logits; see :meth:`get_activation`).
            labels: ``(N,)`` labels in ``[0, C]``, ``C`` = background.

        Returns:
            ``dict(acc=...)``: the percentage of regions whose best column is their label.
        """
        return dict(acc=accuracy(self.get_activation(cls_score), labels))

    def forward(self, token_logits: Tensor, token_targets: Tensor,
                weight: Optional[Tensor] = None, avg_factor: Optional[float] = None,
                reduction_override: Optional[str] = None) -> Tensor:
        """The wrapped loss of ``(N, T)`` token logits against ``(N, T)`` binary targets.

        Args:
            token_logits: ``(N, T)`` logits.
            token_targets: ``(N, T)`` targets in {0, 1}.
            weight: ``(N,)`` per-region or ``(N, T)`` per-token weights.
            avg_factor: Normaliser of the summed loss.
            reduction_override: ``'none'``, ``'mean'`` or ``'sum'``.

        Returns:
            The loss (a scalar unless ``reduction_override='none'``).
        """
        if weight is not None and weight.shape != token_logits.shape:
            # mmdet's sigmoid CE does not broadcast (N,) against (N, T) targets.
            weight = weight.view(-1, 1).expand_as(token_logits)
        return self.loss(token_logits, token_targets.type_as(token_logits), weight,
                         avg_factor=avg_factor, reduction_override=reduction_override)
