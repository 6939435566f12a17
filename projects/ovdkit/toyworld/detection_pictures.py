"""Pictures of a trained toy-world detector: ground truth and detections of val scenes."""
from pathlib import Path
from typing import List


def draw_examples(runner, out_dir: Path, num: int = 4, zoom: int = 3,
                  score_thr: float = 0.3) -> List[Path]:
    """Draws ground truth and detections of the first val images, enlarged ``zoom`` times
    (nearest neighbour, so 128 px scenes stay legible); returns the written paths."""
    import mmcv
    import torch
    from mmdet.visualization import DetLocalVisualizer
    from mmengine.dataset import pseudo_collate

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
