"""On-disk cache of class text embeddings, each file with a JSON sidecar saying how it was made.

A cache entry is two files: ``<stem>.pt`` (a dict ``{'embeddings': (C, D) float32}``, read back
with ``weights_only=True``) and ``<stem>.json`` (model, weights id, templates, ordered class
names, dimension, OVDKit version, key). The key is a hash of those fields, so a request either
finds the file made exactly that way or builds it. The sidecar is renamed into place last: a
crash leaves no entry that looks complete.
"""
import hashlib
import json
import os
import re
from pathlib import Path
from typing import Dict, Mapping, Optional, Sequence, Tuple, Union

import open_clip
import torch

from ..utils.atomic_io import atomic_write, write_json_atomic
from ..version import __version__
from .clip_text_encoder import CLIPTextEncoder, TextEncoderPool, register_model_configs
from .templates import load_templates

FORMAT_VERSION = 1
#: Fields compared when a caller says what it expects of a file, in the order they are checked.
CHECKED_FIELDS = ('model', 'weights_id', 'templates', 'num_classes', 'dim', 'classes')
_FILE_HASHES: Dict[Tuple[str, int, int], str] = {}


class EmbeddingMismatchError(ValueError):
    """A stored embedding file was not made the way its user expects."""


def file_sha256(path: Union[str, Path]) -> str:
    """sha256 of a file's bytes, memoised on (path, size, mtime)."""
    stat = os.stat(path)
    memo = (str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns)
    if memo not in _FILE_HASHES:
        digest = hashlib.sha256()
        with open(path, 'rb') as f:
            for block in iter(lambda: f.read(1 << 20), b''):
                digest.update(block)
        _FILE_HASHES[memo] = digest.hexdigest()
    return _FILE_HASHES[memo]


def state_dict_sha256(module: torch.nn.Module) -> str:
    """sha256 over a module's tensors (names, shapes and values), for random-weight models."""
    digest = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        digest.update(name.encode())
        digest.update(str(tuple(tensor.shape)).encode())
        digest.update(tensor.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy())
    return digest.hexdigest()


def weights_id(pretrained: Optional[str], encoder: Optional[CLIPTextEncoder] = None) -> str:
    """Identifies CLIP weights: ``tag:<tag>``, ``sha256:<file hash>`` or ``random-sha256:<...>``.

    Args:
        pretrained: Tag, checkpoint path, or ``None`` (random weights; needs ``encoder``).
        encoder: The built encoder, hashed when the weights are random.
    """
    if pretrained is None:
        if encoder is None:
            raise ValueError('random CLIP weights (pretrained=None) are identified by hashing '
                             'the built encoder: pass encoder=')
        return 'random-sha256:' + state_dict_sha256(encoder)
    if os.path.isfile(pretrained):
        return 'sha256:' + file_sha256(pretrained)
    return 'tag:' + pretrained


def embedding_key(meta: Dict) -> str:
    """Hash of the fields that determine an embedding file's content."""
    fields = {k: meta[k] for k in ('model', 'weights_id', 'template_list', 'classes', 'dim',
                                   'ovdkit_version')}
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()


def make_meta(model: str, pretrained: Optional[str], weights: str, templates: str,
              template_list: Sequence[str], classes: Sequence[str], dim: int) -> Dict:
    """Builds a sidecar dict (key included) for embeddings made this way."""
    meta = dict(format=FORMAT_VERSION, kind='pooled', model=model, pretrained=pretrained,
                weights_id=weights, templates=templates, template_list=list(template_list),
                classes=list(classes), num_classes=len(classes), dim=int(dim),
                ovdkit_version=__version__)
    meta['key'] = embedding_key(meta)
    return meta


def save_text_embeddings(path: Union[str, Path], embeddings: torch.Tensor, meta: Dict) -> Path:
    """Writes ``<path>.pt`` and its sidecar ``<path>.json`` atomically (sidecar last).

    Args:
        path: File path; the suffix is replaced by ``.pt`` / ``.json``.
        embeddings: ``(C, D)`` tensor matching ``meta['num_classes']`` and ``meta['dim']``.
        meta: Sidecar from :func:`make_meta`.

    Returns:
        The path of the ``.pt`` file.
    """
    path = Path(path).with_suffix('.pt')
    expected = (meta['num_classes'], meta['dim'])
    if tuple(embeddings.shape) != expected:
        raise ValueError(f'embeddings of shape {tuple(embeddings.shape)} do not match their '
                         f'sidecar (num_classes, dim) = {expected}')
    tensor = embeddings.detach().float().cpu().contiguous()
    atomic_write(path, lambda tmp: torch.save({'embeddings': tensor}, tmp))
    write_json_atomic(meta, path.with_suffix('.json'), indent=1)
    return path


def _describe_difference(field: str, found, wanted) -> str:
    if field != 'classes':
        return f'file has {found!r}, expected {wanted!r}'
    if len(found) != len(wanted):
        return f'file has {len(found)} names, expected {len(wanted)}'
    if sorted(found) == sorted(wanted):
        first = next(i for i, (a, b) in enumerate(zip(found, wanted)) if a != b)
        return (f'same names in another order (index {first}: file has {found[first]!r}, '
                f'expected {wanted[first]!r})')
    first = next(i for i, (a, b) in enumerate(zip(found, wanted)) if a != b)
    return f'index {first}: file has {found[first]!r}, expected {wanted[first]!r}'


def read_sidecar(path: Union[str, Path], what: str) -> Tuple[Path, Dict]:
    """The ``.pt`` path of a cache entry and its parsed JSON sidecar.

    Raises:
        FileNotFoundError: the file or its sidecar is missing (the message starts with
            ``what``).
    """
    path = Path(path).with_suffix('.pt')
    sidecar = path.with_suffix('.json')
    for p in (path, sidecar):
        if not p.is_file():
            raise FileNotFoundError(f'{what}: {p} does not exist')
    return path, json.loads(sidecar.read_text())


def check_expected_fields(what: str, path: Path, meta: Dict, expected: Optional[Mapping],
                          fields: Sequence[str]) -> None:
    """Compares a sidecar with what its caller expects, field by field in ``fields`` order.

    Raises:
        KeyError: ``expected`` names a field outside ``fields``.
        EmbeddingMismatchError: a field differs; the message names the file and the field.
    """
    unknown = set(expected or {}) - set(fields)
    if unknown:
        raise KeyError(f'cannot check unknown {what} fields {sorted(unknown)}; '
                       f'known: {tuple(fields)}')
    for field in fields:
        if expected and field in expected:
            wanted = list(expected[field]) if field == 'classes' else expected[field]
            if meta[field] != wanted:
                raise EmbeddingMismatchError(
                    f'{what} {path}: {field!r} differs: '
                    f'{_describe_difference(field, meta[field], wanted)}')


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
    path, meta = read_sidecar(path, 'text embeddings')
    embeddings = torch.load(path, map_location='cpu', weights_only=True)['embeddings']
    if tuple(embeddings.shape) != (meta['num_classes'], meta['dim']):
        raise EmbeddingMismatchError(
            f'text embeddings {path}: tensor shape {tuple(embeddings.shape)} disagrees with its '
            f'sidecar (num_classes={meta["num_classes"]}, dim={meta["dim"]})')
    check_expected_fields('text embeddings', path, meta, expected, CHECKED_FIELDS)
    return embeddings, meta


def _safe(text: str) -> str:
    return re.sub(r'[^A-Za-z0-9.-]+', '-', text).strip('-')[:40]


class TextEmbeddingCache(TextEncoderPool):
    """Class embeddings computed once per (model, weights, templates, names) and kept on disk.

    Encoders are built lazily, at most once per (model, pretrained), and only on a cache miss,
    so swapping vocabularies never rebuilds CLIP and a hit never builds it at all.

    Args:
        cache_dir: Folder of the cache files.
        batch_size: Prompts per forward pass when building.
        progress: Show a progress bar when building.
        device: Device for the encoders.
    """

    def __init__(self, cache_dir: Union[str, Path] = 'data/embeddings', batch_size: int = 256,
                 progress: bool = False, device: Union[str, torch.device] = 'cpu') -> None:
        self.cache_dir = Path(cache_dir)
        self.batch_size = batch_size
        self.progress = progress
        super().__init__(device)

    def meta_for(self, classes: Sequence[str], model: str, pretrained: Optional[str],
                 templates: str = 'vild') -> Dict:
        """The sidecar that embeddings made this way have (builds no encoder for tag/file)."""
        register_model_configs()
        config = open_clip.get_model_config(model)
        if config is None:
            raise ValueError(f'unknown open_clip model {model!r} (see open_clip.list_models())')
        encoder = self.encoder(model, pretrained) if pretrained is None else None
        name, template_list = load_templates(templates)
        return make_meta(model, pretrained, weights_id(pretrained, encoder), name,
                         template_list, classes, config['embed_dim'])

    def path_for(self, meta: Dict) -> Path:
        """Cache file path of an entry (``.pt``; the sidecar is beside it)."""
        if meta['pretrained'] is None:
            weights = 'random'
        elif meta['weights_id'].startswith('sha256:'):
            weights = 'file-' + meta['weights_id'][len('sha256:'):][:8]
        else:
            weights = meta['pretrained']  # the tag
        stem = '_'.join([_safe(meta['model']), _safe(weights), _safe(meta['templates']),
                         f"{meta['num_classes']}c", meta['key'][:16]])
        return self.cache_dir / f'{stem}.pt'

    def get(self, classes: Sequence[str], model: str, pretrained: Optional[str],
            templates: str = 'vild') -> torch.Tensor:
        """Embeddings of ``classes``, loaded from the cache or built and stored.

        Args:
            classes: C ordered class names.
            model: open_clip model name.
            pretrained: Tag, checkpoint path, or ``None`` for random weights.
            templates: ``'vild'``, ``'single'`` or a template file.

        Returns:
            ``(C, D)`` float32 tensor on CPU, unit rows.
        """
        if len(classes) == 0:
            raise ValueError('empty vocabulary: no class names to embed')
        meta = self.meta_for(classes, model, pretrained, templates)
        path = self.path_for(meta)
        if path.with_suffix('.json').is_file():
            embeddings, _ = load_text_embeddings(path, expected={
                k: meta[k] for k in CHECKED_FIELDS})
            return embeddings
        encoder = self.encoder(model, pretrained)
        embeddings = encoder.embed_classes(classes, meta['template_list'],
                                           batch_size=self.batch_size, progress=self.progress)
        save_text_embeddings(path, embeddings, meta)
        return embeddings.cpu()
