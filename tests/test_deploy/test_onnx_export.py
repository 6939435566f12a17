"""ONNX export with the vocabulary as an input: graph interface, parity with PyTorch for two
vocabularies without re-export (ViLD-text and ViLD-ensemble), refusal of other CLIP weights."""
import json

import numpy as np
import onnx
import pytest
import torch

from ovdkit.apis import OVDInferencer
from ovdkit.deploy import ONNXDetector, sidecar_path
from ovdkit.testing import run_tool
from ovdkit.testing.detectors import VILD_TEXT_CONFIG, build_checkpoint, toy_scenes
from ovdkit.text import EmbeddingMismatchError
from ovdkit.text.vocabulary_embeddings import vocabulary_embeddings

VILD_ENSEMBLE = 'configs/toyworld/vild-ensemble_r18_fpn_1xb8-800i_toyworld.py'
BASE = ['red star', 'blue circle']  # the training vocabulary of build_checkpoint
# novel names among the base ones
ALL = ['green cross', 'red star', 'yellow heart', 'blue circle', 'purple square']


def spread_rpn_scores(checkpoint: str, seed: int = 0) -> None:
    """Gives the random detector's RPN unit-variance objectness weights.

    At mmdet's init (std 0.01) every anchor's objectness is 0.5 +- 1e-3, so the RPN's top-k and
    NMS choose among near-ties that float rounding reorders (ONNX vs PyTorch keep different
    proposals); spread scores, as a trained RPN's are, make the proposals well defined.
    """
    state = torch.load(checkpoint, weights_only=True)
    weight = state['state_dict']['rpn_head.rpn_cls.weight']
    weight.copy_(torch.randn(weight.shape, generator=torch.Generator().manual_seed(seed)))
    torch.save(state, checkpoint)


@pytest.fixture(scope='module', params=['vild-text', 'vild-ensemble'])
def exported(request, tmp_path_factory):
    work = tmp_path_factory.mktemp(request.param)
    config, checkpoint = build_checkpoint(
        VILD_TEXT_CONFIG if request.param == 'vild-text' else VILD_ENSEMBLE, work)
    spread_rpn_scores(checkpoint)
    proc = run_tool(['tools/deploy/export_onnx.py', config, checkpoint, '--out',
                     work / 'model.onnx'])
    return dict(config=config, checkpoint=checkpoint, onnx=work / 'model.onnx', log=proc.log,
                figures=json.loads(proc.stdout.strip().splitlines()[-1]), kind=request.param)


def _dims(value):
    return [d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim]


def test_graph_interface_and_sidecar(exported):
    graph = onnx.load(str(exported['onnx'])).graph
    inputs = {i.name: _dims(i) for i in graph.input}
    expected = dict(image=[1, 3, 'height', 'width'], img_hw=[2],
                    class_embeddings=['num_classes', 128])
    if exported['kind'] == 'vild-ensemble':
        expected['base_mask'] = ['num_classes']
    expected['report_mask'] = ['num_classes']
    assert inputs == expected
    assert {o.name: _dims(o) for o in graph.output} == dict(
        boxes=['num_detections', 4], scores=['num_detections'], labels=['num_detections'])
    ops = {n.op_type for n in graph.node}
    assert {'NonMaxSuppression', 'RoiAlign', 'TopK'} <= ops
    meta = json.loads(sidecar_path(exported['onnx']).read_text())
    assert meta['clip_model'] == 'OVD-TinyCLIP-RN' and meta['embed_dim'] == 128
    assert meta['clip_weights_id'].startswith('sha256:')
    assert meta['train_classes'] == BASE
    assert meta['normalization'] == dict(mean=[123.675, 116.28, 103.53],
                                         std=[58.395, 57.12, 57.375], bgr_to_rgb=True,
                                         pad_size_divisor=32)
    assert meta['score_thr'] == 0.01 and meta['max_per_img'] == 50
    assert (meta['ensemble'] is None) == (exported['kind'] == 'vild-text')
    assert "input 'class_embeddings'" in exported['log']  # the tool prints the interface
    assert exported['figures']['inputs'] == list(expected)


def _iou(a, b):
    lt, rb = np.maximum(a[:2], b[:2]), np.minimum(a[2:], b[2:])
    inter = np.prod(np.clip(rb - lt, 0, None))
    area = lambda x: (x[2] - x[0]) * (x[3] - x[1])  # noqa: E731
    return inter / (area(a) + area(b) - inter)


def test_onnxruntime_matches_pytorch_for_two_vocabularies(exported):
    """Every PyTorch detection has an ONNX one of the same class with IoU >= 0.99 and a score
    within 1e-3, and the counts match: for the base names and for five names with the novel
    ones between them, from one graph."""
    images = toy_scenes(4)
    inferencer = OVDInferencer(exported['config'], exported['checkpoint'])
    detector = ONNXDetector(exported['onnx'])
    for vocabulary in (BASE, ALL):
        torch_preds = inferencer(images, vocabulary=vocabulary, batch_size=1)['predictions']
        onnx_preds = detector(images, vocabulary=vocabulary)
        for ref, got in zip(torch_preds, onnx_preds):
            assert len(ref['scores']) == len(got['scores']) > 0
            assert got['label_names'] == [vocabulary[i] for i in got['labels']]
            for box, score, label in zip(np.array(ref['bboxes']), ref['scores'],
                                         ref['labels']):
                same = [i for i, lab in enumerate(got['labels']) if lab == label and
                        _iou(box, got['bboxes'][i]) >= 0.99]
                assert same, f'no ONNX detection for {vocabulary[label]} at {box}'
                assert min(abs(got['scores'][i] - score) for i in same) <= 1e-3
        if exported['kind'] == 'vild-ensemble':
            assert detector._base_mask.tolist() == [v in BASE for v in vocabulary]


def _assert_same_detections(torch_preds, onnx_preds, names):
    assert sum(len(p['scores']) for p in torch_preds) > 0
    for ref, got in zip(torch_preds, onnx_preds):
        assert len(ref['scores']) == len(got['scores'])
        assert got['label_names'] == [names[i] for i in got['labels']]
        for box, score, label in zip(np.array(ref['bboxes']), ref['scores'], ref['labels']):
            same = [i for i, lab in enumerate(got['labels']) if lab == label and
                    _iou(box, got['bboxes'][i]) >= 0.99]
            assert same, f'no ONNX detection for {names[label]} at {box}'
            assert min(abs(got['scores'][i] - score) for i in same) <= 1e-3


def test_negative_and_reference_names_match_pytorch_without_reexport(exported):
    """'-yellow heart' and the training name not asked for (blue circle) are extra rows of the
    graph's class embeddings, outside its NMS: ONNX matches PyTorch, and every detection of a
    name asked for when 'yellow heart' is asked for too is still there with the same score
    (the slots yellow heart took go to the names asked for)."""
    images = toy_scenes(3)
    inferencer = OVDInferencer(exported['config'], exported['checkpoint'])
    detector = ONNXDetector(exported['onnx'])
    asked = ['green cross', 'red star']
    for vocabulary in (['green cross', '-yellow heart', 'red star'], 'green cross,red star'):
        torch_preds = inferencer(images, vocabulary=vocabulary, batch_size=1)['predictions']
        onnx_preds = detector(images, vocabulary=vocabulary)
        assert inferencer.classes == detector.classes == tuple(asked)
        _assert_same_detections(torch_preds, onnx_preds, asked)
        if exported['kind'] == 'vild-ensemble':  # rows: asked, negative, reference
            expected_mask = [0, 1, 0, 1] if '-yellow heart' in vocabulary else [0, 1, 1]
            assert detector._base_mask.tolist() == expected_mask
    with_heart = inferencer(images, vocabulary=['green cross', 'yellow heart', 'red star'],
                            batch_size=1)['predictions']
    without = inferencer(images, vocabulary=['green cross', '-yellow heart', 'red star'],
                         batch_size=1)['predictions']
    assert any('yellow heart' in p['label_names'] for p in with_heart)
    for full, pred in zip(with_heart, without):
        assert 'yellow heart' not in pred['label_names']
        found = {(n, tuple(np.round(b, 3)), round(s, 5)) for n, b, s in
                 zip(pred['label_names'], pred['bboxes'], pred['scores'])}
        for name, box, score in zip(full['label_names'], full['bboxes'], full['scores']):
            if name != 'yellow heart':
                assert (name, tuple(np.round(box, 3)), round(score, 5)) in found
    # references off: ViLD's scoring on the names alone, in both runtimes
    plain = OVDInferencer(exported['config'], exported['checkpoint'], cfg_options={
        'model.roi_head.bbox_head.reference_vocabulary': None})
    plain_onnx = ONNXDetector(exported['onnx'], reference_vocabulary=None)
    _assert_same_detections(plain(images, vocabulary=asked, batch_size=1)['predictions'],
                            plain_onnx(images, vocabulary=asked), asked)
    assert len(plain_onnx._embeddings) == 2


def test_refuses_embeddings_of_other_clip_weights(exported, tmp_path):
    import open_clip
    torch.manual_seed(1)
    other = tmp_path / 'other_clip.pt'
    torch.save(open_clip.create_model('OVD-TinyCLIP-RN').state_dict(), other)
    detector = ONNXDetector(exported['onnx'], clip_pretrained=str(other))
    with pytest.raises(EmbeddingMismatchError, match="'weights_id'"):
        detector.set_vocabulary(BASE)
    vocabulary_embeddings(dict(classes=BASE, model='OVD-TinyCLIP-RN', pretrained=str(other),
                               templates='single', cache_dir=str(tmp_path / 'cache')))
    path, = map(str, (tmp_path / 'cache').glob('*.pt'))
    with pytest.raises(EmbeddingMismatchError, match=f"{path}.*'weights_id' differs"):
        ONNXDetector(exported['onnx']).set_vocabulary(BASE, embeddings=path)


def test_a_graph_that_is_not_the_sidecars_is_refused(exported, tmp_path):
    copy = tmp_path / 'model.onnx'
    copy.write_bytes(exported['onnx'].read_bytes() + b'\0')
    sidecar_path(copy).write_text(sidecar_path(exported['onnx']).read_text())
    with pytest.raises(ValueError, match='onnx_sha256 differs'):
        ONNXDetector(copy)


@pytest.mark.slow
@pytest.mark.parametrize('exported', ['vild-text'], indirect=True)
def test_demo_with_onnx_writes_what_the_pytorch_demo_writes(exported, tmp_path):
    """tools/demo.py --onnx: same detections (names, boxes, scores) and files as with
    --config/--checkpoint, on a vocabulary with a name the model never trained on."""
    import cv2
    folder = tmp_path / 'images'
    folder.mkdir()
    for i, image in enumerate(toy_scenes(2)):
        cv2.imwrite(str(folder / f'scene{i}.png'), image)
    vocab = 'red star,yellow heart,blue circle'
    outs = {}
    for name, model_args in (('torch', ['--config', exported['config'], '--checkpoint',
                                        exported['checkpoint']]),
                             ('onnx', ['--onnx', exported['onnx']])):
        run_tool(['tools/demo.py', folder, *model_args, '--vocab', vocab, '--score-thr', 0.3,
                  '--out-dir', tmp_path / name, '--no-progress'])
        outs[name] = tmp_path / name
    for i in range(2):
        ref = json.loads((outs['torch'] / 'preds' / f'scene{i}.json').read_text())
        got = json.loads((outs['onnx'] / 'preds' / f'scene{i}.json').read_text())
        assert len(ref['detections']) == len(got['detections']) > 0
        for a, b in zip(sorted(ref['detections'], key=lambda d: -d['score']),
                        sorted(got['detections'], key=lambda d: -d['score'])):
            assert a['name'] == b['name'] and abs(a['score'] - b['score']) <= 1e-3
            assert np.allclose(a['bbox'], b['bbox'], atol=0.02)
        assert (outs['onnx'] / 'vis' / f'scene{i}.png').stat().st_size > 0
    summary = json.loads((outs['onnx'] / 'summary.json').read_text())
    assert summary['vocabulary'] == vocab.split(',') and summary['failed'] == 0


def test_demo_needs_one_kind_of_model(tmp_path):
    proc = run_tool(['tools/demo.py', tmp_path, '--onnx', tmp_path / 'm.onnx', '--config',
                     'x.py', '--vocab', 'cat'], check=False)
    assert proc.returncode == 2
    assert 'give either --config and --checkpoint, or --onnx' in proc.stderr


@pytest.mark.slow
def test_benchmark_runs_and_reports_parity():
    proc = run_tool(['tools/benchmark/onnx_inference.py', '--num-images', 1, '--rounds', 1])
    figures = json.loads(proc.stdout.strip().splitlines()[-1])
    assert figures['matched'] > 0 and figures['unmatched_torch_detections'] == 0
    assert figures['max_score_diff'] <= 1e-3
    assert figures['onnx_over_torch'] > 0 and figures['onnx_latency_1203_over_65'] > 0
