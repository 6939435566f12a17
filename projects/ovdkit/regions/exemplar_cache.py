"""The sidecar-cache kind of example-box embeddings (:mod:`ovdkit.text.sidecar_cache`).

An entry holds one class's examples: ``<stem>.pt`` (``{'embeddings': (K, D) float32}``, one
unit row per example box) and ``<stem>.json``: CLIP model, weights id, crop scales and size,
and for every example its image's sha256, its box and the image sizes (input and the one the
crops are cut from). The key hashes all of these; the class name is recorded, not keyed (the
same examples under another name are the same rows). Entries are named
``<model>_<weights>_exemplars_<K>x_<key>``.
"""
from pathlib import Path
from typing import Dict, Mapping, Optional, Tuple, Union

import torch

from ..text.sidecar_cache import (CacheKind, EmbeddingMismatchError, load_entry, safe_name,
                                  save_entry)

__all__ = ['ExemplarEmbeddingsKind', 'EXEMPLARS', 'exemplar_cache_path',
           'load_exemplar_embeddings', 'save_exemplar_embeddings']


class ExemplarEmbeddingsKind(CacheKind):
    """``(K, D)`` unit embeddings of a class's K example boxes (CLIP's image tower)."""

    name = 'exemplars'
    what = 'exemplar embeddings'
    key_fields = ('model', 'weights_id', 'crop_scales', 'crop_size', 'examples', 'dim',
                  'ovdkit_version')
    checked_fields = ('model', 'weights_id', 'crop_scales', 'crop_size', 'dim', 'examples')

    def fields(self, model_config: Mapping, **options) -> Dict:
        return dict(options)

    def tag(self, meta: Mapping) -> str:
        return f'exemplars_{len(meta["examples"])}x'

    def check(self, path: Path, tensors: Mapping[str, torch.Tensor], meta: Mapping) -> None:
        shape = tuple(tensors['embeddings'].shape) if 'embeddings' in tensors else None
        if shape != (len(meta['examples']), meta['dim']):
            raise EmbeddingMismatchError(
                f'exemplar embeddings {path}: tensor shape {shape} disagrees with its sidecar '
                f'({len(meta["examples"])} examples, dim={meta["dim"]})')


#: The kind (stateless).
EXEMPLARS = ExemplarEmbeddingsKind()


def exemplar_cache_path(cache_dir: Union[str, Path], meta: Mapping) -> Path:
    """The ``.pt`` path of an entry in ``cache_dir`` (its sidecar is beside it)."""
    if meta['weights_id'].startswith('sha256:'):
        weights = 'file-' + meta['weights_id'][len('sha256:'):][:8]
    else:
        weights = meta['pretrained']  # the tag
    stem = '_'.join([safe_name(meta['model']), safe_name(weights), EXEMPLARS.tag(meta),
                     meta['key'][:16]])
    return Path(cache_dir) / f'{stem}.pt'


def save_exemplar_embeddings(path: Union[str, Path], embeddings: torch.Tensor,
                             meta: Mapping) -> Path:
    """Writes ``(K, D)`` example embeddings and their sidecar atomically (sidecar last)."""
    return save_entry(EXEMPLARS, path, dict(embeddings=embeddings.float()), meta)


def load_exemplar_embeddings(path: Union[str, Path], expected: Optional[Mapping] = None
                             ) -> Tuple[torch.Tensor, Dict]:
    """Loads example embeddings and their sidecar, checked against what the caller expects.

    Args:
        path: The ``.pt`` file (or its stem).
        expected: Values for any of ``model``, ``weights_id``, ``crop_scales``,
            ``crop_size``, ``dim``, ``examples``.

    Returns:
        ``(K, D)`` float32 unit rows and the sidecar.

    Raises:
        FileNotFoundError: the file or its sidecar is missing.
        EmbeddingMismatchError: another kind, or a field that differs from ``expected`` (the
            message names the file and the field, e.g. ``'weights_id' differs``).
    """
    tensors, meta = load_entry(EXEMPLARS, path, expected)
    return tensors['embeddings'], meta
