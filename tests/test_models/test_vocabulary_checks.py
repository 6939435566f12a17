"""Training vocabulary = the dataset's classes (TrainingVocabularyHook), and a test vocabulary
given by names never inherits the training vocabulary's embedding ``path``."""
import logging
from types import SimpleNamespace

import pytest
import torch
from mmdet.registry import MODELS
from mmdet.utils import register_all_modules
from mmengine.config import Config, ConfigDict

import ovdkit  # noqa: F401
from ovdkit.engine import TrainingVocabularyHook, first_difference
from ovdkit.text import make_meta, save_text_embeddings
from ovdkit.utils.config_variables import OVDConfigError

CONFIG = 'configs/toyworld/vild-text_r18_fpn_1xb8-300i_toyworld.py'
BASE = ['red star', 'blue circle', 'green square']
ALL = BASE + ['yellow heart']
DIM = 32  # OVD-TestCLIP-RN


def build(tmp_path, test_vocabulary=None):
    register_all_modules()
    torch.manual_seed(0)
    emb = torch.nn.functional.normalize(torch.randn(len(BASE), DIM), dim=-1)
    meta = make_meta('OVD-TestCLIP-RN', None, 'random', 'single', ['{}'], BASE, DIM)
    path = str(save_text_embeddings(tmp_path / 'base.pt', emb, meta))
    cfg = Config.fromfile(CONFIG)
    head = cfg.model.roi_head.bbox_head
    head.embed_dim = DIM
    head.vocabulary = dict(classes=BASE, path=path, model='OVD-TestCLIP-RN', pretrained=None,
                           templates='single', cache_dir=str(tmp_path / 'cache'))
    head.test_vocabulary = test_vocabulary
    return MODELS.build(ConfigDict(cfg.model))


def test_test_vocabulary_by_names_does_not_load_the_training_file(tmp_path):
    model = build(tmp_path, test_vocabulary=dict(classes=ALL))
    head = model.roi_head.bbox_head
    assert 'path' not in head.test_vocabulary_cfg
    assert head.test_vocabulary_cfg['model'] == 'OVD-TestCLIP-RN'
    model.eval()
    # before the fix this loaded base.pt for 4 names: "'classes' differs" from its sidecar
    cls_score, _ = head(torch.randn(2, head.in_channels, 7, 7))
    assert cls_score.shape == (2, len(ALL) + 1)
    assert len(list((tmp_path / 'cache').glob('*.pt'))) == 1  # built from the CLIP weights


def test_test_vocabulary_without_names_keeps_the_training_file(tmp_path):
    head = build(tmp_path, test_vocabulary=dict(templates='single')).roi_head.bbox_head
    assert head.test_vocabulary_cfg['path'] == head.vocabulary_cfg['path']


def runner_for(model, classes):
    return SimpleNamespace(model=model, logger=logging.getLogger('test'),
                           train_dataloader=SimpleNamespace(
                               dataset=SimpleNamespace(metainfo=dict(classes=tuple(classes)))))


def test_training_vocabulary_equal_to_the_dataset_classes_passes(tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger='test'):
        TrainingVocabularyHook().before_train(runner_for(build(tmp_path), BASE))
    assert caplog.messages == ["[ovdkit] training vocabulary of model.roi_head.bbox_head = "
                               "the training dataset's 3 classes"]


@pytest.mark.parametrize('classes, message', [
    ([BASE[1], BASE[0], BASE[2]],
     "at index 0 the vocabulary has 'red star', the dataset 'blue circle'"),
    (BASE[:2], "the vocabulary has 3 names, the dataset 2; the first extra one "
               "\\(vocabulary\\) is 'green square'"),
    (BASE + ['cat'], "the vocabulary has 3 names, the dataset 4; the first extra one "
                     "\\(dataset\\) is 'cat'"),
])
def test_training_vocabulary_differing_from_the_dataset_is_an_error(tmp_path, classes,
                                                                     message):
    with pytest.raises(OVDConfigError, match=r'training vocabulary of '
                                             r'model\.roi_head\.bbox_head .*' + message):
        TrainingVocabularyHook().before_train(runner_for(build(tmp_path), classes))


def test_first_difference():
    assert first_difference(('a', 'b'), ('a', 'b')) is None
    assert first_difference(('a', 'b'), ('a', 'c')) == \
        "at index 1 the vocabulary has 'b', the dataset 'c'"
