"""Token features of grounding prompts (``"person. bicycle. traffic light."``), chunked to the
text context and cached on disk with a JSON sidecar, like the pooled class embeddings.

A vocabulary becomes one or more prompts of ``name. name. ...``: names are packed in order
into chunks that fit the text tower's context (start and end tokens included), and each class
keeps the token span of its name (the positive map is built from these spans). A cache entry is
``<stem>.pt`` (a dict of tensors, read back with ``weights_only=True``) and ``<stem>.json``
(model, weights id, ordered names, context length, dimension, prompts, OVDKit version, key).
Files are written to a temporary name and renamed, the sidecar last.
"""
import hashlib
import json
from pathlib import Path
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import open_clip
import torch

from ..utils.atomic_io import atomic_write, write_json_atomic
from ..version import __version__
from .clip_text_encoder import CLIPTextEncoder, TextEncoderPool, register_model_configs
from .embedding_cache import (EmbeddingMismatchError, _safe, check_expected_fields, read_sidecar,
                              weights_id)
from .templates import name_for_prompt
from .vocabulary_embeddings import cache_dir_of

FORMAT_VERSION = 1
#: Fields compared when a caller says what it expects of a file, in the order they are checked.
CHECKED_FIELDS = ('model', 'weights_id', 'context_length', 'names_per_prompt', 'num_classes',
                  'dim', 'classes')
#: Tensors of a token-feature entry.
TENSOR_KEYS = ('features', 'attention_mask', 'token_ids', 'spans')
Chunks = Tuple[List[str], List[List[int]], List[Tuple[int, int, int]]]


def chunk_prompts(class_names: Sequence[str], encode: Callable[[str], List[int]],
                  context_length: int, sot_id: int, eot_id: int,
                  names_per_prompt: Optional[int] = None) -> Chunks:
    """Packs class names, in order, into grounding prompts that fit the text context.

    A prompt is ``"name. name. ..."`` (GLIP). A name that does not end in a letter or digit
    gets a space before its period (``"bow (weapon) ."``): CLIP's BPE would otherwise merge
    ``")."`` into one token shared by the name and the separator. With that rule a prompt's ids
    are exactly ``[sot] + ids(name_1) + ids(".") + ... + [eot]``, so every class's span is
    known without character offsets. Each class lies wholly in one chunk; a chunk is closed when
    the next name and its period would not fit, or when it holds ``names_per_prompt`` names.

    Args:
        class_names: C names; LVIS-style underscores become spaces.
        encode: Text -> BPE ids without start / end tokens (open_clip's ``tokenizer.encode``).
        context_length: Tokens the text tower takes, start and end tokens included.
        sot_id: Start-of-text id.
        eot_id: End-of-text id.
        names_per_prompt: At most this many names a prompt; ``None``: as many as fit (GLIP).

    Returns:
        ``(prompts, ids, spans)``: K prompt strings, their K id lists (start and end tokens
        included) and C ``(chunk, start, end)`` spans, ``end`` exclusive, in class order.

    Raises:
        ValueError: a name is empty or needs more tokens than one prompt holds (it is named).
    """
    if names_per_prompt is not None and names_per_prompt < 1:
        raise ValueError(f'names_per_prompt must be None or >= 1, got {names_per_prompt}')
    period = encode('.')
    room = context_length - 2  # start and end tokens
    prompts, ids, spans = [], [], []
    text, chunk, count = '', [sot_id], 0
    for name in class_names:
        words = name_for_prompt(name)
        name_ids = encode(words)
        if not name_ids:
            raise ValueError(f'class name {name!r} has no tokens')
        if len(name_ids) + len(period) > room:
            raise ValueError(f'class name {name!r} needs {len(name_ids) + len(period)} tokens '
                             f'with its period, more than the {room} a prompt of context '
                             f'length {context_length} holds')
        if len(chunk) - 1 + len(name_ids) + len(period) > room or count == names_per_prompt:
            prompts.append(text.strip())
            ids.append(chunk + [eot_id])
            text, chunk, count = '', [sot_id], 0
        spans.append((len(prompts), len(chunk), len(chunk) + len(name_ids)))
        chunk = chunk + name_ids + period
        count += 1
        text += words + ('. ' if words[-1].isalnum() else ' . ')
    prompts.append(text.strip())
    ids.append(chunk + [eot_id])
    return prompts, ids, spans


def encode_vocabulary_tokens(encoder: CLIPTextEncoder, class_names: Sequence[str],
                             names_per_prompt: Optional[int] = None
                             ) -> Tuple[Dict[str, torch.Tensor], List[str]]:
    """Token features of a vocabulary's grounding prompts.

    Args:
        encoder: A frozen CLIP text encoder with open_clip's BPE tokenizer.
        class_names: C ordered names.
        names_per_prompt: See :func:`chunk_prompts`.

    Returns:
        The tensors of an entry and the K prompts: ``features`` ``(K, L, D)`` float32 (projected,
        not normalised), ``attention_mask`` ``(K, L)`` bool, ``token_ids`` ``(K, L)`` int64,
        ``spans`` ``(C, 3)`` int64 ``(chunk, start, end)``; ``L`` is the longest prompt.

    Raises:
        ValueError: the tokenizer is not open_clip's BPE tokenizer, or a name is too long.
    """
    tok = encoder.tokenizer
    if not isinstance(tok, open_clip.tokenizer.SimpleTokenizer):
        raise ValueError(f'{encoder.model_name}: grounding prompts need open_clip\'s BPE '
                         f'tokenizer, the model uses {type(tok).__name__}')
    prompts, ids, spans = chunk_prompts(class_names, tok.encode, encoder.context_length,
                                        tok.sot_token_id, tok.eot_token_id, names_per_prompt)
    out = encoder.encode_tokens(prompts)
    length = max(len(i) for i in ids)
    for k, chunk_ids in enumerate(ids):
        # The span arithmetic relies on the prompt tokenising to the concatenated pieces.
        if out['token_ids'][k, :len(chunk_ids)].tolist() != chunk_ids:
            raise RuntimeError(f'{encoder.model_name}: prompt {prompts[k]!r} does not tokenise '
                               f'to its names\' tokens; cannot place the classes in it')
    tensors = dict(features=out['features'][:, :length].cpu().contiguous(),
                   attention_mask=out['attention_mask'][:, :length].cpu().contiguous(),
                   token_ids=out['token_ids'][:, :length].cpu().contiguous(),
                   spans=torch.tensor(spans, dtype=torch.long).view(-1, 3))
    return tensors, prompts


def token_key(meta: Mapping) -> str:
    """Hash of the fields that determine a token-feature file's content."""
    fields = {k: meta[k] for k in ('format', 'model', 'weights_id', 'context_length', 'classes',
                                   'names_per_prompt', 'dim', 'ovdkit_version')}
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()


def make_token_meta(model: str, pretrained: Optional[str], weights: str, context_length: int,
                    classes: Sequence[str], dim: int,
                    names_per_prompt: Optional[int] = None) -> Dict:
    """Builds a sidecar dict (key included; ``prompts`` is filled when the entry is made)."""
    meta = dict(format=FORMAT_VERSION, kind='tokens', model=model, pretrained=pretrained,
                weights_id=weights, context_length=int(context_length), classes=list(classes),
                num_classes=len(classes), names_per_prompt=names_per_prompt, dim=int(dim),
                ovdkit_version=__version__)
    meta['key'] = token_key(meta)
    return meta


def save_token_features(path: Union[str, Path], tensors: Mapping[str, torch.Tensor],
                        meta: Dict) -> Path:
    """Writes ``<path>.pt`` and its sidecar ``<path>.json`` atomically (sidecar last).

    Args:
        path: File path; the suffix is replaced by ``.pt`` / ``.json``.
        tensors: ``features`` ``(K, L, D)``, ``attention_mask`` ``(K, L)``, ``token_ids``
            ``(K, L)``, ``spans`` ``(C, 3)``, matching ``meta``'s ``num_classes`` and ``dim``.
        meta: Sidecar from :func:`make_token_meta`, with ``prompts`` (K strings).

    Returns:
        The path of the ``.pt`` file.
    """
    path = Path(path).with_suffix('.pt')
    _check_shapes(path, tensors, meta)
    data = {k: tensors[k].detach().cpu().contiguous() for k in TENSOR_KEYS}
    data['features'] = data['features'].float()
    atomic_write(path, lambda tmp: torch.save(data, tmp))
    write_json_atomic(meta, path.with_suffix('.json'), indent=1)
    return path


def _check_shapes(path: Path, tensors: Mapping[str, torch.Tensor], meta: Mapping) -> None:
    feats, spans = tensors['features'], tensors['spans']
    num_chunks = len(meta.get('prompts', feats))
    ok = (feats.ndim == 3 and feats.shape[0] == num_chunks and feats.shape[2] == meta['dim']
          and tuple(tensors['attention_mask'].shape) == tuple(feats.shape[:2])
          and tuple(tensors['token_ids'].shape) == tuple(feats.shape[:2])
          and tuple(spans.shape) == (meta['num_classes'], 3))
    if not ok:
        shapes = {k: tuple(tensors[k].shape) for k in TENSOR_KEYS}
        raise EmbeddingMismatchError(
            f'token features {path}: tensor shapes {shapes} disagree with the sidecar '
            f'({num_chunks} prompts, num_classes={meta["num_classes"]}, dim={meta["dim"]})')


def load_token_features(path: Union[str, Path], expected: Optional[Mapping] = None
                        ) -> Tuple[Dict[str, torch.Tensor], Dict]:
    """Loads a token-feature entry and its sidecar, checking them against the caller's wishes.

    Args:
        path: The ``.pt`` file (or its stem).
        expected: Optional values for any of ``model``, ``weights_id``, ``context_length``,
            ``names_per_prompt``, ``num_classes``, ``dim``, ``classes`` (ordered names).

    Returns:
        The tensors (see :func:`encode_vocabulary_tokens`) and the sidecar dict.

    Raises:
        FileNotFoundError: the file or its sidecar is missing.
        EmbeddingMismatchError: a field or a tensor shape differs; the message names the file
            and the field.
    """
    path, meta = read_sidecar(path, 'token features')
    if meta.get('kind') != 'tokens':
        raise EmbeddingMismatchError(f'token features {path}: the sidecar says kind '
                                     f'{meta.get("kind")!r}, not \'tokens\'')
    tensors = torch.load(path, map_location='cpu', weights_only=True)
    missing = [k for k in TENSOR_KEYS if k not in tensors]
    if missing:
        raise EmbeddingMismatchError(f'token features {path}: no {missing} in the file')
    _check_shapes(path, tensors, meta)
    check_expected_fields('token features', path, meta, expected, CHECKED_FIELDS)
    return tensors, meta


class TokenFeatureCache(TextEncoderPool):
    """Token features of a vocabulary computed once per (model, weights, names), kept on disk.

    Encoders are built lazily, at most once per (model, pretrained), and only on a miss (or to
    hash random weights, ``pretrained=None``), so a hit never builds CLIP.

    Args:
        cache_dir: Folder of the cache files.
        device: Device for the encoders.
    """

    def __init__(self, cache_dir: Union[str, Path] = 'data/embeddings',
                 device: Union[str, torch.device] = 'cpu') -> None:
        self.cache_dir = Path(cache_dir)
        super().__init__(device)

    def meta_for(self, classes: Sequence[str], model: str, pretrained: Optional[str],
                 names_per_prompt: Optional[int] = None) -> Dict:
        """The sidecar that token features made this way have (builds no encoder for weights
        given as a tag or a file)."""
        register_model_configs()
        config = open_clip.get_model_config(model)
        if config is None:
            raise ValueError(f'unknown open_clip model {model!r} (see open_clip.list_models())')
        encoder = self.encoder(model, pretrained) if pretrained is None else None
        context = config.get('text_cfg', {}).get('context_length', 77)
        return make_token_meta(model, pretrained, weights_id(pretrained, encoder), context,
                               classes, config['embed_dim'], names_per_prompt)

    def path_for(self, meta: Mapping) -> Path:
        """Cache file path of an entry (``.pt``; the sidecar is beside it)."""
        if meta['pretrained'] is None:
            weights = 'random'
        elif meta['weights_id'].startswith('sha256:'):
            weights = 'file-' + meta['weights_id'][len('sha256:'):][:8]
        else:
            weights = meta['pretrained']
        per_prompt = meta['names_per_prompt']
        stem = '_'.join([_safe(meta['model']), _safe(weights),
                         'tokens' if per_prompt is None else f'tokens{per_prompt}',
                         f"{meta['num_classes']}c", meta['key'][:16]])
        return self.cache_dir / f'{stem}.pt'

    def get(self, classes: Sequence[str], model: str, pretrained: Optional[str],
            names_per_prompt: Optional[int] = None) -> Dict[str, torch.Tensor]:
        """Token features of ``classes``' grounding prompts, loaded or built and stored.

        Args:
            classes: C ordered class names.
            model: open_clip model name.
            pretrained: Tag, checkpoint path, or ``None`` for random weights.
            names_per_prompt: See :func:`chunk_prompts`.

        Returns:
            CPU tensors ``features`` ``(K, L, D)``, ``attention_mask`` ``(K, L)``,
            ``token_ids`` ``(K, L)``, ``spans`` ``(C, 3)``.
        """
        if len(classes) == 0:
            raise ValueError('empty vocabulary: no class names to encode')
        meta = self.meta_for(classes, model, pretrained, names_per_prompt)
        path = self.path_for(meta)
        if path.with_suffix('.json').is_file():
            tensors, _ = load_token_features(path, expected={k: meta[k]
                                                             for k in CHECKED_FIELDS})
            return tensors
        encoder = self.encoder(model, pretrained)
        tensors, prompts = encode_vocabulary_tokens(encoder, classes, names_per_prompt)
        save_token_features(path, tensors, dict(meta, prompts=prompts))
        return tensors


_CACHES: Dict[str, TokenFeatureCache] = {}


def vocabulary_token_features(cfg: Mapping, names_per_prompt: Optional[int] = None
                              ) -> Tuple[Tuple[str, ...], Dict[str, torch.Tensor]]:
    """Class names and the token features of their grounding prompts, for a vocabulary config.

    Two forms, as :func:`ovdkit.text.vocabulary_embeddings.vocabulary_embeddings`:
    ``dict(classes=..., model=..., pretrained=..., cache_dir='data/embeddings')`` (through the
    cache; ``templates`` is accepted and unused: a grounding prompt is the names themselves),
    or ``dict(classes=..., path='x.pt')``, a stored token-feature file whose sidecar must list
    exactly these names in this order (and made with ``names_per_prompt``).

    An entry with synonyms (``'television|tv'``) puts every synonym in the prompt as a name of
    its own (each a span); ``owners`` says which class each span belongs to, and the token
    cache is keyed by the synonyms themselves.

    Returns:
        The ordered (first) names of the C classes, and the tensors of
        :meth:`TokenFeatureCache.get` (``spans`` ``(S, 3)``, one per synonym) plus ``owners``
        ``(S,)`` int64, the class of each span.

    Raises:
        KeyError: the config has neither ``path`` nor ``model`` + ``pretrained``.
    """
    from ..datasets.vocabularies import first_names, resolve_vocabulary_synonyms  # lazy: mmdet
    groups = resolve_vocabulary_synonyms(cfg['classes'])
    names = first_names([g[0] for g in groups])
    synonyms = tuple(n for g in groups for n in g)
    owners = torch.tensor([c for c, g in enumerate(groups) for _ in g], dtype=torch.long)
    if cfg.get('path'):
        tensors, _ = load_token_features(cfg['path'], expected=dict(
            classes=synonyms, names_per_prompt=names_per_prompt))
        return names, dict(tensors, owners=owners)
    cache_dir = cache_dir_of(cfg)
    if cache_dir not in _CACHES:
        _CACHES[cache_dir] = TokenFeatureCache(cache_dir)
    tensors = _CACHES[cache_dir].get(synonyms, cfg['model'], cfg['pretrained'], names_per_prompt)
    return names, dict(tensors, owners=owners)
