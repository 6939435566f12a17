"""tools/demo.py: outputs per image, bad images isolated, setup errors on one line, exit codes."""
import json

import mmcv
import pytest

from ovdkit.testing import load_tool, run_tool
from ovdkit.testing.detectors import VILD_TEXT_CONFIG, build_checkpoint, toy_scenes


@pytest.fixture(scope='module')
def detector(tmp_path_factory):
    """A random-init ViLD-text checkpoint (the demo's plumbing does not need a trained one)."""
    return build_checkpoint(VILD_TEXT_CONFIG, tmp_path_factory.mktemp('demo_detector'))


@pytest.fixture()
def images(tmp_path):
    folder = tmp_path / 'images'
    folder.mkdir()
    for i, image in enumerate(toy_scenes(3)):
        mmcv.imwrite(image, str(folder / f'scene{i}.png'))
    (folder / 'broken.jpg').write_bytes(b'not an image at all')
    (folder / 'notes.txt').write_text('not an image file, skipped')
    return folder


def test_folder_with_a_bad_image_and_a_missing_one(detector, images, tmp_path):
    config, checkpoint = detector
    out = tmp_path / 'out'
    missing = tmp_path / 'missing.png'
    proc = run_tool(['tools/demo.py', images, missing, '--config', config, '--checkpoint',
                     checkpoint, '--vocab', 'zebra, traffic cone', '--score-thr', '0.0',
                     '--out-dir', out, '--batch-size', '2'], check=False)
    assert proc.returncode == 1, proc.log[-3000:]
    errors = [line for line in proc.stderr.splitlines() if line.startswith('error:')]
    assert errors == [f'error: image {images / "broken.jpg"}: cannot be read (not an image, '
                      f'or a corrupt one)', f'error: image {missing}: does not exist']
    assert '5/5' in proc.stderr  # the progress bar, on stderr
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary == dict(images=5, failed=2, out_dir=str(out), score_thr=0.0)
    for i in range(3):
        assert mmcv.imread(str(out / 'vis' / f'scene{i}.png')).shape == (128, 128, 3)
        record = json.loads((out / 'preds' / f'scene{i}.json').read_text())
        assert record['image'] == str(images / f'scene{i}.png')
        assert record['detections'], record
        for det in record['detections']:
            assert det['name'] == ('zebra', 'traffic cone')[det['label']]
            assert len(det['bbox']) == 4 and 0.0 <= det['score'] <= 1.0
    full = json.loads((out / 'summary.json').read_text())
    assert full['vocabulary'] == ['zebra', 'traffic cone']
    errors = {r['image']: r.get('error') for r in full['results']}
    assert errors == {str(images / 'broken.jpg'): 'cannot be read (not an image, or a corrupt '
                      'one)', str(missing): 'does not exist',
                      **{str(images / f'scene{i}.png'): None for i in range(3)}}
    assert not (out / 'preds' / 'broken.json').exists()
    assert not [p for p in out.rglob('*') if p.name.endswith('.tmp')]


def test_score_threshold_filters_drawings_and_json(detector, images, tmp_path):
    config, checkpoint = detector
    demo = load_tool('tools/demo.py')
    image = str(images / 'scene0.png')
    counts = {}
    for thr in (0.0, 0.9999):
        code = demo.main([image, '--config', config, '--checkpoint', checkpoint, '--vocab',
                          'coco', '--score-thr', str(thr), '--out-dir',
                          str(tmp_path / str(thr)), '--zoom', '2'])
        assert code == 0
        record = json.loads((tmp_path / str(thr) / 'preds' / 'scene0.json').read_text())
        assert all(d['score'] >= thr for d in record['detections'])
        counts[thr] = len(record['detections'])
        drawn = mmcv.imread(str(tmp_path / str(thr) / 'vis' / 'scene0.png'))
        assert drawn.shape == (256, 256, 3)
    assert counts[0.0] > counts[0.9999]


def setup_error(demo, capsys, argv):
    code = demo.main(argv)
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith('error:')]
    assert code == 2 and len(err) == 1, err
    return err[0]


def test_setup_errors_name_the_culprit(detector, images, tmp_path, capsys):
    config, checkpoint = detector
    demo = load_tool('tools/demo.py')
    image = str(images / 'scene0.png')
    common = ['--out-dir', str(tmp_path / 'out')]
    base = [image, '--config', config, '--checkpoint', checkpoint] + common
    assert setup_error(demo, capsys, base + ['--vocab', '']) == \
        'error: vocabulary: empty vocabulary (no class names given)'
    assert setup_error(demo, capsys, base + ['--vocab', 'zebra,cone,zebra']) == \
        "error: vocabulary 'zebra,cone,zebra': duplicate class names ['zebra']"
    empty = tmp_path / 'empty.txt'
    empty.write_text('# nothing here\n\n')
    assert setup_error(demo, capsys, base + ['--vocab-file', str(empty)]) == \
        f'error: {empty}: empty vocabulary (no class names given)'
    assert setup_error(demo, capsys, base + ['--vocab-file', str(tmp_path / 'nope.txt')]) == \
        f'error: vocabulary file {tmp_path / "nope.txt"} does not exist'
    assert setup_error(demo, capsys, [image, '--config', config, '--checkpoint',
                                      str(tmp_path / 'nope.pth'), '--vocab', 'zebra'] +
                       common) == f'error: checkpoint {tmp_path / "nope.pth"} does not exist'
    line = setup_error(demo, capsys, base + ['--vocab', 'zebra', '--cfg-options',
                                              'model.roi_head.bbox_head.fc_out_channels=128'])
    assert line.startswith(f'error: checkpoint {checkpoint} does not match config {config}: '
                           f'6 shape mismatches (checkpoint vs model)')
    assert not (tmp_path / 'out').exists()  # nothing written when setup fails


def test_embedding_dimension_mismatch_exits_2(tmp_path, images):
    config, checkpoint = build_checkpoint(VILD_TEXT_CONFIG, tmp_path, embed_dim=64)
    proc = run_tool(['tools/demo.py', images / 'scene0.png', '--config', config,
                     '--checkpoint', checkpoint, '--vocab', 'zebra', '--out-dir',
                     tmp_path / 'out'], check=False)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1] == (
        "error: ViLDTextBBoxHead: text embeddings of dimension 128 (OVD-TinyCLIP-RN) do not "
        "match the head's embed_dim 64")
