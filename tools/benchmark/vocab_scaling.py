#!/usr/bin/env python
"""Per-image detection latency with a large vocabulary (LVIS's 1203 names, or N synthetic
names) vs the 65 OV-COCO names.

    python tools/benchmark/vocab_scaling.py [--names 20000] [--config C --checkpoint K]
        [--num-images 16] [--rounds 3] [--clip-model OVD-TinyCLIP-RN] [--clip-weights PATH]
        [--templates single]

The same detector runs on the same images with both vocabularies, through
:class:`ovdkit.apis.OVDInferencer`. Both vocabularies are embedded (and cached) before any
timing and every swap happens outside the timed region, so only detection is timed: one
``model.test_step`` per image on preprocessed inputs. Rounds over all images alternate the
two vocabularies (and which goes first), so a machine that gets busier or quieter affects both
alike; per image the best of ``--rounds`` passes is kept (the least disturbed by other
processes) and the figure per vocabulary is the mean of those over the images.

Defaults (no checkpoint needed): the toy-world ViLD-text config (R-18 FPN, 128 px scenes, 100
proposals per image) at random initialisation, saved to a temporary checkpoint and loaded
back, with text embeddings from a *randomly initialised* ``OVD-TinyCLIP-RN`` (asked for
explicitly, ``pretrained=None``) and the single prompt template; images are toy-world scenes.
Latency does not depend on the weights' values except through how many boxes pass the score
threshold, so ``--config/--checkpoint/--clip-weights`` can time a trained model instead.

``--names N``: the large vocabulary is N synthetic names (``--names 1203``, the default, is
LVIS's). Where the time goes is printed on the line before the last, per vocabulary: the RoI
classifier (region x text-embedding cosine logits) and the box post-processing (NMS), in ms per
image, measured in the same passes.

Last line: one JSON object, ``{"latency_N_over_65": ..., "ms_65": ..., "ms_N": ...}``.
"""
import argparse
import json
import statistics
import tempfile
import time
import types

import torch
from mmengine.config import DictAction

DEFAULT_CONFIG = 'configs/toyworld/vild-text_r18_fpn_1xb8-300i_toyworld.py'
HEAD = 'model.roi_head.bbox_head.'


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--config', default=DEFAULT_CONFIG)
    p.add_argument('--checkpoint', help='default: the config\'s model at random init')
    p.add_argument('--names', type=int, default=1203,
                   help='size of the large vocabulary: 1203 = LVIS; any other number: '
                        'synthetic names')
    p.add_argument('--num-images', type=int, default=16)
    p.add_argument('--rounds', type=int, default=6)
    p.add_argument('--clip-model', default='OVD-TinyCLIP-RN')
    p.add_argument('--clip-weights', default=None,
                   help='CLIP checkpoint or tag for the text embeddings (default: random '
                        'weights, explicitly)')
    p.add_argument('--templates', default='single')
    p.add_argument('--cache-dir', help='embedding cache (default: a temporary folder)')
    p.add_argument('--device', default='cpu')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--compare-mmdet-nms', action='store_true',
                   help="also time mmdet's own post-processing (NMS over every box x class "
                        'pair), in the same run; printed on the line before the last')
    p.add_argument('--cfg-options', nargs='+', action=DictAction,
                   help='config overrides, e.g. LVIS test settings: '
                        'model.test_cfg.rpn.max_per_img=1000 '
                        'model.test_cfg.rcnn.score_thr=0.0001 model.test_cfg.rcnn.max_per_img=300')
    return p.parse_args(argv)


class SectionTimer:
    """Accumulates the seconds spent in the head's classifier and post-processing."""

    def __init__(self, head) -> None:
        self.seconds = {'classifier': 0.0, 'post-processing': 0.0}
        self.head = head
        self._wrap(head.fc_cls, 'forward', 'classifier')
        self._wrap(head, '_predict_by_feat_single', 'post-processing')

    def _wrap(self, owner, attribute, section) -> None:
        inner = getattr(owner, attribute)

        def timed(*args, **kwargs):
            start = time.perf_counter()
            out = inner(*args, **kwargs)
            self.seconds[section] += time.perf_counter() - start
            return out
        setattr(owner, attribute, timed)

    def take(self):
        """The seconds accumulated since the last call, per section."""
        out, self.seconds = self.seconds, {k: 0.0 for k in self.seconds}
        return out


def time_passes(inferencer, vocabularies, batches, rounds, variants):
    """Seconds of ``inferencer.forward`` per (variant, vocabulary size) and image.

    Args:
        inferencer: An :class:`~ovdkit.apis.OVDInferencer`.
        vocabularies: Vocabulary size -> names.
        batches: Preprocessed single-image batches.
        rounds: Timed rounds (one more, untimed, warms up).
        variants: Name -> ``(enter, leave)`` callables run (untimed) around each variant.

    Returns:
        ``{(variant, size): [[seconds per round] per image]}``, the detections per image and
        ``{(variant, size): {section: ms per image}}`` when a head has a ``section_timer``.
    """
    timer = getattr(inferencer, 'section_timer', None)
    sections = {}
    keys = [(v, size) for v in variants for size in vocabularies]
    times = {key: [[] for _ in batches] for key in keys}
    found = {key: 0 for key in keys}
    for round_index in range(rounds + 1):  # round 0 warms up, untimed
        # Vocabularies (and variants) alternate round by round, and which goes first too,
        # so a burst of load from other processes hits all of them alike.
        for variant, size in (keys if round_index % 2 else keys[::-1]):
            enter, leave = variants[variant]
            enter()
            inferencer.set_vocabulary(list(vocabularies[size]))  # untimed swap
            if timer is not None:
                timer.take()
            for image_index, data in enumerate(batches):
                start = time.perf_counter()
                preds = inferencer.forward(data)
                elapsed = time.perf_counter() - start
                if round_index:
                    times[variant, size][image_index].append(elapsed)
                    found[variant, size] += len(preds[0].pred_instances)
            if timer is not None and round_index:
                acc = sections.setdefault((variant, size), {})
                for section, sec in timer.take().items():
                    acc[section] = acc.get(section, 0.0) + 1000 * sec / (rounds * len(batches))
            leave()
    return times, {key: n / (rounds * len(batches)) for key, n in found.items()}, sections


def mmdet_nms_variant(model):
    """``(enter, leave)`` that make the box head post-process with mmdet's own code."""
    from mmdet.models.roi_heads.bbox_heads import BBoxHead
    head = model.roi_head.bbox_head

    saved = {}

    def enter():
        saved['method'] = head.__dict__.get('_predict_by_feat_single')  # e.g. a SectionTimer
        head._predict_by_feat_single = types.MethodType(BBoxHead._predict_by_feat_single, head)

    def leave():
        if saved['method'] is None:
            del head._predict_by_feat_single
        else:
            head._predict_by_feat_single = saved['method']
    return enter, leave


def main(argv=None) -> None:
    args = parse_args(argv)
    from mmdet.utils import register_all_modules
    from mmengine.config import Config

    from ovdkit.apis import OVDInferencer
    from ovdkit.datasets import LVIS_V1_CLASSES, OV_COCO_CLASSES
    from ovdkit.testing.benchmark_models import (build_random_detector, save_detector_checkpoint,
                                                 synthetic_names, toy_images)

    register_all_modules()
    torch.manual_seed(args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        options = {HEAD + 'vocabulary.model': args.clip_model,
                   HEAD + 'vocabulary.pretrained': args.clip_weights,
                   HEAD + 'vocabulary.templates': args.templates,
                   HEAD + 'vocabulary.cache_dir': args.cache_dir or f'{tmp}/embeddings',
                   HEAD + 'vocabulary.classes': list(OV_COCO_CLASSES),
                   HEAD + 'test_vocabulary.classes': list(OV_COCO_CLASSES),
                   **(args.cfg_options or {})}
        checkpoint = args.checkpoint
        if checkpoint is None:
            cfg = Config.fromfile(args.config)
            cfg.merge_from_dict(options)
            model = build_random_detector(cfg)
            checkpoint = save_detector_checkpoint(model, f'{tmp}/random_init.pth')
        inferencer = OVDInferencer(args.config, checkpoint, device=args.device,
                                   cfg_options=options)
        large = LVIS_V1_CLASSES if args.names == 1203 else synthetic_names(args.names)
        vocabularies = {65: OV_COCO_CLASSES, args.names: large}
        start = time.perf_counter()
        for names in vocabularies.values():  # embed and cache both before any timing
            inferencer.set_vocabulary(list(names))
        print(f'vocabularies embedded and cached in {time.perf_counter() - start:.1f} s')
        batches = [next(iter(inferencer.preprocess([image], batch_size=1)))[1]
                   for image in toy_images(args.num_images, args.seed)]
        variants = {'ovdkit': (lambda: None, lambda: None)}
        if args.compare_mmdet_nms:
            variants['mmdet-nms'] = mmdet_nms_variant(inferencer.model)
        inferencer.section_timer = SectionTimer(inferencer.model.roi_head.bbox_head)
        times, found, sections = time_passes(inferencer, vocabularies, batches, args.rounds,
                                             variants)
    # Per image the fastest of the rounds (the least disturbed), then the mean over images.
    ms = {key: 1000 * statistics.mean(min(t) for t in per_image)
          for key, per_image in times.items()}
    for variant, size in times:
        every = [t for per_image in times[variant, size] for t in per_image]
        print(f'{variant:9s} {size:5d} names: {ms[variant, size]:.1f} ms/image (best of '
              f'{args.rounds} rounds, mean over {len(batches)} images; median of all passes '
              f'{1000 * statistics.median(every):.1f} ms), {found[variant, size]:.1f} '
              f'detections/image')
    big = args.names
    print(json.dumps({f'{variant}_{size}_{section}_ms': round(value, 2)
                      for (variant, size), per in sections.items() if variant == 'ovdkit'
                      for section, value in per.items()}))
    if args.compare_mmdet_nms:
        print(json.dumps({f'mmdet_nms_latency_{big}_over_65': round(
            ms['mmdet-nms', big] / ms['mmdet-nms', 65], 3),
            'mmdet_nms_ms_65': round(ms['mmdet-nms', 65], 2),
            f'mmdet_nms_ms_{big}': round(ms['mmdet-nms', big], 2)}))
    print(json.dumps({f'latency_{big}_over_65': round(ms['ovdkit', big] / ms['ovdkit', 65], 3),
                      'ms_65': round(ms['ovdkit', 65], 2),
                      f'ms_{big}': round(ms['ovdkit', big], 2)}))

if __name__ == '__main__':
    main()
