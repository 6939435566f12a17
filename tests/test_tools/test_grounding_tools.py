"""Grounding trained end to end by tools/train.py, tested by tools/test.py, and the test
vocabulary swapped from the command line (``--cfg-options ...test_vocabulary.classes=FILE``)."""
import re

import mmengine
import numpy as np
import open_clip
import pytest
import torch

from ovdkit.testing import REPO, SMOKE_CONFIG, fixture_data_options, run_tool

NAMES = ['red square', 'green disk', 'blue triangle']
HEAD = 'model.roi_head.bbox_head.'


@pytest.fixture(scope='module')
def grounding_run(coco_fixture, tmp_path_factory):
    """3 iterations of a grounding head on the smoke detector, validated after the last one
    with its predictions dumped (the reference of the vocabulary swap): work dir, config, log."""
    from ovdkit.text import register_model_configs
    work = tmp_path_factory.mktemp('grounding')
    register_model_configs()
    torch.manual_seed(0)
    torch.save(open_clip.create_model('OVD-TestCLIP-RN').state_dict(), work / 'clip.pt')
    config = work / 'grounding_fixture.py'
    config.write_text(
        f"_base_ = '{REPO / SMOKE_CONFIG}'\n"
        f"model = dict(\n"
        f"    roi_head=dict(bbox_head=dict(\n"
        f"        type='GroundingBBoxHead', embed_dim=32, names_per_prompt=1,\n"
        f"        vocabulary=dict(classes={NAMES}, model='OVD-TestCLIP-RN',\n"
        f"                        pretrained='{work / 'clip.pt'}', cache_dir='{work}/cache'),\n"
        f"        loss_cls=dict(_delete_=True, type='FocalLoss', use_sigmoid=True, gamma=2.0,\n"
        f"                      alpha=0.25, loss_weight=1.0))),\n"
        f"    test_cfg=dict(rcnn=dict(score_thr=0.0)))\n"
        f"val_evaluator = dict(_delete_=True, type='DumpDetResults',\n"
        f"                     out_file_path='{work / 'val_preds.pkl'}')\n")
    options = [o for o in fixture_data_options(coco_fixture) if not o.startswith('val_evaluator')]
    proc = run_tool(['tools/train.py', config, '--work-dir', work, '--cfg-options', *options,
                     'train_cfg.max_iters=3', 'train_cfg.val_interval=3',
                     'default_hooks.checkpoint.interval=3', 'default_hooks.logger.interval=1'])
    return work, config, proc.log


def _by_image(path):
    return {p['img_id']: p['pred_instances'] for p in mmengine.load(path)}


def test_grounding_trains_through_train_py(grounding_run):
    work, _, log = grounding_run
    assert 'Iter(train) [3/3]' in log
    losses = [float(x) for x in re.findall(r' loss_cls: ([0-9.e-]+)', log)]
    assert len(losses) == 3 and all(np.isfinite(losses)) and losses[0] > 0
    state = torch.load(work / 'iter_3.pth', map_location='cpu')['state_dict']
    assert 'roi_head.bbox_head.fc_cls.bias0' in state  # the grounding head was trained
    assert not any('token_features' in k for k in state)


def test_test_vocabulary_from_a_file_on_the_command_line(grounding_run, coco_fixture, tmp_path):
    work, config, _ = grounding_run
    reference = _by_image(work / 'val_preds.pkl')  # iteration 3, the training vocabulary
    names = tmp_path / 'reversed.txt'
    names.write_text('\n'.join(reversed(NAMES)) + '\n')
    run_tool(['tools/test.py', config, work / 'iter_3.pth', '--work-dir', tmp_path, '--out',
              tmp_path / 'swapped.pkl', '--cfg-options', *fixture_data_options(coco_fixture),
              f'{HEAD}test_vocabulary.classes={names}'])
    swapped = _by_image(tmp_path / 'swapped.pkl')
    assert swapped.keys() == reference.keys() and len(reference) == 8
    for image, ref in reference.items():
        got = swapped[image]
        assert len(ref['labels']) > 0 and int(ref['labels'].max()) == 2
        # every name is encoded alone: the same detections, each under its new index
        expected = sorted(zip(ref['scores'].tolist(), (2 - ref['labels']).tolist(),
                              ref['bboxes'].tolist()))
        found = sorted(zip(got['scores'].tolist(), got['labels'].tolist(),
                           got['bboxes'].tolist()))
        assert [x[1] for x in found] == [x[1] for x in expected]
        np.testing.assert_allclose([x[0] for x in found], [x[0] for x in expected], rtol=1e-5)
        np.testing.assert_allclose([x[2] for x in found], [x[2] for x in expected], atol=1e-3)
