"""ViLD: distillation loss on precomputed regions, shared/separate projection, the ensemble."""
import pytest
import torch
import torch.nn.functional as F
from mmdet.registry import MODELS
from mmdet.structures.bbox import bbox2roi
from mmdet.testing import demo_mm_inputs
from mmdet.utils import register_all_modules
from mmengine.config import Config, ConfigDict
from mmengine.logging import MessageHub
from mmengine.structures import InstanceData

import ovdkit  # noqa: F401
from ovdkit.testing.detectors import random_embedding_file
from ovdkit.utils.config_variables import OVDConfigError

BASE = ['red star', 'blue circle', 'green square']
ALL = BASE + ['yellow heart', 'purple cross']
DIM = 128

CONFIGS = {'shared': 'configs/toyworld/vild_r18_fpn_1xb8-300i_toyworld.py',
           'separate': 'configs/toyworld/vild-ensemble_r18_fpn_1xb8-300i_toyworld.py'}


def _build(tmp_path, projection):
    register_all_modules()
    base_path, _ = random_embedding_file(tmp_path, BASE, 0, DIM)
    all_path, _ = random_embedding_file(tmp_path, ALL, 1, DIM)
    cfg = Config.fromfile(CONFIGS[projection])
    head = cfg.model.roi_head.bbox_head
    head.vocabulary = dict(classes=BASE, path=base_path)
    head.test_vocabulary = dict(classes=ALL, path=all_path)
    torch.manual_seed(0)
    model = MODELS.build(ConfigDict(cfg.model))
    model.init_weights()
    return model


def _batch_with_regions(model, num_regions=(5, 3)):
    packed = demo_mm_inputs(batch_size=len(num_regions), image_shapes=(3, 128, 128),
                            num_items=[2] * len(num_regions), num_classes=3)
    generator = torch.Generator().manual_seed(1)
    for sample, k in zip(packed['data_samples'], num_regions):
        xy = torch.rand(k, 2, generator=generator) * 80
        wh = 8 + torch.rand(k, 2, generator=generator) * 40
        regions = InstanceData()
        regions.bboxes = torch.cat([xy, xy + wh], dim=1)
        regions.embeddings = F.normalize(torch.randn(k, DIM, generator=generator),
                                         dim=-1).half()
        sample.clip_regions = regions
    return model.data_preprocessor(packed, True)


@pytest.mark.parametrize('projection', ['shared', 'separate'])
def test_distillation_loss_value_and_gradients(tmp_path, projection):
    model = _build(tmp_path, projection)
    model.train()
    data = _batch_with_regions(model)
    losses = model(**data, mode='loss')
    assert {'loss_cls', 'loss_bbox', 'loss_distill'} <= set(losses)
    assert torch.isfinite(losses['loss_distill']) and losses['loss_distill'] > 0

    roi_head, head = model.roi_head, model.roi_head.bbox_head
    x = model.extract_feat(data['inputs'])
    loss = roi_head.distill_loss(x, data['data_samples'])
    boxes = [s.clip_regions.bboxes for s in data['data_samples']]
    feats = roi_head.bbox_roi_extractor(x[:roi_head.bbox_roi_extractor.num_inputs],
                                        bbox2roi(boxes))
    student = head.region_embeddings(feats)
    target = torch.cat([s.clip_regions.embeddings for s in data['data_samples']]).float()
    assert student.shape == (8, DIM)
    expected = 0.5 * (student - target).abs().sum(dim=1).mean()  # ViLD: weight 0.5, L1 summed
    assert torch.allclose(loss, expected, rtol=1e-5)

    model.zero_grad()
    loss.backward()
    assert model.backbone.conv1.weight.grad.abs().sum() > 0  # it trains the detector
    text_grad = head.fc_cls.projection.weight.grad
    if projection == 'shared':
        assert text_grad.abs().sum() > 0
    else:  # ViLD-ensemble: the image branch has its own projection
        assert text_grad is None or text_grad.abs().sum() == 0
        assert head.image_projection.weight.grad.abs().sum() > 0


def test_regions_are_subsampled_per_image(tmp_path):
    model = _build(tmp_path, 'shared')
    model.roi_head.num_distill_regions = 2
    data = _batch_with_regions(model, num_regions=(5, 1))
    boxes, targets = model.roi_head._distill_targets(data['data_samples'])
    assert [len(b) for b in boxes] == [2, 1] and targets.shape == (3, DIM)


def test_training_without_regions_says_what_is_missing(tmp_path):
    model = _build(tmp_path, 'shared')
    model.train()
    packed = demo_mm_inputs(batch_size=1, image_shapes=(3, 128, 128), num_items=[1],
                            num_classes=3)
    with pytest.raises(OVDConfigError, match='no clip_regions: .*LoadCLIPRegions') as err:
        model(**model.data_preprocessor(packed, True), mode='loss')
    assert str(err.value).startswith('image ')  # printed as is, not quoted


def _unit(x):
    return x / x.norm(dim=-1, keepdim=True)


def test_ensemble_is_the_weighted_geometric_mean(tmp_path):
    """The expected scores come from ViLD's definition on the head's weights and inputs
    (mmdet's Shared2FC trunk, the two projections, the stored text embeddings), not from the
    head's own methods."""
    model = _build(tmp_path, 'separate')
    model.eval()
    head = model.roi_head.bbox_head
    assert head.num_classes == len(ALL)
    temperature = Config.fromfile(CONFIGS['separate']).model.roi_head.bbox_head.temperature
    _, all_emb = random_embedding_file(tmp_path / 'again', ALL, 1, DIM)  # the test vocabulary
    feats = torch.randn(6, 64, 7, 7)
    with torch.no_grad():
        log_scores, bbox_pred = head(feats)
        trunk = feats.flatten(1)
        for fc in head.shared_fcs:  # mmdet's Shared2FC trunk: fc, relu, fc, relu
            trunk = F.relu(fc(trunk))
        text_proj, image_proj = head.fc_cls.projection, head.image_projection
        region = _unit(trunk @ text_proj.weight.t() + text_proj.bias)
        image_emb = _unit(trunk @ image_proj.weight.t() + image_proj.bias)
        classes = torch.cat([_unit(all_emb), _unit(head.fc_cls.background_embedding)[None]])
        text_logits = region @ classes.t() / temperature
    assert log_scores.shape == (6, len(ALL) + 1) and bbox_pred.shape == (6, 4)
    text = text_logits.softmax(-1)[:, :-1]
    image = (image_emb @ _unit(all_emb).t() / temperature).softmax(-1)
    weight = torch.tensor([2 / 3] * len(BASE) + [1 / 3] * (len(ALL) - len(BASE)))
    expected = text ** weight * image ** (1 - weight)
    scores = log_scores.softmax(-1)  # what mmdet's predict_by_feat computes
    assert torch.allclose(scores[:, :-1], expected, atol=1e-6)
    assert torch.allclose(scores[:, -1], 1 - expected.sum(-1), atol=1e-6)
    head.ensemble = None  # ViLD without ensemble: text scores only
    with torch.no_grad():
        assert torch.allclose(head(feats)[0].softmax(-1)[:, :-1], text, atol=1e-6)


def test_distillation_loss_warmup_and_errors():
    from ovdkit.models import ViLDDistillationLoss
    loss = ViLDDistillationLoss(loss_weight=0.5, warmup_iters=20)
    MessageHub.get_current_instance().update_info('iter', 9)
    pred, target = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.0]])
    assert loss(pred, target).item() == pytest.approx(0.5 * 10 / 20 * 2.0)
    MessageHub.get_current_instance().update_info('iter', 500)
    assert loss(pred, target).item() == pytest.approx(1.0)
    empty = torch.zeros(0, 2, requires_grad=True)
    assert loss(empty, torch.zeros(0, 2)).item() == 0
    with pytest.raises(ValueError, match=r'region embeddings \(1, 2\) and CLIP embeddings'):
        loss(pred, torch.zeros(1, 3))


def test_bad_head_options_are_named(tmp_path):
    register_all_modules()
    cfg = Config.fromfile(CONFIGS['shared']).model.roi_head.bbox_head
    with pytest.raises(ValueError, match="image_projection must be 'shared' or 'separate'"):
        MODELS.build(ConfigDict(dict(cfg, image_projection='both')))
    with pytest.raises(ValueError, match=r"unknown ensemble options \['text_weight'\]"):
        MODELS.build(ConfigDict(dict(cfg, ensemble=dict(text_weight=0.5))))


def test_use_vocabulary_swaps_classes_and_checks_the_dimension(tmp_path):
    model = _build(tmp_path, 'separate')
    head = model.roi_head.bbox_head
    head.test_vocabulary_cfg = dict(classes=ALL, model='OVD-TinyCLIP-RN', pretrained=None,
                                    cache_dir=str(tmp_path / 'cache'))
    model.eval()
    assert head.use_vocabulary('zebra,traffic cone') == ('zebra', 'traffic cone')
    with torch.no_grad():
        scores, _ = head(torch.randn(4, 64, 7, 7))
    # the two names, the three training names (competing, never reported), the background
    assert scores.shape == (4, 6) and head.num_classes == 2
    head.test_vocabulary_cfg = dict(head.test_vocabulary_cfg, model='OVD-TestCLIP-RN')
    with pytest.raises(ValueError, match='ViLDBBoxHead: text embeddings of dimension 32'):
        head.use_vocabulary(['zebra'])
