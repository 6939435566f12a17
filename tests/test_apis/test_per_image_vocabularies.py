"""One batch, one vocabulary per image: the same detections as running each image alone.

"The same": equal labels, names and order; boxes and scores equal to float32 rounding, since a
batched convolution or matrix product rounds a few values differently from a single image's
(mmdet's batches do so with a shared vocabulary too).
"""
import json

import numpy as np
import pytest

from ovdkit.apis import OVDInferencer
from ovdkit.datasets import Exemplar, VisualClass, per_image_vocabularies
from ovdkit.testing.detectors import build_checkpoint, toy_scenes

VOCABULARIES = [
    ['red star', 'zebra'],
    ['blue circle', 'green cross', 'red star', '-zebra'],
    ['red star', 'zebra'],  # the first one again: encoded once
    ['television|tv|monitor', 'blue circle'],
    ['purple heart'],
]


def _same(batched, alone):
    assert batched['label_names'] == alone['label_names']
    assert batched['labels'] == alone['labels']
    np.testing.assert_allclose(batched['bboxes'], alone['bboxes'], rtol=1e-6, atol=1e-4)
    np.testing.assert_allclose(batched['scores'], alone['scores'], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize('config', [
    'configs/toyworld/vild-text_r18_fpn_1xb8-300i_toyworld.py',
    'configs/toyworld/vild-ensemble_r18_fpn_1xb8-300i_toyworld.py',
    'configs/toyworld/grounding_r18_fpn_1xb8-300i_toyworld.py',
])
def test_one_batch_with_a_vocabulary_per_image_equals_images_one_by_one(config, tmp_path):
    # a grounding head refuses negative names (it has no softmax for them to take part in)
    vocabularies = [[n for n in v if 'grounding' not in config or not n.startswith('-')]
                    for v in VOCABULARIES]
    config_path, checkpoint = build_checkpoint(config, tmp_path)
    inferencer = OVDInferencer(config_path, checkpoint, vocabulary='red star,blue circle')
    head = inferencer.model.roi_head.bbox_head
    images = toy_scenes(len(vocabularies))
    shared_before = inferencer(images[:2])['predictions']
    encoded = []
    original = head.encode_vocabulary
    head.encode_vocabulary = lambda cfg: encoded.append(cfg['classes']) or original(cfg)
    # 5 images in batches of 3: the second batch takes the queue's last two vocabularies
    batched = inferencer(images, vocabulary=vocabularies, batch_size=3)['predictions']
    assert len(encoded) == 4  # four distinct vocabularies, each encoded once
    assert inferencer.classes == ('red star', 'blue circle')  # the vocabulary in use stays
    assert inferencer(images[:2])['predictions'] == shared_before
    assert any(len(p['labels']) for p in batched)
    for image, vocabulary, got in zip(images, vocabularies, batched):
        alone = inferencer([image], vocabulary=vocabulary)['predictions'][0]
        assert alone['label_names'] == [inferencer.classes[i] for i in alone['labels']]
        _same(got, alone)
    assert not any('zebra' in p['label_names'] for p in batched[1:2])  # a negative name
    assert len(encoded) == 4  # one by one: every vocabulary was still in memory
    again = inferencer(images, vocabulary=vocabularies, batch_size=5)['predictions']
    assert len(again) == 5 and len(encoded) == 4
    for got, first in zip(again, batched):
        _same(got, first)
    same_everywhere = inferencer(images, vocabulary=[['red star', 'blue circle']] * 5,
                                 batch_size=5)['predictions']
    shared = inferencer(images, vocabulary='red star,blue circle', batch_size=5)
    for got, expected in zip(same_everywhere, shared['predictions']):
        _same(got, expected)


def test_per_image_vocabulary_errors_name_the_counts(tmp_path):
    config_path, checkpoint = build_checkpoint(
        'configs/toyworld/vild-text_r18_fpn_1xb8-300i_toyworld.py', tmp_path)
    inferencer = OVDInferencer(config_path, checkpoint, vocabulary='red star')
    images = toy_scenes(3)
    with pytest.raises(ValueError, match=r'2 per-image vocabularies for 3 images'):
        inferencer(images, vocabulary=[['red star'], ['zebra']])
    with pytest.raises(ValueError, match=r"item 1 \('zebra'\) is a name but other items are "
                                         r'lists'):
        inferencer(images, vocabulary=[['red star'], 'zebra', ['x']])
    with pytest.raises(ValueError, match='duplicate'):
        inferencer(images, vocabulary=[['red star'], ['zebra', 'zebra'], ['x']])
    assert inferencer.classes == ('red star',)
    vocabularies = [['red star'], ['zebra', 'blue circle'], ['green cross', 'x', 'y']]
    out = inferencer(images, vocabulary=vocabularies, out_dir=str(tmp_path / 'out'),
                     no_save_pred=False, return_vis=True, batch_size=3)
    written = sorted((tmp_path / 'out' / 'preds').glob('*.json'))
    assert len(written) == len(out['visualization']) == 3
    for path, vocabulary in zip(written, vocabularies):
        names = json.loads(path.read_text())['label_names']
        assert names and set(names) <= set(vocabulary)
    assert inferencer.visualizer.dataset_meta['classes'] == ('red star',)
    assert per_image_vocabularies(['red star', 'zebra']) is None
    assert per_image_vocabularies('red star,zebra') is None
    assert per_image_vocabularies([('a',), ['b']], 2) == [('a',), ['b']]


def test_classes_given_by_examples_in_per_image_vocabularies(tmp_path):
    config_path, checkpoint = build_checkpoint(
        'configs/toyworld/vild-text_r18_fpn_1xb8-300i_toyworld.py', tmp_path)
    inferencer = OVDInferencer(config_path, checkpoint, vocabulary='red star')
    images = toy_scenes(3)
    thing = VisualClass('thing', [Exemplar(images[0], [10, 12, 50, 60])])
    vocabularies = [['red star', thing], ['blue circle'], [thing, 'green cross']]
    batched = inferencer(images, vocabulary=vocabularies, batch_size=3)['predictions']
    assert any('thing' in p['label_names'] for p in batched)
    for image, vocabulary, got in zip(images, vocabularies, batched):
        _same(got, inferencer([image], vocabulary=vocabulary)['predictions'][0])
    assert not any('thing' in p['label_names'] for p in batched[1:2])
