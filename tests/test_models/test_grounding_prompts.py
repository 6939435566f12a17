"""Grounding prompts: token spans of multi-word and repeated-word names, chunk boundaries, and
one score column per class for the 1203 LVIS names."""
import pytest
import torch

from ovdkit.datasets.ov_splits import LVIS_V1_CLASSES
from ovdkit.models.grounding_positive_map import (class_scores_from_token_scores,
                                                  flatten_prompt_tokens)
from ovdkit.text import CLIPTextEncoder, name_for_prompt
from ovdkit.text.token_feature_cache import chunk_prompts, encode_vocabulary_tokens

SOT, EOT = 1000, 1001


@pytest.fixture(scope='module')
def encoder():
    torch.manual_seed(0)
    return CLIPTextEncoder('OVD-TestCLIP-RN', None)


def _word_encode(text):
    """One id per word, '.' is id 0: a tokenizer whose counts are obvious."""
    return [0 if w == '.' else 100 + ord(w[0]) for w in text.replace('.', ' . ').split()]


def test_multi_word_and_repeated_word_names_keep_their_own_span(encoder):
    tensors, prompts = encode_vocabulary_tokens(encoder, ['traffic light', 'hot dog', 'dog'])
    assert prompts == ['traffic light. hot dog. dog.']
    # <sot> traffic light . hot dog . dog . <eot>
    assert tensors['spans'].tolist() == [[0, 1, 3], [0, 4, 6], [0, 7, 8]]
    ids = tensors['token_ids'][0]
    dog = encoder.tokenizer.encode('dog')[0]
    assert ids[5] == dog and ids[7] == dog  # the same word twice in the prompt...
    # the token axis is the names' tokens: traffic light | hot dog | dog
    features, positive_map = flatten_prompt_tokens(tensors)
    assert features.shape == (5, 32)
    torch.testing.assert_close(features, tensors['features'][0, [1, 2, 4, 5, 7]])
    assert positive_map.tolist() == [[1, 1, 0, 0, 0],
                                     [0, 0, 1, 1, 0],
                                     [0, 0, 0, 0, 1]]  # "dog" is not the dog of "hot dog"
    # and the two "dog" tokens differ: the causal text tower saw "hot" before the first one
    assert not torch.allclose(features[3], features[4])


def test_class_score_is_mean_of_its_token_probabilities(encoder):
    tensors, _ = encode_vocabulary_tokens(encoder, ['traffic light', 'hot dog', 'dog'])
    _, positive_map = flatten_prompt_tokens(tensors)
    token_scores = torch.rand(4, 5)
    scores = class_scores_from_token_scores(token_scores, positive_map)
    assert scores.shape == (4, 3)
    torch.testing.assert_close(scores[:, 0], token_scores[:, [0, 1]].mean(1))
    torch.testing.assert_close(scores[:, 1], token_scores[:, [2, 3]].mean(1))
    torch.testing.assert_close(scores[:, 2], token_scores[:, 4])


def test_name_ending_in_punctuation_gets_its_own_period(encoder):
    # CLIP's BPE merges ")." into one token; the prompt spaces it so the name keeps ")".
    tensors, prompts = encode_vocabulary_tokens(encoder, ['bow_(weapon)', 'dog'])
    assert prompts == ['bow (weapon) . dog.']
    assert tensors['spans'].tolist() == [[0, 1, 5], [0, 6, 7]]
    name = encoder.tokenizer.decode(tensors['token_ids'][0, 1:5].tolist())
    assert name.split() == ['bow', '(', 'weapon', ')']


def test_chunk_boundaries():
    # context 8 = <sot> + 6 tokens + <eot>; "a b." and "c d." fill a chunk exactly.
    prompts, ids, spans = chunk_prompts(['a b', 'c d', 'e'], _word_encode, 8, SOT, EOT)
    assert prompts == ['a b. c d.', 'e.']
    assert ids[0] == [SOT, 197, 198, 0, 199, 200, 0, EOT]  # exactly the context length
    assert ids[1] == [SOT, 201, 0, EOT]
    assert spans == [(0, 1, 3), (0, 4, 6), (1, 1, 2)]
    # one token too many: the whole name moves to the next chunk, never split
    prompts, ids, spans = chunk_prompts(['a b', 'c d e'], _word_encode, 8, SOT, EOT)
    assert prompts == ['a b.', 'c d e.'] and spans == [(0, 1, 3), (1, 1, 4)]
    # the longest name that fits alone: 5 words + period = 6
    prompts, ids, spans = chunk_prompts(['a b c d e'], _word_encode, 8, SOT, EOT)
    assert len(ids[0]) == 8 and spans == [(0, 1, 6)]
    with pytest.raises(ValueError, match="class name 'a b c d e f' needs 7 tokens"):
        chunk_prompts(['x', 'a b c d e f'], _word_encode, 8, SOT, EOT)
    # a cap on names per prompt closes chunks that still have room
    prompts, ids, spans = chunk_prompts(['a', 'b', 'c'], _word_encode, 8, SOT, EOT,
                                        names_per_prompt=2)
    assert prompts == ['a. b.', 'c.'] and spans == [(0, 1, 2), (0, 3, 4), (1, 1, 2)]
    prompts, _, spans = chunk_prompts(['a', 'b'], _word_encode, 8, SOT, EOT, names_per_prompt=1)
    assert prompts == ['a.', 'b.'] and spans == [(0, 1, 2), (1, 1, 2)]
    with pytest.raises(ValueError, match='names_per_prompt must be None or >= 1, got 0'):
        chunk_prompts(['a'], _word_encode, 8, SOT, EOT, names_per_prompt=0)


def test_lvis_names_one_score_column_per_class_in_order(encoder):
    names = list(LVIS_V1_CLASSES)
    assert len(names) == 1203
    tensors, prompts = encode_vocabulary_tokens(encoder, names)
    num_chunks = len(prompts)
    assert num_chunks > 40  # ~3,700 tokens do not fit 77
    lengths = tensors['attention_mask'].sum(1)
    assert int(lengths.max()) <= 77 and tensors['features'].shape[:2] == (num_chunks,
                                                                         int(lengths.max()))
    spans = tensors['spans']
    assert spans.shape == (1203, 3)
    # classes appear in vocabulary order, chunk by chunk
    order = spans[:, 0] * 100 + spans[:, 1]
    assert torch.all(order[1:] > order[:-1])
    # each span decodes back to its own name: no class lost, none duplicated
    decode = encoder.tokenizer.decode
    for name, (k, start, end) in zip(names, spans.tolist()):
        text = decode(tensors['token_ids'][k, start:end].tolist())
        assert ''.join(text.split()) == ''.join(name_for_prompt(name).lower().split()), name
    features, positive_map = flatten_prompt_tokens(tensors)
    name_tokens = int((spans[:, 2] - spans[:, 1]).sum())
    assert positive_map.shape == (1203, name_tokens) and features.shape == (name_tokens, 32)
    assert torch.all(positive_map.sum(1) >= 1)
    assert torch.all(positive_map.sum(0) == 1)  # every token belongs to exactly one class
    # a token score equal to its class index gives back exactly that index in each column
    owner = (positive_map * torch.arange(1203.)[:, None]).sum(0)
    scores = class_scores_from_token_scores(owner[None], positive_map)
    assert scores.shape == (1, 1203)
    torch.testing.assert_close(scores[0], torch.arange(1203.))


def test_last_token_and_end_of_text_scoring(encoder):
    tensors, _ = encode_vocabulary_tokens(encoder, ['traffic light', 'hot dog', 'dog'])
    # <sot> traffic light . hot dog . dog . <eot>: the last name tokens are 2, 5 and 7
    features, positive_map = flatten_prompt_tokens(tensors, 'last')
    torch.testing.assert_close(features, tensors['features'][0, [2, 5, 7]])
    assert positive_map.tolist() == [[1, 0, 0], [0, 1, 0], [0, 0, 1]]
    with pytest.raises(ValueError, match="class_tokens='eot' .* needs one name a prompt "
                                         r'\(names_per_prompt=1\); prompt chunk 0 holds 3'):
        flatten_prompt_tokens(tensors, 'eot')
    with pytest.raises(ValueError, match="class_tokens must be one of .* got 'first'"):
        flatten_prompt_tokens(tensors, 'first')
    alone, prompts = encode_vocabulary_tokens(encoder, ['traffic light', 'hot dog', 'dog'],
                                              names_per_prompt=1)
    assert prompts == ['traffic light.', 'hot dog.', 'dog.']
    # <sot> traffic light . <eot> | <sot> hot dog . <eot> | <sot> dog . <eot>
    features, positive_map = flatten_prompt_tokens(alone, 'eot')
    torch.testing.assert_close(features, torch.stack([
        alone['features'][0, 4], alone['features'][1, 4], alone['features'][2, 3]]))
    assert positive_map.tolist() == [[1, 0, 0], [0, 1, 0], [0, 0, 1]]
    # the end-of-text token is what CLIP pools its text embedding from
    pooled = encoder.encode_prompts(['traffic light.', 'hot dog.', 'dog.'])
    torch.testing.assert_close(torch.nn.functional.normalize(features, dim=-1),
                               torch.nn.functional.normalize(pooled.float(), dim=-1),
                               atol=1e-5, rtol=1e-5)


def test_class_scores_from_pairs_equal_the_dense_mean_of_span_tokens():
    generator = torch.Generator().manual_seed(0)
    span_map = torch.zeros(6, 11)
    for span, tokens in enumerate(([0, 1], [2], [3, 4, 5], [6], [7, 8], [9, 10])):
        span_map[span, tokens] = 1
    owners = torch.tensor([0, 1, 1, 2, 3, 3])  # classes 1 and 3 have two synonyms each
    token_scores = torch.rand(4, 11, generator=generator)
    dense = token_scores @ (span_map / span_map.sum(1, keepdim=True)).t()
    expected = torch.stack([dense[:, 0], dense[:, 1:3].amax(1), dense[:, 3],
                            dense[:, 4:6].amax(1)], dim=1)
    got = class_scores_from_token_scores(token_scores, span_map, owners, 4)
    torch.testing.assert_close(got, expected)
    torch.testing.assert_close(got[:, 2], token_scores[:, 6])
    torch.testing.assert_close(got[:, 0], token_scores[:, :2].mean(1))
