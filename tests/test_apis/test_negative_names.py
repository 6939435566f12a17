"""Negative names through the entry points: OVDInferencer, tools/demo.py (--vocab and a
vocabulary file) and the web demo's typed vocabulary; a grounding head refuses them."""
import json

import cv2
import pytest

from ovdkit.apis import OVDInferencer
from ovdkit.apis.webdemo import DemoSession
from ovdkit.testing import run_tool
from ovdkit.testing.detectors import GROUNDING_CONFIG, build_checkpoint
from ovdkit.testing.webdemo_fixtures import demo_model, expected_detections


@pytest.fixture(scope='module')
def model(tmp_path_factory):
    return demo_model(tmp_path_factory.mktemp('negative_names'))


def test_inferencer_reports_only_the_names_asked_for(model):
    inferencer = model['inferencer']
    image = str(model['images'] / 'scene0.png')
    asked = inferencer(image, vocabulary='red star,zebra,green cross')['predictions'][0]
    assert 'zebra' in asked['label_names']  # the random model fires "zebra" when asked
    out = inferencer(image, vocabulary='red star,-zebra,green cross')['predictions'][0]
    assert inferencer.classes == ('red star', 'green cross')
    assert set(out['label_names']) <= {'red star', 'green cross'}
    assert out['label_names'] == [inferencer.classes[k] for k in out['labels']]
    head = inferencer.model.roi_head.bbox_head
    # rows: the names asked for, the negative, then the training name not asked for
    assert head.scored_names == ('red star', 'green cross', '-zebra', '-blue circle')
    with pytest.raises(ValueError, match=r"\['zebra'\] are both asked for and negative"):
        inferencer.set_vocabulary('zebra,-zebra')


def test_demo_tool_takes_negative_names_in_vocab_and_file(model, tmp_path):
    image = model['images'] / 'scene1.png'
    vocab_file = tmp_path / 'names.txt'
    vocab_file.write_text('red star\n-zebra\n# a comment\ngreen cross\n')
    outputs = []
    for flag, value in (('--vocab', 'red star,-zebra,green cross'),
                        ('--vocab-file', str(vocab_file))):
        out_dir = tmp_path / flag.strip('-')
        proc = run_tool(['tools/demo.py', str(image), '--config', model['config'],
                         '--checkpoint', model['checkpoint'], flag, value, '--score-thr', '0.0',
                         '--out-dir', str(out_dir)])
        assert json.loads(proc.stdout.strip().splitlines()[-1])['failed'] == 0
        summary = json.loads((out_dir / 'summary.json').read_text())
        assert summary['vocabulary'] == ['red star', 'green cross']
        records = json.loads((out_dir / 'preds' / 'scene1.json').read_text())['detections']
        assert records and {r['name'] for r in records} <= {'red star', 'green cross'}
        outputs.append(records)
    assert outputs[0] == outputs[1]
    expected = expected_detections(model['inferencer'], image, 'red star,-zebra,green cross',
                                   0.0)
    assert [r['name'] for r in outputs[0]] == [r['name'] for r in expected]


def test_web_demo_typed_negative_names(model):
    session = DemoSession(model['inferencer'])
    image = model['images'] / 'scene2.png'
    ok, png = cv2.imencode('.png', cv2.imread(str(image)))
    result = session.detect(png.tobytes(), 'red star, -zebra, green cross', score_thr=0.0)
    assert result['vocabulary'] == ['red star', 'green cross']
    assert result['detections'] == expected_detections(
        model['inferencer'], image, 'red star,-zebra,green cross', 0.0)
    assert {d['name'] for d in result['detections']} <= {'red star', 'green cross'}


def test_grounding_head_refuses_negative_names(tmp_path):
    config, checkpoint = build_checkpoint(GROUNDING_CONFIG, tmp_path)
    inferencer = OVDInferencer(config, checkpoint)
    with pytest.raises(ValueError, match=r"negative names \['-zebra'\] need a ViLD head"):
        inferencer.set_vocabulary('red star,-zebra')
