"""ONNX export with the vocabulary as an input: graph interface, parity with PyTorch for two
vocabularies without re-export (ViLD-text and ViLD-ensemble), boxes clipped to a non-square
image, each class's ensemble weight by its name (not its position), a model folder that runs
wherever it is copied, refusal of other CLIP weights."""
import json
import shutil

import numpy as np
import onnx
import pytest
import torch

from ovdkit.apis import OVDInferencer
from ovdkit.deploy import ONNXDetector, sidecar_path
from ovdkit.testing import REPO, load_tool, run_tool
from ovdkit.testing.detectors import VILD_TEXT_CONFIG, build_checkpoint, toy_scenes
from ovdkit.text import EmbeddingMismatchError
from ovdkit.text.vocabulary_embeddings import vocabulary_embeddings

VILD_ENSEMBLE = 'configs/toyworld/vild-ensemble_r18_fpn_1xb8-300i_toyworld.py'
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
    # paths relative to the sidecar (all three files are in one folder here)
    assert (meta['paths'], meta['clip_pretrained'], meta['clip_pretrained_is_file'],
            meta['cache_dir']) == ('relative', 'clip.pt', True, 'embeddings')
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
            assert detector.vocabulary_inputs.base_mask.tolist() == [v in BASE for v in vocabulary]


def test_a_vocabulary_per_image_equals_images_one_by_one_and_pytorch(exported):
    """One call, a vocabulary per image: each image's detections are those of running it alone
    with its vocabulary (the graph runs image by image: bit for bit), and PyTorch's per-image
    batch finds them too; the vocabulary in use is left as it was."""
    images = toy_scenes(4)
    vocabularies = [BASE, ALL, ['purple square', '-red star', 'blue circle'], BASE]
    detector = ONNXDetector(exported['onnx'])
    detector.set_vocabulary(['yellow heart'])
    batched = detector(images, vocabulary=vocabularies)
    assert detector.classes == ('yellow heart',)
    for image, vocabulary, got in zip(images, vocabularies, batched):
        alone = detector(image, vocabulary=vocabulary)
        assert got['label_names'] == alone['label_names'] and len(alone['labels']) > 0
        for key in ('bboxes', 'scores', 'labels'):
            np.testing.assert_array_equal(got[key], alone[key])
    assert 'red star' not in batched[2]['label_names']
    torch_preds = OVDInferencer(exported['config'], exported['checkpoint'])(
        images, vocabulary=vocabularies, batch_size=4)['predictions']
    for ref, got, vocabulary in zip(torch_preds, batched, vocabularies):
        names = [n for n in vocabulary if not n.startswith('-')]
        _assert_same_detections([ref], [got], names)
    with pytest.raises(ValueError, match='4 per-image vocabularies for 3 images'):
        detector(images[:3], vocabulary=vocabularies)


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
            assert detector.vocabulary_inputs.base_mask.tolist() == expected_mask
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
    assert len(plain_onnx.vocabulary_inputs.class_embeddings) == 2


def _stored_embeddings(meta, clip, names, folder):
    """A stored embedding file of ``names`` made with the detector's CLIP file ``clip``."""
    vocabulary_embeddings(dict(classes=names, model=meta['clip_model'], pretrained=str(clip),
                               templates=meta['templates'], cache_dir=str(folder)))
    path, = map(str, folder.glob('*.pt'))
    return path


def test_a_vocabulary_covering_the_training_names_needs_no_clip(exported, tmp_path):
    """Given from an embedding file, a vocabulary holding every training name has no
    reference row to embed: the model runs without its CLIP file (copied alone here), with
    the detections of the complete model folder. A vocabulary lacking a training name needs
    CLIP to embed that reference."""
    meta = json.loads(sidecar_path(exported['onnx']).read_text())
    clip = exported['onnx'].parent / 'clip.pt'
    alone = tmp_path / 'alone'
    alone.mkdir()
    for name in ('model.onnx', 'model.json'):
        shutil.copy(exported['onnx'].parent / name, alone / name)
    detector = ONNXDetector(alone / 'model.onnx')
    assert detector.reference_vocabulary == 'train'
    assert detector.set_vocabulary(ALL, embeddings=_stored_embeddings(
        meta, clip, ALL, tmp_path / 'all')) == tuple(ALL)
    inputs = detector.vocabulary_inputs
    assert len(inputs.class_embeddings) == len(ALL) and inputs.report_mask.all()
    images = toy_scenes(2)
    _assert_same_detections(ONNXDetector(exported['onnx'])(images, vocabulary=ALL),
                            detector(images), ALL)
    two = _stored_embeddings(meta, clip, ['green cross', 'red star'], tmp_path / 'two')
    with pytest.raises(EmbeddingMismatchError, match=r'clip\.pt .*does not exist'):
        detector.set_vocabulary(['green cross', 'red star'], embeddings=two)


def graph_without_report_mask(onnx_path, out):
    """A copy of an exported graph as exported before the ``report_mask`` input existed: every
    row reported (the mask is ones of the vocabulary's length, made inside the graph), with a
    format-1 sidecar (paths absolute, no ``reference_vocabulary`` nor ``train_entries``)."""
    from onnx import TensorProto, helper, numpy_helper

    from ovdkit.deploy.onnx_export import resolve_recorded_path
    from ovdkit.utils.hashing import file_sha256
    model = onnx.load(str(onnx_path))
    graph = model.graph
    mask, = [i for i in graph.input if i.name == 'report_mask']
    graph.input.remove(mask)
    graph.initializer.extend([numpy_helper.from_array(np.array([v], np.int64), name)
                              for v, name in ((0, 'old_start'), (1, 'old_end'))])
    nodes = [helper.make_node('Shape', ['class_embeddings'], ['old_shape']),
             helper.make_node('Slice', ['old_shape', 'old_start', 'old_end'], ['old_rows']),
             helper.make_node('ConstantOfShape', ['old_rows'], ['report_mask'], value=helper
                              .make_tensor('one', TensorProto.FLOAT, [1], [1.0]))]
    for i, node in enumerate(nodes):
        graph.node.insert(i, node)
    onnx.save(model, str(out))
    side = sidecar_path(onnx_path)
    meta = json.loads(side.read_text())
    for key in ('clip_pretrained', 'cache_dir'):
        meta[key] = resolve_recorded_path(meta[key], side, meta)
    for key in ('paths', 'reference_vocabulary', 'train_entries'):
        del meta[key]
    meta.update(format=1, onnx_sha256=file_sha256(out),
                inputs=[n for n in meta['inputs'] if n != 'report_mask'])
    sidecar_path(out).write_text(json.dumps(meta))
    return out


def test_a_graph_without_report_mask_has_no_reference_names_by_default(exported, tmp_path):
    """Such a graph detects every row it is given: reference rows would take detections
    (NMS, max_per_img) from the names asked for. Its default is ViLD's scoring on the names
    alone, as the current graph's with references off; 'train' asked for explicitly scores
    the reference and drops its detections after the graph."""
    old = graph_without_report_mask(exported['onnx'], tmp_path / 'old.onnx')
    images = toy_scenes(3)
    asked = ['green cross', 'red star']  # the training name blue circle is not asked for
    detector = ONNXDetector(old)
    assert 'report_mask' not in detector.input_names
    assert detector.reference_vocabulary is None
    plain = ONNXDetector(exported['onnx'], reference_vocabulary=None)
    got = detector(images, vocabulary=asked)
    assert len(detector.vocabulary_inputs.class_embeddings) == 2
    for ref, pred in zip(plain(images, vocabulary=asked), got):
        assert pred['label_names'] == ref['label_names']
        np.testing.assert_allclose(pred['scores'], ref['scores'], rtol=0, atol=1e-6)
        np.testing.assert_allclose(pred['bboxes'], ref['bboxes'], rtol=0, atol=1e-4)
    explicit = ONNXDetector(old, reference_vocabulary='train')
    kept = explicit(images, vocabulary=asked)
    assert len(explicit.vocabulary_inputs.class_embeddings) == 3
    assert explicit.classes == tuple(asked)
    full = ONNXDetector(exported['onnx'])(images, vocabulary=asked)
    assert sum(len(p['scores']) for p in kept) > 0
    for pred, ref in zip(kept, full):  # a subset of the current graph's detections
        for box, score, label in zip(pred['bboxes'], pred['scores'], pred['labels']):
            assert any(lab == label and _iou(box, ref['bboxes'][i]) >= 0.99 and
                       abs(ref['scores'][i] - score) <= 1e-5
                       for i, lab in enumerate(ref['labels']))


def test_refuses_embeddings_of_other_clip_weights(exported, tmp_path):
    import open_clip
    torch.manual_seed(1)
    other = tmp_path / 'other_clip.pt'
    torch.save(open_clip.create_model('OVD-TinyCLIP-RN').state_dict(), other)
    detector = ONNXDetector(exported['onnx'], clip_pretrained=str(other))
    meta = json.loads(sidecar_path(exported['onnx']).read_text())
    with pytest.raises(EmbeddingMismatchError) as error:
        detector.set_vocabulary(BASE)
    from ovdkit.utils.hashing import file_sha256
    assert str(error.value) == (
        f"ONNX detector {exported['onnx']}: CLIP weights differ from the ones it was trained "
        f"against: expected clip.pt (weights_id {meta['clip_weights_id']}), found {other} "
        f"(weights_id sha256:{file_sha256(other)})")
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


def push_boxes_out(checkpoint: str, deltas=(12.0, 8.0, 6.0, 3.0)) -> None:
    """Sets the box head's regression to the constant ``deltas`` (bias only): with the coder's
    stds (0.1, 0.1, 0.2, 0.2) every box moves 1.2 of its width right and 0.8 of its height
    down, and becomes 3.3 times wider and 1.8 times taller, so boxes near the right and bottom
    edges end past them and must be clipped."""
    state = torch.load(checkpoint, weights_only=True)
    weights = state['state_dict']
    weights['roi_head.bbox_head.fc_reg.weight'].zero_()
    weights['roi_head.bbox_head.fc_reg.bias'].copy_(torch.tensor(deltas))
    torch.save(state, checkpoint)


def non_square_scene(height: int = 96, width: int = 160) -> np.ndarray:
    """A toy scene cropped and tiled to ``height`` x ``width`` (BGR)."""
    scene = toy_scenes(2)
    return np.concatenate([scene[0][:height], scene[1][:height, :width - 128]], axis=1)


@pytest.fixture(scope='module')
def pushed_out(tmp_path_factory):
    """A ViLD-text export whose final boxes cross the right and bottom image edges."""
    work = tmp_path_factory.mktemp('pushed_out')
    config, checkpoint = build_checkpoint(VILD_TEXT_CONFIG, work)
    spread_rpn_scores(checkpoint)
    push_boxes_out(checkpoint)
    run_tool(['tools/deploy/export_onnx.py', config, checkpoint, '--out', work / 'model.onnx'])
    return dict(config=config, checkpoint=checkpoint, onnx=work / 'model.onnx')


def test_boxes_past_the_edge_of_a_non_square_image_are_clipped_to_it(pushed_out):
    """On a 160 x 96 image (resized to 128 x 77), boxes pushed past the right and bottom edges
    end exactly at x = 160 and y = 96 in image pixels, never beyond, as in PyTorch (mmdet's
    own clip): clipping x by the height or y by the width, or not at all, is far off."""
    image = non_square_scene()
    height, width = image.shape[:2]
    vocabulary = ALL
    got = ONNXDetector(pushed_out['onnx'])(image, vocabulary=vocabulary)
    ref = OVDInferencer(pushed_out['config'], pushed_out['checkpoint'])(
        image, vocabulary=vocabulary)['predictions'][0]
    for boxes in (got['bboxes'], np.array(ref['bboxes'])):
        assert len(boxes) >= 10
        assert boxes[:, [0, 1]].min() >= 0
        assert boxes[:, 2].max() <= width + 1e-3 and boxes[:, 3].max() <= height + 1e-3
        # pushed out: many boxes end on the right and bottom edges, some inside
        on_right = np.isclose(boxes[:, 2], width, atol=1e-3)
        on_bottom = np.isclose(boxes[:, 3], height, atol=1e-3)
        assert on_right.sum() >= 3 and on_bottom.sum() >= 3 and not on_right.all()
        assert boxes[:, 2].max() > 0.9 * width and boxes[:, 3].max() > 0.9 * height
    assert len(got['scores']) == len(ref['scores'])
    for box, score, label in zip(np.array(ref['bboxes']), ref['scores'], ref['labels']):
        same = [i for i, lab in enumerate(got['labels'])
                if lab == label and _iou(box, got['bboxes'][i]) >= 0.99]
        assert same, f'no ONNX detection for {vocabulary[label]} at {box}'
        assert min(abs(got['scores'][i] - score) for i in same) <= 1e-3


@pytest.fixture(scope='module')
def extreme_ensemble(tmp_path_factory):
    """A ViLD-ensemble export whose base classes are scored by the text branch alone and novel
    ones by the image branch alone (weights 1 and 0): a class weighted as the wrong kind
    changes its scores completely."""
    work = tmp_path_factory.mktemp('extreme_ensemble')
    config, checkpoint = build_checkpoint(
        VILD_ENSEMBLE, work, ensemble=dict(text_weight_base=1.0, text_weight_novel=0.0))
    spread_rpn_scores(checkpoint)
    run_tool(['tools/deploy/export_onnx.py', config, checkpoint, '--out', work / 'model.onnx'])
    return dict(config=config, checkpoint=checkpoint, onnx=work / 'model.onnx')


def _by_name(prediction, vocabulary):
    """``{name: [(box, score), ...]}`` of a prediction."""
    found = {}
    for box, score, label in zip(np.asarray(prediction['bboxes']), prediction['scores'],
                                 prediction['labels']):
        found.setdefault(vocabulary[label], []).append((box, float(score)))
    return found


def _largest_score_change(a, b) -> float:
    """Largest score difference between the detections of two runs, matched by name and box
    (IoU >= 0.99); a detection without a match counts as its whole score."""
    worst = 0.0
    for name in set(a) | set(b):
        for mine, theirs in ((a.get(name, []), b.get(name, [])),
                             (b.get(name, []), a.get(name, []))):
            for box, score in mine:
                diffs = [abs(score - s) for bx, s in theirs if _iou(box, bx) >= 0.99]
                worst = max(worst, min(diffs) if diffs else score)
    return worst


def test_each_class_is_weighted_by_its_name_not_its_position(extreme_ensemble):
    """The same names in two orders (base names first, or mixed with the novel ones) give the
    same detections per name, in ONNX and in PyTorch, and ONNX equals PyTorch: a weight taken
    by position scores 'green cross' by the text branch and 'blue circle' by the image branch
    in the mixed order, which changes scores by far more than the 1e-3 tolerance."""
    images = toy_scenes(3)
    mixed = ALL  # base names at positions 1 and 3
    ordered = BASE + [n for n in ALL if n not in BASE]  # base names at positions 0 and 1
    detector = ONNXDetector(extreme_ensemble['onnx'])
    inferencer = OVDInferencer(extreme_ensemble['config'], extreme_ensemble['checkpoint'])
    runs = {}
    for vocabulary in (mixed, ordered):
        onnx_preds = detector(images, vocabulary=vocabulary)
        assert detector.vocabulary_inputs.base_mask.tolist() == [v in BASE for v in vocabulary]
        torch_preds = inferencer(images, vocabulary=vocabulary)['predictions']
        runs[tuple(vocabulary)] = [(_by_name(o, vocabulary), _by_name(t, vocabulary))
                                   for o, t in zip(onnx_preds, torch_preds)]
    for (onnx_mixed, torch_mixed), (onnx_ordered, torch_ordered) in zip(
            runs[tuple(mixed)], runs[tuple(ordered)]):
        assert onnx_mixed and torch_mixed
        assert _largest_score_change(onnx_mixed, onnx_ordered) <= 1e-4
        assert _largest_score_change(torch_mixed, torch_ordered) <= 1e-4
        assert _largest_score_change(onnx_mixed, torch_mixed) <= 1e-3


def _demo_args(image, onnx, out):
    return [str(image), '--onnx', str(onnx), '--vocab', 'red star,zebra,blue circle',
            '--score-thr', '0.05', '--out-dir', str(out), '--no-progress']


def _detections(out):
    return json.loads((out / 'preds' / 'scene.json').read_text())['detections']


def test_a_copied_model_folder_runs_from_any_working_directory(tmp_path, monkeypatch, capsys):
    """A folder with the exported model (in a subfolder), its CLIP file and its embedding
    cache, copied elsewhere with the original deleted, runs (tools/demo.py --onnx) from
    another working directory with the same detections and no new embeddings (the cache
    moved with it). With only the model copied, the error names the CLIP file it expected,
    where, and its weights id; exported with absolute paths, the model alone runs anywhere
    while the CLIP file stays."""
    import cv2

    from ovdkit.deploy import export_onnx
    demo = load_tool('tools/demo.py')
    work = tmp_path / 'model'
    work.mkdir()
    config, checkpoint = build_checkpoint(VILD_TEXT_CONFIG, work)
    spread_rpn_scores(checkpoint)
    export_onnx(config, checkpoint, work / 'deploy' / 'model.onnx')
    meta = json.loads((work / 'deploy' / 'model.json').read_text())
    assert (meta['clip_pretrained'], meta['cache_dir']) == ('../clip.pt', '../embeddings')
    image = tmp_path / 'scene.png'
    cv2.imwrite(str(image), toy_scenes(1)[0])
    cwd = tmp_path / 'somewhere'
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    assert demo.main(_demo_args(image, work / 'deploy' / 'model.onnx', tmp_path / 'before')) == 0
    copy = tmp_path / 'elsewhere' / 'copied'
    shutil.copytree(work, copy)
    shutil.rmtree(work)
    cached = sorted(p.name for p in (copy / 'embeddings').iterdir())
    proc = run_tool([REPO / 'tools' / 'demo.py',
                     *_demo_args(image, copy / 'deploy' / 'model.onnx', tmp_path / 'after')],
                    cwd=cwd)
    assert json.loads(proc.stdout.strip().splitlines()[-1])['failed'] == 0
    before = _detections(tmp_path / 'before')
    assert _detections(tmp_path / 'after') == before and before
    assert sorted(p.name for p in (copy / 'embeddings').iterdir()) == cached

    alone = tmp_path / 'alone'
    alone.mkdir()
    for name in ('model.onnx', 'model.json'):
        shutil.copy(copy / 'deploy' / name, alone / name)
    capsys.readouterr()
    assert demo.main(_demo_args(image, alone / 'model.onnx', tmp_path / 'alone_out')) == 2
    assert capsys.readouterr().err.strip() == (
        f"error: ONNX detector {alone / 'model.onnx'}: CLIP weights file "
        f"{tmp_path / 'clip.pt'} (recorded relative to the sidecar) does not exist; the "
        f"detector expects ../clip.pt (weights_id {meta['clip_weights_id']}): put that file "
        f"there, or pass clip_pretrained= a file holding these weights")

    export_onnx(str(copy / 'config.py'), str(copy / 'model.pth'), copy / 'absolute.onnx',
                absolute_paths=True, cfg_options={
                    'model.roi_head.bbox_head.vocabulary.pretrained': str(copy / 'clip.pt'),
                    'model.roi_head.bbox_head.vocabulary.cache_dir': str(copy / 'embeddings')})
    meta = json.loads((copy / 'absolute.json').read_text())
    assert (meta['paths'], meta['clip_pretrained'], meta['cache_dir']) == (
        'absolute', str(copy / 'clip.pt'), str(copy / 'embeddings'))
    for name in ('absolute.onnx', 'absolute.json'):
        shutil.move(copy / name, alone / name)
    assert demo.main(_demo_args(image, alone / 'absolute.onnx', tmp_path / 'absolute')) == 0
    assert _detections(tmp_path / 'absolute') == before
