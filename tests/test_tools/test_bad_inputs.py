"""The converters and tools/demo.py on bad input: exit status 2, one line naming the file or
the argument, nothing written (the converters check every input first).

The tools' ``main(argv)`` runs in this process (their exit status is its return value): the
good-path commands run as subprocesses in tests/test_tools/test_real_configs.py.
"""
import importlib.util
import json
import os

import pytest

from ovdkit.testing import REPO, make_ov_coco_fixture, make_ov_lvis_fixture


def load_tool(path):
    spec = importlib.util.spec_from_file_location(path.replace('/', '_')[:-3], REPO / path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='module')
def coco2ovcoco():
    return load_tool('tools/dataset_converters/coco2ovcoco.py').main


@pytest.fixture(scope='module')
def lvis2ovlvis():
    return load_tool('tools/dataset_converters/lvis2ovlvis.py').main


@pytest.fixture
def coco(tmp_path):
    return make_ov_coco_fixture(str(tmp_path / 'coco'))


def truncate(path):
    text = open(path).read()
    open(path, 'w').write(text[:len(text) // 2])


def one_error_line(capsys, tool):
    err = capsys.readouterr().err.strip()
    assert err.count('\n') == 0 and err.startswith(f'{tool}: error: '), err
    return err


def test_truncated_val_json_names_it_and_writes_no_train_file(coco2ovcoco, coco, tmp_path,
                                                              capsys):
    truncate(coco['val'])
    out = tmp_path / 'out'
    assert coco2ovcoco([coco['train'], coco['val'], '--out-dir', str(out)]) == 2
    err = one_error_line(capsys, 'coco2ovcoco.py')
    assert f"{coco['val']}: not valid JSON (Unterminated string" in err or \
        f"{coco['val']}: not valid JSON (Expecting" in err, err
    assert not out.exists() or not list(out.iterdir())  # no half-written pair


def test_truncated_val_json_keeps_earlier_outputs(coco2ovcoco, coco, tmp_path, capsys):
    out = tmp_path / 'out'
    assert coco2ovcoco([coco['train'], coco['val'], '--out-dir', str(out)]) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    truncate(coco['val'])
    assert coco2ovcoco([coco['train'], coco['val'], '--out-dir', str(out)]) == 2
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_categories_that_are_not_cocos_are_refused(coco2ovcoco, coco, tmp_path, capsys):
    data = json.load(open(coco['train']))
    for cat in data['categories']:
        cat['name'] = f'thing {cat["id"]}'
    json.dump(data, open(coco['train'], 'w'))
    out = tmp_path / 'out'
    assert coco2ovcoco([coco['train'], coco['val'], '--out-dir', str(out)]) == 2
    err = one_error_line(capsys, 'coco2ovcoco.py')
    assert (f"{coco['train']}: none of its 80 categories (e.g. ['thing 1', 'thing 2', "
            f"'thing 3']) is one of the 65 OV-COCO names: not a COCO instances file") in err
    assert not out.exists()


def test_missing_input_is_named(coco2ovcoco, coco, tmp_path, capsys):
    missing = str(tmp_path / 'nope.json')
    assert coco2ovcoco([coco['train'], missing, '--out-dir', str(tmp_path)]) == 2
    assert f'{missing}: cannot read it (No such file or directory)' in \
        one_error_line(capsys, 'coco2ovcoco.py')


def test_lvis_converter_on_a_coco_file_names_it(lvis2ovlvis, coco, tmp_path, capsys):
    out = tmp_path / 'norare.json'
    assert lvis2ovlvis([coco['train'], '--out', str(out)]) == 2
    err = one_error_line(capsys, 'lvis2ovlvis.py')
    assert (f"{coco['train']}: 80 of its 80 categories have no LVIS \"frequency\" field "
            f"(e.g. ['person', 'bicycle', 'car']): not an LVIS v1 annotation file") in err
    assert not out.exists() and not list(tmp_path.glob('lvis_v1_*_classes.txt'))


def test_lvis_converter_on_a_truncated_file_names_it(lvis2ovlvis, tmp_path, capsys):
    lvis = make_ov_lvis_fixture(str(tmp_path / 'lvis'))
    truncate(lvis['train'])
    out = tmp_path / 'norare.json'
    assert lvis2ovlvis([lvis['train'], '--out', str(out)]) == 2
    assert f"{lvis['train']}: not valid JSON (" in one_error_line(capsys, 'lvis2ovlvis.py')
    assert not out.exists()


def test_lvis_converter_writes_the_real_split(lvis2ovlvis, tmp_path, capsys):
    lvis = make_ov_lvis_fixture(str(tmp_path / 'lvis'))
    out = tmp_path / 'norare.json'
    assert lvis2ovlvis([lvis['train'], '--out', str(out)]) == 0
    counts = json.loads(capsys.readouterr().out)
    # one rare, one common, one frequent box per image: the rare ones go
    assert (counts['images'], counts['annotations'], counts['removed_annotations'],
            counts['categories']) == (4, 8, 4, 1203)
    assert len((tmp_path / 'lvis_v1_base_classes.txt').read_text().splitlines()) == 866
    assert len((tmp_path / 'lvis_v1_rare_classes.txt').read_text().splitlines()) == 337


def test_demo_out_dir_under_a_file_stops_before_the_model(tmp_path, capsys):
    demo = load_tool('tools/demo.py')
    blocker = tmp_path / 'results.txt'
    blocker.write_text('a file, not a folder')
    code = demo.main([str(tmp_path / 'img.png'), '--config', 'no-such-config.py',
                      '--checkpoint', 'no-such.pth', '--vocab', 'cat',
                      '--out-dir', str(blocker / 'demo')])
    assert code == 2
    err = capsys.readouterr().err.strip()
    # the config does not exist either: the out-dir check came first, before any loading
    assert err == f'error: --out-dir {blocker / "demo"} is not a writable folder ' \
                  f'({blocker} is a file); give a folder you can write in'
    assert blocker.read_text() == 'a file, not a folder'


def test_demo_out_dir_check_creates_nothing(tmp_path):
    from ovdkit.apis import check_out_dir
    check_out_dir(str(tmp_path / 'new' / 'demo'))  # creatable: fine, and not created
    assert not (tmp_path / 'new').exists()
    (tmp_path / 'locked').mkdir(mode=0o500)
    if not os.access(tmp_path / 'locked', os.W_OK):  # root may write anywhere
        with pytest.raises(OSError, match=f'no permission to write in {tmp_path}/locked'):
            check_out_dir(str(tmp_path / 'locked' / 'demo'))


def test_demo_names_a_missing_training_vocabulary_file_before_any_image(tmp_path, capsys):
    """ViLD-ensemble needs its training vocabulary: a missing file is a setup error (exit 2),
    not every image's."""
    from ovdkit.testing.detectors import VILD_TEXT_CONFIG, build_checkpoint
    config, checkpoint = build_checkpoint(VILD_TEXT_CONFIG.replace('vild-text_', 'vild-ensemble_'),
                                          tmp_path)
    missing = tmp_path / 'base_classes.txt'
    code = load_tool('tools/demo.py').main([
        str(tmp_path / 'img.png'), '--config', config, '--checkpoint', checkpoint,
        '--vocab', 'zebra', '--out-dir', str(tmp_path / 'out'), '--cfg-options',
        f'model.roi_head.bbox_head.vocabulary.classes={missing}'])
    assert code == 2
    assert capsys.readouterr().err.strip() == f'error: vocabulary file {missing} does not exist'
    assert not (tmp_path / 'out').exists()


@pytest.mark.parametrize('option, value, message', [
    ('--score-thr', '2', '--score-thr 2 is outside [0, 1]: scores are probabilities; give a '
                         'threshold between 0 and 1 (e.g. 0.3)'),
    ('--score-thr', '-0.1', '--score-thr -0.1 is outside [0, 1]: scores are probabilities; '
                            'give a threshold between 0 and 1 (e.g. 0.3)'),
    ('--batch-size', '0', '--batch-size 0 must be at least 1 (images per forward pass)'),
    ('--zoom', '0', "--zoom 0 must be at least 1 (an integer enlargement of the drawings; 1 "
                    "draws at the image's size)"),
    ('--zoom', '-2', "--zoom -2 must be at least 1 (an integer enlargement of the drawings; 1 "
                     "draws at the image's size)"),
    ('--out-dir', '/proc/ovdkit-demo', '--out-dir /proc/ovdkit-demo is not a writable folder '
                                       '(cannot create it: No such file or directory); give a '
                                       'folder you can write in'),
])
def test_demo_refuses_bad_argument_values_before_any_work(tmp_path, capsys, option, value,
                                                          message):
    """One `error:` line naming the argument and what to give, exit 2, before the model is
    loaded (the config and checkpoint do not exist: their errors would come later)."""
    argv = [str(tmp_path / 'img.png'), '--config', str(tmp_path / 'no-such-config.py'),
            '--checkpoint', str(tmp_path / 'no-such.pth'), '--vocab', 'cat',
            '--out-dir', str(tmp_path / 'out'), option, value]
    code = load_tool('tools/demo.py').main(argv)
    captured = capsys.readouterr()
    assert (code, captured.err.strip()) == (2, f'error: {message}')
    assert captured.out == ''
    assert not (tmp_path / 'out').exists() and not os.path.exists('/proc/ovdkit-demo')


def test_demo_out_dir_check_creates_then_removes_its_probe(tmp_path):
    """A creatable --out-dir is checked by creating it and a probe file: afterwards nothing is
    left, and a folder that exists keeps exactly its files."""
    from ovdkit.apis import check_out_dir
    check_out_dir(str(tmp_path / 'a' / 'b' / 'c'))
    assert list(tmp_path.iterdir()) == []
    (tmp_path / 'kept.txt').write_text('mine')
    check_out_dir(str(tmp_path))
    assert [p.name for p in tmp_path.iterdir()] == ['kept.txt']
