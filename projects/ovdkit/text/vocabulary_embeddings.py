"""The front door from a vocabulary config (what detector heads and the inferencer get) to what
CLIP's text tower makes of it: pooled class embeddings or grounding token features.

Both resolve the config the same way (:func:`cache_of`): a stored file (``path``) or the
sidecar cache of ``cache_dir``, one cache object per (kind, folder) in a process, all of them
building their encoders in the one shared pool, so CLIP's text tower is built at most once per
process and weights, whatever heads, kinds and vocabulary swaps use it.
"""
import os
from typing import Dict, Mapping, Optional, Tuple

import torch

from ..datasets.vocabularies import (first_names, resolve_vocabulary_entries,
                                     resolve_vocabulary_synonyms)
from ..utils.config_variables import OVDConfigError
from ..utils.hashing import weights_id
from .clip_weights import looks_like_file
from .embedding_cache import TextEmbeddingCache, load_text_embeddings
from .sidecar_cache import EmbeddingMismatchError, SidecarCache, read_sidecar
from .token_feature_cache import TokenFeatureCache, load_token_features

_CACHES: Dict[Tuple[str, str], SidecarCache] = {}


def cache_dir_of(cfg: Mapping) -> str:
    """The cache folder of a vocabulary config that names CLIP weights (not a ``path``).

    Raises:
        OVDConfigError: the config has neither ``model`` nor ``pretrained``.
    """
    if 'model' not in cfg or 'pretrained' not in cfg:
        raise OVDConfigError(f'vocabulary config {dict(cfg)} needs `path`, or `model` and '
                             f'`pretrained` (use pretrained=None for random weights explicitly)')
    return str(cfg.get('cache_dir', 'data/embeddings'))


def cache_of(kind: str, cfg: Mapping, num_names: int = 0) -> SidecarCache:
    """The process's cache of ``kind`` (``'pooled'`` or ``'tokens'``) for a config's folder."""
    key = (kind, cache_dir_of(cfg))
    if key not in _CACHES:
        _CACHES[key] = (TextEmbeddingCache(key[1], progress=num_names > 200) if kind == 'pooled'
                        else TokenFeatureCache(key[1]))
    return _CACHES[key]


def check_stored_clip_weights(cfg: Mapping, what: str = 'text embeddings') -> None:
    """Refuses a stored file (``cfg['path']``) made with other CLIP weights than the config's.

    A vocabulary config with a ``path`` may also name the CLIP model and weights (inherited
    from the training vocabulary, or the config's ``clip_pretrained``): those encode every
    other vocabulary the head meets (test-time swaps, the demo), so a file of other weights,
    even of the same dimension, would mix two embedding spaces. Nothing is checked when the
    config names no weights, or random ones (``pretrained=None``).

    Raises:
        EmbeddingMismatchError: naming the file, the weights it was made with and the config's.
    """
    if not cfg.get('path') or 'model' not in cfg or cfg.get('pretrained') is None:
        return
    pretrained = str(cfg['pretrained'])
    if looks_like_file(pretrained) and not os.path.isfile(pretrained):
        return  # weights that cannot be identified; using them fails, naming the file
    path, meta = read_sidecar(cfg['path'], what)
    wanted = (cfg['model'], weights_id(pretrained))
    found = (meta.get('model'), meta.get('weights_id'))
    if found != wanted:
        raise EmbeddingMismatchError(
            f'{what} {path} were made with CLIP {found[0]!r} weights {meta.get("pretrained")!r} '
            f'({found[1]}), but the vocabulary config uses CLIP {wanted[0]!r} weights '
            f'{pretrained!r} ({wanted[1]}): rebuild them with tools/build_text_embeddings.py '
            f'for those weights, or drop `path` to let the cache build them')


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
    name. The cache key and sidecar hold the whole entries.

    Returns:
        The ordered (first) names and a ``(C, D)`` float32 tensor with unit rows.

    Raises:
        OVDConfigError: the config has neither ``path`` nor ``model`` + ``pretrained``.
        EmbeddingMismatchError: a stored file made with other CLIP weights than the config
            names (:func:`check_stored_clip_weights`), or for other names.
    """
    entries = resolve_vocabulary_entries(cfg['classes'])
    names = first_names(entries)
    if cfg.get('path'):
        check_stored_clip_weights(cfg)
        embeddings, _ = load_text_embeddings(cfg['path'], expected=dict(classes=entries))
        return names, embeddings
    embeddings = cache_of('pooled', cfg, len(names)).get(
        entries, cfg['model'], cfg['pretrained'], cfg.get('templates', 'vild'))
    return names, embeddings


def vocabulary_token_features(cfg: Mapping, names_per_prompt: Optional[int] = None
                              ) -> Tuple[Tuple[str, ...], Dict[str, torch.Tensor]]:
    """Class names and the token features of their grounding prompts, for a vocabulary config.

    The two forms of :func:`vocabulary_embeddings` (``templates`` is accepted and unused: a
    grounding prompt is the names themselves); a stored token-feature file's sidecar must list
    exactly these names in this order and have been made with ``names_per_prompt``.

    An entry with synonyms (``'television|tv'``) puts every synonym in the prompt as a name of
    its own (each a span); ``owners`` says which class each span belongs to, and the token
    cache is keyed by the synonyms themselves.

    Returns:
        The ordered (first) names of the C classes, and the tensors of
        :meth:`TokenFeatureCache.get` (``spans`` ``(S, 3)``, one per synonym) plus ``owners``
        ``(S,)`` int64, the class of each span.

    Raises:
        OVDConfigError: the config has neither ``path`` nor ``model`` + ``pretrained``.
    """
    groups = resolve_vocabulary_synonyms(cfg['classes'])
    names = first_names([g[0] for g in groups])
    synonyms = tuple(n for g in groups for n in g)
    owners = torch.tensor([c for c, g in enumerate(groups) for _ in g], dtype=torch.long)
    if cfg.get('path'):
        check_stored_clip_weights(cfg, 'token features')
        tensors, _ = load_token_features(cfg['path'], expected=dict(
            classes=synonyms, names_per_prompt=names_per_prompt))
    else:
        tensors = cache_of('tokens', cfg).get(synonyms, cfg['model'], cfg['pretrained'],
                                              names_per_prompt)
    return names, dict(tensors, owners=owners)
