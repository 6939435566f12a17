"""ViLD-text head: base-only training softmax, frozen buffers, vocabulary swap, checkpoints."""
import pytest
import torch
import torch.nn.functional as F
from mmdet.registry import MODELS
from mmdet.testing import demo_mm_inputs
from mmdet.utils import register_all_modules
from mmengine.config import Config, ConfigDict

import ovdkit  # noqa: F401
from ovdkit.testing.detectors import random_embedding_file

CONFIG = 'configs/toyworld/vild-text_r18_fpn_1xb8-300i_toyworld.py'
BASE = ['red star', 'blue circle', 'green square']
ALL = BASE + ['yellow heart', 'purple cross']
DIM = 128


def _embedding_file(tmp_path, names, seed):
    return random_embedding_file(tmp_path, names, seed, DIM)


@pytest.fixture()
def detector(tmp_path):
    """The toy-world ViLD-text detector with 3 base / 5 test classes from embedding files."""
    register_all_modules()
    base_path, base_emb = _embedding_file(tmp_path, BASE, 0)
    all_path, all_emb = _embedding_file(tmp_path, ALL, 1)
    cfg = Config.fromfile(CONFIG)
    head = cfg.model.roi_head.bbox_head
    head.vocabulary = dict(classes=BASE, path=base_path)
    head.test_vocabulary = dict(classes=ALL, path=all_path)
    torch.manual_seed(0)
    model = MODELS.build(ConfigDict(cfg.model))
    model.init_weights()
    return model, base_emb, all_emb


def _batch(model, num_items, num_classes):
    packed = demo_mm_inputs(batch_size=len(num_items), image_shapes=(3, 128, 128),
                            num_items=num_items, num_classes=num_classes)
    return model.data_preprocessor(packed, True)


def test_loss_with_and_without_gt_uses_base_plus_background(detector):
    model, _, _ = detector
    model.train()
    head = model.roi_head.bbox_head
    assert head.num_classes == 3
    data = _batch(model, [3, 0], num_classes=3)  # second image has no box at all
    losses = model(**data, mode='loss')
    assert torch.isfinite(losses['loss_cls']) and losses['loss_cls'] > 0
    assert torch.isfinite(losses['loss_bbox'])
    feats = torch.randn(6, 64, 7, 7)
    cls_score, bbox_pred = head(feats)
    assert cls_score.shape == (6, 3 + 1)  # base + background: novel columns do not exist
    assert bbox_pred.shape == (6, 4)      # class-agnostic regression
    losses['loss_cls'].backward()
    assert head.fc_cls.background_embedding.grad is not None
    assert head.fc_cls.projection.weight.grad is not None


def test_no_gt_image_only_trains_background(detector):
    model, _, _ = detector
    model.train()
    data = _batch(model, [0], num_classes=3)
    losses = model(**data, mode='loss')
    assert torch.isfinite(losses['loss_cls'])
    assert losses['loss_bbox'].item() == 0.0


def test_text_embeddings_are_frozen_buffers_outside_checkpoints(detector):
    model, base_emb, _ = detector
    model.train()
    head = model.roi_head.bbox_head
    head(torch.randn(2, 64, 7, 7))
    emb = head.fc_cls.class_embeddings
    torch.testing.assert_close(emb, base_emb)
    assert not emb.requires_grad
    assert all(p is not emb for p in model.parameters())
    assert not any('class_embeddings' in k for k in model.state_dict())


def test_vocabulary_swap_changes_classes_not_boxes(detector):
    model, base_emb, all_emb = detector
    model.eval()
    head = model.roi_head.bbox_head
    feats = torch.randn(5, 64, 7, 7)
    with torch.no_grad():
        score5, box5 = head(feats)
        head.set_test_vocabulary(['red star', 'yellow heart'], all_emb[[0, 3]])
        score2, box2 = head(feats)
    # the training names left out (blue circle, green square) still compete, after the two
    assert head.num_classes == 2 and score5.shape == (5, 6) and score2.shape == (5, 5)
    assert head.scored_names == ('red star', 'yellow heart', '-blue circle', '-green square')
    torch.testing.assert_close(box5, box2)
    # same classes, same logits: the swap is exact
    torch.testing.assert_close(score2[:, [0, 1, 4]], score5[:, [0, 3, 5]])
    # the references' rows are the training vocabulary's embeddings: cos / T
    with torch.no_grad():
        trunk = feats.flatten(1)
        for fc in head.shared_fcs:
            trunk = torch.relu(fc(trunk))
        region = F.normalize(trunk @ head.fc_cls.projection.weight.t() +
                             head.fc_cls.projection.bias, dim=-1)
    expected = region @ F.normalize(base_emb[1:3], dim=-1).t() / head.fc_cls.temperature
    torch.testing.assert_close(score2[:, 2:4], expected, rtol=1e-4, atol=1e-4)
    head.set_reference_vocabulary(None)  # ViLD's scoring: the two names alone
    with torch.no_grad():
        score2, _ = head(feats)
    torch.testing.assert_close(score2, score5[:, [0, 3, 5]])
    data = _batch(model, [2], num_classes=2)
    with torch.no_grad():
        pred = model(**data, mode='predict')[0].pred_instances
    assert pred.labels.numel() == 0 or int(pred.labels.max()) < 2
    model.train()
    assert head.num_classes == 3  # training always uses the base vocabulary


def test_checkpoint_from_one_vocabulary_loads_with_another(detector, tmp_path):
    model, _, _ = detector
    state = model.state_dict()
    cfg = Config.fromfile(CONFIG)
    other_path, _ = _embedding_file(tmp_path, ['cat', 'dog'], 5)
    cfg.model.roi_head.bbox_head.vocabulary = dict(classes=['cat', 'dog'], path=other_path)
    cfg.model.roi_head.bbox_head.test_vocabulary = dict(classes=['cat', 'dog'], path=other_path)
    other = MODELS.build(ConfigDict(cfg.model))
    other.load_state_dict(state, strict=True)
    other.eval()
    with torch.no_grad():
        cls_score, _ = other.roi_head.bbox_head(torch.randn(2, 64, 7, 7))
    assert cls_score.shape == (2, 3)


def test_embedding_file_for_other_names_is_refused(tmp_path):
    register_all_modules()
    path, _ = _embedding_file(tmp_path, BASE, 0)
    cfg = Config.fromfile(CONFIG)
    cfg.model.roi_head.bbox_head.vocabulary = dict(classes=['cat', 'dog', 'cow'], path=path)
    model = MODELS.build(ConfigDict(cfg.model))
    model.train()
    with pytest.raises(ValueError, match="'classes' differs: index 0: file has 'red star'"):
        model.roi_head.bbox_head(torch.randn(1, 64, 7, 7))


def test_a_test_vocabulary_covering_the_training_names_never_encodes_them(tmp_path):
    """The training names compete only when the test vocabulary lacks some of them: a test
    vocabulary holding all of them installs without reading the training vocabulary's
    embedding file (missing here), and scores exactly as ViLD's softmax over its own names.
    A vocabulary that lacks a training name needs the file."""
    register_all_modules()
    all_path, all_emb = _embedding_file(tmp_path, ALL, 1)
    missing = tmp_path / 'missing.pt'
    cfg = Config.fromfile(CONFIG)
    head_cfg = cfg.model.roi_head.bbox_head
    head_cfg.vocabulary = dict(classes=BASE, path=str(missing))
    head_cfg.test_vocabulary = dict(classes=ALL, path=all_path)
    torch.manual_seed(0)
    model = MODELS.build(ConfigDict(cfg.model))
    model.init_weights()
    model.eval()
    head = model.roi_head.bbox_head
    feats = torch.randn(4, 64, 7, 7)
    with torch.no_grad():
        scores, _ = head(feats)
        assert head.scored_names == tuple(ALL) and scores.shape == (4, len(ALL) + 1)
        head.set_test_vocabulary(['yellow heart', 'red star', 'blue circle', 'green square'],
                                 all_emb[[3, 0, 1, 2]])
        reordered, _ = head(feats)
        assert head.scored_names == ('yellow heart', 'red star', 'blue circle', 'green square')
        head.set_reference_vocabulary(None)
        head.set_test_vocabulary(ALL, all_emb)
        plain, _ = head(feats)
    torch.testing.assert_close(scores, plain, rtol=0, atol=0)
    torch.testing.assert_close(reordered, plain[:, [3, 0, 1, 2, 5]], rtol=0, atol=0)
    head.set_reference_vocabulary('train')
    head.set_test_vocabulary(['red star', 'yellow heart'], all_emb[[0, 3]])
    with pytest.raises(FileNotFoundError, match='missing.pt'), torch.no_grad():
        head(feats)
