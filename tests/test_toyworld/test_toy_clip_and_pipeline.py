"""The toy CLIP (trained, saved, loaded through pretrained=PATH) and the demo pipeline."""
import json

import open_clip
import pytest
import torch
import torch.nn.functional as F

from conftest import run_tool
from ovdkit.text import CLIPTextEncoder
from ovdkit.toyworld import (TOY_CLIP_MODEL, ToyWorldSpec, generate_world, train_toy_clip,
                             zero_shot_accuracy)

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


def test_demo_pipeline_end_to_end_and_rerun(tmp_path):
    args = ['tools/toyworld.py', '--work-dir', tmp_path, '--shapes', 'circle,square,star',
            '--colors', 'red,blue', '--novel-shapes', 'star', '--num-train', 4, '--num-val', 3,
            '--num-clip-train', 30, '--num-clip-val', 10, '--clip-steps', 10,
            '--methods', 'vild-text,vild,vild-ensemble', '--det-iters', 3, '--no-progress']
    first = json.loads(run_tool(args).stdout.strip().splitlines()[-1])
    methods = ('vild-text', 'vild', 'vild-ensemble')
    assert set(first) == {'clip_zero_shot_acc', 'clip_novel_acc', 'seconds',
                          'clip_regions_crops_per_s'} | {
        f'{m}/{k}_ap50' for m in methods for k in ('novel', 'base', 'all')}
    assert all(0 <= first[f'{m}/{k}_ap50'] <= 100 for m in methods
               for k in ('novel', 'base', 'all'))
    for method in methods:
        assert (tmp_path / method / 'iter_3.pth').is_file()
    # ViLD's targets: every training image's top proposals of the vild-text RPN, embedded.
    store = json.loads((tmp_path / 'regions' / 'index.json').read_text())
    assert store['complete'] and store['num_images'] == 4
    assert (tmp_path / 'ap50.png').is_file()
    assert 0.0 <= first['clip_zero_shot_acc'] <= 1.0
    report = (tmp_path / 'report.md').read_text()
    assert 'concepts' in report and 'red star, blue star' in report
    saved = json.loads((tmp_path / 'report.json').read_text())
    assert saved['summary'] == first
    second = run_tool(args)
    assert json.loads(second.stdout.strip().splitlines()[-1])['clip_zero_shot_acc'] == \
        first['clip_zero_shot_acc']
    timings = json.loads((tmp_path / 'report.json').read_text())['timings_s']
    assert timings['train_clip'] == 0.0
    assert all(timings[f'method:{m}'] < 5 for m in methods), timings
