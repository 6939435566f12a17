"""Every config in configs/ parses and its model builds (no CLIP, no data needed)."""
from pathlib import Path

import pytest
from mmdet.registry import MODELS
from mmdet.utils import register_all_modules
from mmengine.config import Config, ConfigDict

import ovdkit  # noqa: F401

REPO = Path(__file__).resolve().parents[2]
CONFIGS = sorted(p.relative_to(REPO).as_posix() for p in (REPO / 'configs').rglob('*.py')
                 if '_base_' not in p.parts)


def test_there_are_configs():
    assert len(CONFIGS) >= 2


@pytest.mark.parametrize('config', CONFIGS)
def test_config_builds(config):
    register_all_modules()
    cfg = Config.fromfile(str(REPO / config))
    assert cfg.custom_imports == dict(imports=['ovdkit'], allow_failed_imports=False)
    model = MODELS.build(ConfigDict(cfg.model))
    assert sum(p.numel() for p in model.parameters()) > 0


def _innermost(dataset):
    """The datasets inside wrappers (RepeatDataset, ClassBalancedDataset...) and
    concatenations (``datasets``)."""
    if 'datasets' in dataset:
        return [d for part in dataset['datasets'] for d in _innermost(part)]
    while 'dataset' in dataset:
        dataset = dataset['dataset']
    return [dataset]


def _reported_keys(metric):
    """The metric names an evaluator reports, as mmdet writes them (``prefix/key``)."""
    from mmdet.evaluation import LVISMetric

    from ovdkit.evaluation import OVCocoAllMetric
    if isinstance(metric, OVCocoAllMetric):
        keys = ['novel_ap50', 'base_ap50', 'all_ap50'] + [f'bbox_mAP{s}' for s in (
            '', '_50', '_75', '_s', '_m', '_l')]
    elif isinstance(metric, LVISMetric):
        keys = [f'{m}_{k}' for m in metric.metrics
                for k in ('AP', 'AP50', 'AP75', 'APs', 'APm', 'APl', 'APr', 'APc', 'APf')]
    else:
        raise AssertionError(f'no reported keys known for {type(metric).__name__}')
    return {f'{metric.prefix}/{k}' for k in keys}


def _give_class_lists(cfg, tmp_path):
    """Configs over your own data (OVCustomDataset) read coco2ov.py's class lists when their
    datasets are built: point their ``data_root`` at a folder that has them."""
    from ovdkit.utils.config_variables import resolve_config_variables
    types = {d.get('type') for s in ('train', 'val', 'test')
             for d in _innermost(cfg[f'{s}_dataloader']['dataset'])}
    if 'OVCustomDataset' not in types:
        return
    annotations = tmp_path / 'custom' / 'annotations'
    annotations.mkdir(parents=True)
    for name, names in (('base', ['cat', 'dog']), ('novel', ['zebra']),
                        ('all', ['cat', 'dog', 'zebra'])):
        (annotations / f'{name}_classes.txt').write_text('\n'.join(names) + '\n')
    cfg.data_root = f'{tmp_path / "custom"}/'
    assert resolve_config_variables(cfg)  # the class lists now come from tmp_path


@pytest.mark.parametrize('config', CONFIGS)
def test_config_pipelines_datasets_evaluators_and_save_best_build(config, tmp_path):
    """Beyond the model: every pipeline step, the datasets (lazily: no annotation file read),
    the evaluators (on an empty annotation file) and the metric ``save_best`` watches."""
    from mmdet.registry import DATASETS, METRICS, TRANSFORMS
    register_all_modules()
    cfg = Config.fromfile(str(REPO / config))
    _give_class_lists(cfg, tmp_path)
    empty = tmp_path / 'empty.json'
    empty.write_text('{"images": [], "annotations": [], "categories": []}')
    for split in ('train', 'val', 'test'):
        for dataset in _innermost(cfg[f'{split}_dataloader']['dataset']):
            for step in dataset['pipeline']:
                TRANSFORMS.build(step)
            built = DATASETS.build(ConfigDict(dict(dataset, lazy_init=True)))
            if dataset['type'] == 'ImageLabelDataset' and 'classes' not in dataset:
                continue  # its classes are its file's categories, read when it loads
            assert len(built.metainfo['classes']) > 0
    metrics = []
    for name in ('val_evaluator', 'test_evaluator'):
        evaluators = cfg[name] if isinstance(cfg[name], list) else [cfg[name]]
        metrics += [METRICS.build(ConfigDict(dict(e, ann_file=str(empty)) if 'ann_file' in e
                                             else e)) for e in evaluators]
    save_best = cfg.default_hooks.checkpoint.get('save_best')
    if save_best is not None:
        assert save_best in set().union(*(_reported_keys(m) for m in metrics)), save_best
