"""Phrase grounding through OVDInferencer and tools/demo.py (a random-init grounding model: the
plumbing, not the accuracy; tests/test_tools/test_demo_toyworld.py grounds on a trained one)."""
import json

import mmcv
import pytest

from ovdkit.apis import OVDInferencer
from ovdkit.testing import load_tool
from ovdkit.testing.detectors import (GROUNDING_CONFIG, VILD_TEXT_CONFIG, build_checkpoint,
                                      toy_scenes)

CAPTION = 'the red star next to a blue heart'


@pytest.fixture(scope='module')
def grounding(tmp_path_factory):
    return build_checkpoint(GROUNDING_CONFIG, tmp_path_factory.mktemp('caption_model'))


def test_detections_carry_their_phrase_and_its_span(grounding):
    inferencer = OVDInferencer(*grounding)
    pred = inferencer(toy_scenes(1), caption=CAPTION, phrases=['the red star', 'a blue heart'],
                      pred_score_thr=0.0, no_save_pred=True)['predictions'][0]
    assert pred['labels'], 'no detection at all: nothing was checked'
    spans = {'the red star': [0, 12], 'a blue heart': [21, 33]}
    assert pred['caption'] == CAPTION
    assert pred['label_names'] == [('the red star', 'a blue heart')[i] for i in pred['labels']]
    assert pred['char_spans'] == [spans[name] for name in pred['label_names']]
    assert inferencer.classes == ('the red star', 'a blue heart')
    # GLIP's form; then back to a class vocabulary: no spans any more
    pred = inferencer(toy_scenes(1), caption='red star . blue heart', pred_score_thr=0.0,
                      no_save_pred=True)['predictions'][0]
    assert set(pred['label_names']) <= {'red star', 'blue heart'}
    assert inferencer.caption.char_spans == ((0, 8), (11, 21))
    pred = inferencer(toy_scenes(1), vocabulary=['red star', 'zebra'],
                      no_save_pred=True)['predictions'][0]
    assert 'char_spans' not in pred and inferencer.caption is None
    with pytest.raises(ValueError, match='give a vocabulary or a caption, not both'):
        inferencer(toy_scenes(1), vocabulary=['red star'], caption=CAPTION)
    with pytest.raises(ValueError, match='phrases were given without their caption'):
        inferencer(toy_scenes(1), phrases=['red star'])


def test_a_class_list_head_cannot_ground_a_caption(tmp_path):
    inferencer = OVDInferencer(*build_checkpoint(VILD_TEXT_CONFIG, tmp_path))
    with pytest.raises(TypeError, match=r'ViLDTextBBoxHead \(roi_head.bbox_head\) scores class '
                                        'names only; grounding phrases of a caption needs a '
                                        'grounding head'):
        inferencer.set_caption(CAPTION, ['the red star'])


def test_demo_tool_with_a_caption(grounding, tmp_path, capsys):
    demo = load_tool('tools/demo.py')
    config, checkpoint = grounding
    image = tmp_path / 'scene.png'
    mmcv.imwrite(toy_scenes(1)[0], str(image))
    out = tmp_path / 'out'
    code = demo.main([str(image), '--config', config, '--checkpoint', checkpoint, '--caption',
                      CAPTION, '--phrases', 'the red star', 'a blue heart', '--score-thr', '0',
                      '--out-dir', str(out)])
    assert code == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary['caption'] == CAPTION and summary['failed'] == 0
    record = json.loads((out / 'preds' / 'scene.json').read_text())
    assert record['caption'] == CAPTION and record['detections']
    for det in record['detections']:
        assert CAPTION[slice(*det['char_span'])] == det['name']
    assert (out / 'vis' / 'scene.png').is_file()
    # a caption longer than the text tower's context: one line naming the limit, exit 2
    long_caption = CAPTION + ' above the green cross and a star'
    code = demo.main([str(image), '--config', config, '--checkpoint', checkpoint, '--caption',
                      long_caption, '--phrases', 'the red star', '--out-dir',
                      str(tmp_path / 'long')])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and err == [
        f"error: caption '{long_caption}' needs 15 tokens, more than the 14 that the text "
        f'tower of OVD-TinyCLIP-RN takes (context length 16 with its start and end tokens); '
        f'shorten the caption']
    assert not (tmp_path / 'long').exists()
