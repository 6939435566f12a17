"""Exports an OVDKit ViLD-text / ViLD / ViLD-ensemble detector to ONNX, vocabulary as an input.

The graph (see :class:`ExportableOVDetector`) takes ``image (1, 3, H, W)`` (normalised,
padded), ``img_hw (2,)``, ``class_embeddings (C, D)``, ``base_mask (C,)`` and ``report_mask
(C,)`` (0 for rows that only compete: negative and reference names) with dynamic
``H``, ``W`` and ``C``, and returns ``boxes (K, 4)``, ``scores (K,)``, ``labels (K,)``. A JSON
sidecar beside the ``.onnx`` records what the graph expects: the CLIP model and weights id its
classifier was trained against, ``D``, the training vocabulary (what ``base_mask`` marks),
the input pipeline and normalisation, and the post-processing settings baked in.

The sidecar records the CLIP weights file and the embedding cache folder relative to the
sidecar's own folder (``paths: 'relative'``), so a folder holding the model, the CLIP file and
the cache runs wherever it is copied, from any working directory; ``absolute_paths=True``
records them absolute instead (``paths: 'absolute'``), for a model moved away from weights
that stay in place. A CLIP tag (``'openai'``) is recorded as it is.
"""
import os
from pathlib import Path
from typing import Dict, Optional, Union

import torch
from mmengine.config import Config

from ..datasets.vocabularies import resolve_vocabulary_entries
from ..text.sidecar_cache import read_sidecar
from ..utils.atomic_io import atomic_write, write_json_atomic
from ..utils.hashing import file_sha256, weights_id
from ..utils.strict_checkpoint import init_detector_strictly
from .exportable_detector import ExportableOVDetector

INPUT_NAMES = ('image', 'img_hw', 'class_embeddings', 'base_mask', 'report_mask')
OUTPUT_NAMES = ('boxes', 'scores', 'labels')
#: The sidecar format this code writes; format 1 (paths as given at export, relative to the
#: working directory) is still read.
SIDECAR_FORMAT = 2
READABLE_FORMATS = (1, 2)


def sidecar_path(onnx_path: Union[str, Path]) -> Path:
    """``model.onnx`` -> ``model.json``."""
    return Path(onnx_path).with_suffix('.json')


def recorded_path(path: Union[str, Path], sidecar: Path, absolute: bool) -> str:
    """A file or folder path as the sidecar ``sidecar`` records it: relative to the sidecar's
    folder, or absolute."""
    path = Path(path).absolute()
    if absolute:
        return str(path)
    return os.path.relpath(path, sidecar.absolute().parent)


def resolve_recorded_path(recorded: str, sidecar: Path, meta: Dict) -> str:
    """The path a sidecar records, as usable here: joined to the sidecar's folder when the
    sidecar records relative paths (format 2), as it is otherwise."""
    if meta.get('paths') == 'relative' and not os.path.isabs(recorded):
        return os.path.normpath(sidecar.absolute().parent / recorded)
    return recorded


def _clip_identity(vocabulary: Dict) -> Dict:
    """CLIP model, weights id and templates of a head's vocabulary config."""
    if vocabulary.get('path'):
        _, meta = read_sidecar(vocabulary['path'], 'text embeddings')
        return dict(clip_model=meta['model'], clip_pretrained=meta['pretrained'],
                    clip_weights_id=meta['weights_id'], templates=meta['templates'])
    pretrained = vocabulary.get('pretrained')
    if pretrained is None:
        raise ValueError('ONNX export: the head was trained against random CLIP weights '
                         '(pretrained=None); an exported graph needs identifiable weights')
    return dict(clip_model=vocabulary['model'], clip_pretrained=str(pretrained),
                clip_weights_id=weights_id(str(pretrained)),
                templates=vocabulary.get('templates', 'vild'))


def _portable(identity: Dict, cache_dir: str, sidecar: Path, absolute: bool) -> Dict:
    """The sidecar's CLIP and cache fields with their paths recorded relative to the sidecar
    (or absolute): ``clip_pretrained`` (a file's path, or the tag), ``clip_pretrained_is_file``,
    ``cache_dir`` and ``paths``."""
    pretrained = identity['clip_pretrained']
    is_file = os.path.isfile(pretrained)
    if is_file:
        pretrained = recorded_path(pretrained, sidecar, absolute)
    return dict(identity, clip_pretrained=pretrained, clip_pretrained_is_file=is_file,
                cache_dir=recorded_path(cache_dir, sidecar, absolute),
                paths='absolute' if absolute else 'relative')


def _test_pipeline(cfg: Config):
    pipeline = cfg.get('test_dataloader', {}).get('dataset', {}).get('pipeline')
    if pipeline is None:
        pipeline = cfg.get('test_pipeline')
    return [dict(t) for t in pipeline
            if t['type'] not in ('LoadAnnotations', 'mmdet.LoadAnnotations')]


def export_onnx(config: Union[str, Config], checkpoint: str, out: Union[str, Path],
                opset: int = 17, cfg_options: Optional[Dict] = None,
                absolute_paths: bool = False) -> Dict:
    """Writes ``out`` (the ONNX graph) and its JSON sidecar.

    Args:
        config: Detector config (file or loaded).
        checkpoint: Its trained checkpoint.
        out: The ``.onnx`` file to write; the sidecar is ``out`` with ``.json``.
        opset: ONNX opset (>= 16 for ``RoiAlign``'s half-pixel mode, i.e. ``aligned=True``).
        cfg_options: Overrides merged into the config, as ``--cfg-options``.
        absolute_paths: Record the CLIP weights file and the embedding cache folder as
            absolute paths instead of relative to the sidecar.

    Returns:
        The sidecar dict.

    Raises:
        FileNotFoundError: config or checkpoint missing.
        CheckpointFileError: the checkpoint is truncated or unreadable.
        CheckpointMismatchError: its weights do not fit the config's model.
        TypeError: the detector is not a ViLD-text / ViLD / ViLD-ensemble Faster R-CNN.
        ValueError: ``opset`` < 16, or the head was trained on random CLIP weights.
    """
    # OVDKit's modules are registered: importing this module imported the ovdkit package.
    if opset < 16:
        raise ValueError(f'opset {opset}: RoiAlign with aligned=True needs opset >= 16')
    if isinstance(config, (str, Path)):
        if not Path(config).is_file():
            raise FileNotFoundError(f'config {config} does not exist')
        config = Config.fromfile(str(config))
    if cfg_options:
        config.merge_from_dict(cfg_options)
    if not Path(checkpoint).is_file():
        raise FileNotFoundError(f'checkpoint {checkpoint} does not exist')
    detector = init_detector_strictly(config, checkpoint, device='cpu').eval()
    module = ExportableOVDetector(detector).eval()
    head = module.bbox_head
    preprocessor = config.model.data_preprocessor
    embed_dim = head.fc_cls.projection.out_features
    identity = _clip_identity(head.vocabulary_cfg)

    pipeline = _test_pipeline(config)
    scale = next((t.get('scale') for t in pipeline if t['type'].endswith('Resize')), (128, 128))
    h, w = int(min(scale)), int(max(scale))
    h, w = (h + 31) // 32 * 32, (w + 31) // 32 * 32
    generator = torch.Generator().manual_seed(0)
    example = (torch.randn(1, 3, h, w, generator=generator),
               torch.tensor([h, w], dtype=torch.float32),
               torch.randn(3, embed_dim, generator=generator), torch.tensor([1.0, 0.0, 1.0]),
               torch.tensor([1.0, 1.0, 0.0]))
    out = Path(out)
    with torch.no_grad():
        atomic_write(out, lambda tmp: torch.onnx.export(
            module, example, str(tmp), input_names=list(INPUT_NAMES),
            output_names=list(OUTPUT_NAMES), opset_version=opset, dynamo=False,
            dynamic_axes=dict(image={2: 'height', 3: 'width'},
                              class_embeddings={0: 'num_classes'},
                              base_mask={0: 'num_classes'}, report_mask={0: 'num_classes'},
                              boxes={0: 'num_detections'},
                              scores={0: 'num_detections'}, labels={0: 'num_detections'})))
    rcnn = detector.test_cfg.rcnn
    sidecar = dict(
        format=SIDECAR_FORMAT, onnx_sha256=file_sha256(out), opset=opset,
        inputs=list(INPUT_NAMES), outputs=list(OUTPUT_NAMES),
        config=str(getattr(config, 'filename', '') or ''),
        checkpoint_sha256=file_sha256(checkpoint),
        head=type(head).__name__, ensemble=module.ensemble, embed_dim=embed_dim,
        reference_vocabulary=head.reference_vocabulary,
        **_portable(identity, str(head.test_vocabulary_cfg.get('cache_dir', 'data/embeddings')),
                    sidecar_path(out), absolute_paths),
        train_classes=list(head.train_classes),
        train_entries=list(resolve_vocabulary_entries(head.vocabulary_cfg['classes'])),
        normalization=dict(mean=list(map(float, preprocessor.mean)),
                           std=list(map(float, preprocessor.std)),
                           bgr_to_rgb=bool(preprocessor.get('bgr_to_rgb', False)),
                           pad_size_divisor=int(preprocessor.get('pad_size_divisor', 1))),
        test_pipeline=pipeline, score_thr=float(rcnn.score_thr),
        max_per_img=int(rcnn.max_per_img), nms_iou=float(rcnn.nms.get('iou_threshold', 0.5)))
    write_json_atomic(sidecar, sidecar_path(out), indent=1)
    return sidecar
