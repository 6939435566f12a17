"""OVCocoAllMetric on a split given by names: exact novel / base / all AP50 on a fixture."""
import json

import pytest
import torch

from ovdkit.datasets import OVCustomDataset
from ovdkit.evaluation import OVCocoAllMetric
from ovdkit.testing import make_coco_fixture

CLASSES = ('red square', 'green disk', 'blue triangle')


@pytest.fixture(scope='module')
def val_file(tmp_path_factory):
    return make_coco_fixture(str(tmp_path_factory.mktemp('coco')), num_train=1,
                             num_val=6)['val']


def _evaluate(ann_file, found, **split):
    """AP metrics when the boxes of the classes in ``found`` are predicted exactly."""
    data = json.loads(open(ann_file).read())
    metric = OVCocoAllMetric(ann_file=ann_file, **split)
    metric.dataset_meta = dict(classes=CLASSES, base_classes=CLASSES[:2],
                               novel_classes=CLASSES[2:])
    name_of = {c['id']: c['name'] for c in data['categories']}
    for image in data['images']:
        anns = [a for a in data['annotations'] if a['image_id'] == image['id']
                and name_of[a['category_id']] in found]
        boxes = torch.tensor([[x, y, x + w, y + h] for x, y, w, h in
                              (a['bbox'] for a in anns)], dtype=torch.float32).view(-1, 4)
        metric.process({}, [dict(img_id=image['id'], ori_shape=(96, 96), pred_instances=dict(
            bboxes=boxes, scores=torch.ones(len(anns)),
            labels=torch.tensor([CLASSES.index(name_of[a['category_id']]) for a in anns],
                                dtype=torch.long)))])
    return metric.evaluate(len(data['images']))


def test_split_from_the_dataset_meta_and_by_names(val_file):
    # perfect on 'red square' and 'green disk', nothing on 'blue triangle'
    found = CLASSES[:2]
    meta_split = _evaluate(val_file, found)
    assert meta_split['coco/base_ap50'] == 1.0 and meta_split['coco/novel_ap50'] == 0.0
    assert meta_split['coco/all_ap50'] == pytest.approx(2 / 3, abs=1e-3)
    named = _evaluate(val_file, found, novel_classes='green disk,blue triangle')
    assert named['coco/base_ap50'] == 1.0 and named['coco/novel_ap50'] == 0.5
    assert named['coco/all_ap50'] == meta_split['coco/all_ap50']


def test_unknown_split_name_is_named(val_file):
    with pytest.raises(ValueError, match=r"novel_classes \['zebra'\] are not classes"):
        _evaluate(val_file, CLASSES, novel_classes='zebra')


def test_custom_dataset_reads_its_split_from_class_lists(tmp_path, val_file):
    (tmp_path / 'all.txt').write_text('\n'.join(CLASSES) + '\n')
    (tmp_path / 'novel.txt').write_text('green disk\n')
    dataset = OVCustomDataset(ann_file=val_file, data_prefix=dict(img=''), pipeline=[],
                              classes=str(tmp_path / 'all.txt'),
                              novel_classes=str(tmp_path / 'novel.txt'), lazy_init=True)
    assert dataset.metainfo['classes'] == CLASSES
    assert dataset.metainfo['base_classes'] == ('red square', 'blue triangle')
    assert dataset.metainfo['novel_classes'] == ('green disk',)
    with pytest.raises(ValueError, match=r"novel_classes \['zebra'\] are not among"):
        OVCustomDataset(ann_file=val_file, pipeline=[], classes=CLASSES, novel_classes='zebra',
                        lazy_init=True)
