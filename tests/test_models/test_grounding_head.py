"""Grounding head: token loss with and without GT, mean-of-tokens class scores, vocabulary swap,
deep fusion on and off, checkpoints, and the errors."""
import pytest
import torch
from mmdet.models.losses.focal_loss import py_sigmoid_focal_loss
from mmdet.registry import MODELS
from mmdet.testing import demo_mm_inputs
from mmdet.utils import register_all_modules
from mmengine.config import Config, ConfigDict

import ovdkit  # noqa: F401
from ovdkit.models.grounding_positive_map import class_scores_from_token_scores
from ovdkit.testing.detectors import GROUNDING_CONFIG, build_toy_detector

CONFIG = GROUNDING_CONFIG
BASE = ['red star', 'blue circle', 'green square']
ALL = BASE + ['yellow heart', 'purple cross']
FUSION = dict(num_heads=4, layer_scale=0.1)
# the name tokens of "red star. blue circle. green square."
BASE_TOKENS = 6


@pytest.fixture(scope='module')
def cache_dir(tmp_path_factory):
    """One cache (one random test CLIP, built once) for the whole module."""
    torch.manual_seed(0)
    return str(tmp_path_factory.mktemp('token_cache'))


def build_detector(cache_dir, fusion=None, embed_dim=32, class_tokens='name', **head_options):
    """The toy grounding detector scoring every name token (GLIP) unless told otherwise (the
    toy config's own choice, the end-of-text token, is tested in the tests that ask for it)."""
    head_options['class_tokens'] = class_tokens
    return build_toy_detector(
        CONFIG, vocabulary=dict(classes=BASE, model='OVD-TestCLIP-RN', pretrained=None,
                                cache_dir=cache_dir),
        test_vocabulary=dict(classes=ALL), embed_dim=embed_dim, fusion=fusion, **head_options)


def _batch(model, num_items, num_classes):
    packed = demo_mm_inputs(batch_size=len(num_items), image_shapes=(3, 128, 128),
                            num_items=num_items, num_classes=num_classes)
    return model.data_preprocessor(packed, True)


@pytest.mark.parametrize('loss', ['focal', 'bce'])
def test_loss_with_and_without_gt(cache_dir, loss):
    options = {} if loss == 'focal' else dict(loss_cls=dict(
        type='CrossEntropyLoss', use_sigmoid=True, loss_weight=1.0))
    model = build_detector(cache_dir, **options)
    model.train()
    head = model.roi_head.bbox_head
    assert head.num_classes == 3
    losses = model(**_batch(model, [3, 0], num_classes=3), mode='loss')
    assert torch.isfinite(losses['loss_cls']) and losses['loss_cls'] > 0
    assert torch.isfinite(losses['loss_bbox'])
    assert 0 <= float(losses['acc']) <= 100
    losses['loss_cls'].backward()
    aligner = head.fc_cls
    for param in (aligner.projection.weight, aligner.bias0, aligner.bias_lang):
        assert param.grad is not None and torch.isfinite(param.grad).all()
    # an image without any box: background regions only, every token is a negative
    model.zero_grad()
    losses = model(**_batch(model, [0], num_classes=3), mode='loss')
    assert torch.isfinite(losses['loss_cls']) and losses['loss_cls'] > 0
    assert losses['loss_bbox'].item() == 0.0


def test_loss_targets_are_the_tokens_of_the_gt_class(cache_dir):
    model = build_detector(cache_dir)
    model.train()
    head = model.roi_head.bbox_head
    cls_score, _ = head(torch.randn(4, 64, 7, 7))
    assert cls_score.shape == (4, BASE_TOKENS)  # token logits over the training prompt
    labels = torch.tensor([0, 3, 2, 3])  # red star, background, green square, background
    losses = head.loss(cls_score, None, None, labels, torch.ones(4), None, None)
    targets = torch.zeros(4, BASE_TOKENS)
    targets[0, [0, 1]] = 1  # "red star"
    targets[2, [4, 5]] = 1  # "green square"
    expected = py_sigmoid_focal_loss(cls_score, targets, gamma=2.0, alpha=0.25,
                                     reduction='sum') / 2  # normalised by 2 foreground regions
    torch.testing.assert_close(losses['loss_cls'], expected)


def test_initial_bias_is_glip_prior(cache_dir):
    aligner = build_detector(cache_dir).roi_head.bbox_head.fc_cls
    assert aligner.bias0.item() == pytest.approx(-torch.log(torch.tensor(99.)).item())
    assert torch.count_nonzero(aligner.bias_lang) == 0


def test_eval_scores_are_mean_token_probabilities_of_test_vocabulary(cache_dir):
    model = build_detector(cache_dir)
    head = model.roi_head.bbox_head
    feats = torch.randn(6, 64, 7, 7)
    model.eval()
    with torch.no_grad():
        scores, boxes = head(feats)
        token_logits = head.fc_cls(head.shared_fcs[1](head.shared_fcs[0](
            feats.flatten(1)).relu()).relu())
    assert head.num_classes == 5 and scores.shape == (6, 5 + 1) and boxes.shape == (6, 4)
    expected = class_scores_from_token_scores(token_logits.sigmoid(), head.fc_cls.positive_map)
    torch.testing.assert_close(scores[:, :5], expected)
    torch.testing.assert_close(scores[:, 5], 1 - expected.max(1).values)
    data = _batch(model, [2], num_classes=5)
    with torch.no_grad():
        pred = model(**data, mode='predict')[0].pred_instances
    # sigmoid scores reach mmdet's NMS untouched: no softmax across classes
    assert pred.scores.numel() > 0 and float(pred.scores.max()) <= 1
    assert int(pred.labels.max()) < 5


@pytest.mark.parametrize('fusion', [None, FUSION], ids=['no-fusion', 'fusion'])
def test_vocabulary_swap(cache_dir, fusion):
    model = build_detector(cache_dir, fusion=fusion)
    head = model.roi_head.bbox_head
    feats = torch.randn(5, 64, 7, 7)
    model.eval()
    with torch.no_grad():
        score5, box5 = head(feats)
        names = head.use_vocabulary(['red star', 'blue circle', 'yellow heart'])
        score3, box3 = head(feats)
    assert names == ('red star', 'blue circle', 'yellow heart')
    assert head.num_classes == 3 and score5.shape == (5, 6) and score3.shape == (5, 4)
    torch.testing.assert_close(box5, box3)
    # The first two names open both prompts, so the causal text tower gives them the same
    # token features: without fusion their scores are unchanged; with fusion the regions
    # attend to the other tokens too, so they move.
    same = torch.allclose(score3[:, :2], score5[:, :2])
    assert same == (fusion is None)
    data = _batch(model, [2], num_classes=3)
    with torch.no_grad():
        pred = model(**data, mode='predict')[0].pred_instances
    assert pred.labels.numel() == 0 or int(pred.labels.max()) < 3
    model.train()
    assert head.num_classes == 3 and head(feats)[0].shape == (5, BASE_TOKENS)


@pytest.mark.parametrize('fusion', [None, FUSION], ids=['no-fusion', 'fusion'])
def test_fusion_on_and_off_shapes(cache_dir, fusion):
    model = build_detector(cache_dir, fusion=fusion)
    head = model.roi_head.bbox_head
    assert (head.fc_cls.fusion is None) == (fusion is None)
    model.train()
    cls_score, bbox_pred = head(torch.randn(7, 64, 7, 7))
    assert cls_score.shape == (7, BASE_TOKENS) and bbox_pred.shape == (7, 4)
    cls_score.sum().backward()
    if fusion is not None:
        block = head.fc_cls.fusion
        torch.testing.assert_close(block.gamma.detach(), torch.full((32,), 0.1))
        torch.testing.assert_close(block.norm.weight.detach(), torch.ones(32))  # not N(0.01)
        assert block.gamma.grad is not None and block.attention.in_proj_weight.grad is not None
    empty_score, empty_box = head(torch.randn(0, 64, 7, 7))
    assert empty_score.shape == (0, BASE_TOKENS) and empty_box.shape == (0, 4)
    model.eval()
    with torch.no_grad():
        cls_score, _ = head(torch.randn(7, 64, 7, 7))
    assert cls_score.shape == (7, 5 + 1)


def test_one_name_per_prompt_makes_the_swap_exact(cache_dir):
    model = build_detector(cache_dir, names_per_prompt=1)
    head = model.roi_head.bbox_head
    feats = torch.randn(5, 64, 7, 7)
    model.eval()
    with torch.no_grad():
        score5, _ = head(feats)
        head.use_vocabulary(['purple cross', 'blue circle'])
        score2, _ = head(feats)
    # every name is encoded alone: its features, hence its scores, ignore the other names
    torch.testing.assert_close(score2[:, :2], score5[:, [4, 1]])


def test_checkpoint_from_one_vocabulary_loads_with_another(cache_dir):
    model = build_detector(cache_dir, fusion=FUSION)
    model.train()
    model.roi_head.bbox_head(torch.randn(2, 64, 7, 7))
    state = model.state_dict()
    assert not any('token_features' in k or 'positive_map' in k for k in state)
    register_all_modules()
    cfg = Config.fromfile(CONFIG)
    head = cfg.model.roi_head.bbox_head
    head.update(embed_dim=32, fusion=FUSION, vocabulary=dict(
        classes=['cat', 'dog'], model='OVD-TestCLIP-RN', pretrained=None, cache_dir=cache_dir),
        test_vocabulary=dict(classes=['cat', 'dog', 'hot dog']))
    other = MODELS.build(ConfigDict(cfg.model))
    other.load_state_dict(state, strict=True)
    other.eval()
    with torch.no_grad():
        cls_score, _ = other.roi_head.bbox_head(torch.randn(2, 64, 7, 7))
    assert cls_score.shape == (2, 4)


def test_token_dimension_mismatch_names_the_head(cache_dir):
    model = build_detector(cache_dir, embed_dim=64)
    with pytest.raises(ValueError, match='GroundingBBoxHead: token features of dimension 32 '
                                         r'\(OVD-TestCLIP-RN\) do not match the head\'s '
                                         'embed_dim 64'):
        model.roi_head.bbox_head.use_vocabulary(['cat', 'dog'])


def test_softmax_loss_is_refused(cache_dir):
    with pytest.raises(ValueError, match='must be a sigmoid loss'):
        build_detector(cache_dir, loss_cls=dict(type='CrossEntropyLoss', use_sigmoid=False))


def test_fusion_heads_must_divide_dimension(cache_dir):
    with pytest.raises(ValueError, match='num_heads 5 does not divide the embedding '
                                         'dimension 32'):
        build_detector(cache_dir, fusion=dict(num_heads=5))


def test_token_loss_provides_the_accuracy_mmdet_asks_custom_losses_for():
    """mmdet's ``BBoxHead.loss`` calls ``loss_cls.get_accuracy(cls_score, labels)`` for a loss
    declaring ``custom_activation`` / ``custom_accuracy``: the token loss must have it."""
    loss = MODELS.build(dict(type='GroundingTokenLoss',
                             loss=dict(type='FocalLoss', use_sigmoid=True)))
    assert loss.custom_accuracy and loss.custom_activation and callable(loss.get_accuracy)
    probs = torch.tensor([[0.9, 0.05, 0.1], [0.2, 0.7, 0.3], [0.1, 0.2, 0.9], [0.6, 0.3, 0.4]])
    labels = torch.tensor([0, 1, 2, 1])  # the best column is right for 3 of the 4 regions
    acc = loss.get_accuracy(probs, labels)
    assert acc.keys() == {'acc'}
    assert float(acc['acc']) == pytest.approx(75.0)


def test_one_name_per_prompt_is_the_default():
    """Every shipped config sets ``names_per_prompt=1`` (joint prompts score worse): a head
    configured without it encodes every name alone too."""
    register_all_modules()
    head = MODELS.build(dict(type='GroundingBBoxHead', embed_dim=32, vocabulary=dict(
        classes=BASE, model='OVD-TestCLIP-RN', pretrained=None)))
    assert head.names_per_prompt == 1


@pytest.mark.parametrize('class_tokens, positive_map', [
    ('last', [[1, 0, 0], [0, 1, 0], [0, 0, 1]]),
    ('eot', [[1, 0, 0], [0, 1, 0], [0, 0, 1]]),
    ('name', [[1, 1, 0, 0, 0, 0], [0, 0, 1, 1, 0, 0], [0, 0, 0, 0, 1, 1]])])
def test_class_tokens_decide_the_training_targets(cache_dir, class_tokens, positive_map):
    model = build_detector(cache_dir, class_tokens=class_tokens).train()
    head = model.roi_head.bbox_head
    head(torch.zeros(2, 64, 7, 7))  # installs the training vocabulary
    assert head.fc_cls.positive_map.tolist() == positive_map


def test_end_of_text_scoring_needs_one_name_a_prompt():
    register_all_modules()
    vocabulary = dict(classes=BASE, model='OVD-TestCLIP-RN', pretrained=None)
    with pytest.raises(ValueError, match="GroundingBBoxHead: class_tokens='eot' .* needs "
                                         'names_per_prompt=1, got None'):
        MODELS.build(dict(type='GroundingBBoxHead', embed_dim=32, vocabulary=vocabulary,
                          class_tokens='eot', names_per_prompt=None))
    with pytest.raises(ValueError, match="class_tokens must be one of .* got 'all'"):
        MODELS.build(dict(type='GroundingBBoxHead', embed_dim=32, vocabulary=vocabulary,
                          class_tokens='all'))


@pytest.mark.parametrize('token_bias', [True, False])
def test_token_bias_is_learned_only_when_asked(token_bias):
    from ovdkit.models.grounding_region_word_aligner import RegionWordAligner
    aligner = RegionWordAligner(8, 3, embed_dim=4, token_bias=token_bias)
    aligner.set_tokens(torch.randn(5, 4), torch.eye(5)[:2])
    aligner(torch.randn(6, 8)).sum().backward()
    assert aligner.bias_lang.requires_grad is token_bias
    assert (aligner.bias_lang.grad is not None) is token_bias
    assert aligner.bias0.grad is not None  # the scalar prior bias is learned either way
