"""Pooled class text embeddings in the sidecar cache (:mod:`ovdkit.text.sidecar_cache`).

An entry is ``<stem>.pt`` (``{'embeddings': (C, D) float32}``) and ``<stem>.json`` (model,
weights id, templates, ordered class names, dimension, OVDKit version, key), named
``<model>_<weights>_<templates>_<C>c_<key>``.
"""
from pathlib import Path
from typing import Dict, Mapping, Optional, Sequence, Tuple, Union

import torch

from .clip_text_encoder import CLIPTextEncoder, TextEncoderPool
from .sidecar_cache import (CacheKind, EmbeddingMismatchError, SidecarCache, load_entry, safe_name,
                            save_entry)
from .templates import load_templates

__all__ = ['PooledEmbeddings', 'POOLED', 'TextEmbeddingCache', 'make_meta',
           'save_text_embeddings', 'load_text_embeddings']


class PooledEmbeddings(CacheKind):
    """``(C, D)`` unit class embeddings: the normalised mean over prompt templates."""

    name = 'pooled'
    what = 'text embeddings'
    key_fields = ('model', 'weights_id', 'template_list', 'classes', 'dim', 'ovdkit_version')
    checked_fields = ('model', 'weights_id', 'templates', 'num_classes', 'dim', 'classes')
    options = ('templates',)

    def __init__(self, batch_size: int = 256, progress: bool = False) -> None:
        self.batch_size = batch_size
        self.progress = progress

    def fields(self, model_config: Mapping, templates: str = 'vild') -> Dict:
        name, template_list = load_templates(templates)
        return dict(templates=name, template_list=list(template_list))

    def tag(self, meta: Mapping) -> str:
        return safe_name(meta['templates'])

    def check(self, path: Path, tensors: Mapping[str, torch.Tensor], meta: Mapping) -> None:
        shape = tuple(tensors['embeddings'].shape) if 'embeddings' in tensors else None
        if shape != (meta['num_classes'], meta['dim']):
            raise EmbeddingMismatchError(
                f'text embeddings {path}: tensor shape {shape} disagrees with its sidecar '
                f'(num_classes={meta["num_classes"]}, dim={meta["dim"]})')

    def build(self, encoder: CLIPTextEncoder, meta: Mapping, **options):
        embeddings = encoder.embed_classes(meta['classes'], meta['template_list'],
                                           batch_size=self.batch_size, progress=self.progress)
        return dict(embeddings=embeddings.float()), {}

    def output(self, tensors):
        return tensors['embeddings']


#: The kind with default build options (what loading and the sidecar helpers use).
POOLED = PooledEmbeddings()


def make_meta(model: str, pretrained: Optional[str], weights: str, templates: str,
              template_list: Sequence[str], classes: Sequence[str], dim: int) -> Dict:
    """Builds a sidecar dict (key included) for embeddings made this way."""
    return POOLED.make_meta(model, pretrained, weights, classes, dim, templates=templates,
                            template_list=list(template_list))


def save_text_embeddings(path: Union[str, Path], embeddings: torch.Tensor, meta: Dict) -> Path:
    """Writes ``<path>.pt`` and its sidecar ``<path>.json`` atomically (sidecar last).

    Args:
        path: File path; the suffix is replaced by ``.pt`` / ``.json``.
        embeddings: ``(C, D)`` tensor matching ``meta['num_classes']`` and ``meta['dim']``.
        meta: Sidecar from :func:`make_meta`.

    Returns:
        The path of the ``.pt`` file.
    """
    shape, expected = tuple(embeddings.shape), (meta['num_classes'], meta['dim'])
    if shape != expected:
        raise ValueError(f'embeddings of shape {shape} do not match their sidecar '
                         f'(num_classes, dim) = {expected}')
    return save_entry(POOLED, path, dict(embeddings=embeddings.float()), meta)


def load_text_embeddings(path: Union[str, Path],
                         expected: Optional[Dict] = None) -> Tuple[torch.Tensor, Dict]:
    """Loads embeddings and their sidecar, checking them against what the caller expects.

    Args:
        path: The ``.pt`` file (or its stem).
        expected: Optional values for any of ``model``, ``weights_id``, ``templates``,
            ``num_classes``, ``dim``, ``classes`` (ordered names).

    Returns:
        ``(C, D)`` float32 embeddings and the sidecar dict.

    Raises:
        FileNotFoundError: the file or its sidecar is missing.
        EmbeddingMismatchError: a field differs; the message names the file and the field.
    """
    tensors, meta = load_entry(POOLED, path, expected)
    return tensors['embeddings'], meta


class TextEmbeddingCache(SidecarCache):
    """Class embeddings computed once per (model, weights, templates, names) and kept on disk:
    ``get(classes, model, pretrained, templates='vild')`` -> ``(C, D)`` float32 unit rows.

    Args:
        cache_dir: Folder of the cache files.
        batch_size: Prompts per forward pass when building.
        progress: Show a progress bar when building.
        device: Device for the encoders.
        pool: Encoders to use (default: the process's, shared with every other kind).
    """

    def __init__(self, cache_dir: Union[str, Path] = 'data/embeddings', batch_size: int = 256,
                 progress: bool = False, device: Union[str, torch.device] = 'cpu',
                 pool: Optional[TextEncoderPool] = None) -> None:
        super().__init__(PooledEmbeddings(batch_size, progress), cache_dir, device, pool)
