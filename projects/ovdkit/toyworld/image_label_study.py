"""Toy-world detectors trained with and without weakly labelled scenes, from a finished run.

A finished toy-world run (``tools/toyworld.py``) holds a world, its tiny CLIP, the base
detector every method starts from and ViLD's region store. The study reads them (never
writes there), draws the weak scenes (:mod:`ovdkit.toyworld.weak_scenes`) in its own work
dir, and trains each method again from the same base detector with its image-label config
(``configs/toyworld/*-image-labels.py``, grounding's ``*-captions.py``) for each number of
weak scenes, one job at a time; the method without weak scenes is the run's own result for
it, or is trained here when the run lacks it. Figures are flat, as the demo's:
``'<method>/novel_ap50'`` (without) and ``'<method>+weak<N>/novel_ap50'`` (with N scenes).
"""
import json
import shutil
from pathlib import Path
from typing import Dict, Optional, Sequence

from ..utils.hashing import file_sha256
from .detector_runs import (BASE_DETECTOR, REGION_METHODS, DetectorJob, method_config, run_jobs,
                            toyworld_cfg_options)
from .weak_scenes import generate_weak_scenes, weak_labels_file
from .world_spec import ToyWorldSpec

#: Method -> its config with weak scenes (ViLD heads: the scenes' labels; grounding: the
#: names its captions contain).
IMAGE_LABEL_CONFIGS = {
    'vild-text': 'vild-text_r18_fpn_1xb12-300i_toyworld-image-labels.py',
    'vild': 'vild_r18_fpn_1xb12-300i_toyworld-image-labels.py',
    'grounding': 'grounding_r18_fpn_1xb12-300i_toyworld-captions.py',
}


def weak_run_name(method: str, num: int) -> str:
    """The name of ``method`` trained with ``num`` weak scenes."""
    return f'{method}+weak{num}'


def image_label_cfg_options(options: Dict, weak_dir: str, num: int, all_classes: str) -> Dict:
    """A method's ``--cfg-options`` (:func:`toyworld_cfg_options`) moved to its image-label
    config: the base boxes are its first dataset, the first ``num`` weak scenes its second,
    ``all_classes`` the image-label vocabulary."""
    out = dict(options)
    prefix = 'train_dataloader.dataset.'
    out[prefix + 'datasets.0.data_root'] = out.pop(prefix + 'data_root')
    out[prefix + 'datasets.1.data_root'] = f'{weak_dir}/'
    out[prefix + 'datasets.1.ann_file'] = str(weak_labels_file(weak_dir, num).relative_to(
        weak_dir))
    out['model.roi_head.image_label_vocabulary.classes'] = all_classes
    return out


class ImageLabelStudy:
    """Trains methods with and without weak scenes from a finished toy-world run.

    Args:
        source_dir: The finished run's work dir (``world/``, ``clip/toyclip.pt``,
            ``embeddings/``, ``regions/``, ``base-detector/result.json``); read only.
        work_dir: Where the weak scenes, the embedding cache (a copy of the run's) and the
            jobs go.
        config_dir: The toy-world configs.
        spec: The run's world (its seed draws the weak scenes).
        methods: Names of :data:`IMAGE_LABEL_CONFIGS`.
        weak_sizes: Numbers of weak scenes to train with (each a job per method).
        det_iters: Iterations of every job (``None``: the configs' 300).
        progress: Progress lines while jobs train.
    """

    def __init__(self, source_dir: str, work_dir: str, config_dir: str, spec: ToyWorldSpec,
                 methods: Sequence[str], weak_sizes: Sequence[int],
                 det_iters: Optional[int] = None, progress: bool = True) -> None:
        unknown = [m for m in methods if m not in IMAGE_LABEL_CONFIGS]
        if unknown:
            raise ValueError(f'image-label methods: unknown {unknown}; available: '
                             f'{", ".join(IMAGE_LABEL_CONFIGS)}')
        self.source = Path(source_dir)
        self.work_dir = Path(work_dir)
        self.config_dir = str(config_dir)
        self.spec = spec
        self.methods = list(methods)
        self.sizes = sorted(set(weak_sizes))
        self.det_iters = det_iters
        self.progress = progress
        base = self.source / BASE_DETECTOR / 'result.json'
        if not base.is_file() or not (self.source / 'clip' / 'toyclip.pt').is_file():
            raise FileNotFoundError(f'{source_dir}: not a finished toy-world run with a base '
                                    f'detector (no {base} or clip/toyclip.pt)')
        self.base_checkpoint = json.loads(base.read_text())['checkpoint']

    def job(self, method: str, num: int = 0) -> DetectorJob:
        """The job of ``method`` with ``num`` weak scenes (0: without, its own config)."""
        name = weak_run_name(method, num) if num else method
        world = str(self.source / 'world')
        store = str(self.source / 'regions') if method in REGION_METHODS else None
        clip = self.source / 'clip' / 'toyclip.pt'
        options = toyworld_cfg_options(world, str(clip), str(self.work_dir / 'embeddings'),
                                       str(self.work_dir / name), region_store=store)
        config = method_config(self.config_dir, method)
        if num:
            config = str(Path(self.config_dir) / IMAGE_LABEL_CONFIGS[method])
            options = image_label_cfg_options(options, str(self.work_dir / 'weak'), num,
                                              f'{world}/annotations/all_classes.txt')
        options['randomness.seed'] = self.spec.seed
        options['load_from'] = self.base_checkpoint
        inputs = [self.spec.to_dict(), file_sha256(clip), file_sha256(self.base_checkpoint)]
        return DetectorJob(name, config, options, str(self.work_dir / name), self.det_iters,
                           inputs)

    def run(self) -> Dict:
        """Draws the weak scenes, trains the jobs one at a time (finished ones skipped) and
        returns the flat figures (also written to ``work_dir/image_labels.json``)."""
        weak = generate_weak_scenes(self.spec, str(self.work_dir / 'weak'), self.sizes)
        if not (self.work_dir / 'embeddings').is_dir() and (self.source / 'embeddings').is_dir():
            shutil.copytree(self.source / 'embeddings', self.work_dir / 'embeddings')
        flat: Dict = dict(weak_scenes=weak['images'], weak_objects=weak['objects'],
                          weak_novel_objects=weak['novel_objects'])
        for method in self.methods:
            own = self.source / method / 'result.json'
            if own.is_file():
                result = json.loads(own.read_text())
                flat[f'{method}/source'] = str(own)
            else:
                result = run_jobs([self.job(method)], 1, self.progress)[method]
            flat.update({f'{method}/{k}': result[k]
                         for k in ('novel_ap50', 'base_ap50', 'all_ap50')})
            for num in self.sizes:
                name = weak_run_name(method, num)
                result = run_jobs([self.job(method, num)], 1, self.progress)[name]
                flat.update({f'{name}/{k}': result[k]
                             for k in ('novel_ap50', 'base_ap50', 'all_ap50', 's_per_iter')})
        (self.work_dir / 'image_labels.json').write_text(json.dumps(flat, indent=1))
        return flat
