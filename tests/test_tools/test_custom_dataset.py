"""docs/custom_dataset.md end to end: its user configs, exactly as printed there, on a fixture
dataset split by coco2ov.py. ViLD-text (and, as the document says, the same config with the
grounding base) trains 2 iterations, is tested (novel / base / all AP50) and runs the demo
with a vocabulary that adds a name never trained on. ViLD's region store is precomputed with
the document's command from that ViLD-text run's checkpoint (8 regions an image), then the
document's ViLD config trains, tests and runs the demo the same way.

One dataset, CLIP file and tool server serve the whole module; the ViLD-text run is a
module-scoped fixture, so the ViLD test reuses its checkpoint instead of training again."""
import json
import re
from pathlib import Path
from typing import Dict, List

import open_clip
import pytest
import torch
from mmengine.config import Config

from ovdkit.datasets.custom_split import coco_to_ov_split
from ovdkit.testing import FIXTURE_SCALE, REPO, ToolServer, config_pipelines, make_coco_fixture

pytestmark = pytest.mark.slow

UNSEEN_VOCAB = 'red square,green disk|disk,blue triangle,purple star'


def doc_blocks(language: str) -> List[str]:
    """The ``language`` code blocks of docs/custom_dataset.md, in order."""
    text = (REPO / 'docs' / 'custom_dataset.md').read_text()
    return re.findall(rf'```{language}\n(.*?)```', text, re.S)


def doc_config(base: str) -> str:
    """The document's user config whose ``_base_`` is ``configs/custom/{base}``."""
    shipped = f"_base_ = 'configs/custom/{base}'"
    found = [block for block in doc_blocks('python') if shipped in block]
    assert len(found) == 1, f'docs/custom_dataset.md: {len(found)} python blocks with {shipped}'
    return found[0]


class CustomWorld:
    """The fixture dataset (novel: 'green disk'), a random 512-d test CLIP saved to a file, a
    work folder where the documents' ``configs/...`` bases resolve, and one tool server."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.root = tmp / 'mine'
        paths = make_coco_fixture(str(self.root), num_train=8, num_val=4)
        coco_to_ov_split(paths['train'], ['green disk'], self.root / 'annotations',
                         paths['val'])
        self.work = tmp / 'work'
        self.work.mkdir()
        (self.work / 'configs').symlink_to(REPO / 'configs')  # `_base_` is relative to it
        self.clip = tmp / 'clip.pt'
        torch.manual_seed(0)
        torch.save(open_clip.create_model('OVD-TestCLIP-RN512').state_dict(), self.clip)
        self.image = sorted((self.root / 'images').glob('val_*.png'))[0]
        self.server = ToolServer(tmp)

    def write_config(self, name: str, text: str) -> Path:
        path = self.work / name
        path.write_text(text)
        return path

    def options(self, config: Path) -> List[str]:
        """``--cfg-options`` pointing the data, CLIP and image scale at the fixture."""
        cfg = Config.fromfile(str(config))
        scale = [f'{key}.{i}.scale={FIXTURE_SCALE}'.replace(' ', '')
                 for key, pipeline in config_pipelines(cfg)
                 for i, t in enumerate(pipeline) if t['type'] == 'Resize']
        return [f'data_root={self.root}/', 'clip_model=OVD-TestCLIP-RN512',
                f'clip_pretrained={self.clip}', f'embeddings_dir={self.tmp / "embeddings"}',
                *scale, 'model.test_cfg.rcnn.score_thr=0.0']

    def train_test_demo(self, config: Path, run: str, train_options=()) -> Dict:
        """train.py (2 iterations), test.py and demo.py of ``config``, stopping at a failure."""
        options, work = self.options(config), self.work / run
        steps = dict(train=self.server.run([
            'tools/train.py', config, '--work-dir', work, '--cfg-options', *options,
            *train_options, 'backbone_checkpoint=None', 'train_cfg.max_iters=2',
            'train_cfg.val_interval=2']))
        assert steps['train'].returncode == 0, steps['train'].log[-4000:]
        steps['test'] = self.server.run(['tools/test.py', config, work / 'iter_2.pth',
                                         '--work-dir', work, '--cfg-options', *options])
        assert steps['test'].returncode == 0, steps['test'].log[-4000:]
        steps['demo'] = self.server.run([
            'tools/demo.py', self.image, '--config', config, '--checkpoint', work / 'iter_2.pth',
            '--vocab', UNSEEN_VOCAB, '--score-thr', '0', '--out-dir', work / 'demo',
            '--cfg-options', *options])
        assert steps['demo'].returncode == 0, steps['demo'].log[-4000:]
        steps['work'] = work
        return steps

    def check(self, steps: Dict) -> None:
        """What every run shows: its checkpoint, the vocabulary check and data_root's
        re-pointing in training, the three AP50 metrics, and the demo's first names only."""
        train, test, work = steps['train'], steps['test'], steps['work']
        assert (work / 'iter_2.pth').is_file()
        assert ("[ovdkit] training vocabulary of model.roi_head.bbox_head = the training "
                "dataset's") in train.log
        note = next(line for line in train.log.splitlines()
                    if "[ovdkit] config variable data_root: 'data/custom/'" in line)
        assert 'model.roi_head.bbox_head.vocabulary.classes' in note, note
        metrics = [line for line in test.log.splitlines() if 'Iter(test)' in line
                   and 'coco/novel_ap50' in line][-1]
        for key in ('coco/novel_ap50', 'coco/base_ap50', 'coco/all_ap50'):
            assert f'{key}: ' in metrics, metrics
        summary = json.loads((work / 'demo' / 'summary.json').read_text())
        assert summary['vocabulary'] == ['red square', 'green disk', 'blue triangle',
                                         'purple star']
        found = json.loads((work / 'demo' / 'preds' / f'{self.image.stem}.json').read_text())
        names = {d['name'] for d in found['detections']}
        assert names and names <= set(summary['vocabulary'])  # no 'green disk|disk'


@pytest.fixture(scope='module')
def world(tmp_path_factory):
    world = CustomWorld(tmp_path_factory.mktemp('custom_dataset'))
    try:
        yield world
    finally:
        world.server.close()


@pytest.fixture(scope='module')
def vild_text_run(world):
    """The document's ViLD-text config, trained, tested and run through the demo once."""
    config = world.write_config('my_vild-text.py',
                                doc_config('vild-text_r50_fpn_8xb2-90k_ov-custom.py'))
    return dict(world.train_test_demo(config, 'vild-text'), config=config)


def test_doc_vild_text_config_trains_tests_and_runs_the_demo(world, vild_text_run):
    world.check(vild_text_run)


def test_doc_config_with_the_grounding_base(world):
    # the same config with the other base, as the document says
    text = doc_config('vild-text_r50_fpn_8xb2-90k_ov-custom.py').replace('vild-text_r50',
                                                                         'grounding_r50')
    world.check(world.train_test_demo(world.write_config('my_grounding.py', text),
                                      'grounding'))


def test_doc_vild_config_on_regions_precomputed_from_the_vild_text_run(world, vild_text_run):
    store = world.root / 'clip_regions' / 'vit-b-32_train_base'
    command = next(b for b in doc_blocks('bash') if 'tools/precompute_clip_regions.py' in b)
    assert 'tools/precompute_clip_regions.py my_vild-text.py' in command  # step 2's config
    assert f'--out /datasets/mine/{store.relative_to(world.root)}' in command
    precompute = world.server.run([
        'tools/precompute_clip_regions.py', vild_text_run['config'],
        vild_text_run['work'] / 'iter_2.pth', '--clip-model', 'OVD-TestCLIP-RN512',
        '--clip-pretrained', world.clip, '--num-regions', 8, '--out', store,
        '--batch-size', 2, '--workers', 0, '--no-progress', '--cfg-options',
        *world.options(vild_text_run['config'])])
    assert precompute.returncode == 0, precompute.log[-4000:]
    figures = json.loads(precompute.stdout.strip().splitlines()[-1])
    train_images = len(json.loads((world.root / 'annotations' / 'train_base.json').read_text())
                       ['images'])
    assert figures['images'] == train_images, figures
    assert json.loads((store / 'meta.json').read_text())['num_regions'] == 8

    text = doc_config('vild_r50_fpn_8xb2-90k_ov-custom.py')
    assert "region_store = '/datasets/mine/clip_regions/vit-b-32_train_base'" in text
    # training reads the store; test and demo run without it (region_store left pointing at
    # the document's /datasets/mine/..., which does not exist here)
    steps = world.train_test_demo(world.write_config('my_vild.py', text), 'vild',
                                  train_options=[f'region_store={store}'])
    world.check(steps)
    note = next(line for line in steps['train'].log.splitlines()
                if '[ovdkit] config variable region_store: ' in line)
    assert f"-> '{store}' in " in note and '.pipeline.' in note, note
    assert 'loss_distill' in steps['train'].log


def test_image_label_config_trains_on_boxes_and_image_labels(world):
    """The custom route with image labels (configs/custom/*-image-labels.py): the base boxes
    of train_base.json plus the val images labelled with every category they show, the novel
    'green disk' included, in the image-label file the config reads."""
    val = json.loads((world.root / 'annotations' / 'val_all.json').read_text())
    images = [dict(image, pos_category_ids=sorted({a['category_id'] for a in val['annotations']
                                                   if a['image_id'] == image['id']}))
              for image in val['images']]
    (world.root / 'annotations' / 'image_labels.json').write_text(json.dumps(dict(
        images=images, annotations=[], categories=val['categories'])))
    config = world.write_config('my_image_labels.py', "_base_ = 'configs/custom/"
                                "vild-text_r50_fpn_8xb10-90k_ov-custom-image-labels.py'\n")
    steps = world.train_test_demo(config, 'image-labels',
                                  train_options=['default_hooks.logger.interval=1'])
    world.check(steps)
    train = steps['train'].log
    assert f'kept {len(images)} of {len(images)} images; dropped: none' in train
    last = [line for line in train.splitlines() if 'Iter(train) [2/2]' in line][-1]
    assert 'loss_image_label: ' in last and 'loss_cls: ' in last
