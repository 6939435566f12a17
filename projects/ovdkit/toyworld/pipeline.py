"""The toy-world main job: world -> tiny CLIP -> text embeddings -> detectors -> report.

Every step writes its outputs under the work dir and is skipped on a rerun when they exist
and were made from the same inputs. Detector methods plug in through :data:`METHODS`.
"""
import hashlib
import json
import shutil
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

from ..utils.atomic_io import write_json_atomic
from ..text import TextEmbeddingCache
from ..text.embedding_cache import file_sha256
from .detector_runs import (METHOD_CONFIGS, PROPOSAL_METHOD, REPO_ROOT, TOY_NUM_REGIONS,
                            run_detector)
from .report import write_report
from .toy_clip import TOY_CLIP_MODEL, train_toy_clip, zero_shot_accuracy
from .world_spec import ToyWorldSpec
from .world_writer import generate_world

#: Detector method name -> runner(pipeline) returning novel/base/all AP50 (percent) and
#: extra figures: one per config of ``detector_runs.METHOD_CONFIGS``.
METHODS: Dict[str, Callable[['ToyWorldPipeline'], Dict]] = {
    name: (lambda pipeline, name=name: run_detector(pipeline, name))
    for name in METHOD_CONFIGS}


def _digest(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:16]


class ToyWorldPipeline:
    """Runs the toy world's steps under one work dir.

    Args:
        spec: The world to draw.
        work_dir: Output folder (``world/``, ``clip/``, ``embeddings/``, one folder per
            detector method, ``report.md``, ``report.json``).
        clip_steps: Optimiser steps of the tiny CLIP.
        methods: Detector methods to train and evaluate, names of :data:`METHODS`.
        det_iters: Detector training iterations; ``None`` keeps each config's schedule.
        progress: Show progress bars.
    """

    def __init__(self, spec: ToyWorldSpec, work_dir: str, clip_steps: int = 900,
                 methods: Sequence[str] = (), det_iters: Optional[int] = None,
                 progress: bool = True) -> None:
        unknown = [m for m in methods if m not in METHODS]
        if unknown:
            raise ValueError(f'unknown toy-world methods {unknown}; available: '
                             f'{sorted(METHODS) or "none yet"}')
        self.spec = spec
        self.work_dir = Path(work_dir)
        self.clip_steps = clip_steps
        self.methods = list(methods)
        self.det_iters = det_iters
        self.progress = progress
        self.world_dir = self.work_dir / 'world'
        self.clip_path = self.work_dir / 'clip' / 'toyclip.pt'
        self.embedding_dir = self.work_dir / 'embeddings'
        self.region_store = self.work_dir / 'regions'
        self.timings: Dict[str, float] = {}
        self.results: Dict = {}
        self.region_figures: Optional[Dict] = None

    # -- steps -----------------------------------------------------------------------------
    def _timed(self, name: str, fn: Callable):
        start = time.perf_counter()
        out = fn()
        self.timings[name] = round(time.perf_counter() - start, 1)
        return out

    def generate(self) -> Dict:
        """Draws the world (skipped when ``world/world.json`` matches the spec)."""
        return self._timed('generate_world', lambda: generate_world(
            self.spec, str(self.world_dir), progress=self.progress))

    def train_clip(self) -> Dict:
        """Trains the tiny CLIP and measures zero-shot accuracy (skipped when up to date)."""
        stamp_path = self.clip_path.with_suffix('.json')
        inputs = dict(world=self.spec.to_dict(), steps=self.clip_steps, model=TOY_CLIP_MODEL)
        if stamp_path.is_file() and self.clip_path.is_file():
            stamp = json.loads(stamp_path.read_text())
            if stamp.get('inputs_digest') == _digest(inputs):
                self.timings['train_clip'] = 0.0
                return stamp

        def run():
            stats = train_toy_clip(str(self.world_dir), str(self.clip_path),
                                   steps=self.clip_steps, seed=self.spec.seed,
                                   progress=self.progress)
            novel = self.world['novel_classes']
            stats['zero_shot'] = zero_shot_accuracy(str(self.world_dir), str(self.clip_path),
                                                    novel_names=novel)
            stats['inputs_digest'] = _digest(inputs)
            write_json_atomic(stats, stamp_path)
            return stats
        return self._timed('train_clip', run)

    def text_embeddings(self, classes: Sequence[str]):
        """``(C, D)`` embeddings of ``classes`` from the toy CLIP, through the cache."""
        cache = TextEmbeddingCache(self.embedding_dir)
        return cache.get(list(classes), TOY_CLIP_MODEL, str(self.clip_path), 'vild')

    def clip_regions(self) -> Dict:
        """Fills the region store of ViLD's image branch; returns the store's provenance.

        Proposals are the top :data:`TOY_NUM_REGIONS` of the RPN of :data:`PROPOSAL_METHOD`
        (trained first if needed), embedded by the toy CLIP at 1x and 1.5x. A store made
        from another checkpoint or CLIP is replaced, since the world changed under it.
        """
        from ..regions import CLIPRegionStore, RegionStoreError, precompute_clip_regions
        proposer = run_detector(self, PROPOSAL_METHOD)
        config = str(REPO_ROOT / METHOD_CONFIGS[PROPOSAL_METHOD])
        options = {'train_dataloader.dataset.data_root': f'{self.world_dir}/',
                   'model.roi_head.bbox_head.vocabulary.pretrained': str(self.clip_path)}

        def compute():
            return precompute_clip_regions(
                config, proposer['checkpoint'], TOY_CLIP_MODEL, str(self.clip_path),
                str(self.region_store), num_regions=TOY_NUM_REGIONS, batch_size=8, workers=0,
                cfg_options=options, progress=self.progress)

        def run():
            try:
                return compute()
            except RegionStoreError:
                shutil.rmtree(self.region_store)
                return compute()
        figures_path = self.work_dir / 'clip_regions.json'
        if self.region_figures is None and self._region_store_up_to_date(proposer):
            self.region_figures = json.loads(figures_path.read_text())
        if self.region_figures is None:
            self.region_figures = self._timed('clip_regions', run)
            write_json_atomic(self.region_figures, figures_path)
        meta = CLIPRegionStore(self.region_store).meta
        return {k: v for k, v in meta.items() if k != 'image_keys'}

    def _region_store_up_to_date(self, proposer: Dict) -> bool:
        """Whether the store is complete and made from this proposer and this CLIP."""
        from ..regions import CLIPRegionStore
        if not (self.work_dir / 'clip_regions.json').is_file() or \
                not (self.region_store / 'index.json').is_file():
            return False
        store = CLIPRegionStore(self.region_store)
        meta = store.meta
        return store.complete and meta.get('num_regions') == TOY_NUM_REGIONS and \
            meta.get('proposal_checkpoint_sha256') == file_sha256(proposer['checkpoint']) and \
            meta.get('clip_weights_id') == 'sha256:' + file_sha256(self.clip_path)

    @property
    def world(self) -> Dict:
        """The generated world's summary (``world.json``)."""
        return json.loads((self.world_dir / 'world.json').read_text())

    # -- the whole job ---------------------------------------------------------------------
    def run(self) -> Dict:
        """Runs every step and writes the report; returns the flat summary of figures."""
        start = time.perf_counter()
        world = self.generate()
        clip = self.train_clip()
        classes = world['base_classes'] + world['novel_classes']
        self._timed('text_embeddings', lambda: self.text_embeddings(classes))
        for method in self.methods:
            self.results[method] = self._timed(f'method:{method}', lambda m=method: METHODS[m](
                self))
        summary = dict(clip_zero_shot_acc=round(clip['zero_shot']['acc'], 4),
                       clip_novel_acc=round(clip['zero_shot']['novel_acc'], 4))
        for method, res in self.results.items():
            for key in ('novel_ap50', 'base_ap50', 'all_ap50'):
                summary[f'{method}/{key}'] = res[key]
        if self.region_figures and self.region_figures.get('images'):
            summary['clip_regions_crops_per_s'] = self.region_figures['crops_per_s']
        summary['seconds'] = round(time.perf_counter() - start, 1)
        write_report(self.work_dir, world, clip, self.results, self.timings, summary,
                     self.region_figures if self.region_figures and
                     self.region_figures.get('images') else None)
        return summary


def parse_name_list(text: Optional[str]) -> Optional[List[str]]:
    """``'a,b'`` -> ``['a', 'b']``; ``None`` or ``''`` -> ``None``."""
    if not text:
        return None
    return [t.strip() for t in text.split(',') if t.strip()]
