"""A 20,000-name vocabulary on the toy detector: built in bounded steps, cached in one tensor,
swapped in without rebuilding CLIP, and detecting with labels and names over all 20,000."""
import json

import torch

from ovdkit.apis import OVDInferencer
from ovdkit.testing.benchmark_models import synthetic_names
from ovdkit.testing.detectors import VILD_TEXT_CONFIG, build_checkpoint, toy_scenes

NUM = 20000


def test_20000_names_on_the_toy_detector(tmp_path):
    names = synthetic_names(NUM)
    assert len(set(names)) == NUM
    config, checkpoint = build_checkpoint(VILD_TEXT_CONFIG, tmp_path)
    # random weights score every class near 1 / 20001: keep every box
    options = {'model.test_cfg.rcnn.score_thr': 0.0}
    inferencer = OVDInferencer(config, checkpoint, device='cpu', cfg_options=options)
    images = toy_scenes(2)
    assert inferencer.set_vocabulary(list(names)) == names
    head = inferencer.model.roi_head.bbox_head
    out = inferencer(images)
    # the 20000 names, then the two training names, which compete and are never reported
    assert tuple(head.fc_cls.class_embeddings.shape) == (NUM + 2, 128)
    torch.testing.assert_close(head.fc_cls.class_embeddings.norm(dim=1), torch.ones(NUM + 2))
    for pred in out['predictions']:
        assert 0 < len(pred['labels']) <= 100  # the toy config's max_per_img
        assert max(pred['labels']) < NUM
        assert pred['label_names'] == [names[i] for i in pred['labels']]
        assert pred['scores'] == sorted(pred['scores'], reverse=True)
    # one cache entry: a single (20000, D) tensor with its sidecar listing every name
    sidecar = [p for p in (tmp_path / 'embeddings').glob('*.json')
               if json.loads(p.read_text())['num_classes'] == NUM]
    assert len(sidecar) == 1
    stored = torch.load(sidecar[0].with_suffix('.pt'), weights_only=True)['embeddings']
    assert stored.shape == (NUM, 128) and stored.dtype == torch.float32
    assert json.loads(sidecar[0].read_text())['classes'][-1] == names[-1]
    # a second inferencer finds it in the cache: same embeddings
    again = OVDInferencer(config, checkpoint, device='cpu', cfg_options=options)
    again.set_vocabulary(list(names))
    again_out = again(images)
    assert again_out['predictions'] == out['predictions']


def test_nms_bound_on_20000_classes_keeps_the_same_detections(monkeypatch):
    """At a low threshold, only pairs above a k-th-best bound are gathered; the detections are
    those of gathering every pair above the threshold (the path the bound replaces)."""
    import ovdkit.models.bbox_nms as head_module
    gen = torch.Generator().manual_seed(0)
    xy = torch.rand(300, 2, generator=gen) * 100
    boxes = torch.cat([xy, xy + 1 + torch.rand(300, 2, generator=gen) * 40], dim=1)
    weights = 1e-3 + torch.rand(300, NUM + 1, generator=gen) ** 8.0
    scores = weights / weights.sum(dim=1, keepdim=True)
    nms = dict(type='nms', iou_threshold=0.5)
    bound = head_module._kth_best_lower_bound(
        head_module._block_maxima(scores[:, :-1]), 4 * 100)
    assert bound > 1e-4  # the bound path is the one taken
    dets, labels = head_module.shared_box_multiclass_nms(boxes, scores, 1e-4, nms, 100)
    monkeypatch.setattr(head_module, '_kth_best_lower_bound', lambda *args: None)
    ref_dets, ref_labels = head_module.shared_box_multiclass_nms(boxes, scores, 1e-4, nms, 100)
    assert len(dets) == 100
    torch.testing.assert_close(dets, ref_dets)
    assert labels.tolist() == ref_labels.tolist()
