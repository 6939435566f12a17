"""tools/demo.py with classes given by example boxes: --exemplar after --vocab names, a
vocabulary file with exemplar lines, and bad examples refused before any image with one
``error:`` line naming the class and the example."""
import json

import cv2
import pytest

from ovdkit.testing import load_tool
from ovdkit.testing.detectors import VILD_TEXT_CONFIG, build_checkpoint, toy_scenes


@pytest.fixture(scope='module')
def setup(tmp_path_factory):
    work = tmp_path_factory.mktemp('demo_exemplars')
    config, checkpoint = build_checkpoint(VILD_TEXT_CONFIG, work)
    (work / 'images').mkdir()
    for i, image in enumerate(toy_scenes(3)):
        cv2.imwrite(str(work / 'images' / f'scene{i}.png'), image)
    return work, ['--config', config, '--checkpoint', checkpoint, '--no-progress',
                  '--exemplar-crop-scales', '1.25', '--score-thr', '0.0']


def test_exemplar_option_and_vocabulary_file(setup, capsys):
    work, model = setup
    demo = load_tool('tools/demo.py')
    shot = str(work / 'images' / 'scene0.png')
    code = demo.main([str(work / 'images' / 'scene2.png'), *model, '--vocab', 'red star',
                      '--exemplar', f'thing := {shot} [10,12,50,60] [70,64,120,100]',
                      '--exemplar', f'blue circle += {shot} [4,4,30,44]',
                      '--out-dir', str(work / 'out1')])
    assert code == 0
    summary = json.loads((work / 'out1' / 'summary.json').read_text())
    assert summary['vocabulary'] == ['red star', 'thing', 'blue circle']
    pred = json.loads((work / 'out1' / 'preds' / 'scene2.json').read_text())
    assert pred['detections'] and {d['name'] for d in pred['detections']} <= \
        {'red star', 'thing', 'blue circle'}
    # the same classes from a file (paths relative to it) give the same detections
    (work / 'vocab.txt').write_text('red star\nthing := images/scene0.png [10,12,50,60] '
                                    '[70,64,120,100]\nblue circle += images/scene0.png '
                                    '[4,4,30,44]\n')
    assert demo.main([str(work / 'images' / 'scene2.png'), *model, '--vocab-file',
                      str(work / 'vocab.txt'), '--out-dir', str(work / 'out2')]) == 0
    again = json.loads((work / 'out2' / 'preds' / 'scene2.json').read_text())
    assert again['detections'] == pred['detections']


@pytest.mark.parametrize('args,message', [
    (['--vocab', 'red star,thing', '--exemplar', 'thing := {shot} [10,12,50,60]'],
     "error: vocabulary: class name 'thing' is used twice .*example 1 \\(.*scene0.png "
     "\\[10, 12, 50, 60\\]\\) of class 'thing'"),
    (['--exemplar', 'thing := {shot} [10,12,50,60] [100,100,130,140]'],
     "error: class 'thing', example 2 \\(.*scene0.png \\[100, 100, 130, 140\\]\\): the box is "
     "outside the image \\(128 x 128 pixels\\)"),
    (['--exemplar', 'thing := {shot} [10,12,10,60]'],
     "error: class 'thing', example 1 .*: the box has zero size"),
    (['--exemplar', 'thing := {missing} [10,12,50,60]'],
     "error: class 'thing', example 1 \\(.*missing.png .*cannot read the image"),
    (['--exemplar', 'thing {shot} [10,12,50,60]'], 'error: --exemplar .*write "NAME := IMAGE'),
])
def test_bad_examples_stop_before_any_image(setup, capsys, args, message):
    import re
    work, model = setup
    shot, missing = work / 'images' / 'scene0.png', work / 'missing.png'
    args = [a.format(shot=shot, missing=missing) for a in args]
    code = load_tool('tools/demo.py').main([str(work / 'images'), *model, *args,
                             '--out-dir', str(work / 'bad')])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and re.search(message, err[-1]), err[-1]
    assert not (work / 'bad' / 'summary.json').exists()
