"""The heads' formulas against values computed here from their definitions (docs/design.md).

Expected values come from plain torch on the heads' *inputs* (RoI features, the learned
weights, the text embeddings or token features): mmdet's shared FC trunk, then the formula as
the docs state it. Nothing of ovdkit's classifiers, losses or helpers computes an expected
value. Test vocabularies put novel names first and between base names, so nothing can rely on
base classes coming first.
"""
import pytest
import torch
import torch.nn.functional as F
from mmdet.registry import MODELS
from mmdet.structures import DetDataSample
from mmdet.structures.bbox import bbox2roi
from mmdet.utils import register_all_modules
from mmengine.config import Config, ConfigDict
from mmengine.logging import MessageHub
from mmengine.structures import InstanceData

import ovdkit  # noqa: F401
from ovdkit.text import make_meta, save_text_embeddings
from ovdkit.text.vocabulary_embeddings import vocabulary_token_features

BASE = ['red star', 'blue circle', 'green square']
DIM = 128

# novel names first and between base names
MIXED = ['yellow heart', 'red star', 'purple cross', 'blue circle', 'green square']
NOVEL = {'yellow heart', 'purple cross'}
VILD_TEXT = 'configs/toyworld/vild-text_r18_fpn_1xb8-300i_toyworld.py'
VILD = 'configs/toyworld/vild_r18_fpn_1xb8-300i_toyworld.py'
ENSEMBLE = 'configs/toyworld/vild-ensemble_r18_fpn_1xb8-300i_toyworld.py'
GROUNDING = 'configs/toyworld/grounding_r18_fpn_1xb8-300i_toyworld.py'


def _head_cfg(config, **changes):
    register_all_modules()
    cfg = Config.fromfile(config).model.roi_head.bbox_head
    cfg.update(changes)
    return cfg


def _build(cfg, seed=0):
    torch.manual_seed(seed)
    head = MODELS.build(ConfigDict(cfg))
    head.init_weights()
    return head


def _trunk(head, rois):
    """mmdet's Shared2FC trunk: flatten, fc, relu, fc, relu (the classifier's input)."""
    h = rois.flatten(1)
    for fc in head.shared_fcs:
        h = F.relu(fc(h))
    return h


def _unit(x):
    return x / x.norm(dim=-1, keepdim=True)


def _vild_text_logits(head, rois, text, temperature):
    """``[cos(Wx, t_c) ..., cos(Wx, bg)] / T`` (ViLD-text)."""
    proj = head.fc_cls.projection
    region = _unit(_trunk(head, rois) @ proj.weight.t() + proj.bias)
    classes = torch.cat([_unit(text), _unit(head.fc_cls.background_embedding)[None]])
    return region @ classes.t() / temperature


def _embedding_file(tmp_path, names, seed):
    """An embedding file of rows with norms 0.5, 1, 1.5...: the heads must normalise them."""
    gen = torch.Generator().manual_seed(seed)
    emb = _unit(torch.randn(len(names), DIM, generator=gen)) * \
        (0.5 + 0.5 * torch.arange(len(names)))[:, None]
    meta = make_meta('OVD-TinyCLIP-RN', 'x.pt', 'sha256:0', 'single', ['{}'], names, DIM)
    return str(save_text_embeddings(tmp_path / f'vocab{len(names)}_{seed}.pt', emb, meta)), emb


@pytest.fixture()
def vocab_files(tmp_path):
    return dict(base=_embedding_file(tmp_path, BASE, 0), mixed=_embedding_file(tmp_path, MIXED, 1))


def test_vild_text_logits_and_base_only_cross_entropy(vocab_files):
    (base_path, base_emb), (mixed_path, mixed_emb) = vocab_files['base'], vocab_files['mixed']
    temperature = 0.05
    head = _build(_head_cfg(VILD_TEXT, temperature=temperature,
                            vocabulary=dict(classes=BASE, path=base_path),
                            test_vocabulary=dict(classes=MIXED, path=mixed_path)))
    rois = torch.randn(7, 64, 7, 7, generator=torch.Generator().manual_seed(3))
    head.eval()
    with torch.no_grad():
        logits, _ = head(rois)
        expected = _vild_text_logits(head, rois, mixed_emb, temperature)
    assert logits.shape == (7, len(MIXED) + 1)
    torch.testing.assert_close(logits, expected, rtol=1e-5, atol=1e-4)

    head.train()  # training: base classes + background only, softmax cross-entropy
    logits, bbox_pred = head(rois)
    expected = _vild_text_logits(head, rois, base_emb, temperature)
    torch.testing.assert_close(logits, expected, rtol=1e-5, atol=1e-4)
    labels = torch.tensor([0, 1, 2, 3, 3, 1, 0])  # 3 = background
    weights = torch.tensor([1.0, 1.0, 1.0, 1.0, 0.0, 1.0, 1.0])
    zeros = torch.zeros(7, 4)
    losses = head.loss(logits, bbox_pred, torch.zeros(7, 5), labels, weights, zeros, zeros)
    log_p = expected.log_softmax(dim=-1)[torch.arange(7), labels]
    expected_ce = -(log_p * weights).sum() / weights.sum()
    torch.testing.assert_close(losses['loss_cls'], expected_ce, rtol=1e-5, atol=1e-5)


def test_vild_ensemble_weights_classes_by_name_across_a_reordering(vocab_files):
    (base_path, _), (mixed_path, mixed_emb) = vocab_files['base'], vocab_files['mixed']
    cfg = _head_cfg(ENSEMBLE, vocabulary=dict(classes=BASE, path=base_path),
                    test_vocabulary=dict(classes=MIXED, path=mixed_path))
    temperature = cfg.temperature
    head = _build(cfg)
    head.eval()
    rois = torch.randn(6, 64, 7, 7, generator=torch.Generator().manual_seed(4))

    def expected_scores(names, text):
        with torch.no_grad():
            text_p = _vild_text_logits(head, rois, text, temperature).softmax(-1)[:, :-1]
            proj = head.image_projection
            image = _unit(_trunk(head, rois) @ proj.weight.t() + proj.bias)
            image_p = (image @ _unit(text).t() / temperature).softmax(-1)
        w = torch.tensor([1 / 3 if n in NOVEL else 2 / 3 for n in names])
        return text_p ** w * image_p ** (1 - w)

    with torch.no_grad():
        scores = head(rois)[0].softmax(-1)  # what mmdet's post-processing computes
    expected = expected_scores(MIXED, mixed_emb)
    torch.testing.assert_close(scores[:, :-1], expected, rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(scores[:, -1], 1 - expected.sum(-1), rtol=1e-4, atol=1e-6)

    # Same size, other order: a base and a novel name trade places.
    order = [1, 0, 3, 2, 4]
    swapped = [MIXED[i] for i in order]
    head.set_test_vocabulary(swapped, mixed_emb[order])
    with torch.no_grad():
        scores = head(rois)[0].softmax(-1)
    torch.testing.assert_close(scores[:, :-1], expected_scores(swapped, mixed_emb[order]),
                               rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(scores[:, :-1], expected[:, order], rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize('config', [VILD, ENSEMBLE], ids=['shared', 'separate'])
def test_distillation_of_roi_head_is_summed_l1_of_unit_embeddings(vocab_files, config):
    (base_path, _), (mixed_path, _) = vocab_files['base'], vocab_files['mixed']
    register_all_modules()
    cfg = Config.fromfile(config)
    cfg.model.roi_head.bbox_head.update(vocabulary=dict(classes=BASE, path=base_path),
                                        test_vocabulary=dict(classes=MIXED, path=mixed_path))
    torch.manual_seed(0)
    roi_head = MODELS.build(ConfigDict(cfg.model.roi_head))
    roi_head.init_weights()
    roi_head.train()
    gen = torch.Generator().manual_seed(5)
    feats = tuple(torch.randn(2, 64, 32 // 2 ** i, 32 // 2 ** i, generator=gen)
                  for i in range(5))
    samples, boxes, targets = [], [], []
    for k in (3, 2):
        xy = torch.rand(k, 2, generator=gen) * 60
        regions = InstanceData(bboxes=torch.cat([xy, xy + 20 + torch.rand(k, 2, generator=gen)
                                                 * 40], 1),
                               embeddings=_unit(torch.randn(k, DIM, generator=gen)).half())
        samples.append(DetDataSample(clip_regions=regions))
        boxes.append(regions.bboxes)
        targets.append(regions.embeddings.float())
    loss = roi_head.distill_loss(feats, samples)

    extractor, head = roi_head.bbox_roi_extractor, roi_head.bbox_head
    rois = extractor(feats[:extractor.num_inputs], bbox2roi(boxes))
    proj = head.fc_cls.projection if config == VILD else head.image_projection
    student = _unit(_trunk(head, rois) @ proj.weight.t() + proj.bias)
    expected = 0.5 * (student - torch.cat(targets)).abs().sum(-1).mean()  # ViLD: 0.5, L1 sum
    torch.testing.assert_close(loss, expected, rtol=1e-5, atol=1e-5)


def test_distillation_loss_weight_average_and_warmup():
    from ovdkit.models import ViLDDistillationLoss
    gen = torch.Generator().manual_seed(6)
    a, b = _unit(torch.randn(5, 8, generator=gen)), _unit(torch.randn(5, 8, generator=gen))
    l1 = sum(float(abs(x - y)) for ra, rb in zip(a.tolist(), b.tolist())
             for x, y in zip(ra, rb))  # summed over regions and dimensions
    hub = MessageHub.get_current_instance()
    hub.update_info('iter', 0)
    loss = ViLDDistillationLoss(loss_weight=0.3)
    assert loss(a, b.half()).item() == pytest.approx(0.3 * l1 / 5, rel=1e-3)
    assert loss(a, b, avg_factor=2).item() == pytest.approx(0.3 * l1 / 2, rel=1e-5)
    warm = ViLDDistillationLoss(loss_weight=0.3, warmup_iters=8)
    for iteration, ramp in ((0, 1 / 8), (2, 3 / 8), (7, 1.0), (30, 1.0)):
        hub.update_info('iter', iteration)
        assert warm(a, b).item() == pytest.approx(0.3 * ramp * l1 / 5, rel=1e-5)
    hub.update_info('iter', 0)
    MessageHub.get_instance('test_head_formulas_no_iter')  # outside a run: iteration 0
    assert warm(a, b).item() == pytest.approx(0.3 / 8 * l1 / 5, rel=1e-5)
    MessageHub.get_instance(hub.instance_name)  # the latest accessed is current again
    with pytest.raises(ValueError, match=r'region embeddings \(5, 8\) and CLIP embeddings'):
        loss(a, b[:, :4])
    empty = loss(torch.zeros(0, 8, requires_grad=True), torch.zeros(0, 8))
    assert empty.item() == 0 and empty.requires_grad


@pytest.mark.parametrize('class_tokens', ['name', 'eot'])
def test_grounding_logits_and_class_scores(tmp_path, class_tokens):
    names = MIXED[:2] + ['cat'] + MIXED[2:] + ['hot air balloon']  # 1 and 3 name tokens
    temperature = 0.05
    vocabulary = dict(classes=BASE, model='OVD-TestCLIP-RN', pretrained=None,
                      cache_dir=str(tmp_path))
    cfg = _head_cfg(GROUNDING, embed_dim=32, temperature=temperature, vocabulary=vocabulary,
                    test_vocabulary=dict(classes=names), class_tokens=class_tokens)
    torch.manual_seed(0)
    head = _build(cfg)
    with torch.no_grad():  # a trained-looking bias: token-dependent and not the prior
        head.fc_cls.bias_lang.copy_(torch.randn(32, generator=torch.Generator().manual_seed(7)))
        head.fc_cls.bias0.fill_(-1.3)
    rois = torch.randn(5, 64, 7, 7, generator=torch.Generator().manual_seed(8))

    def per_class_logits(names):
        """One ``(N, L_c)`` logit block per class, from its name's own token features."""
        _, tokens = vocabulary_token_features(dict(vocabulary, classes=names),
                                              cfg.names_per_prompt)
        proj = head.fc_cls.projection
        region = _unit(_trunk(head, rois) @ proj.weight.t() + proj.bias)
        blocks = []
        for chunk, start, end in tokens['spans'].tolist():
            if class_tokens == 'eot':  # "<sot> name . <eot>": the prompt's last real token
                start = int(tokens['attention_mask'][chunk].sum()) - 1
                end = start + 1
            words = _unit(tokens['features'][chunk, start:end].float())
            blocks.append(region @ words.t() / temperature +
                          words @ head.fc_cls.bias_lang + head.fc_cls.bias0)
        return blocks

    head.eval()
    with torch.no_grad():
        scores, _ = head(rois)
        blocks = per_class_logits(names)
    assert sorted({b.shape[1] for b in blocks}) == ([1, 2, 3] if class_tokens == 'name' else [1])
    expected = torch.stack([b.sigmoid().mean(dim=1) for b in blocks], dim=1)
    assert scores.shape == (5, len(names) + 1)
    torch.testing.assert_close(scores[:, :-1], expected, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(scores[:, -1], 1 - expected.max(dim=1).values,
                               rtol=1e-5, atol=1e-6)

    head.train()  # training: the base prompt's name tokens, class by class
    with torch.no_grad():
        logits, _ = head(rois)
        blocks = per_class_logits(BASE)
    torch.testing.assert_close(logits, torch.cat(blocks, dim=1), rtol=1e-5, atol=1e-4)


def test_classifiers_refuse_what_does_not_fit():
    from ovdkit.models import TextEmbeddingClassifier
    from ovdkit.models.grounding_region_word_aligner import RegionWordAligner
    classifier = TextEmbeddingClassifier(16, 4, embed_dim=8)
    with pytest.raises(RuntimeError, match='no class embeddings yet'):
        classifier(torch.randn(2, 16))
    for bad in (torch.zeros(3, 5), torch.zeros(8), torch.zeros(2, 3, 8)):
        with pytest.raises(ValueError, match='do not fit a classifier of dimension 8'):
            classifier.set_class_embeddings(bad)
    classifier.set_class_embeddings(torch.randn(6, 8))
    assert classifier.out_features == 7 and classifier(torch.randn(2, 16)).shape == (2, 7)
    aligner = RegionWordAligner(16, 4, embed_dim=8)
    with pytest.raises(RuntimeError, match='no token features yet'):
        aligner(torch.randn(2, 16))


@pytest.mark.parametrize('class_tokens, positives', [('name', [0, 0, 1, 1, 0, 0]),
                                                     ('eot', [0, 1, 0])])
def test_grounding_loss_is_normalised_by_the_foreground_regions(tmp_path, class_tokens,
                                                               positives):
    """Three foreground regions ("blue circle", label 1) among five: the focal loss summed over
    every region and token, divided by 3 (not 1, as a plain sum, nor 5, as a mean over the
    regions); no foreground region: divided by 1."""
    from mmdet.models.losses.focal_loss import py_sigmoid_focal_loss
    cfg = _head_cfg(GROUNDING, embed_dim=32, class_tokens=class_tokens, vocabulary=dict(
        classes=BASE, model='OVD-TestCLIP-RN', pretrained=None, cache_dir=str(tmp_path)))
    head = _build(cfg)
    head.train()
    logits, _ = head(torch.randn(5, 64, 7, 7, generator=torch.Generator().manual_seed(9)))
    background = len(BASE)
    for labels, divisor in (([1, background, 1, background, 1], 3), ([background] * 5, 1)):
        labels = torch.tensor(labels)
        losses = head.loss(logits, None, None, labels, torch.ones(5), None, None)
        targets = torch.zeros(5, len(positives))
        targets[labels == 1] = torch.tensor(positives, dtype=torch.float32)
        summed = py_sigmoid_focal_loss(logits, targets, gamma=2.0, alpha=0.25, reduction='sum')
        torch.testing.assert_close(losses['loss_cls'], summed / divisor)


def test_vild_ensemble_renormalises_when_the_class_probabilities_sum_above_1(vocab_files):
    """Text 0.8 / 0.2 and image 0.2 / 0.8 on a base and a novel class: the weighted geometric
    means are 0.8^(2/3) 0.2^(1/3) = 0.504 each, 1.008 in all, so there is no background mass
    left; the scores are then the two means renormalised, not NaN."""
    (base_path, _), (mixed_path, _) = vocab_files['base'], vocab_files['mixed']
    # ViLD's formula on the two names alone: no reference names compete
    cfg = _head_cfg(ENSEMBLE, vocabulary=dict(classes=BASE, path=base_path),
                    test_vocabulary=dict(classes=MIXED, path=mixed_path),
                    reference_vocabulary=None)
    head = _build(cfg)
    head.eval()
    temperature = cfg.temperature
    gap = float(torch.log(torch.tensor(4.0))) * temperature  # softmax 0.8 / 0.2 at T
    z = (1 - 0.5 ** 2 - (0.5 - gap) ** 2) ** 0.5
    text_dir = torch.zeros(DIM)
    text_dir[:3] = torch.tensor([0.5, 0.5 - gap, z])
    image_dir = torch.zeros(DIM)
    image_dir[:3] = text_dir[[1, 0, 2]]  # the same gap, the other way round
    with torch.no_grad():  # every region embeds to text_dir / image_dir, whatever its features
        for proj, direction in ((head.fc_cls.projection, text_dir),
                                (head.image_projection, image_dir)):
            proj.weight.zero_()
            proj.bias.copy_(direction)
        head.fc_cls.background_embedding.copy_(-text_dir)
    head.set_test_vocabulary(['red star', 'yellow heart'], torch.eye(DIM)[:2])
    with torch.no_grad():
        scores = head(torch.randn(2, 64, 7, 7))[0].softmax(-1)
    mean = 0.8 ** (2 / 3) * 0.2 ** (1 / 3)
    assert 2 * mean > 1.0
    torch.testing.assert_close(scores, torch.tensor([[0.5, 0.5, 0.0]] * 2), atol=1e-4, rtol=0)


def test_vild_ensemble_probabilities_of_a_novel_and_a_base_class():
    """A novel class (text 0.1, image 0.5, text weight 1/3) before a base class (text 0.6,
    image 0.2, text weight 2/3): 0.1^(1/3) 0.5^(2/3) = 0.29240 and 0.6^(2/3) 0.2^(1/3) =
    0.41602, the background 1 - both = 0.29158; the mask as bool (the head) or 0 / 1 float (the
    exported graph's input) gives the same."""
    from ovdkit.models import vild_ensemble_probabilities
    text, image = torch.tensor([[0.1, 0.6]]), torch.tensor([[0.5, 0.2]])
    novel, base = 0.1 ** (1 / 3) * 0.5 ** (2 / 3), 0.6 ** (2 / 3) * 0.2 ** (1 / 3)
    expected = torch.tensor([[novel, base, 1 - novel - base]])
    torch.testing.assert_close(expected, torch.tensor([[0.29240, 0.41602, 0.29158]]),
                               atol=1e-5, rtol=0)
    for mask in (torch.tensor([False, True]), torch.tensor([0.0, 1.0])):
        torch.testing.assert_close(
            vild_ensemble_probabilities(text, image, mask, 2 / 3, 1 / 3), expected)


def test_grounding_loss_of_no_region_and_of_one_region_one_token(tmp_path):
    """No region: no token loss (as mmdet's heads); one region scored against a one-token
    vocabulary ("cat"): its focal loss."""
    from mmdet.models.losses.focal_loss import py_sigmoid_focal_loss
    cfg = _head_cfg(GROUNDING, embed_dim=32, vocabulary=dict(
        classes=['cat'], model='OVD-TestCLIP-RN', pretrained=None, cache_dir=str(tmp_path)))
    head = _build(cfg)
    head.train()
    none = head.loss(torch.zeros(0, 1), torch.zeros(0, 4), torch.zeros(0, 5),
                     torch.zeros(0, dtype=torch.long), torch.zeros(0), torch.zeros(0, 4),
                     torch.zeros(0, 4))
    assert 'loss_cls' not in none and none['loss_bbox'].item() == 0
    logits, _ = head(torch.randn(1, 64, 7, 7, generator=torch.Generator().manual_seed(10)))
    assert logits.shape == (1, 1)
    losses = head.loss(logits, None, None, torch.tensor([0]), torch.ones(1), None, None)
    expected = py_sigmoid_focal_loss(logits, torch.ones(1, 1), gamma=2.0, alpha=0.25,
                                     reduction='sum')
    torch.testing.assert_close(losses['loss_cls'], expected)
