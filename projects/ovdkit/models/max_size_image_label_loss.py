"""Detic's max-size image-label loss: an image's labels train the classifier on its largest
proposal."""
from typing import List, Sequence

import torch
import torch.nn.functional as F
from mmdet.registry import MODELS
from torch import Tensor, nn

#: The loss forms :class:`MaxSizeImageLabelLoss` takes.
IMAGE_LABEL_LOSS_TYPES = ('bce', 'softmax')


def largest_proposal_index(boxes: Tensor, num_proposals: int) -> int:
    """Index of the largest box among the first ``num_proposals`` (Detic's max-size choice).

    The RPN returns its proposals by decreasing objectness, so the first ``num_proposals`` are
    its most confident ones (Detic: 128 on LVIS + ImageNet-21k, 32 on OV-COCO + captions).

    Args:
        boxes: ``(N, 4)`` proposals ``(x1, y1, x2, y2)``, most confident first; ``N >= 1``.
        num_proposals: How many of the first proposals compete.

    Returns:
        The index (into ``boxes``) of the largest of them; the first one on ties.
    """
    if len(boxes) == 0:
        raise ValueError('largest_proposal_index: an image without proposals')
    top = boxes[:max(1, num_proposals)]
    areas = (top[:, 2] - top[:, 0]).clamp(min=0) * (top[:, 3] - top[:, 1]).clamp(min=0)
    return int(areas.argmax())


@MODELS.register_module()
class MaxSizeImageLabelLoss(nn.Module):
    """Detic's image-label loss on each image's largest proposal (``IMAGE_LABEL_LOSS:
    max_size``).

    The RoI head picks the largest of an image's top proposals
    (:func:`largest_proposal_index`) and scores it against the image-label vocabulary; this
    loss turns those scores and the image's labels into a scalar. For an image with labels
    ``L`` and scores ``s`` over ``K`` columns:

    - ``'bce'`` (Detic's default, its sigmoid classifier): for each label ``l`` the binary
      cross-entropy of ``s`` against the one-hot target of ``l`` (every column of ``l``
      positive), summed over the ``K`` columns; the mean over the labels. That equals one
      BCE against the soft target ``t = mean_l onehot(l)`` (``t_c = 1 / |L|`` on each
      labelled column), which is how it is computed.
    - ``'softmax'`` (Detic's ``SOFTMAX_WEAK_LOSS``): the mean over the labels of the
      cross-entropy of the softmax over the ``K`` columns, ``logsumexp(s) - mean_l s_l``.
      It needs one column per class (``positive_map`` the identity on the first ``C``
      columns), as a softmax classifier has.

    Then the mean over the images and ``loss_weight`` (Detic: 0.1).

    Args:
        num_proposals: Proposals of an image that compete for the largest (Detic's
            ``WS_NUM_PROPS``: 128 on LVIS, 32 on OV-COCO).
        loss_type: ``'bce'`` or ``'softmax'``.
        loss_weight: Weight of the loss (Detic's ``IMAGE_LOSS_WEIGHT``).
    """

    def __init__(self, num_proposals: int = 128, loss_type: str = 'bce',
                 loss_weight: float = 0.1) -> None:
        super().__init__()
        if loss_type not in IMAGE_LABEL_LOSS_TYPES:
            raise ValueError(f'MaxSizeImageLabelLoss: loss_type must be one of '
                             f'{IMAGE_LABEL_LOSS_TYPES}, got {loss_type!r}')
        if num_proposals < 1:
            raise ValueError(f'MaxSizeImageLabelLoss: num_proposals must be >= 1, got '
                             f'{num_proposals}')
        self.num_proposals = num_proposals
        self.loss_type = loss_type
        self.loss_weight = loss_weight

    def select(self, proposals: Sequence[Tensor]) -> List[int]:
        """The index of each image's largest proposal.

        Args:
            proposals: B tensors ``(N_i, 4)``, most confident first.

        Returns:
            B indices.
        """
        return [largest_proposal_index(boxes, self.num_proposals) for boxes in proposals]

    def forward(self, scores: Tensor, labels: Sequence[Tensor], positive_map: Tensor) -> Tensor:
        """The loss of B images' chosen proposals.

        Args:
            scores: ``(B, K)`` logits of each image's largest proposal (ViLD heads: the ``C``
                classes and the background, ``K = C + 1``; grounding: ``K`` prompt tokens).
            labels: B int64 tensors of each image's label indices in ``[0, C)`` (one or more).
            positive_map: ``(C, K)`` binary: which columns class ``c`` owns.

        Returns:
            The weighted loss (a scalar).
        """
        if len(scores) != len(labels):
            raise ValueError(f'{len(scores)} score rows for {len(labels)} images')
        if len(scores) == 0:
            return scores.sum() * 0
        losses = []
        for score, image_labels in zip(scores, labels):
            if len(image_labels) == 0:
                raise ValueError('MaxSizeImageLabelLoss: an image without labels reached the '
                                 'loss; the image-label dataset drops such images')
            if self.loss_type == 'bce':
                target = positive_map[image_labels].float().mean(dim=0).to(score.dtype)
                losses.append(F.binary_cross_entropy_with_logits(score, target,
                                                                 reduction='sum'))
            else:
                columns = positive_map[image_labels].argmax(dim=1)
                losses.append(torch.logsumexp(score, dim=0) - score[columns].mean())
        return torch.stack(losses).mean() * self.loss_weight
