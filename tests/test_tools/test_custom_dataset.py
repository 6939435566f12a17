"""docs/custom_dataset.md end to end: its user config, exactly as printed there (and with the
grounding base, as it says), trains ViLD-text (grounding) on a fixture dataset split by
coco2ov.py (2 iterations), tests it (novel / base / all AP50) and runs the demo with a
vocabulary that adds a name never trained on."""
import json
import re

import open_clip
import pytest
import torch
from mmengine.config import Config

from ovdkit.datasets.custom_split import coco_to_ov_split
from ovdkit.testing import FIXTURE_SCALE, REPO, ToolServer, config_pipelines, make_coco_fixture

pytestmark = pytest.mark.slow


def doc_config() -> str:
    """The user config of docs/custom_dataset.md (its first python block)."""
    text = (REPO / 'docs' / 'custom_dataset.md').read_text()
    return re.search(r'```python\n(.*?)```', text, re.S).group(1)


@pytest.mark.parametrize('method', ['vild-text', 'grounding'])
def test_doc_config_trains_tests_and_runs_the_demo(tmp_path, method):
    root = tmp_path / 'mine'
    paths = make_coco_fixture(str(root), num_train=8, num_val=4)
    coco_to_ov_split(paths['train'], ['green disk'], root / 'annotations', paths['val'])
    work = tmp_path / 'work'
    work.mkdir()
    (work / 'configs').symlink_to(REPO / 'configs')  # `_base_` is relative to the config
    config = work / 'my_vild-text.py'
    shipped = "_base_ = 'configs/custom/vild-text_r50_fpn_8xb2-90k_ov-custom.py'"
    assert shipped in doc_config()
    # grounding: the same config with the other base, as the document says
    config.write_text(doc_config().replace('vild-text_r50', f'{method}_r50'))
    clip = tmp_path / 'clip.pt'
    torch.manual_seed(0)
    torch.save(open_clip.create_model('OVD-TestCLIP-RN512').state_dict(), clip)
    cfg = Config.fromfile(str(config))
    scale = [f'{key}.{i}.scale={FIXTURE_SCALE}'.replace(' ', '')
             for key, pipeline in config_pipelines(cfg)
             for i, t in enumerate(pipeline) if t['type'] == 'Resize']
    options = [f'data_root={root}/', 'clip_model=OVD-TestCLIP-RN512', f'clip_pretrained={clip}',
               f'embeddings_dir={tmp_path / "embeddings"}', *scale]
    server = ToolServer(tmp_path)
    try:
        train = server.run(['tools/train.py', config, '--work-dir', work / 'run', '--cfg-options',
                            *options, 'backbone_checkpoint=None', 'train_cfg.max_iters=2',
                            'train_cfg.val_interval=2', 'model.test_cfg.rcnn.score_thr=0.0'])
        assert train.returncode == 0, train.log[-4000:]
        test = server.run(['tools/test.py', config, work / 'run' / 'iter_2.pth', '--work-dir',
                           work / 'run', '--cfg-options', *options,
                           'model.test_cfg.rcnn.score_thr=0.0'])
        assert test.returncode == 0, test.log[-4000:]
        image = sorted((root / 'images').glob('val_*.png'))[0]
        demo = server.run(['tools/demo.py', image, '--config',
                           config, '--checkpoint', work / 'run' / 'iter_2.pth', '--vocab',
                           'red square,green disk|disk,blue triangle,purple star',
                           '--score-thr', '0', '--out-dir', work / 'demo', '--cfg-options',
                           *options, 'model.test_cfg.rcnn.score_thr=0.0'])
        assert demo.returncode == 0, demo.log[-4000:]
    finally:
        server.close()
    assert (work / 'run' / 'iter_2.pth').is_file()
    assert "[ovdkit] training vocabulary of model.roi_head.bbox_head = the training dataset's" \
        in train.log
    note = next(line for line in train.log.splitlines()
                if "[ovdkit] config variable data_root: 'data/custom/'" in line)
    assert 'model.roi_head.bbox_head.vocabulary.classes' in note, note
    metrics = [line for line in test.log.splitlines() if 'Iter(test)' in line
               and 'coco/novel_ap50' in line][-1]
    for key in ('coco/novel_ap50', 'coco/base_ap50', 'coco/all_ap50'):
        assert f'{key}: ' in metrics, metrics
    summary = json.loads((work / 'demo' / 'summary.json').read_text())
    assert summary['vocabulary'] == ['red square', 'green disk', 'blue triangle', 'purple star']
    found = json.loads((work / 'demo' / 'preds' / f'{image.stem}.json').read_text())
    names = {d['name'] for d in found['detections']}
    assert names and names <= set(summary['vocabulary'])  # first names only, no 'green disk|disk'
