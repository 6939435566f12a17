"""Detic's max-size image-label loss: hand-computed values, the largest proposal, and the RoI
and RPN heads that keep image-labelled images out of the box losses (ViLD-text, ViLD,
grounding)."""
import math

import pytest
import torch
from mmdet.registry import MODELS
from mmdet.testing import demo_mm_inputs
from mmdet.utils import register_all_modules
from mmengine.config import Config, ConfigDict
from mmengine.structures import InstanceData

import ovdkit  # noqa: F401
from ovdkit.models import MaxSizeImageLabelLoss, largest_proposal_index
from ovdkit.testing.detectors import GROUNDING_CONFIG, VILD_TEXT_CONFIG, random_embedding_file

BASE = ['red star', 'blue circle', 'green square']
ALL = BASE + ['yellow heart', 'purple cross']


def test_largest_proposal_among_the_most_confident():
    boxes = torch.tensor([[0, 0, 10, 10], [0, 0, 30, 5], [0, 0, 20, 20], [0, 0, 99, 99.]])
    # areas 100, 150, 400, 9801: the last one is not among the first three
    assert largest_proposal_index(boxes, 3) == 2
    assert largest_proposal_index(boxes, 2) == 1
    assert largest_proposal_index(boxes, 128) == 3
    with pytest.raises(ValueError, match='without proposals'):
        largest_proposal_index(boxes[:0], 3)


def test_bce_is_detics_per_label_one_hot_mean_by_hand():
    scores = torch.tensor([[2.0, -1.0, 0.0]])          # classes 0, 1 and the background
    columns = torch.eye(2, 3)
    loss = MaxSizeImageLabelLoss(loss_type='bce', loss_weight=1.0)
    # target (1/2, 1/2, 0): softplus(s) - s t summed: 1.126928 + 0.813262 + 0.693147
    value = loss(scores, [torch.tensor([0, 1])], columns)
    assert value.item() == pytest.approx(2.633337, abs=1e-5)
    # Detic's loop: one-hot BCE per label, summed over columns, mean over labels
    per_label = [torch.nn.functional.binary_cross_entropy_with_logits(
        scores[0], torch.eye(3)[c], reduction='sum') for c in (0, 1)]
    assert value.item() == pytest.approx(float(sum(per_label) / 2), abs=1e-6)


def test_softmax_and_weight_and_mean_over_images_by_hand():
    scores = torch.tensor([[2.0, -1.0, 0.0], [0.0, 0.0, 0.0]])
    loss = MaxSizeImageLabelLoss(loss_type='softmax', loss_weight=0.1)
    value = loss(scores, [torch.tensor([0, 1]), torch.tensor([1])], torch.eye(2, 3))
    first = math.log(math.exp(2) + math.exp(-1) + 1) - 0.5   # 1.669840
    second = math.log(3)                                      # uniform over 3 columns
    assert value.item() == pytest.approx(0.1 * (first + second) / 2, abs=1e-6)


def test_loss_refuses_images_without_labels_and_bad_options():
    with pytest.raises(ValueError, match='without labels'):
        MaxSizeImageLabelLoss()(torch.zeros(1, 3), [torch.tensor([], dtype=torch.long)],
                                torch.eye(2, 3))
    with pytest.raises(ValueError, match="loss_type must be one of"):
        MaxSizeImageLabelLoss(loss_type='wsddn')


def _detector(tmp_path, config, roi_head, **bbox_head):
    register_all_modules()
    cfg = Config.fromfile(config)
    cfg.model.rpn_head.type = 'ImageLabelRPNHead'
    cfg.model.roi_head.type = roi_head
    cfg.model.roi_head.image_label_vocabulary = bbox_head.pop('image_label_vocabulary')
    cfg.model.roi_head.loss_image_label = dict(type='MaxSizeImageLabelLoss', num_proposals=8,
                                               loss_type=bbox_head.pop('loss_type'))
    cfg.model.roi_head.bbox_head.update(bbox_head)
    torch.manual_seed(0)
    model = MODELS.build(ConfigDict(cfg.model))
    model.init_weights()
    model.train()
    return model


@pytest.fixture()
def vild_text(tmp_path):
    base_path, _ = random_embedding_file(tmp_path, BASE, 0)
    all_path, all_emb = random_embedding_file(tmp_path, ALL, 1)
    model = _detector(tmp_path, VILD_TEXT_CONFIG, 'ImageLabelRoIHead',
                      vocabulary=dict(classes=BASE, path=base_path),
                      test_vocabulary=dict(classes=ALL, path=all_path),
                      image_label_vocabulary=dict(classes=ALL, path=all_path),
                      loss_type='softmax')
    return model, all_emb


def _batch(model, labels):
    """Images of 128 px: ``None`` a box-labelled one (3 boxes), a tuple an image-labelled one."""
    packed = demo_mm_inputs(batch_size=len(labels), image_shapes=(3, 128, 128),
                            num_items=[3] * len(labels), num_classes=3)
    for sample, names in zip(packed['data_samples'], labels):
        if names is not None:
            sample.set_metainfo(dict(image_labels=names))
            sample.gt_instances = InstanceData(bboxes=torch.zeros(0, 4),
                                               labels=torch.zeros(0, dtype=torch.long))
    return model.data_preprocessor(packed, True)


def _total(loss):
    """A loss value: mmdet's RPN gives one a level."""
    return torch.stack(loss).sum() if isinstance(loss, list) else loss


def test_image_labelled_images_leave_the_box_and_rpn_losses_alone(vild_text):
    model, _ = vild_text
    boxed = _batch(model, [None])
    mixed = _batch(model, [None, ('yellow heart', 'red star')])
    mixed['inputs'][0] = boxed['inputs'][0]
    mixed['data_samples'][0] = boxed['data_samples'][0]
    model.backbone.eval()  # batch-norm statistics of one image, not of the batch
    torch.manual_seed(1)
    alone = model(**boxed, mode='loss')
    torch.manual_seed(1)
    both = model(**mixed, mode='loss')
    for key in ('loss_rpn_cls', 'loss_rpn_bbox', 'loss_cls', 'loss_bbox'):
        assert torch.allclose(_total(alone[key]), _total(both[key]), atol=1e-6), key
    assert alone['loss_image_label'].item() == 0.0
    assert both['loss_image_label'].item() > 0
    # the image-label loss trains the classifier's projection, not the box regressor
    model.zero_grad()
    both['loss_image_label'].backward()
    head = model.roi_head.bbox_head
    assert head.fc_cls.projection.weight.grad.abs().sum() > 0
    assert head.fc_reg.weight.grad is None or head.fc_reg.weight.grad.abs().sum() == 0


def test_vild_text_image_label_loss_scores_the_largest_proposal_against_all_names(vild_text):
    model, all_emb = vild_text
    roi_head, head = model.roi_head, model.roi_head.bbox_head
    torch.manual_seed(0)
    x = tuple(torch.randn(1, 64, 128 // s, 128 // s) for s in (8, 16, 32, 64))
    proposals = InstanceData(bboxes=torch.tensor([[0, 0, 10, 10], [5, 5, 60, 70],
                                                  [0, 0, 20, 20.]]))
    sample = _batch(model, [('purple cross', )])['data_samples'][0]
    loss = roi_head.image_label_loss(x, [proposals], [sample])
    feats = roi_head.bbox_roi_extractor(x, torch.tensor([[0, 5, 5, 60, 70.]]))
    features = head.relu(head.shared_fcs[1](head.relu(head.shared_fcs[0](feats.flatten(1)))))
    region = torch.nn.functional.normalize(head.fc_cls.projection(features), dim=-1)
    background = torch.nn.functional.normalize(head.fc_cls.background_embedding, dim=0)
    logits = region @ torch.cat([all_emb, background[None]]).t() / head.fc_cls.temperature
    assert logits.shape == (1, len(ALL) + 1)
    expected = 0.1 * (torch.logsumexp(logits[0], 0) - logits[0, ALL.index('purple cross')])
    assert loss.item() == pytest.approx(expected.item(), rel=1e-4)
    # the training vocabulary is back in place for the next forward
    assert head(feats)[0].shape == (1, len(BASE) + 1)


def test_unknown_label_names_are_an_error_naming_them(vild_text):
    model, _ = vild_text
    with pytest.raises(ValueError, match=r"image labels \['zebra'\] are not in "
                                         r"image_label_vocabulary"):
        model(**_batch(model, [None, ('zebra', )]), mode='loss')


def test_a_batch_of_image_labelled_images_only(vild_text):
    model, _ = vild_text
    losses = model(**_batch(model, [('red star', ), ('yellow heart', )]), mode='loss')
    assert sum(v.item() for v in losses['loss_rpn_cls']) == 0.0
    assert losses['loss_image_label'].item() > 0
    assert 'loss_cls' not in losses


def test_vild_roi_head_distils_box_labelled_images_only(tmp_path, vild_text):
    _, _ = vild_text
    base_path, _ = random_embedding_file(tmp_path, BASE, 0)
    all_path, _ = random_embedding_file(tmp_path, ALL, 1)
    model = _detector(tmp_path, VILD_TEXT_CONFIG, 'ImageLabelViLDRoIHead',
                      type='ViLDBBoxHead', vocabulary=dict(classes=BASE, path=base_path),
                      test_vocabulary=dict(classes=ALL, path=all_path),
                      image_label_vocabulary=dict(classes=ALL, path=all_path),
                      loss_type='softmax')
    data = _batch(model, [None, ('yellow heart', )])
    data['data_samples'][0].clip_regions = InstanceData(
        bboxes=torch.tensor([[0, 0, 50, 50.]]),
        embeddings=torch.nn.functional.normalize(torch.randn(1, 128), dim=-1))
    losses = model(**data, mode='loss')  # the image-labelled sample has no clip_regions
    assert losses['loss_distill'].item() > 0 and losses['loss_image_label'].item() > 0


def test_grounding_scores_the_label_names_tokens_with_bce(tmp_path):
    cache = str(tmp_path / 'cache')
    clip = dict(model='OVD-TestCLIP-RN', pretrained=None, cache_dir=cache)
    model = _detector(tmp_path, GROUNDING_CONFIG, 'ImageLabelRoIHead', embed_dim=32,
                      vocabulary=dict(classes=BASE, **clip), test_vocabulary=dict(classes=ALL),
                      image_label_vocabulary=dict(classes=ALL), loss_type='bce')
    head = model.roi_head.bbox_head
    names, logits, columns = head.image_label_logits(torch.randn(2, 64, 7, 7),
                                                     dict(classes=ALL))
    assert names == tuple(ALL)
    # one end-of-text token a name (the toy config's class_tokens='eot'): 5 tokens
    assert logits.shape == (2, 5) and torch.equal(columns, torch.eye(5))
    losses = model(**_batch(model, [None, ('purple cross', 'red star')]), mode='loss')
    assert losses['loss_image_label'].item() > 0 and losses['loss_cls'].item() > 0
    assert head(torch.randn(2, 64, 7, 7))[0].shape == (2, len(BASE))  # training prompt again


def test_a_few_steps_teach_the_largest_proposal_a_novel_name(vild_text):
    """The loss's gradient raises the labelled novel name's probability on the chosen
    proposal (a name the box losses never train)."""
    model, _ = vild_text
    roi_head, head = model.roi_head, model.roi_head.bbox_head
    torch.manual_seed(0)
    x = tuple(torch.randn(1, 64, 128 // s, 128 // s) for s in (8, 16, 32, 64))
    proposals = InstanceData(bboxes=torch.tensor([[5, 5, 60, 70.], [0, 0, 10, 10]]))
    sample = _batch(model, [('purple cross', )])['data_samples'][0]
    feats = roi_head.bbox_roi_extractor(x, torch.tensor([[0, 5, 5, 60, 70.]]))

    def probability():
        with torch.no_grad():
            _, logits, _ = head.image_label_logits(feats, roi_head.image_label_vocabulary)
        return logits.softmax(-1)[0, ALL.index('purple cross')].item()
    before = probability()
    optimizer = torch.optim.SGD(head.parameters(), lr=0.01)
    for _ in range(5):
        optimizer.zero_grad()
        roi_head.image_label_loss(x, [proposals], [sample]).backward()
        optimizer.step()
    assert probability() > before + 0.05
