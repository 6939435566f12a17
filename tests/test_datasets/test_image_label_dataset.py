"""Image-labelled data: caption matching (Detic's rule), ImageLabelDataset's dropped images
(counted, logged, never an empty dataset), the packing transform, the concatenation with a box
dataset and the multi-source sampler's ratio check, and the two converters."""
import json
import subprocess
import sys
from itertools import islice
from unittest import mock

import numpy as np
import pytest
from mmdet.utils import register_all_modules
from mmengine.registry import init_default_scope

import ovdkit  # noqa: F401
from ovdkit.datasets import (CheckedGroupMultiSourceSampler, CheckedMultiSourceSampler,
                             ImageLabelConcatDataset, ImageLabelDataset, PackImageLabelInputs,
                             caption_label_names, check_images_per_source)
from ovdkit.datasets.converters import ConverterInputError
from ovdkit.datasets.image_label_converters import (captions_to_image_labels,
                                                    imagenet_to_image_labels)
from ovdkit.testing import REPO

CATEGORIES = [dict(id=1, name='dog'), dict(id=2, name='couch'), dict(id=7, name='zebra')]


def test_caption_names_follow_detics_whole_word_rule():
    entries = ['dog', 'couch|sofa', 'cat', 'hot dog', 'tie']
    assert caption_label_names(['A dog sleeps on a sofa.'], entries) == ('dog', 'couch')
    assert caption_label_names(['Dog.'], entries) == ('dog', )
    assert caption_label_names(['two cats and a hot dog'], entries) == ('dog', 'hot dog')
    assert caption_label_names(['a tied rope', 'nothing here'], entries) == ()


def _write(tmp_path, images, categories=CATEGORIES):
    path = tmp_path / 'labels.json'
    path.write_text(json.dumps(dict(images=images, annotations=[], categories=categories)))
    return str(path)


def test_dataset_drops_counts_and_logs_images_by_reason(tmp_path):
    images = [dict(id=1, file_name='a.jpg', pos_category_ids=[1, 2]),
              dict(id=2, file_name='b.jpg', pos_category_ids=[]),
              dict(id=3, file_name='c.jpg', pos_category_ids=[7]),
              dict(id=4, file_name='d.jpg', pos_category_ids=[7, 2]),
              dict(id=5, file_name='e.jpg')]
    with mock.patch('ovdkit.datasets.image_label_dataset.print_log') as log:
        dataset = ImageLabelDataset(ann_file=_write(tmp_path, images),
                                    classes=['couch', 'dog'], data_prefix=dict(img='imgs/'),
                                    pipeline=[])
    assert len(dataset) == 2
    assert dataset[0]['image_labels'] == ('couch', 'dog')  # vocabulary order
    assert dataset[1]['image_labels'] == ('couch', )
    assert dataset[0]['img_path'] == 'imgs/a.jpg' and dataset[0]['instances'] == []
    assert dataset.drop_counts == {'no labels': 2, 'labels not in the vocabulary': 1}
    assert dataset.metainfo['classes'] == ('couch', 'dog')
    out = log.call_args.args[0]
    assert 'kept 2 of 5 images; dropped: 1 (labels not in the vocabulary), 2 (no labels)' in out
    assert "2 labels of 1 names not in the vocabulary, e.g. ['zebra']" in out


def test_captions_that_name_nothing_are_dropped_and_nothing_left_is_an_error(tmp_path):
    images = [dict(id=1, file_name='a.jpg', captions=['a Sofa by the window']),
              dict(id=2, file_name='b.jpg', captions=['an empty street'])]
    dataset = ImageLabelDataset(ann_file=_write(tmp_path, images), label_source='captions',
                                classes=['dog', 'couch|sofa'], pipeline=[])
    assert [d['image_labels'] for d in dataset] == [('couch', )]
    assert dataset.drop_counts == {'captions naming no class of the vocabulary': 1}
    with pytest.raises(ValueError, match=r'no image left with labels \(2 images; dropped: 2 '
                                         r'\(captions naming no class'):
        ImageLabelDataset(ann_file=_write(tmp_path, images), label_source='captions',
                          classes=['zebra'], pipeline=[])
    with pytest.raises(ValueError, match='label_source must be one of'):
        ImageLabelDataset(ann_file=_write(tmp_path, images), label_source='tags')


def test_pack_puts_the_labels_in_the_metainfo_and_refuses_box_samples():
    pack = PackImageLabelInputs()
    results = dict(img=np.zeros((4, 4, 3), np.uint8), img_id=1, img_path='a.jpg',
                   ori_shape=(4, 4), img_shape=(4, 4), scale_factor=(1., 1.), flip=False,
                   flip_direction=None, image_labels=('dog', ),
                   gt_bboxes=np.zeros((0, 4), np.float32), gt_bboxes_labels=np.zeros(0, int))
    sample = pack(dict(results))['data_samples']
    assert sample.metainfo['image_labels'] == ('dog', ) and len(sample.gt_instances) == 0
    results.pop('image_labels')
    with pytest.raises(KeyError, match="a.jpg has no 'image_labels'"):
        pack(results)


def _concat(tmp_path, num_box=6, num_weak=4):
    register_all_modules()
    init_default_scope('mmdet')
    box = dict(images=[dict(id=i, file_name=f'{i}.jpg', width=8, height=8)
                       for i in range(1, num_box + 1)],
               annotations=[dict(id=i, image_id=i, category_id=1, bbox=[0, 0, 4, 4], area=16,
                                 iscrowd=0) for i in range(1, num_box + 1)],
               categories=[dict(id=1, name='dog')])
    (tmp_path / 'box.json').write_text(json.dumps(box))
    weak = [dict(id=i, file_name=f'w{i}.jpg', pos_category_ids=[2]) for i in range(num_weak)]
    return ImageLabelConcatDataset([
        dict(type='CocoDataset', ann_file=str(tmp_path / 'box.json'),
             metainfo=dict(classes=('dog', )), data_prefix=dict(img=''), pipeline=[]),
        dict(type='ImageLabelDataset', ann_file=_write(tmp_path, weak), pipeline=[])])


def test_sampler_takes_the_ratio_from_each_source_and_refuses_an_empty_one(tmp_path):
    dataset = _concat(tmp_path)
    assert dataset.metainfo['classes'] == ('dog', )  # the box-labelled dataset's
    sampler = CheckedMultiSourceSampler(dataset, batch_size=4, source_ratio=[1, 1], seed=0)
    batches = np.array(list(islice(iter(sampler), 40))).reshape(10, 4)
    assert ((batches < 6).sum(axis=1) == 2).all()  # two of each source in every batch
    with pytest.raises(ValueError, match=r'train_dataloader.sampler.source_ratio=\[4, 1\] with '
                                         r'train_dataloader.sampler.batch_size=2 gives '
                                         r'source\(s\) \[1\] no image'):
        CheckedMultiSourceSampler(dataset, batch_size=2, source_ratio=[4, 1], seed=0)
    with pytest.raises(ValueError, match=r'source_ratio=\[9, 1\] with .*batch_size=8 gives '
                                         r'source\(s\) \[1\] no image a batch \(images per '
                                         r'source: \[8, 0\]\)'):
        CheckedGroupMultiSourceSampler(dataset, batch_size=8, source_ratio=[9, 1], seed=0)
    assert check_images_per_source(10, [1, 4]) == [2, 8]  # Detic's 1:4, as mmdet splits it
    with pytest.raises(ValueError, match='a box-labelled dataset, then ImageLabelDatasets'):
        ImageLabelConcatDataset([dataset.datasets[1], dataset.datasets[0]])


def test_imagenet_converter_labels_folder_images_and_checks_inputs(tmp_path):
    lvis = dict(images=[], annotations=[], categories=[
        dict(id=3, name='dog', synset='dog.n.01', frequency='f'),
        dict(id=9, name='okapi', synset='okapi.n.01', frequency='r')])
    (tmp_path / 'lvis.json').write_text(json.dumps(lvis))
    for folder, files in (('n1', ['a.JPEG', 'b.JPEG', 'notes.txt']), ('n9', ['c.JPEG'])):
        (tmp_path / 'in21k' / folder).mkdir(parents=True)
        for name in files:
            (tmp_path / 'in21k' / folder / name).write_bytes(b'x')
    (tmp_path / 'map.txt').write_text('# synset folder\ndog.n.01 n1\nokapi.n.01 n9\n')
    out = tmp_path / 'out' / 'labels.json'
    counts = imagenet_to_image_labels(tmp_path / 'in21k', tmp_path / 'map.txt',
                                      tmp_path / 'lvis.json', out)
    assert counts['images'] == 3 and counts['classes'] == 2 and counts['missing_folders'] == 0
    data = json.loads(out.read_text())
    assert [(i['file_name'], i['pos_category_ids']) for i in data['images']] == [
        ('n1/a.JPEG', [3]), ('n1/b.JPEG', [3]), ('n9/c.JPEG', [9])]
    (tmp_path / 'bad.txt').write_text('dog.n.01 n1\nokapi.n.01\n')
    with pytest.raises(ConverterInputError, match=r'bad.txt:2: expected "SYNSET FOLDER"'):
        imagenet_to_image_labels(tmp_path / 'in21k', tmp_path / 'bad.txt',
                                 tmp_path / 'lvis.json', tmp_path / 'x.json')
    (tmp_path / 'unknown.txt').write_text('zebra.n.01 n1\n')
    with pytest.raises(ConverterInputError, match=r"1 synsets are no category .* \['zebra"):
        imagenet_to_image_labels(tmp_path / 'in21k', tmp_path / 'unknown.txt',
                                 tmp_path / 'lvis.json', tmp_path / 'x.json')
    assert not (tmp_path / 'x.json').exists()


def test_captions_tool_writes_labels_and_exits_2_on_a_bad_input(tmp_path):
    captions = dict(images=[dict(id=1, file_name='1.jpg'), dict(id=2, file_name='2.jpg')],
                    annotations=[dict(id=1, image_id=1, caption='A dog on a couch.'),
                                 dict(id=2, image_id=2, caption='A red bus.')])
    (tmp_path / 'captions.json').write_text(json.dumps(captions))
    (tmp_path / 'cats.json').write_text(json.dumps(dict(images=[], annotations=[],
                                                        categories=CATEGORIES)))
    counts = captions_to_image_labels(tmp_path / 'captions.json', tmp_path / 'cats.json',
                                      tmp_path / 'labels.json')
    assert counts == dict(images=1, unnamed=1, labels=2, path=str(tmp_path / 'labels.json'))
    image = json.loads((tmp_path / 'labels.json').read_text())['images'][0]
    assert image['pos_category_ids'] == [1, 2] and image['captions'] == ['A dog on a couch.']
    (tmp_path / 'broken.json').write_text('{"images": [')
    proc = subprocess.run([sys.executable, 'tools/dataset_converters/captions2labels.py',
                           str(tmp_path / 'broken.json'), '--categories',
                           str(tmp_path / 'cats.json'), '--out', str(tmp_path / 'o.json')],
                          cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 2 and 'broken.json: not valid JSON' in proc.stderr
    assert not (tmp_path / 'o.json').exists()
