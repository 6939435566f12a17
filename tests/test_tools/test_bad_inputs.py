"""The converters, tools/train.py, tools/test.py, tools/deploy/export_onnx.py and tools/demo.py
on bad input: one ``error:`` line naming the file, the argument or the config key, exit status
2 (1 for an evaluation that computed nothing), nothing written (inputs are checked first).

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


# --- converters: outputs that cannot be written, the other dataset's files -----------------

def test_converters_refuse_an_output_place_under_a_file(coco2ovcoco, lvis2ovlvis, coco,
                                                        tmp_path, capsys):
    blocker = tmp_path / 'results.txt'
    blocker.write_text('a file')
    for out in (blocker, blocker / 'sub'):
        assert coco2ovcoco([coco['train'], coco['val'], '--out-dir', str(out)]) == 2
        assert one_error_line(capsys, 'coco2ovcoco.py') == (
            f'coco2ovcoco.py: error: --out-dir {out} cannot be written ({blocker} is a file): '
            f'give a folder that exists or can be created')
    lvis = make_ov_lvis_fixture(str(tmp_path / 'lvis'))
    assert lvis2ovlvis([lvis['train'], '--out', str(blocker / 'norare.json')]) == 2
    assert f'({blocker} is a file)' in one_error_line(capsys, 'lvis2ovlvis.py')
    assert blocker.read_text() == 'a file'


def test_coco_converter_refuses_lvis_files(coco2ovcoco, tmp_path, capsys):
    lvis = make_ov_lvis_fixture(str(tmp_path / 'lvis'))
    out = tmp_path / 'out'
    assert coco2ovcoco([lvis['train'], lvis['val'], '--out-dir', str(out)]) == 2
    assert (f"{lvis['train']}: 1203 of its 1203 categories have an LVIS \"frequency\" field "
            f"(e.g. ['aerosol_can', 'air_conditioner', 'airplane']): an LVIS file, not COCO "
            f"instances; use lvis2ovlvis.py") in one_error_line(capsys, 'coco2ovcoco.py')
    assert not out.exists()
    # COCO names but not all 65 OV-COCO ones (a subset file): refused, naming what is missing
    data = json.load(open(lvis['train']))
    for cat in data['categories']:
        cat.pop('frequency')
    json.dump(data, open(lvis['train'], 'w'))
    assert coco2ovcoco([lvis['train'], lvis['val'], '--out-dir', str(out)]) == 2
    from ovdkit.datasets.ov_splits import OV_COCO_BASE_CLASSES, OV_COCO_NOVEL_CLASSES
    names = {c['name'] for c in data['categories']}
    missing = [n for n in (*OV_COCO_BASE_CLASSES, *OV_COCO_NOVEL_CLASSES) if n not in names]
    assert len(missing) == 14  # LVIS says 'car_(automobile)', 'train_(railroad_vehicle)'...
    assert (f"{lvis['train']}: 14 of the 65 OV-COCO names are not among its 1203 categories "
            f"(e.g. {missing[:3]}): not a COCO 2017 instances file") in \
        one_error_line(capsys, 'coco2ovcoco.py')
    assert not out.exists()


# --- tools/train.py, tools/test.py, tools/deploy/export_onnx.py -------------------------------

SMOKE_OPTIONS = 'model.test_cfg.rcnn.score_thr'


def run_error(args, env=None, timeout=600):
    """Runs a tool expected to fail: (exit status, its one stderr line)."""
    from ovdkit.testing import run_tool
    proc = run_tool(args, env=env, timeout=timeout, check=False)
    err = proc.stderr.strip()
    assert err.count('\n') == 0 and err.startswith('error: '), proc.log[-3000:]
    return proc.returncode, err


@pytest.fixture(scope='module')
def smoke_checkpoints(tmp_path_factory):
    """Random-init checkpoints of the smoke detector and of one with a narrower neck, and a
    truncated copy of the first."""
    import torch
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules
    from mmengine.config import Config

    from ovdkit.testing import SMOKE_CONFIG
    register_all_modules()
    work = tmp_path_factory.mktemp('smoke_checkpoints')
    paths = {}
    for name, neck in (('smoke', None), ('other', 16)):
        cfg = Config.fromfile(str(REPO / SMOKE_CONFIG))
        if neck:
            cfg.model.neck.out_channels = neck
        torch.manual_seed(0)
        model = MODELS.build(cfg.model)
        model.init_weights()
        paths[name] = work / f'{name}.pth'
        torch.save(dict(state_dict=model.state_dict()), paths[name])
    data = paths['smoke'].read_bytes()
    paths['truncated'] = work / 'truncated.pth'
    paths['truncated'].write_bytes(data[:len(data) // 2])
    return paths


def smoke_test_args(checkpoint, coco_fixture, tmp_path, *options):
    from ovdkit.testing import SMOKE_CONFIG, fixture_data_options
    return ['tools/test.py', SMOKE_CONFIG, checkpoint, '--work-dir', tmp_path, '--cfg-options',
            *fixture_data_options(coco_fixture), *options]


def test_test_tool_refuses_a_checkpoint_of_another_model(smoke_checkpoints, coco_fixture,
                                                         tmp_path):
    from ovdkit.testing import SMOKE_CONFIG
    other = smoke_checkpoints['other']
    code, err = run_error(smoke_test_args(other, coco_fixture, tmp_path))
    assert code == 2
    assert err.startswith(f'error: checkpoint {other} does not match config {SMOKE_CONFIG}: ')
    assert ('shape mismatches (checkpoint vs model) (neck.lateral_convs.0.conv.weight '
            '(16, 16, 1, 1) vs (32, 16, 1, 1)') in err
    assert '--partial-checkpoint' in err


def test_test_tool_partial_checkpoint_flag_loads_what_fits(smoke_checkpoints, coco_fixture,
                                                           tmp_path):
    from ovdkit.testing import run_tool
    proc = run_tool([*smoke_test_args(smoke_checkpoints['other'], coco_fixture, tmp_path,
                                      f'{SMOKE_OPTIONS}=0.0'), '--partial-checkpoint'])
    assert '[ovdkit] --partial-checkpoint: checkpoint' in proc.log
    assert 'coco/bbox_mAP:' in proc.log


@pytest.mark.parametrize('which', ['truncated', 'missing'])
def test_test_tool_names_a_truncated_or_missing_checkpoint(smoke_checkpoints, coco_fixture,
                                                           tmp_path, which):
    path = smoke_checkpoints['truncated'] if which == 'truncated' else tmp_path / 'no.pth'
    code, err = run_error(smoke_test_args(path, coco_fixture, tmp_path))
    assert code == 2
    if which == 'truncated':
        assert err.startswith(f'error: checkpoint {path} is not a complete checkpoint (')
        assert err.endswith('truncated or corrupt copy?): copy or download it again')
    else:
        assert err == (f'error: checkpoint {path} does not exist: give the .pth file written '
                       f'by tools/train.py')
    assert not list(tmp_path.glob('*/*.log'))  # stopped before the runner started


def test_test_tool_without_any_detection_exits_1(smoke_checkpoints, coco_fixture, tmp_path):
    code, err = run_error(smoke_test_args(smoke_checkpoints['smoke'], coco_fixture, tmp_path,
                                          f'{SMOKE_OPTIONS}=1.01'))
    assert code == 1
    assert err == ('error: CocoMetric computed no metric: the model made no detection on the 8 '
                   'test images (score threshold model.test_cfg.rcnn.score_thr=1.01). Check '
                   'that the checkpoint was trained with this config and its CLIP weights / '
                   'text embeddings, and the score threshold')


def test_train_tool_names_a_truncated_annotation_file(coco_fixture, tmp_path):
    import shutil

    from ovdkit.testing import SMOKE_CONFIG, fixture_data_options
    data = tmp_path / 'data'
    shutil.copytree(coco_fixture, data)
    ann = data / 'annotations' / 'instances_train.json'
    truncate(ann)
    code, err = run_error(['tools/train.py', SMOKE_CONFIG, '--work-dir', tmp_path / 'work',
                           '--cfg-options', *fixture_data_options(data)])
    assert code == 2
    assert err.startswith(f'error: train_dataloader.dataset.ann_file: {ann} is not valid '
                          f'JSON (')
    assert err.endswith('truncated copy? copy or download it again')


VILD_COCO = 'configs/vild/vild-text_r50_fpn_8xb2-90k_ov-coco.py'


@pytest.fixture(scope='module')
def ov_coco_root(tmp_path_factory):
    """The OV-COCO fixture, converted, and a random 512-d test-CLIP weights file in it."""
    import open_clip
    import torch

    from ovdkit.datasets.converters import coco_to_ov_coco
    from ovdkit.text import register_model_configs
    root = tmp_path_factory.mktemp('ov_coco')
    files = make_ov_coco_fixture(str(root))
    coco_to_ov_coco(files['train'], files['val'], root / 'annotations', progress=False)
    register_model_configs()
    torch.manual_seed(0)
    torch.save(open_clip.create_model('OVD-TestCLIP-RN512').state_dict(), root / 'clip.pt')
    return root


def vild_coco_train_args(root, tmp_path, *options):
    return ['tools/train.py', VILD_COCO, '--work-dir', tmp_path, '--cfg-options',
            f'data_root={root}/', 'backbone_checkpoint=None', 'clip_model=OVD-TestCLIP-RN512',
            f'clip_pretrained={root / "clip.pt"}', f'embeddings_dir={tmp_path / "emb"}',
            *options]


def test_train_tool_names_a_data_root_that_does_not_exist(ov_coco_root, tmp_path):
    code, err = run_error(vild_coco_train_args(ov_coco_root, tmp_path,
                                               'data_root=/nonexistent/'))
    assert code == 2
    assert err == ('error: train_dataloader.dataset.data_root: folder /nonexistent/ does not '
                   'exist; point data_root at your dataset')


def test_train_tool_names_a_missing_clip_file(ov_coco_root, tmp_path):
    missing = tmp_path / 'nowhere' / 'clip.pt'
    code, err = run_error(vild_coco_train_args(ov_coco_root, tmp_path,
                                               f'clip_pretrained={missing}'))
    assert code == 2
    assert err == (f"error: model.roi_head.bbox_head.vocabulary: CLIP weights for model "
                   f"'OVD-TestCLIP-RN512': file {missing} does not exist; give the path of an "
                   f"open_clip checkpoint file")


@pytest.mark.parametrize('env', [dict(HF_HUB_OFFLINE='1'), dict(HF_ENDPOINT='http://127.0.0.1:9')],
                         ids=['HF_HUB_OFFLINE', 'unreachable-endpoint'])
def test_train_tool_with_a_clip_tag_offline_says_to_pass_a_file(ov_coco_root, tmp_path, env):
    """The shipped default (ViT-B-32 'openai') without the hub: one line before any model is
    built (open_clip itself retries for over a minute), whose timeout here is far shorter."""
    code, err = run_error(vild_coco_train_args(ov_coco_root, tmp_path, 'clip_model=ViT-B-32',
                                               'clip_pretrained=openai'), env=env, timeout=60)
    assert code == 2
    assert err.startswith("error: model.roi_head.bbox_head.vocabulary: CLIP weights 'ViT-B-32' "
                          "pretrained='openai' are not in the local cache and cannot be "
                          "downloaded from the Hugging Face hub (")
    assert ('pass a local open_clip checkpoint file instead (e.g. --cfg-options '
            'clip_pretrained=/path/to/clip.bin)') in err
    assert not list(tmp_path.glob('*/*.log'))


@pytest.fixture(scope='module')
def toy_test(tmp_path_factory):
    """A tiny toy world, a random ViLD-text toy detector, embeddings files of other weights
    (128-d) and of another dimension (512-d); returns (args of tools/test.py before the
    vocabulary options, folder)."""
    import open_clip
    import torch
    import torch.nn.functional as F

    from ovdkit.testing.detectors import VILD_TEXT_CONFIG, build_checkpoint
    from ovdkit.text import make_meta, save_text_embeddings, weights_id
    from ovdkit.toyworld import ToyWorldSpec, generate_world
    work = tmp_path_factory.mktemp('toy_test')
    world = work / 'world'
    generate_world(ToyWorldSpec(seed=3, num_train=4, num_val=2, num_clip_train=2,
                                num_clip_val=2), str(world), progress=False)
    config, checkpoint = build_checkpoint(VILD_TEXT_CONFIG, work)
    torch.manual_seed(1)
    torch.save(open_clip.create_model('OVD-TinyCLIP-RN').state_dict(), work / 'other_clip.pt')
    names = ['red star', 'blue circle']
    for dim, model in ((128, 'OVD-TinyCLIP-RN'), (512, 'OVD-TestCLIP-RN512')):
        meta = make_meta(model, str(work / 'other_clip.pt'),
                         weights_id(str(work / 'other_clip.pt')), 'single', ['{}'], names, dim)
        save_text_embeddings(work / f'emb{dim}.pt', F.normalize(torch.randn(2, dim), dim=-1),
                             meta)
    args = ['tools/test.py', config, checkpoint, '--work-dir', work / 'run', '--cfg-options',
            f'test_dataloader.dataset.data_root={world}/',
            f'test_evaluator.ann_file={world}/annotations/val.json']
    return args, work


HEAD = 'model.roi_head.bbox_head.test_vocabulary'


def test_test_tool_names_a_missing_test_vocabulary_file(toy_test):
    args, work = toy_test
    missing = work / 'nowhere' / 'classes.txt'
    code, err = run_error([*args, f'{HEAD}.classes={missing}'])
    assert code == 2
    assert err == (f'error: {HEAD}.classes: vocabulary file {missing} does not exist')


def test_test_tool_checks_negative_names_before_any_work(toy_test, tmp_path):
    """A test vocabulary of negative names only, or a name both asked for and negative, stops
    tools/test.py with one line naming the config key, before the model is built."""
    args, work = toy_test
    code, err = run_error([*args, f'{HEAD}.classes=-zebra,-okapi'])
    assert code == 2
    assert err.startswith(f'error: {HEAD}.classes: vocabulary: ')
    assert 'negative' in err
    code, err = run_error([*args, f'{HEAD}.classes=zebra,-zebra'])
    assert code == 2
    assert err.startswith(f"error: {HEAD}.classes: vocabulary: ['zebra'] are both asked for "
                          "and negative")
    names = tmp_path / 'train_classes.txt'
    names.write_text('red star\n-blue circle\n')
    code, err = run_error([*args, f'model.roi_head.bbox_head.vocabulary.classes={names}'])
    assert code == 2
    assert err.startswith('error: model.roi_head.bbox_head.vocabulary.classes: negative names '
                          "['-blue circle'] in a training vocabulary")


def test_test_tool_refuses_embeddings_of_another_dimension(toy_test):
    args, work = toy_test
    code, err = run_error([*args, f'{HEAD}.path={work / "emb512.pt"}',
                           f'{HEAD}.classes=red star,blue circle'])
    assert code == 2
    assert err == (f"error: {HEAD}.path: {work / 'emb512.pt'} holds 512-d embeddings (CLIP "
                   f"'OVD-TestCLIP-RN512'), the head takes embed_dim=128: use embeddings of a "
                   f"128-d CLIP")


def test_test_tool_refuses_embeddings_of_other_clip_weights(toy_test):
    """Same dimension, other weights: the file's sidecar names them; refused, naming both."""
    from ovdkit.utils.hashing import file_sha256
    args, work = toy_test
    code, err = run_error([*args, f'{HEAD}.path={work / "emb128.pt"}',
                           f'{HEAD}.classes=red star,blue circle'])
    assert code == 2
    other, mine = (f'sha256:{file_sha256(work / name)}' for name in ('other_clip.pt', 'clip.pt'))
    assert err == (
        f"error: {HEAD}: text embeddings {work / 'emb128.pt'} were made with CLIP "
        f"'OVD-TinyCLIP-RN' weights '{work / 'other_clip.pt'}' ({other}), but the vocabulary "
        f"config uses CLIP 'OVD-TinyCLIP-RN' weights '{work / 'clip.pt'}' ({mine}): rebuild "
        f"them with tools/build_text_embeddings.py for those weights, or drop `path` to let "
        f"the cache build them")


@pytest.fixture(scope='module')
def export_onnx():
    return load_tool('tools/deploy/export_onnx.py').main


def test_export_refuses_a_checkpoint_of_another_model_and_a_truncated_one(
        export_onnx, toy_test, smoke_checkpoints, tmp_path, capsys):
    _, work = toy_test
    config = str(work / 'config.py')
    out = tmp_path / 'model.onnx'
    other = smoke_checkpoints['smoke']
    assert export_onnx([config, str(other), '--out', str(out)]) == 2
    err = one_error_line(capsys, 'export_onnx')
    assert err.startswith(f'export_onnx: error: checkpoint {other} does not match config '
                          f'{config}: ')
    assert ('3 missing keys (roi_head.bbox_head.fc_cls.background_embedding, '
            'roi_head.bbox_head.fc_cls.projection.weight, '
            'roi_head.bbox_head.fc_cls.projection.bias)') in err  # the ViLD classifier
    assert 'shape mismatches (checkpoint vs model) (backbone.conv1.weight (16, 3, 7, 7) vs ' \
           '(32, 3, 7, 7)' in err
    truncated = smoke_checkpoints['truncated']
    assert export_onnx([config, str(truncated), '--out', str(out)]) == 2
    assert one_error_line(capsys, 'export_onnx').startswith(
        f'export_onnx: error: checkpoint {truncated} is not a complete checkpoint (')
    assert not list(tmp_path.iterdir())


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
