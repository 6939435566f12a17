"""Every shipped real-data config (configs/vild, configs/grounding, configs/image_labels) end to
end on fixtures.

As a user runs them, with the configs as shipped except the data folder (``data_root``), the
iterations (2, validating at the 2nd), the image scale (128 x 96) and CLIP (a random
``OVD-TestCLIP-RN512``, 512-d like ViT-B-32, saved to a file and given as
``clip_pretrained=PATH``); the ImageNet backbone is random (``backbone_checkpoint=None``: no
download here) and the test score threshold is 0, since a 2-iteration detector scores below
mmdet's 0.05 and an empty result prints no metric line. Per config: ``tools/train.py``,
``tools/test.py`` (metric lines checked), ``tools/demo.py`` on one image with a typed
vocabulary. Configs whose training pipeline loads CLIP regions get the store from
``tools/precompute_clip_regions.py`` run on the same dataset's ViLD-text checkpoint, at the
path the config reads under ``data_root``. The image-label configs read image-label files made
here by the converters (COCO captions of the fixture's train images; an ImageNet-21k folder
layout of them for LVIS classes). A config added to those folders is picked up here.

Two threads run the commands, one at a time each, with one CPU thread each. Each command is
its own process, forked from an interpreter that imported the stack once
(``ovdkit/testing/tool_forkserver.py``), so the commands do not pay the stack's imports
each.
"""
import json
import shutil
import threading
import time
from pathlib import Path

import pytest
import torch
from mmengine.config import Config

from ovdkit.testing import FIXTURE_SCALE, REPO, ToolServer, config_pipelines

pytestmark = pytest.mark.slow

CONFIGS = sorted(p.relative_to(REPO).as_posix()
                 for folder in ('configs/vild', 'configs/grounding', 'configs/image_labels')
                 for p in (REPO / folder).glob('*.py'))
METRIC_KEYS = {'ov-coco': ('coco/novel_ap50', 'coco/base_ap50', 'coco/all_ap50'),
               'ov-lvis': ('lvis/bbox_APr', 'lvis/bbox_APc', 'lvis/bbox_APf', 'lvis/bbox_AP',
                           'lvis/segm_APr')}


def dataset_of(config: str) -> str:
    for name in METRIC_KEYS:
        if config.endswith(f'_{name}.py') or f'_{name}-' in Path(config).name:
            return name
    raise AssertionError(f'{config}: name ends in neither _ov-coco[-...].py nor '
                         f'_ov-lvis[-...].py; add its dataset to {__file__}')


def plan(config: str) -> dict:
    """What the runs need to know of a config (read here: mmengine's Config is not
    thread-safe): its dataset, resize options at ``FIXTURE_SCALE``, and its region store, if any."""
    cfg = Config.fromfile(str(REPO / config))
    scale, loads_regions = [], False
    for key, pipeline in config_pipelines(cfg):
        for i, transform in enumerate(pipeline):
            if transform['type'] == 'Resize':
                scale.append(f'{key}.{i}.scale={FIXTURE_SCALE}'.replace(' ', ''))
            elif transform['type'] == 'RandomChoiceResize':
                scale.append(f'{key}.{i}.scales=[{FIXTURE_SCALE}]'.replace(' ', ''))
            loads_regions |= transform['type'] == 'LoadCLIPRegions'
    return dict(dataset=dataset_of(config), scale_options=scale, data_root=cfg.data_root,
                region_store=cfg.get('region_store') if loads_regions else None)


PLANS = {}


def plan_of(config: str) -> dict:
    if config not in PLANS:
        PLANS[config] = plan(config)
    return PLANS[config]


class RealConfigRuns:
    """Runs every config's train -> test -> demo, and the region precomputes, on two threads.

    A step starts as soon as what it needs exists: a precompute needs its dataset's ViLD-text
    checkpoint, a config that loads CLIP regions needs its store; the longest ready step first.
    """

    def __init__(self, data_roots, val_images, clip: Path, work: Path) -> None:
        self.data_roots, self.val_images, self.clip, self.work = (data_roots, val_images, clip,
                                                                  work)
        self.servers = threading.local()
        self.clip_options = ['clip_model=OVD-TestCLIP-RN512', f'clip_pretrained={clip}',
                             f'embeddings_dir={work / "embeddings"}']
        self.results = {}
        self.steps = []

    def options(self, config):
        return [f'data_root={self.data_roots[dataset_of(config)]}/', *self.clip_options,
                *plan_of(config)['scale_options'], 'model.test_cfg.rcnn.score_thr=0.0',
                # at score_thr 0 every image keeps max_per_img boxes (LVIS: 300), each through
                # the mask head: 20 keep the metric lines and cost a tenth
                'model.test_cfg.rcnn.max_per_img=20']

    def run(self, key, configs, args) -> bool:
        step = self.servers.server.run(args)
        self.steps.append((key, configs[0], step))
        for config in configs:
            self.results.setdefault(config, {})[key] = step
        return step.returncode == 0

    def train_test_demo(self, config) -> bool:
        work = self.work / Path(config).stem
        checkpoint = work / 'iter_2.pth'
        return (self.run('train', [config], [
            'tools/train.py', config, '--work-dir', work, '--cfg-options',
            *self.options(config), 'backbone_checkpoint=None', 'train_cfg.max_iters=2',
            'train_cfg.val_interval=2', 'default_hooks.logger.interval=1'])
            and self.run('test', [config], [
                'tools/test.py', config, checkpoint, '--work-dir', work, '--cfg-options',
                *self.options(config)])
            and self.run('demo', [config], [
                'tools/demo.py', self.val_images[dataset_of(config)], '--config', config,
                '--checkpoint', checkpoint, '--vocab', 'zebra,traffic cone', '--score-thr',
                '0', '--out-dir', work / 'demo', '--cfg-options',
                # data_root: ViLD-ensemble reads the training vocabulary (LVIS: a file there)
                f'data_root={self.data_roots[dataset_of(config)]}/', *self.clip_options,
                *plan_of(config)['scale_options']]))

    def precompute(self, source, store, targets) -> bool:
        checkpoint = self.work / Path(source).stem / 'iter_2.pth'
        return self.run('precompute', targets, [
            'tools/precompute_clip_regions.py', source, checkpoint,
            '--clip-model', 'OVD-TestCLIP-RN512', '--clip-pretrained', self.clip,
            '--num-regions', 8, '--out', store, '--batch-size', 2, '--workers', 0,
            '--no-progress', '--cfg-options', *self.options(source)])

    def tasks(self, configs):
        """name -> (names it waits for, function, priority)."""
        tasks, stores = {}, {}
        for config in configs:
            dataset, store = dataset_of(config), plan_of(config)['region_store']
            deps = []
            if store:
                # the plain ViLD-text config of configs/vild proposes the regions (an
                # image-label config's training set mixes in images that carry no boxes)
                source = next((c for c in configs if dataset_of(c) == dataset
                               and c.startswith('configs/vild/')
                               and Path(c).name.startswith('vild-text_')), None)
                assert source, f'{config} loads CLIP regions; no ViLD-text config proposes them'
                path = store.replace(plan_of(config)['data_root'],
                                     f'{self.data_roots[dataset]}/', 1)
                stores.setdefault((source, path), []).append(config)
                deps = [f'precompute {path}']
            first = Path(config).name.startswith('vild-text_')
            tasks[config] = (deps, lambda c=config: self.train_test_demo(c),
                             2 * first + (dataset == 'ov-lvis'))
        for (source, path), targets in stores.items():
            tasks[f'precompute {path}'] = (
                [source], lambda s=source, p=path, t=targets: self.precompute(s, p, t), 3)
        return tasks

    def __call__(self, configs, workers: int = 2):
        pending, done, failed = self.tasks(configs), set(), set()
        lock = threading.Condition()

        def worker():
            self.servers.server = ToolServer(self.work)
            try:
                work()
            finally:
                self.servers.server.close()

        def work():
            while True:
                with lock:
                    while True:
                        for name in [n for n, (deps, _, _) in pending.items()
                                     if any(d in failed for d in deps)]:
                            pending.pop(name)
                            failed.add(name)
                        ready = [n for n, (deps, _, _) in pending.items()
                                 if all(d in done for d in deps)]
                        if ready:
                            name = max(ready, key=lambda n: pending[n][2])
                            _, function, _ = pending.pop(name)
                            break
                        if not pending:
                            return
                        lock.wait()
                try:
                    ok = function()
                finally:
                    with lock:
                        (done if ok else failed).add(name)
                        lock.notify_all()

        threads = [threading.Thread(target=worker) for _ in range(workers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return self.results


def make_image_label_fixtures(root: Path, coco: dict, lvis: dict) -> None:
    """The image-label files the configs of configs/image_labels read, by the converters:
    captions naming an OV-COCO class of each COCO train image, and the LVIS train images
    filed in ImageNet-21k class folders of the LVIS categories they show."""
    from ovdkit.datasets.image_label_converters import (captions_to_image_labels,
                                                        imagenet_to_image_labels)
    train = json.loads(Path(coco['train']).read_text())
    names = {c['id']: c['name'] for c in train['categories']}
    captions = dict(images=train['images'], annotations=[
        dict(id=a['id'], image_id=a['image_id'], caption=f'A photo of a {names[a["category_id"]]}.')
        for a in train['annotations']])
    annotations = root / 'coco' / 'annotations'
    (annotations / 'captions_train2017.json').write_text(json.dumps(captions))
    counts = captions_to_image_labels(annotations / 'captions_train2017.json',
                                      annotations / 'instances_train2017_seen_2.json',
                                      annotations / 'captions_train2017_ov-coco_labels.json')
    assert counts['images'] == len(train['images'])
    data = json.loads(Path(lvis['train']).read_text())
    synsets = {c['id']: c['synset'] for c in data['categories']}
    mapping, imagenet = [], root / 'lvis_world' / 'imagenet21k'
    for image in data['images']:
        first = next(a['category_id'] for a in data['annotations']
                     if a['image_id'] == image['id'])
        folder = imagenet / f'n{first:08d}'
        folder.mkdir(parents=True, exist_ok=True)
        src = root / 'lvis_world' / 'coco' / image['coco_url'].split('/')[-2] / \
            image['coco_url'].split('/')[-1]
        shutil.copy(src, folder / f'n{first:08d}_{image["id"]}.JPEG')
        mapping.append(f'{synsets[first]} n{first:08d}')
    (imagenet / 'mapping.txt').write_text('\n'.join(sorted(set(mapping))) + '\n')
    counts = imagenet_to_image_labels(
        imagenet, imagenet / 'mapping.txt', lvis['train'],
        Path(lvis['train']).with_name('imagenet21k_lvis_image_labels.json'))
    assert counts['images'] == len(data['images'])


@pytest.fixture(scope='module')
def runs(tmp_path_factory):
    import open_clip

    import ovdkit  # noqa: F401  (registers the test CLIP's config with open_clip)
    from ovdkit.datasets.converters import coco_to_ov_coco, lvis_to_ov_lvis
    from ovdkit.testing import make_ov_coco_fixture, make_ov_lvis_fixture
    for config in CONFIGS:
        plan_of(config)
    root = tmp_path_factory.mktemp('real_configs')
    clip = root / 'clip.pt'
    torch.manual_seed(0)
    torch.save(open_clip.create_model('OVD-TestCLIP-RN512').state_dict(), clip)
    coco = make_ov_coco_fixture(str(root / 'coco'))
    coco_to_ov_coco(coco['train'], coco['val'], root / 'coco' / 'annotations', progress=False)
    lvis = make_ov_lvis_fixture(str(root / 'lvis_world'))
    lvis_to_ov_lvis(lvis['train'], Path(lvis['train']).with_name('lvis_v1_train_norare.json'),
                    progress=False)
    make_image_label_fixtures(root, coco, lvis)
    images = {'ov-coco': root / 'coco' / 'val2017',
              'ov-lvis': root / 'lvis_world' / 'coco' / 'val2017'}  # LVIS reads COCO's images
    runner = RealConfigRuns(
        data_roots={'ov-coco': root / 'coco', 'ov-lvis': root / 'lvis_world' / 'lvis'},
        val_images={k: sorted(v.glob('*.jpg'))[0] for k, v in images.items()},
        clip=clip, work=root / 'work')
    (root / 'work').mkdir()
    start = time.monotonic()
    results = runner(CONFIGS)
    wall = time.monotonic() - start
    print(f'\n{len(runner.steps)} commands, {wall:.1f} s wall on 2 threads, '
          f'{sum(s.cpu for _, _, s in runner.steps):.1f} s CPU:')
    for key, config, step in runner.steps:
        print(f'  {key:10s} {step.wall:6.1f} s wall {step.cpu:6.1f} s CPU  {Path(config).stem}')
    yield results
    shutil.rmtree(root / 'work', ignore_errors=True)  # ~0.5 GB of checkpoints per config


def metric_line(log: str, prefix: str) -> str:
    """The last log line starting a metrics report (``Iter(val) [2/2]  coco/...``)."""
    lines = [line for line in log.splitlines()
             if prefix in line and ('coco/' in line or 'lvis/' in line)]
    return lines[-1] if lines else ''


def test_there_are_eight_real_configs():
    assert len(CONFIGS) >= 8
    assert {dataset_of(c) for c in CONFIGS} == {'ov-coco', 'ov-lvis'}


@pytest.mark.parametrize('config', CONFIGS)
def test_real_config_trains_tests_and_runs_the_demo(config, runs):
    procs = runs.get(config, {})
    for step in ('precompute', 'train', 'test', 'demo'):
        proc = procs.get(step)
        if proc is None:
            assert step == 'precompute' and not plan_of(config)['region_store'], \
                f'{config}: no {step} (an earlier step failed)'
            continue
        print(f'\n$ {" ".join(proc.args[1:])}')
        assert proc.returncode == 0, f'{config} {step} exited {proc.returncode}:\n' \
                                     f'{proc.log[-6000:]}'
    keys = METRIC_KEYS[dataset_of(config)]
    train, test = metric_line(procs['train'].log, 'Iter(val)'), \
        metric_line(procs['test'].log, 'Iter(test)')
    print(train, test, sep='\n')
    assert 'Iter(train) [2/2]' in procs['train'].log
    assert "[ovdkit] training vocabulary of model.roi_head.bbox_head = the training dataset's" \
        in procs['train'].log  # OVDRunner's TrainingVocabularyHook checked it
    for key in keys:
        assert f'{key}: ' in train and f'{key}: ' in test, (key, train, test)
    # data_root took effect everywhere: dataloaders and evaluators left the shipped data/
    note = next(line for line in procs['train'].log.splitlines()
                if "[ovdkit] config variable data_root: 'data/" in line)
    for key in ('train_dataloader', 'val_dataloader.dataset.data_root', 'val_evaluator.ann_file',
                'test_evaluator.ann_file'):
        assert key in note, note
    demo_out = Path(procs['demo'].args[procs['demo'].args.index('--out-dir') + 1])
    summary = (demo_out / 'summary.json').read_text()
    assert '"failed": 0' in summary and '"zebra"' in summary
    assert len(list((demo_out / 'vis').iterdir())) == 1
    assert len(list((demo_out / 'preds').glob('*.json'))) == 1
