"""Positive maps (class -> scored tokens) and the token-to-class score merge of grounding heads."""
from typing import Mapping, Optional, Tuple

import torch
from torch import Tensor

#: Which tokens of a prompt carry a class's score (:func:`flatten_prompt_tokens`).
CLASS_TOKENS = ('name', 'last', 'eot')


def flatten_prompt_tokens(tokens: Mapping[str, Tensor],
                          class_tokens: str = 'name') -> Tuple[Tensor, Tensor]:
    """The scored tokens of a vocabulary's prompt chunks, and the class -> token positive map.

    The scored tokens of every class, chunk after chunk, make one token axis of T tokens, so a
    vocabulary of any length is scored at once and class ``c``'s columns are its own. Which
    tokens a class owns is ``class_tokens``:

    - ``'name'`` (GLIP): every token of its name. In CLIP's causal tower a token sees only what
      precedes it, so the ``red`` of ``red star`` and of ``red square`` are the same feature,
      positive for both classes' boxes and negative for each other's.
    - ``'last'``: the last token of its name, the first one that has read the whole name.
    - ``'eot'``: the end-of-text token of its prompt, the token CLIP pools its text embedding
      from (what ViLD's classifier uses); needs one name a prompt (``names_per_prompt=1``).

    Other tokens (start, separators, end, and with ``'last'`` the name's first words) are left
    out: they belong to no class, and scoring them as negatives would fight the positives of
    the classes whose names they summarise or share.

    Args:
        tokens: ``features`` ``(K, L, D)``, ``attention_mask`` ``(K, L)`` bool (real tokens
            first in each row) and ``spans`` ``(C, 3)`` ``(chunk, start, end)`` of the names,
            end exclusive, as :func:`ovdkit.text.token_feature_cache.encode_vocabulary_tokens`
            returns them.
        class_tokens: ``'name'``, ``'last'`` or ``'eot'``.

    Returns:
        ``features`` ``(T, D)`` and a binary ``positive_map`` ``(C, T)`` float32: row ``c`` is
        1 on the tokens of class ``c`` and 0 elsewhere.

    Raises:
        ValueError: unknown ``class_tokens``; a span is empty, lies outside its chunk's real
            tokens, or overlaps another; ``'eot'`` with a chunk of several names.
    """
    if class_tokens not in CLASS_TOKENS:
        raise ValueError(f'class_tokens must be one of {CLASS_TOKENS}, got {class_tokens!r}')
    features, mask, spans = tokens['features'], tokens['attention_mask'], tokens['spans']
    lengths = mask.sum(dim=1)
    chunk, start, end = spans.long().unbind(dim=1)
    bad = (start < 1) | (end <= start) | (end > lengths[chunk] - 1)
    if bad.any():
        first = int(bad.nonzero()[0])
        raise ValueError(f'class {first}: token span {spans[first].tolist()} is empty or not '
                         f'within the real tokens of its prompt chunk')
    if class_tokens == 'last':
        start = end - 1
    elif class_tokens == 'eot':
        per_chunk = torch.bincount(chunk, minlength=len(lengths))
        if (per_chunk > 1).any():
            k = int((per_chunk > 1).nonzero()[0])
            raise ValueError(f"class_tokens='eot' scores a prompt's end-of-text token, so it "
                             f'needs one name a prompt (names_per_prompt=1); prompt chunk {k} '
                             f'holds {int(per_chunk[k])} names')
        start, end = lengths[chunk] - 1, lengths[chunk]
    # owner[k, l]: the class that token (k, l) scores for, -1 for tokens scored for no class
    owner = torch.full(mask.shape, -1, dtype=torch.long)
    for c, (k, s, e) in enumerate(zip(chunk.tolist(), start.tolist(), end.tolist())):
        if (owner[k, s:e] >= 0).any():
            raise ValueError(f'class {c}: token span {spans[c].tolist()} overlaps another '
                             f'class')
        owner[k, s:e] = c
    keep = owner >= 0
    owners = owner[keep]
    positive_map = torch.zeros(len(spans), len(owners), dtype=torch.float32)
    positive_map[owners, torch.arange(len(owners))] = 1.0
    return features[keep].float(), positive_map


def class_positive_map(span_map: Tensor, owners: Tensor, num_classes: int) -> Tensor:
    """The class -> token map of spans grouped into classes (synonyms): their union.

    Args:
        span_map: ``(S, T)`` binary span -> token map (:func:`flatten_prompt_tokens`).
        owners: ``(S,)`` int64 class of each span, in ``[0, num_classes)``.
        num_classes: C.

    Returns:
        ``(C, T)`` float32: 1 on the tokens of every synonym of the class.
    """
    out = span_map.new_zeros(num_classes, span_map.shape[1])
    return out.index_add_(0, owners.to(span_map.device), span_map.float()).clamp_(max=1.0)


def span_token_pairs(positive_map: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
    """The (span, token) pairs of a span map and each pair's weight in its span's mean.

    Args:
        positive_map: ``(S, T)`` binary span map.

    Returns:
        ``spans (K,)``, ``tokens (K,)`` int64 and ``weights (K,)`` float32 (``1 / len(span)``),
        ``K`` the map's non-zeros: a few per span, where the dense map has ``S * T`` entries.
    """
    spans, tokens = positive_map.nonzero(as_tuple=True)
    counts = positive_map.sum(dim=1).clamp(min=1)
    return spans, tokens, positive_map[spans, tokens].float() / counts[spans].float()


def class_scores_from_token_scores(token_scores: Tensor, positive_map: Tensor,
                                   owners: Optional[Tensor] = None,
                                   num_classes: Optional[int] = None,
                                   pairs: Optional[Tuple[Tensor, Tensor, Tensor]] = None
                                   ) -> Tensor:
    """Class scores: the mean of a span's tokens' scores (GLIP), the best span of a class.

    Computed from the map's (span, token) pairs, not a product with the dense ``(S, T)`` map:
    with 20,000 names that product would be ``N x 20,000 x 20,000`` multiply-adds.

    Args:
        token_scores: ``(N, T)`` token probabilities.
        positive_map: ``(S, T)`` binary span map (one span per class when ``owners`` is None).
        owners: ``(S,)`` class of each span (synonyms), or None (span ``s`` is class ``s``).
        num_classes: C (needed with ``owners``).
        pairs: :func:`span_token_pairs` of ``positive_map``, if already computed.

    Returns:
        ``(N, C)`` scores, one column per class in vocabulary order.
    """
    spans, tokens, weights = pairs if pairs is not None else span_token_pairs(positive_map)
    spans, tokens = spans.to(token_scores.device), tokens.to(token_scores.device)
    span_scores = token_scores.new_zeros(token_scores.shape[0], positive_map.shape[0])
    span_scores.index_add_(1, spans, token_scores[:, tokens] * weights.to(token_scores))
    if owners is None:
        return span_scores
    index = owners.to(span_scores.device).expand(span_scores.shape[0], -1)
    out = span_scores.new_full((span_scores.shape[0], num_classes), float('-inf'))
    return out.scatter_reduce_(1, index, span_scores, reduce='amax', include_self=True)
