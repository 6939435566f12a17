"""Open-vocabulary detection models, registered in mmdet's MODELS.

The ViLD and grounding heads, their text-embedding classifier, losses and shared box NMS;
``cpu_training`` holds the layers that make Faster R-CNN training cheaper on a CPU (the
toy-world configs use them).
"""
from . import cpu_training
from .bbox_nms import shared_box_multiclass_nms
from .grounding_bbox_head import GroundingBBoxHead
from .image_label_roi_head import ImageLabelRoIHead, ImageLabelRoIHeadMixin, ImageLabelViLDRoIHead
from .image_label_rpn_head import ImageLabelRPNHead
from .max_size_image_label_loss import MaxSizeImageLabelLoss, largest_proposal_index
from .open_vocabulary_head import OpenVocabularyHeadMixin, open_vocabulary_heads
from .text_embedding_classifier import TextEmbeddingClassifier
from .vild_bbox_head import ViLDBBoxHead, vild_ensemble_probabilities
from .vild_distillation_loss import ViLDDistillationLoss
from .vild_roi_head import ViLDRoIHead
from .vild_text_bbox_head import ViLDTextBBoxHead

__all__ = ['GroundingBBoxHead', 'ImageLabelRoIHead', 'ImageLabelRoIHeadMixin',
           'ImageLabelViLDRoIHead', 'ImageLabelRPNHead', 'MaxSizeImageLabelLoss',
           'largest_proposal_index', 'OpenVocabularyHeadMixin', 'TextEmbeddingClassifier',
           'ViLDBBoxHead', 'ViLDDistillationLoss', 'ViLDRoIHead', 'ViLDTextBBoxHead',
           'cpu_training', 'open_vocabulary_heads', 'shared_box_multiclass_nms',
           'vild_ensemble_probabilities']
