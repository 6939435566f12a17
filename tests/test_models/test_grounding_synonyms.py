"""Grounding with synonyms: each synonym is a span of its class; a class's score is the best of
its spans; the training positives are the tokens of all its synonyms."""
import json

import torch

from ovdkit.models.grounding_positive_map import (class_positive_map,
                                                  class_scores_from_token_scores,
                                                  flatten_prompt_tokens)
from ovdkit.models.grounding_region_word_aligner import RegionWordAligner
from ovdkit.testing.detectors import GROUNDING_CONFIG, build_toy_detector
from ovdkit.text import CLIPTextEncoder
from ovdkit.text.token_feature_cache import encode_vocabulary_tokens
from ovdkit.text.vocabulary_embeddings import vocabulary_token_features

BASE = ['red star', 'blue circle', 'green square']
ALL = BASE + ['yellow heart', 'purple cross']


def test_each_synonym_is_a_span_and_the_class_takes_the_best():
    torch.manual_seed(0)
    encoder = CLIPTextEncoder('OVD-TestCLIP-RN', None)
    # classes: 0 = "traffic light|signal", 1 = "dog"
    tensors, prompts = encode_vocabulary_tokens(encoder, ['traffic light', 'signal', 'dog'])
    assert prompts == ['traffic light. signal. dog.']
    _, span_map = flatten_prompt_tokens(tensors)  # tokens: traffic light | signal | dog
    owners = torch.tensor([0, 0, 1])
    assert class_positive_map(span_map, owners, 2).tolist() == [[1, 1, 1, 0], [0, 0, 0, 1]]
    token_scores = torch.tensor([[0.2, 0.4, 0.9, 0.1],    # "signal" wins for class 0
                                 [0.8, 0.6, 0.3, 0.5]])   # "traffic light" (mean 0.7) wins
    scores = class_scores_from_token_scores(token_scores, span_map, owners, 2)
    torch.testing.assert_close(scores, torch.tensor([[0.9, 0.1], [0.7, 0.5]]))


def test_aligner_scores_and_targets_with_synonyms():
    aligner = RegionWordAligner(8, 3, embed_dim=4)
    span_map = torch.tensor([[1., 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]])
    aligner.set_tokens(torch.randn(4, 4), span_map, torch.tensor([0, 0, 1]))
    assert aligner.positive_map.tolist() == [[1, 1, 1, 0], [0, 0, 0, 1]]
    logits = torch.logit(torch.tensor([[0.2, 0.4, 0.9, 0.1]]))
    torch.testing.assert_close(aligner.class_scores(logits), torch.tensor([[0.9, 0.1]]))


def test_vocabulary_token_features_give_one_span_per_synonym(tmp_path):
    torch.manual_seed(0)
    cfg = dict(classes='television|tv,dog', model='OVD-TestCLIP-RN', pretrained=None,
               cache_dir=str(tmp_path))
    names, tokens = vocabulary_token_features(cfg, names_per_prompt=1)
    assert names == ('television', 'dog')
    assert tokens['owners'].tolist() == [0, 0, 1]
    assert tokens['spans'].shape == (3, 3) and tokens['features'].shape[0] == 3  # 3 prompts
    sidecar = next(tmp_path.glob('*.json'))
    assert json.loads(sidecar.read_text())['classes'] == ['television', 'tv', 'dog']


def test_head_with_a_synonym_vocabulary_scores_one_column_per_class(tmp_path):
    model = build_toy_detector(
        GROUNDING_CONFIG, embed_dim=32, fusion=None, test_vocabulary=dict(classes=ALL),
        class_tokens='name',
        vocabulary=dict(classes=BASE, model='OVD-TestCLIP-RN', pretrained=None,
                        cache_dir=str(tmp_path)))
    head = model.roi_head.bbox_head
    model.eval()
    assert head.use_vocabulary('red star|star,blue circle') == ('red star', 'blue circle')
    feats = torch.randn(5, 64, 7, 7)
    with torch.no_grad():
        scores, _ = head(feats)
        token_logits = head.fc_cls(head.shared_fcs[1](head.shared_fcs[0](
            feats.flatten(1)).relu()).relu())
    assert scores.shape == (5, 3) and token_logits.shape == (5, 5)  # red star | star | blue circle
    probs = token_logits.sigmoid()
    torch.testing.assert_close(scores[:, 0], torch.maximum(probs[:, :2].mean(1), probs[:, 2]))
    torch.testing.assert_close(scores[:, 1], probs[:, 3:].mean(1))
    # scored by their end-of-text tokens, one a synonym: the class takes the best synonym
    head.class_tokens = 'eot'
    head.use_vocabulary('red star|star,blue circle')
    with torch.no_grad():
        scores, _ = head(feats)
        token_logits = head.fc_cls(head.shared_fcs[1](head.shared_fcs[0](
            feats.flatten(1)).relu()).relu())
    assert token_logits.shape == (5, 3)  # red star | star | blue circle
    probs = token_logits.sigmoid()
    torch.testing.assert_close(scores[:, :2], torch.stack(
        [probs[:, :2].max(1).values, probs[:, 2]], dim=1))
