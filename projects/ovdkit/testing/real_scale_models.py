"""What ``tools/benchmark/real_scale.py`` times: the shipped R50-FPN configs and the mmdet
configs they inherit, at random initialisation, on a full-size image, with no download."""
import gc
import os
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import cv2
import torch
from mmengine.config import Config
from torch import nn

from ..datasets.vocabularies import resolve_vocabulary
from ..utils.config_variables import merge_cfg_options
from .benchmark_models import build_random_detector, save_detector_checkpoint, save_random_clip
from .detectors import toy_scenes
from .tools import REPO

#: The shipped config of each (family, model).
OV_CONFIGS = {
    ('ov-coco', 'vild_text'): 'configs/vild/vild-text_r50_fpn_8xb2-90k_ov-coco.py',
    ('ov-coco', 'vild_ensemble'): 'configs/vild/vild-ensemble_r50_fpn_8xb2-90k_ov-coco.py',
    ('ov-coco', 'grounding'): 'configs/grounding/grounding_r50_fpn_8xb2-90k_ov-coco.py',
    ('ov-lvis', 'vild_text'): 'configs/vild/vild-text_r50_fpn_8xb2-180k_ov-lvis.py',
    ('ov-lvis', 'vild_ensemble'): 'configs/vild/vild-ensemble_r50_fpn_8xb2-180k_ov-lvis.py',
    ('ov-lvis', 'grounding'): 'configs/grounding/grounding_r50_fpn_8xb2-180k_ov-lvis.py',
}
#: The mmdet config each family inherits, and its name in the figures.
BASELINE_CONFIGS = {'ov-coco': 'faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py',
                    'ov-lvis': 'lvis/mask-rcnn_r50_fpn_sample1e-3_ms-1x_lvis-v1.py'}
BASELINE_NAMES = {'ov-coco': 'faster_rcnn', 'ov-lvis': 'mask_rcnn'}
#: A random CLIP with ViT-B/32's 512-d embeddings and a tiny text tower (fast to encode with).
CLIP_MODEL = 'OVD-TestCLIP-RN512'


def check_names(text: str) -> List[int]:
    """``'65,1203,20000'`` -> sizes; each must be at least 2."""
    sizes = [int(n) for n in text.split(',')]
    if any(n < 2 for n in sizes):
        raise ValueError(f'--names: every vocabulary size must be >= 2, got {text}')
    return sizes


def family_of(num_names: int) -> str:
    """The configs a user runs with this many names: OV-COCO's up to 65, OV-LVIS's above."""
    return 'ov-coco' if num_names <= 65 else 'ov-lvis'


def vocabulary_of(num_names: int) -> Tuple[str, ...]:
    """OV-COCO's 65 names, LVIS's 1203, or ``num_names`` synthetic ones."""
    if num_names == 65:
        return resolve_vocabulary('ov-coco')
    if num_names == 1203:
        return resolve_vocabulary('lvis')
    return tuple(f'thing {i}' for i in range(num_names))


def _rss_bytes() -> int:
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE')


@contextmanager
def peak_memory_mb(interval: float = 0.002) -> Iterator[Callable[[], float]]:
    """Samples the resident memory in a thread; yields a function giving the peak above the
    value at entry, in MB (valid after the block)."""
    start, peak, done = _rss_bytes(), [0], threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], _rss_bytes())
            time.sleep(interval)
    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield lambda: max(0, peak[0] - start) / 2 ** 20
    finally:
        done.set()
        thread.join()
        peak[0] = max(peak[0], _rss_bytes())


class RealScaleModels:
    """Builds, saves and keeps the benchmark's detectors, their inputs and the ONNX graph.

    Args:
        work: Folder for the CLIP file, checkpoints, configs, caches and the graph.
        scale: The test pipeline's ``(W, H)`` (1333x800 in the shipped configs).
        threads: onnxruntime's intra-op threads.
        proposals: RPN proposals per image at test time for every model (``None``: the
            configs' own).
    """

    def __init__(self, work: Path, scale: Tuple[int, int], threads: int,
                 proposals: Optional[int] = None) -> None:
        self.work, self.scale, self.threads = Path(work), tuple(scale), threads
        self.proposals = proposals
        self.work.mkdir(parents=True, exist_ok=True)
        clip = self.work / 'clip.pt'
        if not clip.is_file():
            torch.manual_seed(0)
            save_random_clip(clip, CLIP_MODEL)
        self.variables = dict(clip_model=CLIP_MODEL, clip_pretrained=str(clip),
                              backbone_checkpoint=None,
                              embeddings_dir=str(self.work / 'embeddings'),
                              data_root=str(self.work / 'data') + '/')
        scene = toy_scenes(1, size=256)[0]
        #: The ``(H, W, 3)`` BGR image every model is timed on.
        self.image = cv2.resize(scene, self.scale, interpolation=cv2.INTER_NEAREST)
        self._inferencers: Dict[Tuple[str, str], object] = {}
        self._baselines: Dict[Tuple[str, int], nn.Module] = {}
        self._pipeline = None

    def _with_scale(self, cfg: Config) -> Config:
        """The config with the benchmark's test scale and proposal count."""
        if self.proposals is not None:
            cfg.model.test_cfg.rpn.nms_pre = cfg.model.test_cfg.rpn.max_per_img = \
                self.proposals
        for pipeline in (cfg.get('test_pipeline'), cfg.test_dataloader.dataset.get('pipeline')):
            for step in pipeline or ():
                if step['type'].endswith('Resize'):
                    step['scale'] = self.scale
        return cfg

    def _ov_config(self, family: str, model: str) -> Path:
        """The shipped config pointed at the random CLIP and backbone, written to ``work``."""
        path = self.work / f'{family}_{model}.py'
        if not path.is_file():
            cfg = Config.fromfile(str(REPO / OV_CONFIGS[family, model]))
            merge_cfg_options(cfg, dict(self.variables))
            self._with_scale(cfg)
            cfg.model.roi_head.bbox_head.vocabulary.templates = 'single'
            (self.work / 'data' / 'annotations').mkdir(parents=True, exist_ok=True)
            base = cfg.model.roi_head.bbox_head.vocabulary['classes']
            if isinstance(base, str) and base.endswith('.txt'):
                # the training vocabulary file OV-LVIS's converter writes: its 866 base names
                from .lvis_v1_frequencies import LVIS_V1_FREQUENCIES
                lvis = resolve_vocabulary('lvis')
                Path(base).write_text('\n'.join(
                    n for n, f in zip(lvis, LVIS_V1_FREQUENCIES) if f != 'r') + '\n')
            cfg.dump(str(path))
        return path

    def inferencer(self, family: str, model: str, names: Sequence[str]):
        """The :class:`~ovdkit.apis.OVDInferencer` of a shipped config on ``names``."""
        from ..apis import OVDInferencer
        key = (family, model)
        if key not in self._inferencers:
            config = self._ov_config(family, model)
            checkpoint = self.work / f'{family}_{model}.pth'
            if not checkpoint.is_file():
                detector = build_random_detector(Config.fromfile(str(config)), seed=0)
                spread_rpn_scores(detector)
                save_detector_checkpoint(detector, checkpoint)
                del detector
            self._inferencers[key] = OVDInferencer(str(config), str(checkpoint))
        self._inferencers[key].set_vocabulary(list(names))
        return self._inferencers[key]

    def ov_model(self, family: str, model: str, names: Sequence[str]) -> nn.Module:
        """The detector of a shipped config, in eval mode, with ``names`` installed."""
        return self.inferencer(family, model, names).model

    def baseline(self, family: str, num_classes: int) -> nn.Module:
        """mmdet's config the family inherits, ``num_classes`` classes, the family's test
        settings (those of its ViLD-text config), random init with spread RPN scores."""
        key = (family, num_classes)
        if key not in self._baselines:
            import mmdet
            cfg = Config.fromfile(str(Path(mmdet.__file__).parent / '.mim' / 'configs' /
                                      BASELINE_CONFIGS[family]))
            shipped = Config.fromfile(str(self._ov_config(family, 'vild_text')))
            cfg.model.backbone.init_cfg = None
            cfg.model.test_cfg = shipped.model.test_cfg  # scale and proposals included
            cfg.model.roi_head.bbox_head.num_classes = num_classes
            if cfg.model.roi_head.get('mask_head'):
                cfg.model.roi_head.mask_head.num_classes = num_classes
            model = build_random_detector(cfg, seed=0)
            spread_rpn_scores(model)
            self._baselines[key] = model.eval()
        return self._baselines[key]

    def batch(self, size: int) -> Dict:
        """``size`` copies of :attr:`image` through the test pipeline, collated for
        ``model.test_step``."""
        if self._pipeline is None:
            from mmcv.transforms import Compose
            cfg = Config.fromfile(str(self._ov_config('ov-coco', 'vild_text')))
            steps = [dict(s) for s in cfg.test_dataloader.dataset.pipeline]
            steps[0] = dict(type='mmdet.LoadImageFromNDArray')
            self._pipeline = Compose(steps)
        from mmengine.dataset import pseudo_collate
        return pseudo_collate([self._pipeline(dict(img=self.image.copy(), img_id=i))
                               for i in range(size)])

    def release(self, family: str) -> None:
        """Frees the family's models (the next family's fit in memory)."""
        for key in [k for k in self._inferencers if k[0] == family and k[1] != 'vild_text']:
            del self._inferencers[key]
        for key in [k for k in self._baselines if k[0] == family]:
            del self._baselines[key]
        gc.collect()

    def onnx_pair(self):
        """OV-COCO's ViLD-text in PyTorch and exported to ONNX (boxes only), same weights."""
        from ..deploy import ONNXDetector, export_onnx
        inferencer = self.inferencer('ov-coco', 'vild_text', vocabulary_of(65))
        graph = self.work / 'vild_text.onnx'
        if not graph.is_file():
            export_onnx(str(self._ov_config('ov-coco', 'vild_text')),
                        str(self.work / 'ov-coco_vild_text.pth'), graph)
        return inferencer.model, ONNXDetector(graph, num_threads=self.threads)


def spread_rpn_scores(model: nn.Module, seed: int = 0) -> None:
    """Unit-variance RPN objectness weights: at mmdet's init (std 0.01) every anchor scores
    0.5 +- 1e-3 and the proposals are near-ties; a trained RPN's scores are spread."""
    weight = model.rpn_head.rpn_cls.weight
    with torch.no_grad():
        weight.copy_(torch.randn(weight.shape, generator=torch.Generator().manual_seed(seed)))
