"""Resolves a vocabulary config (what detector heads and the inferencer get) to embeddings."""
from typing import Dict, Mapping, Tuple

import torch

from .embedding_cache import TextEmbeddingCache, load_text_embeddings

_CACHES: Dict[str, TextEmbeddingCache] = {}


def cache_dir_of(cfg: Mapping) -> str:
    """The cache folder of a vocabulary config that names CLIP weights (not a ``path``).

    Raises:
        KeyError: the config has neither ``model`` nor ``pretrained``.
    """
    if 'model' not in cfg or 'pretrained' not in cfg:
        raise KeyError(f'vocabulary config {dict(cfg)} needs `path`, or `model` and '
                       f'`pretrained` (use pretrained=None for random weights explicitly)')
    return str(cfg.get('cache_dir', 'data/embeddings'))


def vocabulary_embeddings(cfg: Mapping) -> Tuple[Tuple[str, ...], torch.Tensor]:
    """Class names and their text embeddings for a vocabulary config.

    Two forms:

    - ``dict(classes=..., model=..., pretrained=..., templates='vild',
      cache_dir='data/embeddings')``: through the embedding cache (built on a miss).
    - ``dict(classes=..., path='x.pt')``: a stored file, whose sidecar must list exactly
      these class names in this order.

    ``classes`` is anything :func:`ovdkit.datasets.resolve_vocabulary` takes (a builtin name,
    a file, ``'a,b,c'`` or a sequence); an entry ``'television|tv'`` is one class whose
    embedding is the normalised mean over its synonyms x templates, and whose name is its first
    name. The cache key and sidecar hold the whole entries. Caches are shared per folder, so CLIP text towers are
    built at most once per process for all heads and vocabulary swaps.

    Returns:
        The ordered (first) names and a ``(C, D)`` float32 tensor with unit rows.

    Raises:
        KeyError: the config has neither ``path`` nor ``model`` + ``pretrained``.
    """
    from ..datasets.vocabularies import first_names, resolve_vocabulary_entries  # lazy: mmdet
    entries = resolve_vocabulary_entries(cfg['classes'])
    names = first_names(entries)
    if cfg.get('path'):
        embeddings, _ = load_text_embeddings(cfg['path'], expected=dict(classes=entries))
        return names, embeddings
    cache_dir = cache_dir_of(cfg)
    if cache_dir not in _CACHES:
        _CACHES[cache_dir] = TextEmbeddingCache(cache_dir, progress=len(names) > 200)
    embeddings = _CACHES[cache_dir].get(entries, cfg['model'], cfg['pretrained'],
                                        cfg.get('templates', 'vild'))
    return names, embeddings

