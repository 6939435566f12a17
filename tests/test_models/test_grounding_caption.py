"""Grounding the phrases of a caption: which token features the head scores for each phrase
(caption read whole or phrase by phrase; name tokens, last token), and the way back to a
vocabulary."""
import pytest
import torch
import torch.nn.functional as F

from ovdkit.testing.detectors import GROUNDING_CONFIG, build_toy_detector
from ovdkit.text.sidecar_cache import shared_encoder_pool
from ovdkit.text.token_feature_cache import encode_vocabulary_tokens

BASE = ['red star', 'blue circle', 'green square']
CAPTION = 'the red star next to a blue heart'
PHRASES = ['the red star', 'a blue heart']


@pytest.fixture(scope='module')
def cache_dir(tmp_path_factory):
    return str(tmp_path_factory.mktemp('caption_tokens'))


def head_of(cache_dir, **options):
    model = build_toy_detector(
        GROUNDING_CONFIG, embed_dim=32, fusion=None, test_vocabulary=dict(classes=BASE),
        vocabulary=dict(classes=BASE, model='OVD-TestCLIP-RN', pretrained=None,
                        cache_dir=cache_dir), **options).eval()
    return model.roi_head.bbox_head


def installed(head):
    head(torch.zeros(3, 64, 7, 7))  # installs the test vocabulary
    return head.fc_cls


@pytest.mark.parametrize('class_tokens, positions, span_map', [
    # <sot> the red star next to a blue heart <eot>
    ('name', [1, 2, 3, 6, 7, 8], [[1, 1, 1, 0, 0, 0], [0, 0, 0, 1, 1, 1]]),
    ('last', [3, 8], [[1, 0], [0, 1]]),
    ('eot', [3, 8], [[1, 0], [0, 1]]),  # one end-of-text token a caption: the last ones
])
def test_caption_read_whole(cache_dir, class_tokens, positions, span_map):
    head = head_of(cache_dir, caption_context='caption', class_tokens=class_tokens)
    parsed = head.use_caption(CAPTION, PHRASES)
    assert head.test_classes == ('the red star', 'a blue heart') and head.caption == parsed
    aligner = installed(head)
    encoder = shared_encoder_pool().encoder('OVD-TestCLIP-RN', None)
    caption_features = encoder.encode_tokens([CAPTION])['features'][0]
    torch.testing.assert_close(aligner.token_features,
                               F.normalize(caption_features[positions], dim=-1))
    assert aligner.span_map.tolist() == span_map
    # a phrase's score is the mean of its tokens' probabilities
    logits = torch.randn(4, len(positions))
    mask = torch.tensor(span_map, dtype=torch.float32)
    expected = logits.sigmoid() @ (mask / mask.sum(1, keepdim=True)).t()
    torch.testing.assert_close(aligner.class_scores(logits), expected)


@pytest.mark.parametrize('class_tokens, index', [('eot', -1), ('last', -3)])
def test_phrase_by_phrase_is_the_default(cache_dir, class_tokens, index):
    head = head_of(cache_dir, class_tokens=class_tokens)
    assert head.caption_context == 'phrase'
    head.use_caption(CAPTION, PHRASES)
    aligner = installed(head)
    encoder = shared_encoder_pool().encoder('OVD-TestCLIP-RN', None)
    alone, prompts = encode_vocabulary_tokens(encoder, PHRASES, names_per_prompt=1)
    assert prompts == ['the red star.', 'a blue heart.']
    # "<sot> the red star . <eot>": the end-of-text token is the last real one, the name's last
    # token is before the period and the end-of-text token
    rows = [alone['features'][k][alone['attention_mask'][k]][index] for k in range(2)]
    torch.testing.assert_close(aligner.token_features, F.normalize(torch.stack(rows), dim=-1))


def test_a_vocabulary_replaces_the_caption(cache_dir):
    head = head_of(cache_dir, class_tokens='eot')
    head.use_caption('red star . blue heart')
    assert head.test_classes == ('red star', 'blue heart')
    head.use_vocabulary(['zebra', 'red star', 'traffic cone'])
    assert head.caption is None and head.test_classes == ('zebra', 'red star', 'traffic cone')
    assert installed(head).span_map.shape == (3, 3)


def test_caption_needs_a_clip_model(cache_dir):
    head = head_of(cache_dir)
    head.test_vocabulary_cfg = dict(classes=BASE, path='tokens.pt')
    with pytest.raises(ValueError, match="GroundingBBoxHead: a caption is encoded by CLIP's "
                                         'text tower, but the test vocabulary names no CLIP '
                                         "model \\(only \\['classes', 'path'\\]\\)"):
        head.use_caption(CAPTION, PHRASES)
    with pytest.raises(ValueError, match="caption_context must be 'phrase' or 'caption'"):
        head_of(cache_dir, caption_context='sentence')
