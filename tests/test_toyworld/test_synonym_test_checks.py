"""detector_runs._test_with_synonyms refuses what it cannot test: a model without an
open-vocabulary head, and a synonym file whose classes are not the dataset's, in order."""
from types import SimpleNamespace

import pytest
from torch import nn

from ovdkit.toyworld.detector_runs import _test_with_synonyms


class Head(nn.Module):
    def __init__(self, names):
        super().__init__()
        self.names, self.asked = names, []

    def use_vocabulary(self, classes):
        self.asked.append(classes)
        return self.names


def runner_of(model, classes=('red circle', 'blue star')):
    dataset = SimpleNamespace(metainfo=dict(classes=classes))
    return SimpleNamespace(model=model, cfg=SimpleNamespace(filename='toy.py'),
                           test_dataloader=SimpleNamespace(dataset=dataset),
                           test=lambda: {'coco/novel_ap50': 0.25, 'coco/base_ap50': 0.5,
                                         'coco/all_ap50': 0.375})


def test_ap50s_of_the_second_test_in_percent():
    head = Head(('red circle', 'blue star'))
    model = nn.Sequential(head)
    assert _test_with_synonyms(runner_of(model), 'syn.txt') == dict(
        novel_ap50_synonyms=25.0, base_ap50_synonyms=50.0, all_ap50_synonyms=37.5)
    assert head.asked == ['syn.txt']


def test_a_model_without_an_open_vocabulary_head_is_refused():
    with pytest.raises(ValueError, match=r"synonym_classes='syn.txt': the model of toy.py has "
                                         r'no open-vocabulary head'):
        _test_with_synonyms(runner_of(nn.Sequential(nn.Linear(2, 2))), 'syn.txt')


def test_classes_in_another_order_are_refused():
    model = nn.Sequential(Head(('blue star', 'red circle')))
    with pytest.raises(ValueError, match=r"its classes \['blue star', 'red circle'\] are not "
                                         r"the dataset's \['red circle', 'blue star'\] in order"):
        _test_with_synonyms(runner_of(model), 'syn.txt')
