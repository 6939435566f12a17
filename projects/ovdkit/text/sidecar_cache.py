"""One on-disk cache for everything derived from CLIP's text tower, each entry with a sidecar.

An entry is two files: ``<stem>.pt``, a dict of tensors read back with ``weights_only=True``,
and ``<stem>.json``, its sidecar: how it was made (``kind``, model, weights id, ordered class
names, dimension, OVDKit version, the kind's own fields) and ``key``, a hash of the fields that
determine the content. A request either finds the entry made exactly that way or builds it.
Both files are written to a temporary name and renamed, the sidecar last: a crash leaves no
entry that looks complete.

What differs between kinds (pooled class embeddings, grounding token features, ...) is a
:class:`CacheKind`: its fields, its file-name tag, its tensor check and how to build it from a
text encoder. Everything else is here once, and every kind in a process builds its encoders in
one :func:`shared_encoder_pool`: a ViLD and a grounding head on the same CLIP weights build the
text tower once.
"""
import hashlib
import json
import re
from pathlib import Path
from typing import Dict, Mapping, Optional, Sequence, Tuple, Union

import open_clip
import torch

from ..datasets.vocabularies import check_class_names
from ..utils.atomic_io import atomic_write, write_json_atomic
from ..utils.hashing import weights_id
from ..version import __version__
from .clip_text_encoder import CLIPTextEncoder, TextEncoderPool
from .clip_weights import register_model_configs

#: The sidecar format this code writes and reads.
FORMAT_VERSION = 1
Tensors = Dict[str, torch.Tensor]
_POOLS: Dict[str, TextEncoderPool] = {}


class EmbeddingMismatchError(ValueError):
    """A stored file derived from CLIP's text tower was not made the way its user expects."""


def shared_encoder_pool(device: Union[str, torch.device] = 'cpu') -> TextEncoderPool:
    """The process's text encoders on ``device``, shared by every cache kind and folder.

    Random weights (``pretrained=None``, tests only) are therefore drawn once per model and
    process; their entries are keyed by the hash of the weights drawn.
    """
    if str(device) not in _POOLS:
        _POOLS[str(device)] = TextEncoderPool(device)
    return _POOLS[str(device)]


def safe_name(text: str) -> str:
    """``text`` reduced to a file-name part (letters, digits, ``.`` and ``-``; 40 at most)."""
    return re.sub(r'[^A-Za-z0-9.-]+', '-', text).strip('-')[:40]


class CacheKind:
    """The per-kind part of the cache. Subclasses set the class attributes and the methods.

    Attributes:
        name: The sidecar's ``kind``.
        what: How messages name a file of this kind (``'text embeddings'``).
        key_fields: Sidecar fields hashed into ``key``.
        checked_fields: Fields a caller may expect of a file, in the order they are checked.
        options: The kind's build options, in the order :meth:`SidecarCache.get` takes them.
    """

    name = ''
    what = ''
    key_fields: Tuple[str, ...] = ()
    checked_fields: Tuple[str, ...] = ()
    options: Tuple[str, ...] = ()

    def fields(self, model_config: Mapping, **options) -> Dict:
        """The kind's own sidecar fields for these options (``model_config``: open_clip's)."""
        raise NotImplementedError

    def tag(self, meta: Mapping) -> str:
        """The part of the file name that tells entries of this kind apart."""
        raise NotImplementedError

    def check(self, path: Path, tensors: Mapping[str, torch.Tensor], meta: Mapping) -> None:
        """Raises :class:`EmbeddingMismatchError` when the tensors disagree with the sidecar."""
        raise NotImplementedError

    def build(self, encoder: CLIPTextEncoder, meta: Mapping, **options) -> Tuple[Tensors, Dict]:
        """The entry's tensors and the sidecar fields known only once built."""
        raise NotImplementedError

    def output(self, tensors: Tensors):
        """What :meth:`SidecarCache.get` returns of an entry's tensors (all of them)."""
        return tensors

    def make_meta(self, model: str, pretrained: Optional[str], weights: str,
                  classes: Sequence[str], dim: int, **fields) -> Dict:
        """A sidecar (``key`` included) for an entry made this way."""
        meta = dict(format=FORMAT_VERSION, kind=self.name, model=model, pretrained=pretrained,
                    weights_id=weights, **fields, classes=list(classes),
                    num_classes=len(classes), dim=int(dim), ovdkit_version=__version__)
        meta['key'] = hashlib.sha256(json.dumps({k: meta[k] for k in self.key_fields},
                                                sort_keys=True).encode()).hexdigest()
        return meta


def save_entry(kind: CacheKind, path: Union[str, Path], tensors: Mapping[str, torch.Tensor],
               meta: Mapping) -> Path:
    """Writes ``<path>.pt`` and its sidecar ``<path>.json`` atomically (sidecar last).

    Raises:
        EmbeddingMismatchError: the tensors disagree with the sidecar (nothing is written).
    """
    path = Path(path).with_suffix('.pt')
    kind.check(path, tensors, meta)
    data = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    atomic_write(path, lambda tmp: torch.save(data, tmp))
    write_json_atomic(dict(meta), path.with_suffix('.json'), indent=1)
    return path


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


def _describe_difference(field: str, found, wanted) -> str:
    if field != 'classes':
        return f'file has {found!r}, expected {wanted!r}'
    if len(found) != len(wanted):
        return f'file has {len(found)} names, expected {len(wanted)}'
    first = next(i for i, (a, b) in enumerate(zip(found, wanted)) if a != b)
    where = f'index {first}: file has {found[first]!r}, expected {wanted[first]!r}'
    return f'same names in another order ({where})' if sorted(found) == sorted(wanted) else where


def check_expected_fields(what: str, path: Path, meta: Mapping, expected: Optional[Mapping],
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


def load_entry(kind: CacheKind, path: Union[str, Path],
               expected: Optional[Mapping] = None) -> Tuple[Tensors, Dict]:
    """Loads an entry and its sidecar, checked against its kind and what the caller expects.

    A sidecar of another format or kind is refused with a message saying how to rebuild the
    file (sidecars without ``kind`` or ``format``, from before these fields, are of format 1).

    Raises:
        FileNotFoundError: the file or its sidecar is missing.
        EmbeddingMismatchError: another format or kind, tensors that disagree with the
            sidecar, or a field that differs from ``expected``; the message names the file.
    """
    path, meta = read_sidecar(path, kind.what)
    rebuild = (f'delete {path.name} and its .json and let the cache build it again (or rebuild '
               f'it with tools/build_text_embeddings.py)')
    if meta.get('format', FORMAT_VERSION) != FORMAT_VERSION:
        raise EmbeddingMismatchError(f'{kind.what} {path}: sidecar format {meta["format"]}, '
                                     f'this OVDKit reads format {FORMAT_VERSION}: {rebuild}')
    if meta.get('kind', kind.name) != kind.name:
        raise EmbeddingMismatchError(f'{kind.what} {path}: the sidecar says kind '
                                     f'{meta.get("kind")!r}, not {kind.name!r}')
    tensors = torch.load(path, map_location='cpu', weights_only=True)
    kind.check(path, tensors, meta)
    check_expected_fields(kind.what, path, meta, expected, kind.checked_fields)
    return tensors, meta


class SidecarCache:
    """Entries of one kind computed once per (model, weights, names, options), kept on disk.

    Encoders come from a :class:`TextEncoderPool` (by default the process's
    :func:`shared_encoder_pool`), built lazily and only on a miss (or to hash random weights,
    ``pretrained=None``), so a hit never builds CLIP and no kind builds a tower another built.

    Args:
        kind: What the entries are.
        cache_dir: Folder of the cache files.
        device: Device for the encoders.
        pool: Encoders to use (default: the process's pool for ``device``).
    """

    def __init__(self, kind: CacheKind, cache_dir: Union[str, Path] = 'data/embeddings',
                 device: Union[str, torch.device] = 'cpu',
                 pool: Optional[TextEncoderPool] = None) -> None:
        self.kind = kind
        self.cache_dir = Path(cache_dir)
        self.pool = pool if pool is not None else shared_encoder_pool(device)

    @property
    def _encoders(self) -> Dict[tuple, CLIPTextEncoder]:
        """The encoders built so far, by (model, pretrained)."""
        return self.pool._encoders

    def encoder(self, model: str, pretrained: Optional[str]) -> CLIPTextEncoder:
        """The (memoised) frozen text encoder for these weights."""
        return self.pool.encoder(model, pretrained)

    def _options(self, args: Sequence, options: Mapping) -> Dict:
        return dict(zip(self.kind.options, args), **options)

    def meta_for(self, classes: Sequence[str], model: str, pretrained: Optional[str], *args,
                 **options) -> Dict:
        """The sidecar an entry made this way has (builds no encoder for a tag or a file).

        ``args`` / ``options``: the kind's build options (``templates`` for pooled embeddings,
        ``names_per_prompt`` for token features).
        """
        options = self._options(args, options)
        register_model_configs()
        config = open_clip.get_model_config(model)
        if config is None:
            raise ValueError(f'unknown open_clip model {model!r} (see open_clip.list_models())')
        encoder = self.encoder(model, pretrained) if pretrained is None else None
        return self.kind.make_meta(model, pretrained, weights_id(pretrained, encoder), classes,
                                   config['embed_dim'], **self.kind.fields(config, **options))

    def path_for(self, meta: Mapping) -> Path:
        """Cache file path of an entry (``.pt``; the sidecar is beside it)."""
        if meta['pretrained'] is None:
            weights = 'random'
        elif meta['weights_id'].startswith('sha256:'):
            weights = 'file-' + meta['weights_id'][len('sha256:'):][:8]
        else:
            weights = meta['pretrained']  # the tag
        stem = '_'.join([safe_name(meta['model']), safe_name(weights), self.kind.tag(meta),
                         f"{meta['num_classes']}c", meta['key'][:16]])
        return self.cache_dir / f'{stem}.pt'

    def get(self, classes: Sequence[str], model: str, pretrained: Optional[str], *args,
            **options):
        """What CLIP makes of ``classes``, loaded from the cache or built and stored.

        Args:
            classes: C ordered class names.
            model: open_clip model name.
            pretrained: Tag, checkpoint path, or ``None`` for random weights.
            *args, **options: The kind's build options (see :meth:`meta_for`).

        Returns:
            The kind's output of the entry's CPU tensors (pooled: ``(C, D)`` float32 unit
            rows; tokens: see :func:`~ovdkit.text.token_feature_cache.encode_vocabulary_tokens`).

        Raises:
            ValueError: ``classes`` is empty, or has a blank or repeated name
                (:func:`~ovdkit.datasets.vocabularies.check_class_names`).
        """
        options = self._options(args, options)
        check_class_names(classes, self.kind.what)
        meta = self.meta_for(classes, model, pretrained, **options)
        path = self.path_for(meta)
        if path.with_suffix('.json').is_file():
            tensors, _ = load_entry(self.kind, path, expected={
                k: meta[k] for k in self.kind.checked_fields})
            return self.kind.output(tensors)
        tensors, built = self.kind.build(self.encoder(model, pretrained), meta, **options)
        save_entry(self.kind, path, tensors, dict(meta, **built))
        return self.kind.output({k: v.cpu() for k, v in tensors.items()})
