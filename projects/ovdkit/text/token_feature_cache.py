"""Token features of grounding prompts (``"person. bicycle. traffic light."``), chunked to the
text context, in the sidecar cache (:mod:`ovdkit.text.sidecar_cache`).

A vocabulary becomes one or more prompts of ``name. name. ...``: names are packed in order
into chunks that fit the text tower's context (start and end tokens included), and each class
keeps the token span of its name (the positive map is built from these spans). An entry is
``<stem>.pt`` (``features``, ``attention_mask``, ``token_ids``, ``spans``) and ``<stem>.json``
(model, weights id, ordered names, context length, names per prompt, dimension, prompts,
OVDKit version, key), named ``<model>_<weights>_tokens[N]_<C>c_<key>``.
"""
from pathlib import Path
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import open_clip
import torch

from .clip_text_encoder import CLIPTextEncoder, TextEncoderPool
from .sidecar_cache import CacheKind, EmbeddingMismatchError, SidecarCache, load_entry
from .templates import name_for_prompt

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
    length = max(len(i) for i in ids)
    out = encoder.encode_tokens(prompts, length=length)
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


class TokenFeatures(CacheKind):
    """The token features of a vocabulary's grounding prompts (:func:`encode_vocabulary_tokens`)."""

    name = 'tokens'
    what = 'token features'
    key_fields = ('format', 'model', 'weights_id', 'context_length', 'classes',
                  'names_per_prompt', 'dim', 'ovdkit_version')
    checked_fields = ('model', 'weights_id', 'context_length', 'names_per_prompt',
                      'num_classes', 'dim', 'classes')
    options = ('names_per_prompt',)

    def fields(self, model_config: Mapping, names_per_prompt: Optional[int] = None) -> Dict:
        context = model_config.get('text_cfg', {}).get('context_length', 77)
        return dict(context_length=int(context), names_per_prompt=names_per_prompt)

    def tag(self, meta: Mapping) -> str:
        per_prompt = meta['names_per_prompt']
        return 'tokens' if per_prompt is None else f'tokens{per_prompt}'

    def check(self, path: Path, tensors: Mapping[str, torch.Tensor], meta: Mapping) -> None:
        missing = [k for k in TENSOR_KEYS if k not in tensors]
        if missing:
            raise EmbeddingMismatchError(f'token features {path}: no {missing} in the file')
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

    def build(self, encoder: CLIPTextEncoder, meta: Mapping,
              names_per_prompt: Optional[int] = None):
        tensors, prompts = encode_vocabulary_tokens(encoder, meta['classes'], names_per_prompt)
        return tensors, dict(prompts=prompts)


TOKENS = TokenFeatures()


def make_token_meta(model: str, pretrained: Optional[str], weights: str, context_length: int,
                    classes: Sequence[str], dim: int,
                    names_per_prompt: Optional[int] = None) -> Dict:
    """Builds a sidecar dict (key included; ``prompts`` is filled when the entry is made)."""
    return TOKENS.make_meta(model, pretrained, weights, classes, dim,
                            context_length=int(context_length), names_per_prompt=names_per_prompt)


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
    return load_entry(TOKENS, path, expected)


class TokenFeatureCache(SidecarCache):
    """Token features of a vocabulary computed once per (model, weights, names), kept on disk:
    ``get(classes, model, pretrained, names_per_prompt=None)`` -> the CPU tensors of
    :func:`encode_vocabulary_tokens` (``spans`` ``(C, 3)``).

    Args:
        cache_dir: Folder of the cache files.
        device: Device for the encoders.
        pool: Encoders to use (default: the process's, shared with every other kind).
    """

    def __init__(self, cache_dir: Union[str, Path] = 'data/embeddings',
                 device: Union[str, torch.device] = 'cpu',
                 pool: Optional[TextEncoderPool] = None) -> None:
        super().__init__(TOKENS, cache_dir, device, pool)
