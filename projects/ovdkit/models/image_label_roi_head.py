"""RoI heads that train on box-labelled and image-labelled images in one batch (Detic)."""
from typing import Dict, List, Mapping, Sequence, Tuple

import torch
from mmdet.models.roi_heads import StandardRoIHead
from mmdet.registry import MODELS
from mmdet.structures import DetDataSample
from mmdet.structures.bbox import bbox2roi
from mmengine.structures import InstanceData
from torch import Tensor

from ..datasets.image_label_dataset import IMAGE_LABELS_KEY
from .vild_roi_head import ViLDRoIHead


def has_image_labels(sample: DetDataSample) -> bool:
    """Whether a sample is image-labelled (its metainfo carries ``image_labels``)."""
    return IMAGE_LABELS_KEY in sample.metainfo


def select_images(x: Sequence[Tensor], indices: Sequence[int]) -> Tuple[Tensor, ...]:
    """The feature maps of some images of a batch.

    Args:
        x: Levels ``(B, C, H_l, W_l)``.
        indices: Images to keep, in order.

    Returns:
        Levels ``(len(indices), C, H_l, W_l)``.
    """
    index = torch.as_tensor(list(indices), dtype=torch.long, device=x[0].device)
    return tuple(level.index_select(0, index) for level in x)


class ImageLabelRoIHeadMixin:
    """Detic's training of an RoI head on a batch of box- and image-labelled images.

    Box-labelled images (no ``image_labels`` in their metainfo) go through the RoI head's own
    ``loss`` (assignment, sampling, classification and box losses; ViLD's distillation).
    Image-labelled images train only the classifier: the largest of each image's top
    proposals (:class:`ovdkit.models.MaxSizeImageLabelLoss`) is scored by the box head
    against ``image_label_vocabulary`` (:meth:`OpenVocabularyHeadMixin.image_label_logits`)
    and the image's labels are its targets; they take no part in the box losses. Put the
    mixin before the RoI head class.

    Args:
        image_label_vocabulary: Vocabulary config of the image labels (its ``classes``;
            other keys override the box head's training vocabulary's), e.g. every class,
            novel ones included. An image's label names must be among them.
        loss_image_label: Config of the image-label loss.
        **kwargs: The RoI head's arguments.
    """

    def __init__(self, image_label_vocabulary: Mapping,
                 loss_image_label: Mapping = dict(type='MaxSizeImageLabelLoss'),
                 **kwargs) -> None:
        super().__init__(**kwargs)
        if not callable(getattr(self.bbox_head, 'image_label_logits', None)):
            raise TypeError(f'{type(self).__name__} needs an open-vocabulary bbox head '
                            f'(ViLDTextBBoxHead, ViLDBBoxHead or GroundingBBoxHead), got '
                            f'{type(self.bbox_head).__name__}')
        if 'classes' not in image_label_vocabulary:
            raise ValueError(f'{type(self).__name__}: image_label_vocabulary needs classes')
        self.image_label_vocabulary = dict(image_label_vocabulary)
        self.loss_image_label = MODELS.build(dict(loss_image_label))

    def image_label_loss(self, x: Tuple[Tensor], proposals: List[InstanceData],
                         samples: List[DetDataSample]) -> Tensor:
        """The image-label loss of image-labelled images.

        Args:
            x: FPN levels ``(B, C, H_l, W_l)`` of these B images.
            proposals: B RPN results (``bboxes`` ``(N_i, 4)``, most confident first).
            samples: B samples whose metainfo carries ``image_labels`` (names).

        Returns:
            The weighted loss (a scalar).

        Raises:
            ValueError: a label name not in ``image_label_vocabulary``.
        """
        boxes = [p.bboxes for p in proposals]
        chosen = self.loss_image_label.select(boxes)
        rois = bbox2roi([b[i:i + 1] for b, i in zip(boxes, chosen)])
        feats = self.bbox_roi_extractor(x[:self.bbox_roi_extractor.num_inputs], rois)
        if self.with_shared_head:
            feats = self.shared_head(feats)
        names, logits, columns = self.bbox_head.image_label_logits(
            feats, self.image_label_vocabulary)
        index = {name: i for i, name in enumerate(names)}
        labels = []
        for sample in samples:
            wanted = sample.metainfo[IMAGE_LABELS_KEY]
            unknown = [n for n in wanted if n not in index]
            if unknown:
                raise ValueError(
                    f'{sample.metainfo.get("img_path", "an image")}: image labels {unknown[:3]} '
                    f'are not in image_label_vocabulary {self.image_label_vocabulary["classes"]!r}'
                    f' ({len(names)} names)')
            labels.append(torch.tensor([index[n] for n in wanted], dtype=torch.long,
                                       device=logits.device))
        return self.loss_image_label(logits, labels, columns.to(logits.device))

    def loss(self, x: Tuple[Tensor], rpn_results_list: List[InstanceData],
             batch_data_samples: List[DetDataSample]) -> Dict[str, Tensor]:
        """The RoI head's losses on the box-labelled images plus ``loss_image_label`` on the
        image-labelled ones (zero when the batch has none).

        Args:
            x: FPN levels ``(B, C, H_l, W_l)``.
            rpn_results_list: B RPN results.
            batch_data_samples: B samples.

        Returns:
            The loss dict.
        """
        weak = [i for i, s in enumerate(batch_data_samples) if has_image_labels(s)]
        boxed = [i for i in range(len(batch_data_samples)) if i not in set(weak)]
        losses: Dict[str, Tensor] = {}
        if boxed:
            losses.update(super().loss(
                select_images(x, boxed) if weak else x,
                [rpn_results_list[i] for i in boxed], [batch_data_samples[i] for i in boxed]))
        if weak:
            losses['loss_image_label'] = self.image_label_loss(
                select_images(x, weak), [rpn_results_list[i] for i in weak],
                [batch_data_samples[i] for i in weak])
        else:
            losses['loss_image_label'] = sum(level.sum() for level in x) * 0
        return losses


@MODELS.register_module()
class ImageLabelRoIHead(ImageLabelRoIHeadMixin, StandardRoIHead):
    """mmdet's StandardRoIHead trained on image labels too (ViLD-text, grounding); see
    :class:`ImageLabelRoIHeadMixin`."""


@MODELS.register_module()
class ImageLabelViLDRoIHead(ImageLabelRoIHeadMixin, ViLDRoIHead):
    """ViLD's RoI head trained on image labels too: distillation and box losses on the
    box-labelled images; see :class:`ImageLabelRoIHeadMixin`."""
