"""One place for data and weights: a changed top-level variable re-points every setting built
from it (``--cfg-options`` or an inheriting config), and ``--cfg-options`` of a variable that
nothing would follow is refused with the keys to set instead."""
import re

import pytest
from mmengine.config import Config

from ovdkit.testing import REPO, run_tool
from ovdkit.utils.config_variables import (OVDConfigError, check_cfg_options, merge_cfg_options,
                                           resolve_config_variables)

SHIPPED = sorted(p.relative_to(REPO).as_posix()
                 for folder in ('configs/vild', 'configs/grounding')
                 for p in (REPO / folder).glob('*.py'))
SMOKE = 'configs/smoke/faster-rcnn_r18_fpn_1xb4-40i_coco-fixture.py'
ELSEWHERE = dict(data_root='/elsewhere/', clip_model='ViT-L-14', clip_pretrained='/w/clip.pt',
                 backbone_checkpoint='/w/resnet50.pth', embeddings_dir='/e')


def strings(node, path=''):
    """(dotted key, value) of every string in a config."""
    items = (node.items() if isinstance(node, dict) else
             enumerate(node) if isinstance(node, (list, tuple)) else ())
    for key, value in items:
        if isinstance(value, str):
            yield f'{path}{key}', value
        else:
            yield from strings(value, f'{path}{key}.')


def check_everywhere(cfg, values):
    """Nothing of the shipped values is left; every reader got the new one."""
    cfg = cfg.to_dict()
    left = [(k, v) for k, v in strings(cfg) if v.startswith('data/') or v in
            ('ViT-B-32', 'openai', 'torchvision://resnet50')]
    assert not left, left
    heads = cfg['model']['roi_head']['bbox_head']
    assert heads['vocabulary']['model'] == values['clip_model']
    assert heads['vocabulary']['pretrained'] == values['clip_pretrained']
    assert heads['vocabulary']['cache_dir'] == values['embeddings_dir']
    assert cfg['model']['backbone']['init_cfg']['checkpoint'] == values['backbone_checkpoint']
    root = values['data_root']
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        dataset = cfg[loader]['dataset']
        dataset = dataset.get('dataset', dataset)
        assert dataset['data_root'].rstrip('/') == root.rstrip('/')
        stores = [t['store'] for t in dataset['pipeline'] if t['type'] == 'LoadCLIPRegions']
        assert all(s.startswith(root.rstrip('/') + '/clip_regions/') for s in stores), stores
    for evaluator in ('val_evaluator', 'test_evaluator'):
        assert cfg[evaluator]['ann_file'].startswith(root.rstrip('/') + '/annotations/')
    if heads['vocabulary']['classes'].endswith('.txt'):
        assert heads['vocabulary']['classes'].startswith(root.rstrip('/') + '/annotations/')


def test_there_are_shipped_configs():
    assert len(SHIPPED) >= 8


@pytest.mark.parametrize('config', SHIPPED)
def test_cfg_options_of_the_variables_take_effect_everywhere(config):
    cfg = Config.fromfile(str(REPO / config))
    notes = merge_cfg_options(cfg, dict(ELSEWHERE))
    check_everywhere(cfg, ELSEWHERE)
    assert any(n.startswith("data_root: 'data/") for n in notes)
    assert resolve_config_variables(cfg) == []  # resolved once and for all


@pytest.mark.parametrize('config', SHIPPED)
def test_a_user_config_that_inherits_and_sets_the_variables(config, tmp_path):
    user = tmp_path / 'my_config.py'
    user.write_text(f"_base_ = '{REPO / config}'\n" +
                    ''.join(f'{k} = {v!r}\n' for k, v in ELSEWHERE.items()))
    cfg = Config.fromfile(str(user))
    resolve_config_variables(cfg)
    check_everywhere(cfg, ELSEWHERE)


def test_no_backbone_checkpoint_means_random_init():
    cfg = Config.fromfile(str(REPO / SHIPPED[0]))
    merge_cfg_options(cfg, dict(backbone_checkpoint=None))
    assert cfg.model.backbone.init_cfg is None


def test_region_store_and_data_root_both_set():
    config = next(c for c in SHIPPED if '/vild_' in c)
    cfg = Config.fromfile(str(REPO / config))
    merge_cfg_options(cfg, dict(data_root='/elsewhere/', region_store='/stores/mine'))
    dataset = cfg.train_dataloader.dataset
    dataset = dataset.get('dataset', dataset)
    stores = [t['store'] for t in dataset.pipeline if t['type'] == 'LoadCLIPRegions']
    assert stores == ['/stores/mine']


def test_a_variable_nothing_follows_is_refused():
    cfg = Config.fromfile(str(REPO / SMOKE))  # no ovdkit_variables record
    with pytest.raises(OVDConfigError) as info:
        check_cfg_options(cfg, {'data_root': '/elsewhere/'})
    message = str(info.value)
    assert message.startswith(f"--cfg-options data_root=/elsewhere/: 'data_root' is only a "
                              f"variable of {REPO / SMOKE}; the settings built from it when "
                              f"the file was read (")
    for key in ('train_dataloader.dataset.data_root', 'val_evaluator.ann_file'):
        assert key in message
    assert message.endswith("would keep 'data/fixture/'. Set those keys instead")
    check_cfg_options(cfg, {'train_dataloader.dataset.data_root': '/x/', 'work_dir': '/w'})


def test_train_tool_refuses_an_unfollowed_variable_in_one_line():
    config = next(c for c in SHIPPED if c.endswith('vild-text_r50_fpn_8xb2-90k_ov-coco.py'))
    proc = run_tool(['tools/train.py', config, '--cfg-options', 'max_iters=2'], check=False)
    assert proc.returncode == 2
    assert re.fullmatch(
        r"error: --cfg-options max_iters=2: 'max_iters' is only a variable of \S+; the "
        r"settings built from it when the file was read \(train_cfg\.max_iters, "
        r"param_scheduler\.1\.end\) would keep 90000\. Set those keys instead\n", proc.stderr), \
        proc.stderr
