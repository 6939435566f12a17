"""Trains and evaluates a detector config on the pipeline's toy world (mmengine Runner).

Each method is an ordinary config under ``configs/toyworld/``; the pipeline only points its
paths (world, CLIP checkpoint, embedding cache, work dir) at its own work dir, exactly what
``--cfg-options`` would do on the command line.
"""
import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Dict, List

from ..text.embedding_cache import file_sha256
from ..utils.atomic_io import write_json_atomic

if TYPE_CHECKING:
    from .pipeline import ToyWorldPipeline

REPO_ROOT = Path(__file__).resolve().parents[3]
METHOD_CONFIGS = {
    'vild-text': 'configs/toyworld/vild-text_r18_fpn_1xb8-800i_toyworld.py',
    'vild': 'configs/toyworld/vild_r18_fpn_1xb8-800i_toyworld.py',
    'vild-ensemble': 'configs/toyworld/vild-ensemble_r18_fpn_1xb8-800i_toyworld.py',
    'grounding': 'configs/toyworld/grounding_r18_fpn_1xb8-800i_toyworld.py',
}
#: The method whose RPN proposes the regions that ViLD's image branch distils (as in ViLD,
#: an RPN trained on the base boxes), and how many proposals per image are kept.
PROPOSAL_METHOD = 'vild-text'
TOY_NUM_REGIONS = 32


def _point_region_store(cfg, store: str) -> bool:
    """Points every ``LoadCLIPRegions`` of the train pipeline at ``store``."""
    found = False
    for transform in cfg.train_dataloader.dataset.pipeline:
        if transform['type'] == 'LoadCLIPRegions':
            transform['store'] = store
            found = True
    return found


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


def draw_examples(runner, out_dir: Path, num: int = 4, zoom: int = 3,
                  score_thr: float = 0.3) -> List[Path]:
    """Draws ground truth (left) and detections (right) of the first val images, enlarged.

    Args:
        runner: A Runner after training (its model and test dataset are used).
        out_dir: Folder for ``<image>.png`` files.
        num: Number of images.
        zoom: Nearest-neighbour enlargement, so 128 px scenes stay legible.
        score_thr: Lowest score drawn.

    Returns:
        Paths of the written pictures.
    """
    import mmcv
    import torch
    from mmengine.dataset import pseudo_collate
    from mmdet.visualization import DetLocalVisualizer

    dataset = runner.test_dataloader.dataset
    visualizer = DetLocalVisualizer.get_instance(f'toyworld_examples_{runner.timestamp}')
    visualizer.dataset_meta = dataset.metainfo
    model = runner.model
    model.eval()
    written = []
    for index in range(min(num, len(dataset))):
        with torch.no_grad():
            sample = model.test_step(pseudo_collate([dataset[index]]))[0]
        image = mmcv.imread(sample.img_path, channel_order='rgb')
        image = mmcv.imrescale(image, zoom, interpolation='nearest')
        sample.gt_instances.bboxes = sample.gt_instances.bboxes * zoom
        sample.pred_instances.bboxes = sample.pred_instances.bboxes * zoom
        path = out_dir / Path(sample.img_path).name
        out_dir.mkdir(parents=True, exist_ok=True)
        visualizer.add_datasample(path.stem, image, sample, draw_gt=True,
                                  pred_score_thr=score_thr, out_file=str(path))
        written.append(path)
    return written


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
    out_dir = pipeline.work_dir / method
    result_path = out_dir / 'result.json'
    clip_id = file_sha256(pipeline.clip_path)  # memoised: the embedding cache hashed it
    uses_regions = _point_region_store(cfg, str(pipeline.region_store))
    inputs = [pipeline.spec.to_dict(), clip_id, cfg.pretty_text]
    if uses_regions:
        inputs.append(pipeline.clip_regions())  # the store's provenance (proposal checkpoint)
    digest = hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()[:16]
    if result_path.is_file():
        previous = json.loads(result_path.read_text())
        if previous.get('inputs_digest') == digest:
            return previous

    runner = Runner.from_cfg(cfg)
    runner.train()
    metrics = runner.test()
    pictures = [p.relative_to(pipeline.work_dir).as_posix()
                for p in draw_examples(runner, out_dir / 'detections')]
    result = dict(
        novel_ap50=round(100 * float(metrics['coco/novel_ap50']), 1),
        base_ap50=round(100 * float(metrics['coco/base_ap50']), 1),
        all_ap50=round(100 * float(metrics['coco/all_ap50']), 1),
        iterations=max_iters, config=METHOD_CONFIGS[method], pictures=pictures,
        checkpoint=str(out_dir / f'iter_{max_iters}.pth'), inputs_digest=digest)
    write_json_atomic(result, result_path)
    return result
