"""The vocabulary mechanism of OpenVocabularyHeadMixin, on a head that supplies only how to
encode a vocabulary and how to install it: lazy resolution, train / test switching, swaps."""
import pytest
import torch
from mmdet.models.roi_heads.bbox_heads import Shared2FCBBoxHead

from ovdkit.models.open_vocabulary_head import OpenVocabularyHeadMixin


class RecordingHead(OpenVocabularyHeadMixin, Shared2FCBBoxHead):
    """Encodes a name as its length; records every encoding and installation."""

    def __init__(self, vocabulary, test_vocabulary=None, **kwargs):
        super().__init__(**self._mmdet_kwargs(dict(kwargs, in_channels=4, roi_feat_size=1,
                                                   fc_out_channels=8, num_classes=80)))
        self._init_vocabularies(vocabulary, test_vocabulary)
        self.encoded, self.installed = [], []

    def encode_vocabulary(self, cfg):
        names = tuple(cfg['classes'].split(','))
        self.encoded.append(names)
        return names, torch.tensor([float(len(n)) for n in names])

    def install_vocabulary(self, prepared):
        self.installed.append(prepared.tolist())


def test_a_head_supplies_only_encoding_and_installation():
    head = RecordingHead(dict(classes='cat,dog'), dict(classes='cat,dog,zebra'))
    assert head.encoded == [] and head.installed == []  # building resolves nothing
    assert head.reg_class_agnostic and head.fc_reg.out_features == 4  # one box per region
    head.train()
    assert head.num_classes == 2
    head(torch.randn(3, 4, 1, 1))
    head(torch.randn(3, 4, 1, 1))
    assert head.encoded == [('cat', 'dog')] and head.installed == [[3.0, 3.0]]  # once
    head.eval()
    assert head.num_classes == 3 and head.test_classes == ('cat', 'dog', 'zebra')
    head(torch.randn(3, 4, 1, 1))
    assert head.installed[-1] == [3.0, 3.0, 5.0]
    assert head.use_vocabulary('tiger,cow') == ('tiger', 'cow') and head.num_classes == 2
    head(torch.randn(3, 4, 1, 1))
    assert head.installed[-1] == [5.0, 3.0] and head.test_vocabulary_cfg['classes'] == \
        ('tiger', 'cow')
    head.train()
    head(torch.randn(3, 4, 1, 1))
    assert head.installed[-1] == [3.0, 3.0] and head.num_classes == 2  # training unchanged
    assert len(head.encoded) == 3  # training, test, the swap: each encoded once
    head.set_test_vocabulary(['ox'], torch.tensor([2.0]))
    head.eval()
    head(torch.randn(3, 4, 1, 1))
    assert head.installed[-1] == [2.0] and head.num_classes == 1


def test_mmdets_placeholder_stands_only_while_mmdet_builds_the_head():
    head = RecordingHead(dict(classes='a,b,c'))
    assert head.__dict__['_mmdet_num_classes'] == 1
    assert head.fc_cls.out_features == 2  # mmdet's placeholder: 1 class + background
    assert head.num_classes == 3
    with pytest.raises(NotImplementedError):
        OpenVocabularyHeadMixin.encode_vocabulary(head, {})
