"""Scoring one trained toy-world detector on vocabularies with names that are not in the image:
the designs of ``tools/benchmark/absent_names.py`` and the counts it reports."""
import random
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

#: Names from outside the toy world, for the per-image vocabularies ("zebra" always).
OUTSIDE_NAMES = ('traffic cone', 'banana', 'bicycle', 'laptop', 'umbrella', 'giraffe',
                 'teapot', 'fire hydrant', 'toothbrush', 'pizza', 'violin')
#: The ``generic`` design's competing names (none of them an absent name asked for).
GENERIC_NAMES = ('object', 'thing', 'background', 'shape', 'pattern', 'texture', 'something',
                 'clutter', 'noise', 'stuff')
ISSUE_VOCABULARY = ('red star', 'blue hexagon', 'yellow hexagon', 'orange star', 'zebra')


def image_vocabulary(true_names: Sequence[str], world: Sequence[str], sample_seed: int,
                     image_id: int) -> Tuple[List[str], List[str]]:
    """The image's vocabulary (shuffled) and its absent names, reproducibly."""
    rng = random.Random(sample_seed * 1000003 + image_id)
    present = set(true_names)
    others = [n for n in world if n not in present]
    colours = {n.split(' ', 1)[0] for n in present}
    shapes = {n.split(' ', 1)[1] for n in present}
    same_shape = [n for n in others if n.split(' ', 1)[1] in shapes]
    same_colour = [n for n in others if n.split(' ', 1)[0] in colours]
    absent: List[str] = []
    for pool, k in ((same_shape, 2), (same_colour, 2), (others, 1)):
        pool = [n for n in pool if n not in absent]
        absent += rng.sample(pool, min(k, len(pool)))
    left = [n for n in others if n not in absent]
    while len(absent) < 5 and left:  # a world of few names has fewer to top up from
        absent.append(left.pop(rng.randrange(len(left))))
    absent += ['zebra', rng.choice(OUTSIDE_NAMES)]
    vocabulary = list(true_names) + absent
    rng.shuffle(vocabulary)
    return vocabulary, absent


def box_iou(a, b) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def checkpoint_of(method_dir: Path) -> Path:
    """The last ``iter_*.pth`` of a method's folder."""
    return max(method_dir.glob('iter_*.pth'), key=lambda p: int(p.stem.split('_')[1]))


class ScoredDetector:
    """One trained toy-world detector, its validation set, and the scoring designs."""

    def __init__(self, work_dir: Path, method: str, cache_dir: Path, floor: float,
                 max_images: int = 0) -> None:
        import torch
        from mmdet.registry import DATASETS, MODELS
        from mmdet.utils import register_all_modules
        from mmengine.config import Config
        from mmengine.runner import load_checkpoint

        register_all_modules()
        method_dir = work_dir / method
        config = next(p for p in method_dir.glob('*.py'))
        checkpoint = checkpoint_of(method_dir)
        cfg = Config.fromfile(str(config))
        self.cfg = cfg
        torch.manual_seed(0)
        self.model = MODELS.build(cfg.model)
        load_checkpoint(self.model, str(checkpoint), map_location='cpu', strict=True,
                        logger='silent')
        self.model.eval()
        self.head = self.model.roi_head.bbox_head
        self.dataset = DATASETS.build(cfg.test_dataloader.dataset)
        if max_images:
            self.dataset = self.dataset.get_subset(max_images)
        self.classes = tuple(self.dataset.metainfo['classes'])
        self.novel = tuple(n for n in self.classes
                           if n in set(self.dataset.metainfo.get('novel_classes', ())))
        self.floor = floor
        self._floor_on = False
        self._wrap_forward()
        vocab = {k: v for k, v in self.head.test_vocabulary_cfg.items() if k != 'path'}
        self.text_cfg = dict(vocab, cache_dir=str(cache_dir))
        from ..text.vocabulary_embeddings import vocabulary_embeddings
        pool = list(dict.fromkeys([*self.classes, *OUTSIDE_NAMES, 'zebra', *GENERIC_NAMES,
                                   *ISSUE_VOCABULARY]))  # the issue's names: any world
        names, emb = vocabulary_embeddings(dict(self.text_cfg, classes=pool))
        self.pool = {n: emb[i] for i, n in enumerate(names)}

    def _wrap_forward(self) -> None:
        """The ``floor`` design: the head's class probabilities times 1[cos >= floor]."""
        import torch
        head, forward = self.head, self.head.forward

        def floored(x):
            if not self._floor_on or head.training:
                return forward(x)
            captured = {}
            hook = head.fc_cls.register_forward_pre_hook(
                lambda module, args: captured.setdefault('features', args[0]))
            try:
                cls_score, bbox_pred = forward(x)
            finally:
                hook.remove()
            cos = head.fc_cls.embed(captured['features']) @ head.fc_cls.class_embeddings.t()
            prob = cls_score.softmax(-1)[:, :-1] * (cos >= self.floor)
            background = (1 - prob.sum(-1, keepdim=True)).clamp(min=1e-12)
            return torch.cat([prob.clamp(min=1e-12), background], -1).log(), bbox_pred

        head.forward = floored

    def use_design(self, design: str) -> None:
        self._floor_on = design == 'floor'
        self.model.roi_head.test_cfg.nms['class_agnostic'] = design == 'one-name'
        reference = dict(none=None, floor=None, train='train', generic=list(GENERIC_NAMES),
                         world=list(self.classes))
        reference['one-name'] = 'train'
        self.head.set_reference_vocabulary(reference[design])
        if design in ('generic', 'world'):  # through this run's cache, not the world's
            self.head.test_vocabulary_cfg = dict(self.head.test_vocabulary_cfg,
                                                 cache_dir=self.text_cfg['cache_dir'])

    def set_names(self, names: Sequence[str]) -> None:
        import torch
        self.head.set_test_vocabulary(list(names), torch.stack([self.pool[n] for n in names]))

    def predict(self, indices: Sequence[int]) -> List:
        import torch
        from mmengine.dataset import pseudo_collate
        with torch.no_grad():
            return self.model.test_step(pseudo_collate([self.dataset[i] for i in indices]))

    def predict_all(self, batch: int = 8):
        for start in range(0, len(self.dataset), batch):
            yield from self.predict(range(start, min(start + batch, len(self.dataset))))

    # -- figures ---------------------------------------------------------------------------
    def ap50(self, names: Sequence[str]) -> Dict[str, float]:
        """mmdet's OV-COCO AP50s with ``names`` as the vocabulary (labels mapped back)."""
        from mmdet.registry import METRICS
        metric = METRICS.build(dict(self.cfg.test_evaluator))
        metric.dataset_meta = self.dataset.metainfo
        self.set_names(names)
        index = [self.classes.index(n) for n in names]
        for sample in self.predict_all():
            sample.pred_instances.labels = sample.pred_instances.labels.new_tensor(
                [index[int(k)] for k in sample.pred_instances.labels])
            metric.process({}, [sample.to_dict()])
        results = metric.evaluate(len(self.dataset))
        return {k: round(100 * float(results[f'coco/{k}']), 1)
                for k in ('novel_ap50', 'base_ap50', 'all_ap50')}

    def _truth(self, index: int):
        info = self.dataset.get_data_info(index)
        return info['img_id'], [(self.classes[i['bbox_label']], i['bbox'])
                                for i in info['instances']]

    def absent_counts(self, sample_seed: int, thr: float) -> Dict[str, float]:
        """Per-image vocabularies: absent names' detections and true objects found."""
        absent_dets, images_with, found, objects, outside, novel, second = 0, 0, 0, 0, 0, 0, 0
        for index in range(len(self.dataset)):
            image_id, truth = self._truth(index)
            true_names = sorted({n for n, _ in truth})
            vocabulary, absent = image_vocabulary(true_names, self.classes, sample_seed,
                                                  image_id)
            self.set_names(vocabulary)
            pred = self.predict([index])[0].pred_instances
            keep = pred.scores >= thr
            names = [vocabulary[int(k)] for k in pred.labels[keep]]
            boxes = pred.bboxes[keep].tolist()
            hits = sum(n in absent for n in names)
            scores = pred.scores[keep].tolist()
            # an absent name on a box that a true name of the image scores higher
            second += sum(n in absent and any(
                m not in absent and t > s and box_iou(b, c) >= 0.5
                for m, c, t in zip(names, boxes, scores))
                for n, b, s in zip(names, boxes, scores))
            outside += sum(n in absent and n not in self.classes for n in names)
            novel += sum(n in absent and n in self.novel for n in names)
            absent_dets += hits
            images_with += hits > 0
            used = set()
            for name, gt in truth:
                objects += 1
                for d, (n, box) in enumerate(zip(names, boxes)):
                    if n == name and d not in used and box_iou(box, gt) >= 0.5:
                        used.add(d)
                        found += 1
                        break
        num = len(self.dataset)
        return dict(absent_dets=absent_dets, absent_per_image=round(absent_dets / num, 3),
                    absent_outside=outside, absent_novel=novel,
                    absent_base=absent_dets - outside - novel, absent_second_label=second,
                    images_with_absent=images_with, true_found=found, true_objects=objects)

    def issue_counts(self, thr: float) -> Dict[str, int]:
        """The issue's vocabulary on every image: zebra's and absent names' detections."""
        self.set_names(ISSUE_VOCABULARY)
        zebra = absent = 0
        for index, sample in enumerate(self.predict_all()):
            present = {n for n, _ in self._truth(index)[1]}
            pred = sample.pred_instances
            for label in pred.labels[pred.scores >= thr].tolist():
                name = ISSUE_VOCABULARY[label]
                zebra += name == 'zebra'
                absent += name not in present
        return dict(issue_zebra=zebra, issue_absent=absent)
