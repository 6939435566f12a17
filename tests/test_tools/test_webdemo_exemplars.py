"""The web demo's "find more like this": boxes drawn on the image as classes, alone or with
typed names, equal to a direct inferencer call; boxes on a downscaled upload given in its own
pixels; bad boxes answered with a message naming the class and the box, the server still up;
the cache files of drawn boxes bounded like those of typed vocabularies."""
from pathlib import Path

import cv2
import numpy as np
import pytest

from ovdkit.apis.detection_records import detection_records
from ovdkit.apis.webdemo import DemoLimits
from ovdkit.apis.webdemo.session import decode_image
from ovdkit.datasets import Exemplar, VisualClass
from ovdkit.testing.webdemo_fixtures import demo_model, detect, serving


@pytest.fixture(scope='module')
def model(tmp_path_factory):
    return demo_model(tmp_path_factory.mktemp('webdemo_exemplars'))


def direct(inferencer, image, vocabulary, thr=0.0):
    pred = inferencer(image, vocabulary=vocabulary, pred_score_thr=thr,
                      no_save_pred=True)['predictions'][0]
    return detection_records(pred, thr)


def test_drawn_boxes_with_typed_names_equal_the_inferencer(model):
    image = cv2.imread(str(model['images'] / 'scene1.png'))
    boxes = [[10, 12, 50, 60], [70, 64, 120, 100]]
    with serving(model['inferencer'], model['images']) as server:
        status, answer = detect(server, image, 'red star, zebra', exemplars=[
            dict(name='thing', boxes=boxes), dict(name='blue circle', boxes=[[4, 4, 30, 44]],
                                                  use_name=True)])
        assert status == 200, answer
        assert answer['vocabulary'] == ['red star', 'zebra', 'thing', 'blue circle']
        expected = direct(model['inferencer'], image, [
            'red star', 'zebra', VisualClass('thing', [Exemplar(image, boxes)]),
            VisualClass('blue circle', [Exemplar(image, [4, 4, 30, 44])], use_name=True)])
        assert answer['detections'] == expected and expected
        assert 'thing' in {d['name'] for d in expected}
        # drawn boxes alone (no typed name)
        status, answer = detect(server, image, '', exemplars=[dict(name='thing', boxes=boxes)])
        assert status == 200 and answer['vocabulary'] == ['thing'], answer
        assert {d['name'] for d in answer['detections']} == {'thing'}


def test_boxes_on_a_downscaled_upload_are_in_its_own_pixels(model):
    big = cv2.resize(cv2.imread(str(model['images'] / 'scene1.png')), (256, 256),
                     interpolation=cv2.INTER_NEAREST)
    small, scale, _ = decode_image(cv2.imencode('.png', big)[1].tobytes(), 'big.png',
                                   DemoLimits(max_image_side=128))   # what the server sees
    assert small.shape == (128, 128, 3) and scale == 0.5
    with serving(model['inferencer'], model['images'], DemoLimits(max_image_side=128)) as server:
        status, answer = detect(server, big, 'red star', exemplars=[
            dict(name='thing', boxes=[[20, 24, 100, 120]])])
        assert status == 200, answer
    expected = direct(model['inferencer'], small, [
        'red star', VisualClass('thing', [Exemplar(small, [10, 12, 50, 60])])])
    assert [d['name'] for d in answer['detections']] == [d['name'] for d in expected]
    # records hold 2 decimals
    assert np.allclose([d['bbox'] for d in answer['detections']],
                       [[2 * v for v in d['bbox']] for d in expected], atol=0.02)


def test_bad_boxes_are_a_message_and_the_next_request_works(model):
    image = model['images'] / 'scene2.png'
    cases = [
        ([dict(name='thing', boxes=[[10, 10, 40, 40], [100, 100, 140, 120]])],
         "class 'thing', example 2 (<array 128x128x3> [100, 100, 140, 120]): the box is outside "
         "the image (128 x 128 pixels)"),
        ([dict(name='thing', boxes=[[10, 10, 10, 40]])],
         "class 'thing', example 1 (<array 128x128x3> [10, 10, 10, 40]): the box has zero size"),
        ([dict(name='red star', boxes=[[10, 10, 40, 40]])],
         "vocabulary: class name 'red star' is used twice"),
        ([dict(name=' ', boxes=[[10, 10, 40, 40]])], 'example boxes: give the class'),
        ([dict(name='thing', boxes=[])], "example boxes: class 'thing' has no box"),
        ([dict(name='thing', boxes=[[1, 2, 3]])], "example boxes: class 'thing': each box must "
                                                  "be four numbers"),
        ([dict(name='thing', boxes=[[1, 1, 9, 9]] * 17)],
         "example boxes: class 'thing' has 17 boxes, more than the limit of 16"),
        ('thing', 'example boxes: expected a list'),
    ]
    with serving(model['inferencer'], model['images']) as server:
        for exemplars, message in cases:
            status, answer = detect(server, image, 'red star, zebra', exemplars=exemplars)
            assert status == 400 and answer['error'].startswith(message), answer
            status, answer = detect(server, image, 'red star, zebra')
            assert status == 200 and answer['vocabulary'] == ['red star', 'zebra'], answer


def test_cache_files_of_drawn_boxes_are_bounded(model):
    image = cv2.imread(str(model['images'] / 'scene0.png'))
    folder = Path(model['inferencer'].heads[0][1].test_vocabulary_cfg['cache_dir'])
    before = set(folder.glob('*exemplars_*.json'))
    added = []
    with serving(model['inferencer'], model['images'], max_vocabularies=2) as server:
        for k in range(4):
            status, answer = detect(server, image, 'red star', exemplars=[
                dict(name='thing', boxes=[[10, 10, 40 + k, 40]])])
            assert status == 200, answer
            added.append(set(folder.glob('*exemplars_*.json')) - before)
    assert len(added[0]) == 1 and len(added[1]) == 2
    # beyond two drawings, the least recently used one's files are deleted
    assert len(added[3]) == 2 and not added[0] & added[3]
    assert all(p.with_suffix('.pt').is_file() for p in added[3])
