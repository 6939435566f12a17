"""The toy CLIP (trained, saved, loaded through pretrained=PATH) and the demo pipeline."""
import json

import open_clip
import pytest
import torch
import torch.nn.functional as F

from ovdkit.testing import run_tool
from ovdkit.text import VILD_TEMPLATES, CLIPTextEncoder
from ovdkit.toyworld import (TOY_CLIP_MODEL, ToyWorldSpec, generate_world, train_toy_clip,
                             zero_shot_accuracy)
from ovdkit.utils.hashing import file_sha256

pytestmark = pytest.mark.slow  # trains a tiny CLIP (module fixture) and runs the whole pipeline

SMALL = dict(shapes=('circle', 'square', 'triangle'), colors=('red', 'blue'),
             num_train=4, num_val=4, num_clip_train=150, num_clip_val=40,
             novel_shapes=('triangle',))


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp('toyclip')
    spec = ToyWorldSpec(seed=1, **SMALL)
    summary = generate_world(spec, str(root / 'world'), progress=False)
    ckpt = root / 'toyclip.pt'
    stats = train_toy_clip(str(root / 'world'), str(ckpt), steps=150, batch_size=64,
                           progress=False)
    return root, summary, ckpt, stats


def test_short_training_is_well_above_chance(trained):
    root, summary, ckpt, stats = trained
    acc = zero_shot_accuracy(str(root / 'world'), str(ckpt),
                             novel_names=summary['novel_classes'])
    assert stats['steps'] == 150 and stats['crops_per_s'] > 0
    assert acc['crops'] > 100 and acc['novel_crops'] > 10
    assert acc['acc'] > 0.35, acc  # chance is 1/6
    assert acc['novel_acc'] > 0.3, acc


def test_checkpoint_loads_through_pretrained_path(trained):
    _, _, ckpt, _ = trained
    reference = open_clip.create_model(TOY_CLIP_MODEL).eval()
    reference.load_state_dict(torch.load(ckpt, weights_only=True))
    tokens = open_clip.get_tokenizer(TOY_CLIP_MODEL)(['a photo of a red circle.'])
    assert tokens.shape == (1, 16)  # the registered config's context, not 77
    expected = F.normalize(reference.encode_text(tokens), dim=-1)
    encoder = CLIPTextEncoder(TOY_CLIP_MODEL, str(ckpt))
    torch.testing.assert_close(encoder.encode_prompts(['a photo of a red circle.']), expected)


def test_zero_shot_as_the_detector_uses_clip(trained):
    root, summary, ckpt, _ = trained
    args = (str(root / 'world'), str(ckpt))
    single_1x = zero_shot_accuracy(*args, novel_names=summary['novel_classes'])
    both = zero_shot_accuracy(*args, templates=('a photo of a {}.',), crop_scales=(1.0, 1.5),
                              novel_names=summary['novel_classes'])
    vild = zero_shot_accuracy(*args, templates=VILD_TEMPLATES, crop_scales=(1.0, 1.5))
    assert both['crops'] == single_1x['crops'] == vild['crops']
    # other crops and templates give other predictions, all of them well above chance (1/6)
    assert both['acc'] > 0.35 and vild['acc'] > 0.25, (both, vild)
    assert len({single_1x['acc'], both['acc'], vild['acc']}) > 1


def last_json(proc):
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_demo_pipeline_end_to_end_and_rerun(tmp_path):
    args = ['tools/toyworld.py', '--work-dir', tmp_path, '--shapes', 'circle,square,star',
            '--colors', 'red,blue', '--novel-shapes', 'star', '--num-train', 4, '--num-val', 3,
            '--shape-synonyms', 'square|box,star|pentagram',
            '--num-clip-train', 30, '--num-clip-val', 10, '--clip-steps', 10,
            '--methods', 'vild-text,vild,vild-ensemble', '--base-iters', 2, '--det-iters', 3,
            '--threads', 2, '--no-progress']
    proc = run_tool(args)
    first = last_json(proc)
    methods = ('vild-text', 'vild', 'vild-ensemble')
    assert set(first) == {
        'clip_zero_shot_acc', 'clip_novel_acc', 'clip_zero_shot_acc_1x_single',
        'clip_novel_acc_1x_single', 'seconds', 'cpu_seconds', 'clip_regions_crops_per_s'} | {
        f'{m}/{k}_ap50{s}' for m in methods for k in ('novel', 'base', 'all')
        for s in ('', '_synonyms')} | {'base-detector/base_ap50'}
    # The base detector (one thread, beside the CLIP), then every method side by side
    assert 'training base-detector (1 thread' in proc.stdout
    for method in methods:
        assert f'training {method} (1 thread' in proc.stdout
    base_ckpt = tmp_path / 'base-detector' / 'iter_2.pth'
    assert base_ckpt.is_file()
    for method in methods:
        assert (tmp_path / method / 'iter_3.pth').is_file()
        log = (tmp_path / method / 'run.log').read_text()
        # every method starts from the base detector's weights, then trains its own 3 steps
        assert f'Load checkpoint from {base_ckpt}' in log
        assert 'Saving checkpoint at 3 iterations' in log
        # tested twice: on the one-name vocabulary, then on the one with the shape synonyms
        tests = [line for line in log.splitlines() if 'Iter(test)' in line and
                 'coco/novel_ap50' in line]
        assert len(tests) == 2, log[-3000:]
    # ViLD's targets: every training image's top proposals of the base detector's RPN at two
    # thirds of its schedule (iteration 1 of 2), a checkpoint kept beside the last one.
    store = json.loads((tmp_path / 'regions' / 'index.json').read_text())
    assert store['complete'] and store['num_images'] == 4
    meta = json.loads((tmp_path / 'regions' / 'meta.json').read_text())
    proposer = tmp_path / 'base-detector' / 'iter_1.pth'
    assert meta['proposal_checkpoint_sha256'] == file_sha256(proposer) != file_sha256(base_ckpt)
    assert (tmp_path / 'ap50.png').is_file()
    report = (tmp_path / 'report.md').read_text()
    assert 'concepts' in report and 'red star, blue star' in report
    assert 'templates `single`, crops at 1.25x' in report
    assert 'crops (1.25x of the top proposals)' in report
    assert '| method | novel | base | all | novel, one name |' in report
    assert f"| vild | {first['vild/novel_ap50_synonyms']:.1f} | " in report
    assert "mmdet's Faster R-CNN with a cosine classifier over the base categories, trained 2 " \
        'iterations on base boxes' in report
    assert 'its RPN at `iter_1.pth` proposed the CLIP regions' in report
    saved = json.loads((tmp_path / 'report.json').read_text())
    assert saved['summary'] == first
    assert saved['clip']['zero_shot']['crops'] == saved['clip']['zero_shot_1x_single']['crops']

    outputs = [tmp_path / 'clip' / 'toyclip.pt', tmp_path / 'regions' / 'index.json',
               base_ckpt, proposer] + [tmp_path / m / name for m in methods
                             for name in ('result.json', 'iter_3.pth')]
    before = {p: p.stat().st_mtime_ns for p in outputs}
    second = run_tool(args)
    skipped = [line for line in second.stdout.splitlines() if line.startswith('skipped: ')]
    assert [line.split()[1] for line in skipped] == [
        'generate_world', 'base-detector', 'train_clip', 'clip_regions', 'vild-text', 'vild',
        'vild-ensemble'], second.stdout
    assert 'training ' not in second.stdout
    assert {p: p.stat().st_mtime_ns for p in outputs} == before
    timing = ('seconds', 'cpu_seconds')
    assert {k: v for k, v in last_json(second).items() if k not in timing} == \
        {k: v for k, v in first.items() if k not in timing}

    # tools/benchmark/absent_names.py on the finished run: each design's counts, per method
    absent = run_tool(['tools/benchmark/absent_names.py', tmp_path, '--methods', 'vild-text,vild',
                       '--designs', 'none,train', '--max-images', 2, '--out-dir',
                       tmp_path / 'absent'])
    figures = last_json(absent)
    for method in ('vild-text', 'vild'):
        for design in ('none', 'train'):
            key = f'{tmp_path.name}/{method}/{design}'
            assert figures[f'{key}/true_objects'] > 0
            assert 0 <= figures[f'{key}/true_found'] <= figures[f'{key}/true_objects']
            assert figures[f'{key}/absent_dets'] == sum(
                figures[f'{key}/absent_{kind}'] for kind in ('outside', 'novel', 'base'))
            # the issue's vocabulary: its zebras are among its absent names' detections
            assert 0 <= figures[f'{key}/issue_zebra'] <= figures[f'{key}/issue_absent']
