"""Captions for phrase grounding: phrases and their character spans, characters -> BPE tokens,
the caption's token features with each phrase's token span, and the long-caption refusal."""
import open_clip
import pytest
import torch

from ovdkit.text import CLIPTextEncoder
from ovdkit.text.caption_phrases import (caption_token_features, parse_caption_phrases,
                                         token_char_spans)

CAPTION = 'the red star next to a blue heart'


@pytest.fixture(scope='module')
def encoder():
    torch.manual_seed(0)
    return CLIPTextEncoder('OVD-TestCLIP-RN', None)


def test_phrases_as_substrings_spans_or_glip_separators():
    parsed = parse_caption_phrases(CAPTION, ['the red star', 'A Blue Heart'])
    assert parsed.phrases == ('the red star', 'a blue heart')  # the caption's own characters
    assert parsed.char_spans == ((0, 12), (21, 33))
    assert parse_caption_phrases(CAPTION, [(4, 12)]).phrases == ('red star',)
    # given in any order, kept in that order (label order)
    assert parse_caption_phrases(CAPTION, ['a blue heart', 'red star']).char_spans == \
        ((21, 33), (4, 12))
    glip = parse_caption_phrases('red star . blue heart . green cross.')
    assert glip.phrases == ('red star', 'blue heart', 'green cross')
    assert glip.char_spans == ((0, 8), (11, 21), (24, 35))


@pytest.mark.parametrize('caption, phrases, message', [
    (CAPTION, ['a green cross'], "phrase 'a green cross' is not in the caption"),
    ('the red star and the blue star', ['star'], "phrase 'star' occurs 2 times in the caption"),
    (CAPTION, ['red star', 'star next'], "phrases 'red star' and 'star next' overlap"),
    (CAPTION, None, 'give the phrases to ground, or separate them with'),
    (' ', ['red'], 'caption: empty caption'),
    (CAPTION, ['  '], "phrase '  ': empty phrase"),
    (CAPTION, [(30, 40)], r'phrase span \[30, 40\] is empty or outside the caption \(length 33\)'),
    (CAPTION, 'red star', 'expected a list of phrases'),
])
def test_bad_phrases_are_named(caption, phrases, message):
    with pytest.raises(ValueError, match=message):
        parse_caption_phrases(caption, phrases)


def test_tokens_know_their_characters():
    tok = open_clip.tokenizer.SimpleTokenizer()
    text = 'The red-star, next to 2 hearts'
    ids, spans = token_char_spans(tok, text)
    assert ids == tok.encode(text)
    assert [text[s:e] for s, e in spans] == ['The', 'red', '-', 'star', ',', 'next', 'to', '2',
                                             'hearts']
    with pytest.raises(ValueError, match="caption 'red &amp; blue': CLIP's text cleaning "
                                         'changes it'):
        token_char_spans(tok, 'red &amp; blue')


def test_caption_features_and_phrase_token_spans(encoder):
    parsed = parse_caption_phrases(CAPTION, ['the red star', 'a blue heart'])
    tensors = caption_token_features(encoder, parsed)
    # <sot> the red star next to a blue heart <eot>
    assert tensors['spans'].tolist() == [[0, 1, 4], [0, 6, 9]]
    assert tensors['owners'].tolist() == [0, 1]
    assert tensors['features'].shape == (1, 10, 32)
    torch.testing.assert_close(tensors['features'],
                               encoder.encode_tokens([CAPTION])['features'][:, :10])
    assert tensors['attention_mask'].all()


def test_long_caption_is_refused_with_the_limit():
    torch.manual_seed(0)
    tiny = CLIPTextEncoder('OVD-TinyCLIP-RN', None)  # context length 16
    caption = 'the red star next to a blue heart above the green cross and a star'
    with pytest.raises(ValueError, match=r"needs 15 tokens, more than the 14 that the text "
                                         r'tower of OVD-TinyCLIP-RN takes \(context length 16'):
        caption_token_features(tiny, parse_caption_phrases(caption, ['the red star']))
