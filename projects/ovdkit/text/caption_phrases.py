"""Free-form captions for grounding: the phrases to ground, their character spans, and the
caption's token features with each phrase's token span (GLIP's caption + entities input).

A caption is encoded once, as a whole, by CLIP's text tower, so a phrase's tokens read the
words before it ("the red star next to a blue heart"); each phrase owns the tokens whose
characters overlap its own. That is what a class-list head cannot do: its names are encoded
alone.
"""
import dataclasses
from typing import Dict, List, Optional, Sequence, Tuple, Union

import open_clip
import torch

from .clip_text_encoder import CLIPTextEncoder

#: GLIP's separator of phrases in a caption given without its phrases.
PHRASE_SEPARATOR = ' . '
PhraseType = Union[str, Tuple[int, int]]


@dataclasses.dataclass(frozen=True)
class CaptionPhrases:
    """A caption and the phrases of it to ground.

    Attributes:
        caption: The caption as given.
        phrases: P phrase texts (``caption[start:end]`` of their spans).
        char_spans: P ``(start, end)`` character spans in ``caption``, end exclusive.
    """

    caption: str
    phrases: Tuple[str, ...]
    char_spans: Tuple[Tuple[int, int], ...]


def parse_caption_phrases(caption: str,
                          phrases: Optional[Sequence[PhraseType]] = None) -> CaptionPhrases:
    """The phrases of ``caption`` to ground and their character spans.

    Args:
        caption: Free-form text.
        phrases: Substrings of the caption (each must occur exactly once; matched ignoring
            case) or ``(start, end)`` character spans. ``None``: the caption's phrases as GLIP
            separates them, with ``" . "`` (``"red star . blue heart"``; a final period is
            not part of the last phrase).

    Returns:
        The caption with its phrases in the order given (``None``: caption order).

    Raises:
        ValueError: an empty caption or phrase, a phrase that is not in the caption or occurs
            more than once, a span outside the caption, overlapping phrases, or no phrases
            given and no ``" . "`` in the caption. The message names the phrase.
    """
    if not isinstance(caption, str) or not caption.strip():
        raise ValueError('caption: empty caption')
    if phrases is None:
        if PHRASE_SEPARATOR not in caption:
            raise ValueError(f'caption {caption!r}: give the phrases to ground, or separate '
                             f'them with {PHRASE_SEPARATOR!r} as GLIP does ("red star . blue '
                             f'heart")')
        spans, start = [], 0
        for piece in caption.split(PHRASE_SEPARATOR):
            text = piece.rstrip().rstrip('.').rstrip()
            lead = len(text) - len(text.lstrip())
            if text.strip():
                spans.append((start + lead, start + len(text)))
            start += len(piece) + len(PHRASE_SEPARATOR)
    else:
        if isinstance(phrases, str):
            raise ValueError(f'phrases: expected a list of phrases, got the string {phrases!r}')
        if not phrases:
            raise ValueError('phrases: no phrases given')
        spans = [_span_of(caption, phrase) for phrase in phrases]
    order = sorted(range(len(spans)), key=lambda i: spans[i])
    for a, b in zip(order, order[1:]):
        if spans[b][0] < spans[a][1]:
            raise ValueError(f'phrases {caption[slice(*spans[a])]!r} and '
                             f'{caption[slice(*spans[b])]!r} overlap in caption {caption!r}')
    return CaptionPhrases(caption, tuple(caption[s:e] for s, e in spans), tuple(spans))


def _span_of(caption: str, phrase: PhraseType) -> Tuple[int, int]:
    if isinstance(phrase, (tuple, list)):
        start, end = (int(v) for v in phrase)
        if not 0 <= start < end <= len(caption) or not caption[start:end].strip():
            raise ValueError(f'phrase span {[start, end]} is empty or outside the caption '
                             f'(length {len(caption)}) {caption!r}')
        return start, end
    if not isinstance(phrase, str) or not phrase.strip():
        raise ValueError(f'phrase {phrase!r}: empty phrase')
    phrase = phrase.strip()
    lowered, needle = caption.lower(), phrase.lower()
    found = []
    at = lowered.find(needle)
    while at >= 0:
        found.append(at)
        at = lowered.find(needle, at + 1)
    if len(found) != 1:
        where = 'is not in' if not found else f'occurs {len(found)} times in'
        raise ValueError(f'phrase {phrase!r} {where} the caption {caption!r}; give a phrase '
                         f'that occurs once, or its (start, end) character span')
    return found[0], found[0] + len(phrase)


def token_char_spans(tokenizer: open_clip.tokenizer.SimpleTokenizer,
                     text: str) -> Tuple[List[int], List[Tuple[int, int]]]:
    """open_clip's BPE ids of ``text`` and the character span each comes from.

    The tokenizer splits the lower-cased text into words with its own pattern and BPE-encodes
    each word; every piece of a word gets the word's span.

    Returns:
        ``(ids, spans)``: the ids ``tokenizer.encode(text)`` gives (no start / end tokens) and
        one ``(start, end)`` span in ``text`` per id.

    Raises:
        ValueError: CLIP's text cleaning (ftfy, HTML unescaping) changes the text, so its
            tokens cannot be placed in it.
    """
    lowered = text.lower()
    ids, spans = [], []
    if len(lowered) == len(text):
        for match in tokenizer.pat.finditer(lowered):
            word = ''.join(tokenizer.byte_encoder[b] for b in match.group().encode('utf-8'))
            pieces = [tokenizer.encoder[p] for p in tokenizer.bpe(word).split(' ')]
            ids.extend(pieces)
            spans.extend([match.span()] * len(pieces))
    if ids != tokenizer.encode(text):
        raise ValueError(f'caption {text!r}: CLIP\'s text cleaning changes it (HTML entities, '
                         f'unusual characters), so its tokens cannot be matched to characters; '
                         f'write it in plain text')
    return ids, spans


def caption_tokens(encoder: CLIPTextEncoder,
                   caption: str) -> Tuple[List[int], List[Tuple[int, int]]]:
    """The caption's BPE ids and their character spans (:func:`token_char_spans`), refusing a
    caption the text tower cannot read whole.

    Raises:
        ValueError: not open_clip's BPE tokenizer; the caption needs more tokens than the
            context holds (names the limit; captions are never cut: a cut would change what
            the phrases read).
    """
    tok = encoder.tokenizer
    if not isinstance(tok, open_clip.tokenizer.SimpleTokenizer):
        raise ValueError(f'{encoder.model_name}: caption grounding needs open_clip\'s BPE '
                         f'tokenizer, the model uses {type(tok).__name__}')
    ids, char_spans = token_char_spans(tok, caption)
    room = encoder.context_length - 2
    if len(ids) > room:
        raise ValueError(f'caption {caption!r} needs {len(ids)} tokens, more than the {room} '
                         f'that the text tower of {encoder.model_name} takes (context length '
                         f'{encoder.context_length} with its start and end tokens); shorten '
                         f'the caption')
    return ids, char_spans


def caption_token_features(encoder: CLIPTextEncoder,
                           caption: CaptionPhrases) -> Dict[str, torch.Tensor]:
    """Token features of a whole caption and the token span of each phrase.

    Args:
        encoder: A frozen CLIP text encoder with open_clip's BPE tokenizer.
        caption: The caption and its phrases (:func:`parse_caption_phrases`).

    Returns:
        The tensors of a one-prompt token-feature entry (as
        :func:`ovdkit.text.token_feature_cache.encode_vocabulary_tokens`): ``features``
        ``(1, L, D)``, ``attention_mask`` ``(1, L)``, ``token_ids`` ``(1, L)`` and ``spans``
        ``(P, 3)`` ``(0, start, end)`` token positions (start token counted), plus ``owners``
        ``(P,)`` (phrase ``p`` is class ``p``).

    Raises:
        ValueError: see :func:`caption_tokens`; a phrase covers no token.
    """
    ids, char_spans = caption_tokens(encoder, caption.caption)
    spans = []
    for phrase, (start, end) in zip(caption.phrases, caption.char_spans):
        inside = [i for i, (s, e) in enumerate(char_spans) if s < end and e > start]
        if not inside:
            raise ValueError(f'phrase {phrase!r} covers no token of the caption '
                             f'{caption.caption!r}')
        spans.append((0, inside[0] + 1, inside[-1] + 2))  # +1: the start token
    out = encoder.encode_tokens([caption.caption])
    length = len(ids) + 2
    return dict(features=out['features'][:, :length].cpu().contiguous(),
                attention_mask=out['attention_mask'][:, :length].cpu().contiguous(),
                token_ids=out['token_ids'][:, :length].cpu().contiguous(),
                spans=torch.tensor(spans, dtype=torch.long).view(-1, 3),
                owners=torch.arange(len(spans)))
