"""tools/train.py, --resume, load_from, tools/test.py and tools/dist_train.sh on the fixture."""
import argparse
import pickle
import re
import socket

import pytest
import torch

from ovdkit.testing import REPO, SMOKE_CONFIG, fixture_data_options, run_tool


def schedule_options(max_iters, ckpt_interval):
    return [f'train_cfg.max_iters={max_iters}', 'train_cfg.val_interval=1000',
            f'default_hooks.checkpoint.interval={ckpt_interval}',
            'default_hooks.checkpoint.max_keep_ckpts=5', 'default_hooks.logger.interval=1']


@pytest.fixture(scope='module')
def trained(coco_fixture, tmp_path_factory):
    """Trains 6 iterations (checkpoints at 3 and 6); returns the work dir and the log."""
    work = tmp_path_factory.mktemp('train')
    proc = run_tool(['tools/train.py', SMOKE_CONFIG, '--work-dir', work, '--cfg-options',
                     *fixture_data_options(coco_fixture), *schedule_options(6, 3)])
    return work, proc.log


@pytest.mark.slow
def test_train_writes_checkpoints_that_load_safely(trained):
    import ovdkit  # noqa: F401  (allow-lists mmengine's checkpoint globals)
    work, log = trained
    assert 'Iter(train) [6/6]' in log
    assert (work / 'last_checkpoint').read_text().strip().endswith('iter_6.pth')
    # torch's default weights_only=True load of a Runner checkpoint (message hub, numpy meta)
    ckpt = torch.load(work / 'iter_6.pth', map_location='cpu')
    assert ckpt['meta']['iter'] == 6
    assert 'log_scalars' in ckpt['message_hub']
    assert any(k.startswith('backbone.') for k in ckpt['state_dict'])


@pytest.mark.slow
def test_resume_continues_at_the_last_iteration(trained, coco_fixture):
    import ovdkit  # noqa: F401
    work, _ = trained
    proc = run_tool(['tools/train.py', SMOKE_CONFIG, '--work-dir', work, '--resume',
                     '--cfg-options', *fixture_data_options(coco_fixture), *schedule_options(9, 3)])
    assert 'resumed epoch: 0, iter: 6' in proc.log
    assert 'Iter(train) [7/9]' in proc.log
    assert 'Iter(train) [1/9]' not in proc.log
    assert torch.load(work / 'iter_9.pth', map_location='cpu')['meta']['iter'] == 9


@pytest.mark.slow
def test_load_from_starts_a_new_run_from_the_weights(trained, coco_fixture, tmp_path):
    work, _ = trained
    proc = run_tool(['tools/train.py', SMOKE_CONFIG, '--work-dir', tmp_path, '--cfg-options',
                     f'load_from={work}/iter_6.pth', *fixture_data_options(coco_fixture),
                     *schedule_options(2, 2)])
    assert f'Load checkpoint from {work}/iter_6.pth' in proc.log
    assert 'resumed' not in proc.log
    assert 'Iter(train) [1/2]' in proc.log
    assert (tmp_path / 'iter_2.pth').is_file()


@pytest.mark.slow
def test_test_tool_prints_bbox_map(trained, coco_fixture, tmp_path):
    work, _ = trained
    proc = run_tool(['tools/test.py', SMOKE_CONFIG, work / 'iter_6.pth', '--work-dir', tmp_path,
                     '--cfg-options', *fixture_data_options(coco_fixture)])
    match = re.search(r'coco/bbox_mAP: (-?[0-9.]+)', proc.log)
    assert match, proc.log[-3000:]
    assert 0.0 <= float(match.group(1)) <= 1.0
    assert 'coco/bbox_mAP_50:' in proc.log


def test_unexpected_pickled_object_still_fails(tmp_path):
    from mmengine.runner import load_checkpoint

    import ovdkit  # noqa: F401
    path = tmp_path / 'evil.pth'
    torch.save({'state_dict': {}, 'meta': argparse.Namespace(x=1)}, path)
    with pytest.raises(pickle.UnpicklingError, match='Weights only load failed'):
        load_checkpoint(torch.nn.Linear(1, 1), str(path))


def _free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_dist_train_two_cpu_processes(coco_fixture, tmp_path):
    proc = run_tool(['tools/dist_train.sh', SMOKE_CONFIG, 2, '--work-dir', tmp_path,
                     '--cfg-options', *fixture_data_options(coco_fixture), *schedule_options(4, 4)],
                    env=dict(PORT=str(_free_port())))
    for rank in (0, 1):
        assert f'[ovdkit] no CUDA device: rank {rank} trains on CPU' in proc.log
    assert 'Distributed launcher: pytorch' in proc.log
    assert 'Iter(train) [4/4]' in proc.log
    assert (tmp_path / 'iter_4.pth').is_file()


class _GetattrGadget:
    """Pickles as getattr(HistoryBuffer, 'update'): not one of the allowed statistics."""

    def __reduce__(self):
        from mmengine.logging import HistoryBuffer
        return getattr, (HistoryBuffer, 'update')


def test_getattr_is_allowed_only_for_history_buffer_statistics(tmp_path):
    import ovdkit  # noqa: F401
    path = tmp_path / 'gadget.pth'
    torch.save({'meta': _GetattrGadget()}, path)
    with pytest.raises(pickle.UnpicklingError, match=r"getattr\(.*'update'\) is not allowed"):
        torch.load(path)


def _direct_ap50(ann_file, predictions, names, base, novel):
    """novel / base / all AP50 of dumped predictions, straight from pycocotools."""
    import numpy as np
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval
    gt = COCO(str(ann_file))
    cat_ids = gt.getCatIds(catNms=names)
    label_to_cat = {names.index(gt.loadCats(c)[0]['name']): c for c in cat_ids}
    dets = []
    for pred in predictions:
        inst = pred['pred_instances']
        for box, score, label in zip(inst['bboxes'].tolist(), inst['scores'].tolist(),
                                     inst['labels'].tolist()):
            dets.append(dict(image_id=pred['img_id'], category_id=label_to_cat[label],
                             bbox=[box[0], box[1], box[2] - box[0], box[3] - box[1]],
                             score=score))
    ev = COCOeval(gt, gt.loadRes(dets), 'bbox')
    ev.params.catIds = cat_ids
    ev.params.maxDets = [100, 300, 1000]  # as OVCocoMetric evaluates
    ev.evaluate()
    ev.accumulate()
    precision = ev.eval['precision'][0, :, :, 0, -1]  # IoU 0.5, all areas, 1000 dets

    def ap(group):
        idx = [k for k, c in enumerate(cat_ids) if gt.loadCats(c)[0]['name'] in group]
        p = precision[:, idx]
        return float(np.mean(p[p > -1]))
    return ap(novel), ap(base), ap(names), len(dets)


NAMES = ['red square', 'green disk', 'blue triangle']
OV_METRICS = r'coco/(novel_ap50|base_ap50|all_ap50): (-?[0-9.]+)'


@pytest.fixture(scope='module')
def ov_test_run(trained, coco_fixture, tmp_path_factory):
    """tools/test.py with OVCocoAllMetric (novel: blue triangle) on the trained smoke model:
    the config, the checkpoint, the printed metrics (as printed) and the dumped predictions."""
    work, _ = trained
    tmp_path = tmp_path_factory.mktemp('ov_test')
    base, novel = NAMES[:2], NAMES[2:]
    ann = f'{coco_fixture}/annotations/instances_val.json'
    config = tmp_path / 'ov_fixture.py'
    config.write_text(
        f"_base_ = '{REPO / SMOKE_CONFIG}'\n"
        f"test_dataloader = dict(dataset=dict(data_root='{coco_fixture}/', metainfo=dict(\n"
        f"    classes={tuple(NAMES)}, base_classes={tuple(base)}, novel_classes={tuple(novel)})))\n"
        f"test_evaluator = dict(type='OVCocoAllMetric', ann_file='{ann}')\n"
        f"model = dict(test_cfg=dict(rcnn=dict(score_thr=0.0)))\n")
    out = tmp_path / 'preds.pkl'
    proc = run_tool(['tools/test.py', config, work / 'iter_6.pth', '--work-dir', tmp_path,
                     '--out', out])
    return config, work / 'iter_6.pth', dict(re.findall(OV_METRICS, proc.log)), out


@pytest.mark.slow
def test_test_tool_reports_novel_base_all_ap50_like_pycocotools(ov_test_run, coco_fixture):
    import mmengine
    _, _, printed, out = ov_test_run
    printed = {k: float(v) for k, v in printed.items()}
    assert set(printed) == {'novel_ap50', 'base_ap50', 'all_ap50'}
    ann = f'{coco_fixture}/annotations/instances_val.json'
    novel_ap, base_ap, all_ap, n = _direct_ap50(ann, mmengine.load(out), NAMES, NAMES[:2],
                                                NAMES[2:])
    assert n > 0
    assert printed['novel_ap50'] == pytest.approx(novel_ap, abs=1e-4)
    assert printed['base_ap50'] == pytest.approx(base_ap, abs=1e-4)
    assert printed['all_ap50'] == pytest.approx(all_ap, abs=1e-3)  # mmdet rounds it to 3


@pytest.mark.slow
def test_dist_test_two_processes_give_the_same_ov_metrics(ov_test_run, tmp_path):
    config, checkpoint, printed, _ = ov_test_run
    proc = run_tool(['tools/dist_test.sh', config, checkpoint, 2, '--work-dir', tmp_path],
                    env=dict(PORT=str(_free_port())))
    assert 'Distributed launcher: pytorch' in proc.log
    for rank in (0, 1):
        assert f'[ovdkit] no CUDA device: rank {rank}' in proc.log
    # each process evaluates half of the 8 images; the gathered results are the same
    assert dict(re.findall(OV_METRICS, proc.log)) == printed
    assert len(printed) == 3
