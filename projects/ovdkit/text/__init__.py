"""Frozen CLIP text encoder, prompt templates and the sidecar cache of what it makes (pooled
class embeddings, grounding token features), behind one vocabulary front door."""
from ..utils.hashing import weights_id
from .clip_text_encoder import CLIPTextEncoder, TextEncoderPool, create_clip_model
from .clip_weights import CLIPWeightsError, check_clip_weights_available, register_model_configs
from .embedding_cache import (TextEmbeddingCache, load_text_embeddings, make_meta,
                              save_text_embeddings)
from .sidecar_cache import CacheKind, EmbeddingMismatchError, SidecarCache, shared_encoder_pool
from .templates import (SINGLE_TEMPLATES, TEMPLATE_SETS, VILD_TEMPLATES, load_templates,
                        name_for_prompt)
from .token_feature_cache import TokenFeatureCache, load_token_features
from .vocabulary_embeddings import vocabulary_embeddings, vocabulary_token_features

__all__ = [
    'CLIPTextEncoder', 'CLIPWeightsError', 'TextEncoderPool', 'check_clip_weights_available',
    'create_clip_model',
    'register_model_configs', 'CacheKind', 'EmbeddingMismatchError', 'SidecarCache',
    'shared_encoder_pool', 'TextEmbeddingCache', 'load_text_embeddings', 'make_meta',
    'save_text_embeddings', 'weights_id', 'SINGLE_TEMPLATES', 'TEMPLATE_SETS', 'VILD_TEMPLATES',
    'load_templates', 'name_for_prompt', 'TokenFeatureCache', 'load_token_features',
    'vocabulary_embeddings', 'vocabulary_token_features'
]

# OVDKit's own open_clip configs (OVD-*) are usable by name as soon as ovdkit is imported.
register_model_configs()
