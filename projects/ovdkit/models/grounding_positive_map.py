"""Positive maps (class -> token span) and the token-to-class score merge of grounding heads."""
from typing import Mapping, Tuple

import torch
from torch import Tensor


def flatten_prompt_tokens(tokens: Mapping[str, Tensor]) -> Tuple[Tensor, Tensor]:
    """The name tokens of a vocabulary's prompt chunks, and the class -> token positive map.

    The tokens of every class name, chunk after chunk, make one token axis of T tokens, so a
    vocabulary of any length is scored at once and class ``c``'s columns are its own name's.
    Start, end and separator tokens are left out: they belong to no class, and in CLIP's causal
    tower the period and end token after a name summarise that name, so scoring them as
    negatives would fight the name's own positive tokens.

    Args:
        tokens: ``features`` ``(K, L, D)``, ``attention_mask`` ``(K, L)`` bool (real tokens
            first in each row) and ``spans`` ``(C, 3)`` ``(chunk, start, end)``, end exclusive,
            as :func:`ovdkit.text.token_feature_cache.encode_vocabulary_tokens` returns them.

    Returns:
        ``features`` ``(T, D)`` and a binary ``positive_map`` ``(C, T)`` float32: row ``c`` is
        1 on the tokens of class ``c``'s name and 0 elsewhere.

    Raises:
        ValueError: a span is empty, lies outside its chunk's real tokens, or overlaps another.
    """
    features, mask, spans = tokens['features'], tokens['attention_mask'], tokens['spans']
    lengths = mask.sum(dim=1)
    chunk, start, end = spans.long().unbind(dim=1)
    bad = (start < 1) | (end <= start) | (end > lengths[chunk] - 1)
    if bad.any():
        first = int(bad.nonzero()[0])
        raise ValueError(f'class {first}: token span {spans[first].tolist()} is empty or not '
                         f'within the real tokens of its prompt chunk')
    # owner[k, l]: the class whose name token (k, l) is, -1 for start / period / end / padding
    owner = torch.full(mask.shape, -1, dtype=torch.long)
    for c, (k, s, e) in enumerate(spans.tolist()):
        if (owner[k, s:e] >= 0).any():
            raise ValueError(f'class {c}: token span {[k, s, e]} overlaps another class')
        owner[k, s:e] = c
    keep = owner >= 0
    owners = owner[keep]
    positive_map = torch.zeros(len(spans), len(owners), dtype=torch.float32)
    positive_map[owners, torch.arange(len(owners))] = 1.0
    return features[keep].float(), positive_map


def class_scores_from_token_scores(token_scores: Tensor, positive_map: Tensor) -> Tensor:
    """Class scores as the mean of their tokens' scores (GLIP).

    Args:
        token_scores: ``(N, T)`` token probabilities.
        positive_map: ``(C, T)`` binary map.

    Returns:
        ``(N, C)`` scores, one column per class in vocabulary order.
    """
    weights = positive_map / positive_map.sum(dim=1, keepdim=True).clamp(min=1)
    return token_scores @ weights.t()
