"""Open-vocabulary heads and losses (registered in mmdet's MODELS)."""
from .autocast_trunk_faster_rcnn import AutocastTrunkFasterRCNN
from .bbox_nms import shared_box_multiclass_nms
from .gather_roi_align import GatherRoIAlign
from .grounding_bbox_head import GroundingBBoxHead
from .open_vocabulary_head import OpenVocabularyHeadMixin, open_vocabulary_heads
from .registry_roi_extractor import RegistryRoIExtractor
from .text_embedding_classifier import TextEmbeddingClassifier
from .vild_bbox_head import ViLDBBoxHead
from .vild_distillation_loss import ViLDDistillationLoss
from .vild_roi_head import ViLDRoIHead
from .vild_text_bbox_head import ViLDTextBBoxHead

__all__ = ['AutocastTrunkFasterRCNN', 'GatherRoIAlign', 'GroundingBBoxHead',
           'OpenVocabularyHeadMixin', 'RegistryRoIExtractor', 'TextEmbeddingClassifier',
           'ViLDBBoxHead', 'ViLDDistillationLoss', 'ViLDRoIHead', 'ViLDTextBBoxHead',
           'open_vocabulary_heads', 'shared_box_multiclass_nms']
