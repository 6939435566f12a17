"""ONNX runtime with classes given by example boxes: the same class-embedding rows and the same
detections as PyTorch from one exported graph (no re-export), for a ViLD-ensemble graph whose
base mask follows each class's name."""
import json

import numpy as np
import pytest
import torch

from ovdkit.apis import OVDInferencer
from ovdkit.datasets import Exemplar, VisualClass
from ovdkit.deploy import ONNXDetector
from ovdkit.testing import run_tool
from ovdkit.testing.detectors import build_checkpoint, toy_scenes

VILD_ENSEMBLE = 'configs/toyworld/vild-ensemble_r18_fpn_1xb8-300i_toyworld.py'
BASE = ('red star', 'blue circle')  # the training vocabulary of build_checkpoint


def _iou(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    area = lambda x: (x[2] - x[0]) * (x[3] - x[1])  # noqa: E731
    return ix * iy / (area(a) + area(b) - ix * iy)


@pytest.fixture(scope='module')
def exported(tmp_path_factory):
    work = tmp_path_factory.mktemp('vild-ensemble')
    config, checkpoint = build_checkpoint(VILD_ENSEMBLE, work)
    state = torch.load(checkpoint, weights_only=True)  # a spread RPN: well-defined proposals
    weight = state['state_dict']['rpn_head.rpn_cls.weight']
    weight.copy_(torch.randn(weight.shape, generator=torch.Generator().manual_seed(0)))
    torch.save(state, checkpoint)
    run_tool(['tools/deploy/export_onnx.py', config, checkpoint, '--out', work / 'model.onnx'])
    return config, checkpoint, work / 'model.onnx'


def test_exemplar_vocabulary_matches_pytorch(exported):
    config, checkpoint, onnx_path = exported
    scenes = toy_scenes(6)
    thing = Exemplar(scenes[0], [[10, 12, 50, 60], [70, 64, 120, 100]])
    vocabulary = ['red star', VisualClass('thing', [thing]),
                  VisualClass('blue circle', [Exemplar(scenes[1], [4, 4, 30, 44])], use_name=True),
                  '-green cross']
    names = ('red star', 'thing', 'blue circle')
    inferencer = OVDInferencer(config, checkpoint, exemplar_crop_scales=(1.25,))
    detector = ONNXDetector(onnx_path, exemplar_crop_scales=(1.25,))
    images = scenes[2:]
    torch_preds = inferencer(images, vocabulary=vocabulary, pred_score_thr=0.0)['predictions']
    onnx_preds = detector(images, vocabulary=vocabulary)
    assert detector.classes == inferencer.classes == names
    head = inferencer.model.roi_head.bbox_head
    assert head.scored_names == ('red star', 'thing', 'blue circle', '-green cross')
    row_diff = float(np.abs(detector.vocabulary_inputs.class_embeddings
                            - head.fc_cls.class_embeddings.cpu().numpy()).max())
    assert row_diff <= 1e-6
    # by name: 'thing' is novel
    assert detector.vocabulary_inputs.base_mask.tolist() == [1.0, 0.0, 1.0, 0.0]
    assert detector.vocabulary_inputs.report_mask.tolist() == [1.0, 1.0, 1.0, 0.0]
    score_diffs, ious, count = [], [], 0
    for ref, got in zip(torch_preds, onnx_preds):
        assert len(ref['scores']) == len(got['scores'])
        assert got['label_names'] == [names[i] for i in got['labels']]
        count += len(ref['scores'])
        for box, score, label in zip(np.array(ref['bboxes']), ref['scores'], ref['labels']):
            same = [i for i, lab in enumerate(got['labels']) if lab == label and
                    _iou(box, got['bboxes'][i]) >= 0.99]
            assert same, f'no ONNX detection for {names[label]} at {box}'
            best = min(same, key=lambda i: abs(got['scores'][i] - score))
            score_diffs.append(abs(float(got['scores'][best]) - score))
            ious.append(_iou(box, got['bboxes'][best]))
    assert count > 0 and 'thing' in {n for p in onnx_preds for n in p['label_names']}
    assert max(score_diffs) <= 1e-3
    print('\nONNX parity, exemplar vocabulary: ' + json.dumps(dict(
        detections=count, max_abs_score_diff=max(score_diffs), min_box_iou=min(ious),
        max_abs_class_row_diff=row_diff)))


def test_a_stored_text_embedding_file_is_refused_with_examples(exported, tmp_path):
    _, _, onnx_path = exported
    detector = ONNXDetector(onnx_path)
    thing = VisualClass('thing', [Exemplar(toy_scenes(1)[0], [10, 12, 50, 60])])
    with pytest.raises(ValueError, match='example boxes are embedded here'):
        detector.set_vocabulary(['red star', thing], embeddings=str(tmp_path / 'x.pt'))
