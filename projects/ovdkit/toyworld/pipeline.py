"""The toy-world main job: world -> tiny CLIP -> text embeddings -> detectors -> report.

Every step is a function of its inputs and writes its outputs under the work dir; a rerun
skips a step whose outputs were made from the same inputs (and prints ``skipped: <step>``).

The detectors share what they can. With ``base_iters`` (the default demo), one *base
detector* (a closed-vocabulary Faster R-CNN on base boxes) trains on one thread while the
CLIP trains on the others; its RPN at two thirds of its schedule proposes the regions that
ViLD's image branch distils, embedded on the CLIP's thread while the base detector finishes;
every method then starts from its weights and trains ``det_iters`` more iterations, side by
side in one-thread processes (:func:`detector_runs.run_jobs`). Every method gets the same
start and the same number of steps, so their differences are the methods' (as ImageNet
initialisation is shared by ViLD's detectors); the base detector never saw a novel box.
Without ``base_iters`` each method trains from scratch: ViLD-text (whose RPN proposes the
regions) with grounding, then ViLD with ViLD-ensemble.
"""
import contextlib
import hashlib
import json
import os
import shutil
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

import open_clip
from mmengine.device import get_device

from ..regions import CLIPRegionStore, RegionStoreError, precompute_clip_regions
from ..text import TextEmbeddingCache, register_model_configs
from ..text.templates import load_templates
from ..utils.atomic_io import write_json_atomic
from ..utils.hashing import file_sha256
from .detector_runs import (BASE_DETECTOR, METHOD_CONFIGS, REGION_METHODS, DetectorJob,
                            load_job_config, method_config, run_jobs, start_jobs,
                            toyworld_cfg_options)
from .report import write_report
from .toy_clip import TOY_CLIP_MODEL, train_toy_clip, zero_shot_accuracy
from .world_spec import ToyWorldSpec
from .world_writer import generate_world, world_is_complete

#: Detector methods, in report order.
METHODS = tuple(METHOD_CONFIGS)
#: The method whose RPN proposes the regions that ViLD's image branch distils (as in ViLD,
#: an RPN trained on the base boxes), how many proposals per image are kept (24, for scenes of
#: at most 4 objects), and the crop scales they are embedded at. ViLD averages 1x and 1.5x
#: crops; the tiny CLIP learnt from crops of 1-2x its objects, and one 1.25x crop names its
#: held-out crops as well as the two do, at half the cost of the region step.
PROPOSAL_METHOD = 'vild-text'
TOY_NUM_REGIONS = 24
CROP_SCALES = (1.25,)
#: With a base detector, its checkpoint at this fraction of its iterations proposes the
#: regions: the CLIP finishes first, and its thread embeds them while the base detector trains
#: on (the RPN of base boxes, as in ViLD, a third of the schedule earlier).
PROPOSAL_SNAPSHOT = 2 / 3


def _digest(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:16]


class ToyWorldPipeline:
    """Runs the toy world's steps under one work dir.

    Args:
        spec: The world to draw.
        work_dir: Output folder (``world/``, ``clip/``, ``embeddings/``, ``regions/``, one
            folder per detector method, ``report.md``, ``report.json``).
        config_dir: Folder of the toy-world detector configs (``configs/toyworld/``).
        clip_steps: Optimiser steps of the tiny CLIP.
        methods: Detector methods to train and evaluate, names of :data:`METHODS`.
        det_iters: Training iterations of each method (after the base detector, if any);
            ``None`` keeps each config's schedule.
        base_iters: Iterations of the shared base detector every method starts from;
            ``None`` or 0: every method trains from scratch.
        threads: CPU threads to use; detectors trained side by side share them.
        progress: Show progress bars and progress lines.
    """

    def __init__(self, spec: ToyWorldSpec, work_dir: str, config_dir: str,
                 clip_steps: int = 900, methods: Sequence[str] = (),
                 det_iters: Optional[int] = None, threads: Optional[int] = None,
                 progress: bool = True, base_iters: Optional[int] = None) -> None:
        unknown = [m for m in methods if m not in METHODS]
        if unknown:
            raise ValueError(f'methods: unknown toy-world methods {unknown}; available: '
                             f'{", ".join(METHODS)}')
        if det_iters is not None and det_iters < 1:
            raise ValueError(f'det_iters must be >= 1, got {det_iters}')
        if base_iters is not None and base_iters < 0:
            raise ValueError(f'base_iters must be >= 0, got {base_iters}')
        self.spec = spec
        self.work_dir = Path(work_dir)
        self.config_dir = str(config_dir)
        self.configs = {m: method_config(self.config_dir, m) for m in METHODS}
        self.base_config = method_config(self.config_dir, BASE_DETECTOR)
        self.clip_steps = clip_steps
        self.methods = list(methods)
        self.det_iters = det_iters
        self.base_iters = base_iters or 0
        self.threads = threads or int(os.environ.get('OMP_NUM_THREADS', 0)) or \
            os.cpu_count() or 1
        self.progress = progress
        self.world_dir = self.work_dir / 'world'
        self.clip_path = self.work_dir / 'clip' / 'toyclip.pt'
        self.embedding_dir = self.work_dir / 'embeddings'
        self.region_store = self.work_dir / 'regions'
        self.timings: Dict[str, float] = {}
        self.base_result: Optional[Dict] = None
        self.cpu_timings: Dict[str, float] = {}

    def _timed(self, name: str, fn: Callable):
        """Runs a step, recording its wall seconds and the CPU seconds of this process and
        of the detector processes it waited for."""
        start, cpu_start = time.perf_counter(), _cpu_seconds()
        out = fn()
        self.timings[name] = round(time.perf_counter() - start, 1)
        self.cpu_timings[name] = round(_cpu_seconds() - cpu_start, 1)
        return out

    def _say(self, text: str) -> None:
        print(text, flush=True)

    # -- steps -----------------------------------------------------------------------------
    def templates(self) -> str:
        """The prompt templates the detector configs build their classifiers with."""
        cfg = load_job_config(self.configs[PROPOSAL_METHOD], {})
        return cfg.model.roi_head.bbox_head.vocabulary.get('templates', 'vild')

    def train_clip(self, world: Dict, threads: int) -> Dict:
        """Trains the tiny CLIP and measures its zero-shot accuracy on held-out crops, the
        way the detector uses it (the configs' templates, the regions' crop scales) and with one
        template on 1x crops; skipped when made from the same world and settings."""
        stamp_path = self.clip_path.with_suffix('.json')
        templates = self.templates()
        register_model_configs()
        # The model's config too: a checkpoint of another image size does not load.
        inputs = dict(world=self.spec.to_dict(), steps=self.clip_steps, model=TOY_CLIP_MODEL,
                      model_config=open_clip.get_model_config(TOY_CLIP_MODEL),
                      templates=templates, crop_scales=CROP_SCALES)
        if stamp_path.is_file() and self.clip_path.is_file():
            stamp = json.loads(stamp_path.read_text())
            if stamp.get('inputs_digest') == _digest(inputs):
                self._say('skipped: train_clip (checkpoint up to date)')
                return stamp
        with _torch_threads(threads):
            stats = train_toy_clip(str(self.world_dir), str(self.clip_path),
                                   steps=self.clip_steps, seed=self.spec.seed,
                                   progress=self.progress)
        novel = world['novel_classes']
        stats['zero_shot'] = zero_shot_accuracy(
            str(self.world_dir), str(self.clip_path), load_templates(templates)[1],
            CROP_SCALES, novel_names=novel)
        stats['zero_shot']['templates'] = templates
        stats['zero_shot']['crop_scales'] = list(CROP_SCALES)
        stats['zero_shot_1x_single'] = zero_shot_accuracy(
            str(self.world_dir), str(self.clip_path), crop_scales=(1.0,), novel_names=novel)
        stats['inputs_digest'] = _digest(inputs)
        write_json_atomic(stats, stamp_path)
        return stats

    def text_embeddings(self, classes: Sequence[str]):
        """``(C, D)`` embeddings of ``classes`` from the toy CLIP, through the cache."""
        cache = TextEmbeddingCache(self.embedding_dir)
        return cache.get(list(classes), TOY_CLIP_MODEL, str(self.clip_path), self.templates())

    def job(self, method: str, extra_inputs: Sequence = (), init: Optional[str] = None,
            out_name: Optional[str] = None, max_iters: Optional[int] = None) -> DetectorJob:
        """The detector job of ``method`` on this world, CLIP and (for ViLD) region store;
        ``init``: a checkpoint to start from (``load_from``), ``out_name``: the job's name and
        folder (default ``method``), ``max_iters``: default :attr:`det_iters`."""
        name = out_name or method
        store = str(self.region_store) if method in REGION_METHODS else None
        options = toyworld_cfg_options(str(self.world_dir), str(self.clip_path),
                                       str(self.embedding_dir), str(self.work_dir / name),
                                       region_store=store)
        # Another world, another detector initialisation: seeds are varied as a whole.
        options['randomness.seed'] = self.spec.seed
        inputs = [self.spec.to_dict(), file_sha256(self.clip_path), *extra_inputs]
        if init is not None:
            options['load_from'] = str(init)
            inputs.append(file_sha256(init))
        # A world whose captions name shapes in several ways: each method is also tested on
        # the vocabulary with those synonyms (the classes' other names)
        synonyms = (str(self.world_dir / 'annotations' / 'all_classes_synonyms.txt')
                    if self.spec.shape_synonyms else None)
        return DetectorJob(name, self.configs[method], options, str(self.work_dir / name),
                           max_iters or self.det_iters, inputs, synonym_classes=synonyms)

    @property
    def proposal_iter(self) -> Optional[int]:
        """The base detector's iteration whose RPN proposes the regions (``None``: its last)."""
        snapshot = round(self.base_iters * PROPOSAL_SNAPSHOT)
        return snapshot if 0 < snapshot < self.base_iters else None

    def base_job(self) -> DetectorJob:
        """The shared base detector: a closed-vocabulary Faster R-CNN on the base boxes (its
        checkpoint at :attr:`proposal_iter` kept too)."""
        num_base = sum(c['split'] == 'base' for c in self.spec.categories())
        options = toyworld_cfg_options(str(self.world_dir), None, None,
                                       str(self.work_dir / BASE_DETECTOR),
                                       num_base_classes=num_base)
        options['randomness.seed'] = self.spec.seed
        return DetectorJob(BASE_DETECTOR, self.base_config, options,
                           str(self.work_dir / BASE_DETECTOR), self.base_iters,
                           [self.spec.to_dict()], snapshot_iter=self.proposal_iter)

    def clip_regions(self, checkpoint: str, config: str, options: Dict,
                     threads: Optional[int] = None) -> Dict:
        """Fills the region store of ViLD's image branch from a detector ``checkpoint`` (its
        RPN's top :data:`TOY_NUM_REGIONS` proposals, embedded at :data:`CROP_SCALES`), built
        from ``config`` with ``options``, on ``threads`` CPU threads (default: torch's);
        returns the store's provenance and the precompute's figures. A store made from
        another checkpoint or CLIP is replaced, since the world changed under it."""
        figures_path = self.work_dir / 'clip_regions.json'
        if self._region_store_up_to_date(checkpoint):
            self._say('skipped: clip_regions (store up to date)')
            figures = json.loads(figures_path.read_text())
        else:
            options = dict(options, work_dir=str(self.work_dir))

            def compute():
                return precompute_clip_regions(
                    config, checkpoint, TOY_CLIP_MODEL,
                    str(self.clip_path), str(self.region_store), num_regions=TOY_NUM_REGIONS,
                    crop_scales=CROP_SCALES, batch_size=8, workers=0, cfg_options=options,
                    device=get_device(), progress=self.progress)
            with _torch_threads(threads):
                try:
                    figures = compute()
                except RegionStoreError:
                    shutil.rmtree(self.region_store)
                    figures = compute()
            figures['crop_scales'] = list(CROP_SCALES)
            write_json_atomic(figures, figures_path)
        meta = CLIPRegionStore(self.region_store).meta
        return dict(figures=figures,
                    provenance={k: v for k, v in meta.items() if k != 'image_keys'})

    def _region_store_up_to_date(self, checkpoint: str) -> bool:
        """Whether the store is complete and made from this proposer and this CLIP."""
        if not (self.work_dir / 'clip_regions.json').is_file() or \
                not (self.region_store / 'index.json').is_file():
            return False
        store = CLIPRegionStore(self.region_store)
        meta = store.meta
        return store.complete and meta.get('num_regions') == TOY_NUM_REGIONS and \
            meta.get('crop_scales') == list(CROP_SCALES) and \
            meta.get('proposal_checkpoint_sha256') == file_sha256(checkpoint) and \
            meta.get('clip_weights_id') == 'sha256:' + file_sha256(self.clip_path)

    def _text_embeddings_step(self, world: Dict) -> None:
        classes = world['base_classes'] + world['novel_classes']
        self._timed('text_embeddings', lambda: (self.text_embeddings(world['base_classes']),
                                                self.text_embeddings(classes)))

    # -- the whole job ---------------------------------------------------------------------
    def run(self) -> Dict:
        """Runs every step and writes the report; returns the flat summary of figures."""
        start = time.perf_counter()
        if world_is_complete(self.spec, str(self.world_dir)):
            self._say('skipped: generate_world (world up to date)')
        world = self._timed('generate_world', lambda: generate_world(
            self.spec, str(self.world_dir), progress=self.progress, workers=self.threads))
        results: Dict[str, Dict] = {}
        regions = None
        wants_regions = any(m in REGION_METHODS for m in self.methods)
        if self.base_iters:
            # Stage 1: the base detector needs no CLIP: one thread trains it while the CLIP
            # trains on the others, then embeds the regions its RPN proposes at proposal_iter.
            base_job = self.base_job()
            base_run = start_jobs([base_job], 1, self.progress)
            own_threads = max(1, self.threads - 1) if base_run.procs else self.threads
            clip = self._timed('train_clip', lambda: self.train_clip(world, own_threads))
            self._text_embeddings_step(world)
            last_step = 'train_clip'
            proposer = None
            if wants_regions:
                propose_at = self.proposal_iter or self.base_iters
                proposer = self._timed(
                    f'{BASE_DETECTOR} iteration {propose_at} (after train_clip)',
                    lambda: base_run.wait_for_checkpoint(BASE_DETECTOR, propose_at))
                regions = self._timed('clip_regions', lambda: self.clip_regions(
                    proposer, self.base_config, base_job.cfg_options, own_threads))
                last_step = 'clip_regions'
            base = self._timed(f'{BASE_DETECTOR} (after {last_step})',
                               base_run.wait)[BASE_DETECTOR]
            self.base_result = dict(base, proposal_checkpoint=proposer) if regions else base
            # Stage 2: every method from the base detector's weights, side by side.
            todo = [m for m in METHODS if m in self.methods]
            if todo:
                results.update(self._timed('detectors:' + '+'.join(todo), lambda: run_jobs(
                    [self.job(m, [regions['provenance']] if m in REGION_METHODS else [],
                              init=base['checkpoint']) for m in todo],
                    self.threads, self.progress)))
        else:
            clip = self._timed('train_clip', lambda: self.train_clip(world, self.threads))
            self._text_embeddings_step(world)
            # Round 1: methods that need only the CLIP; ViLD-text also proposes the regions.
            first = [m for m in METHODS if m in self.methods and m not in REGION_METHODS
                     or (m == PROPOSAL_METHOD and wants_regions)]
            if first:
                results.update(self._timed('detectors:' + '+'.join(first), lambda: run_jobs(
                    [self.job(m) for m in first], self.threads, self.progress)))
            # Round 2: ViLD and ViLD-ensemble distil the regions of the ViLD-text RPN.
            second = [m for m in METHODS if m in self.methods and m in REGION_METHODS]
            if second:
                proposer = self.job(PROPOSAL_METHOD)
                regions = self._timed('clip_regions', lambda: self.clip_regions(
                    results[PROPOSAL_METHOD]['checkpoint'], proposer.config,
                    proposer.cfg_options))
                results.update(self._timed('detectors:' + '+'.join(second), lambda: run_jobs(
                    [self.job(m, [regions['provenance']]) for m in second], self.threads,
                    self.progress)))
        results = {m: results[m] for m in METHODS if m in self.methods}
        summary = self.summary(clip, results, regions)
        if self.base_result:
            summary[f'{BASE_DETECTOR}/base_ap50'] = self.base_result['base_ap50']
        summary['seconds'] = round(time.perf_counter() - start, 1)
        summary['cpu_seconds'] = round(sum(self.cpu_timings.values()), 1)
        write_report(self.work_dir, world, clip, results, self.timings, summary,
                     regions['figures'] if regions else None, self.cpu_timings,
                     base=self.base_result)
        return summary

    @staticmethod
    def summary(clip: Dict, results: Dict, regions: Optional[Dict]) -> Dict:
        """The flat figures of a run (the demo's last line)."""
        zs, zs1 = clip['zero_shot'], clip['zero_shot_1x_single']
        summary = dict(clip_zero_shot_acc=round(zs['acc'], 4),
                       clip_novel_acc=round(zs['novel_acc'], 4),
                       clip_zero_shot_acc_1x_single=round(zs1['acc'], 4),
                       clip_novel_acc_1x_single=round(zs1['novel_acc'], 4))
        for method, res in results.items():
            for key in ('novel_ap50', 'base_ap50', 'all_ap50'):
                summary[f'{method}/{key}'] = res[key]
            for key in ('novel_ap50', 'base_ap50', 'all_ap50'):
                if f'{key}_synonyms' in res:
                    summary[f'{method}/{key}_synonyms'] = res[f'{key}_synonyms']
        if regions and regions['figures'].get('images'):
            summary['clip_regions_crops_per_s'] = regions['figures']['crops_per_s']
        return summary


@contextlib.contextmanager
def _torch_threads(threads: Optional[int]):
    """Runs the block on ``threads`` torch CPU threads (``None``: as many as now), then
    restores the previous count."""
    import torch
    previous = torch.get_num_threads()
    torch.set_num_threads(threads or previous)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _cpu_seconds() -> float:
    """User + system CPU seconds of this process and its finished children."""
    import resource
    return sum(getattr(resource.getrusage(who), field)
               for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
               for field in ('ru_utime', 'ru_stime'))


def parse_name_list(text: Optional[str]) -> Optional[List[str]]:
    """``'a,b'`` -> ``['a', 'b']``; ``None`` or ``''`` -> ``None``."""
    if not text:
        return None
    return [t.strip() for t in text.split(',') if t.strip()]
