"""Open-vocabulary heads and losses (registered in mmdet's MODELS)."""
from .text_embedding_classifier import TextEmbeddingClassifier
from .vild_text_bbox_head import ViLDTextBBoxHead

__all__ = ['TextEmbeddingClassifier', 'ViLDTextBBoxHead']
