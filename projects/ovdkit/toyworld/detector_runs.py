"""Trains and evaluates a detector config on the pipeline's toy world (mmengine Runner).

Each method is an ordinary config under ``configs/toyworld/``; the pipeline only points its
paths (world, CLIP checkpoint, embedding cache, work dir) at its own work dir, exactly what
``--cfg-options`` would do on the command line.
"""
import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Dict

from ..datasets.converters import write_json_atomic

if TYPE_CHECKING:
    from .pipeline import ToyWorldPipeline

REPO_ROOT = Path(__file__).resolve().parents[3]
METHOD_CONFIGS = {
    'vild-text': 'configs/toyworld/vild-text_r18_fpn_1xb8-800i_toyworld.py',
}


def toyworld_cfg_options(pipeline: 'ToyWorldPipeline', method: str) -> Dict[str, object]:
    """``--cfg-options`` that point a toy-world config at the pipeline's files."""
    world = f'{pipeline.world_dir}/'
    options = {
        'work_dir': str(pipeline.work_dir / method),
        'train_dataloader.dataset.data_root': world,
        'val_dataloader.dataset.data_root': world,
        'test_dataloader.dataset.data_root': world,
        'val_evaluator.ann_file': f'{world}annotations/val.json',
        'test_evaluator.ann_file': f'{world}annotations/val.json',
    }
    head = 'model.roi_head.bbox_head.'
    options.update({
        head + 'vocabulary.classes': f'{world}annotations/base_classes.txt',
        head + 'vocabulary.pretrained': str(pipeline.clip_path),
        head + 'vocabulary.cache_dir': str(pipeline.embedding_dir),
        head + 'test_vocabulary.classes': f'{world}annotations/all_classes.txt',
    })
    return options


def run_detector(pipeline: 'ToyWorldPipeline', method: str) -> Dict:
    """Trains ``method``'s config on base boxes, tests it on val, returns AP50 in percent.

    Skipped when ``<work_dir>/<method>/result.json`` was made from the same world, CLIP and
    config (a digest of all three).
    """
    from mmengine.config import Config
    from mmengine.runner import Runner

    config_path = REPO_ROOT / METHOD_CONFIGS[method]
    cfg = Config.fromfile(str(config_path))
    cfg.merge_from_dict(toyworld_cfg_options(pipeline, method))
    if pipeline.det_iters:
        cfg.train_cfg.max_iters = pipeline.det_iters
    max_iters = cfg.train_cfg.max_iters
    cfg.train_cfg.val_begin = max_iters + 1  # evaluated once below, by the test loop
    cfg.default_hooks.visualization.update(draw=True, test_out_dir='detections')
    out_dir = pipeline.work_dir / method
    result_path = out_dir / 'result.json'
    clip_id = hashlib.sha256(pipeline.clip_path.read_bytes()).hexdigest()
    digest = hashlib.sha256(json.dumps([pipeline.spec.to_dict(), clip_id, cfg.pretty_text],
                                       sort_keys=True).encode()).hexdigest()[:16]
    if result_path.is_file():
        previous = json.loads(result_path.read_text())
        if previous.get('inputs_digest') == digest:
            return previous

    runner = Runner.from_cfg(cfg)
    runner.train()
    metrics = runner.test()
    pictures = sorted(p.relative_to(pipeline.work_dir).as_posix() for p in
                      (out_dir / runner.timestamp / 'detections').rglob('*.png'))
    result = dict(
        novel_ap50=round(100 * float(metrics['coco/novel_ap50']), 1),
        base_ap50=round(100 * float(metrics['coco/base_ap50']), 1),
        all_ap50=round(100 * float(metrics['coco/all_ap50']), 1),
        iterations=max_iters, config=METHOD_CONFIGS[method], pictures=pictures[:4],
        checkpoint=str(out_dir / f'iter_{max_iters}.pth'), inputs_digest=digest)
    write_json_atomic(result, result_path)
    return result
