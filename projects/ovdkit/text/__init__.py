"""Frozen CLIP text encoder, prompt templates and the text-embedding cache."""
from .clip_text_encoder import (CLIPTextEncoder, CLIPWeightsError, create_clip_model,
                                register_model_configs)
from .embedding_cache import (EmbeddingMismatchError, TextEmbeddingCache, load_text_embeddings,
                              make_meta, save_text_embeddings, weights_id)
from .token_feature_cache import (TokenFeatureCache, load_token_features,
                                  save_token_features, vocabulary_token_features)
from .templates import (SINGLE_TEMPLATES, TEMPLATE_SETS, VILD_TEMPLATES, load_templates,
                        name_for_prompt)

__all__ = [
    'CLIPTextEncoder', 'CLIPWeightsError', 'create_clip_model', 'register_model_configs',
    'EmbeddingMismatchError', 'TextEmbeddingCache', 'load_text_embeddings', 'make_meta',
    'save_text_embeddings', 'weights_id', 'SINGLE_TEMPLATES', 'TEMPLATE_SETS', 'VILD_TEMPLATES',
    'load_templates', 'name_for_prompt', 'TokenFeatureCache', 'load_token_features',
    'save_token_features', 'vocabulary_token_features'
]

# OVDKit's own open_clip configs (OVD-*) are usable by name as soon as ovdkit is imported.
register_model_configs()
