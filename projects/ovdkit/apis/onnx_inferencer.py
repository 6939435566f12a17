"""ONNXInferencer: an exported detector behind the interface of :class:`OVDInferencer`."""
from pathlib import Path
from typing import Dict, Sequence, Tuple, Union

import mmcv
import numpy as np
import torch
from mmdet.structures import DetDataSample
from mmdet.visualization import DetLocalVisualizer
from mmengine.structures import InstanceData

from .detection_drawing import draw_prediction, name_palette, save_drawing


class ONNXInferencer:
    """What :class:`~ovdkit.apis.FolderDemo` needs of an inferencer, from an exported
    detector: the prediction dicts, drawings and files of :class:`~ovdkit.apis.OVDInferencer`.

    ::

        from ovdkit.deploy import ONNXDetector
        inferencer = ONNXInferencer(ONNXDetector('model.onnx'))
        inferencer.set_vocabulary('zebra,traffic cone')
        out = inferencer(['a.png'], out_dir='outputs')  # writes outputs/vis/a.png

    Args:
        detector: An :class:`ovdkit.deploy.ONNXDetector` (built by the caller: ``deploy``
            sits beside ``apis`` in the layers, not below it).
    """

    def __init__(self, detector) -> None:
        self.detector = detector
        self.visualizer = DetLocalVisualizer(name=f'onnx-inferencer-{id(self)}')

    @property
    def classes(self) -> Tuple[str, ...]:
        """Names of the vocabulary in use (empty before the first one is set)."""
        return tuple(self.detector.classes)

    def set_vocabulary(self, vocabulary) -> Tuple[str, ...]:
        """Installs a vocabulary (anything :meth:`ONNXDetector.set_vocabulary` takes).

        Returns:
            The names in label order.

        Raises:
            ValueError: an empty vocabulary, blank or repeated names, or embeddings of
                other CLIP weights.
        """
        names = self.detector.set_vocabulary(vocabulary)
        self.visualizer.dataset_meta = dict(classes=names, palette=name_palette(names))
        return names

    def __call__(self, images: Union[str, Sequence[str]], batch_size: int = 1,
                 out_dir: str = '', pred_score_thr: float = 0.3, zoom: int = 1) -> Dict:
        """Detects the vocabulary's classes in image files and draws them.

        Args:
            images: Image file path(s).
            batch_size: Accepted for the interface of ``OVDInferencer``; the graph runs one
                image at a time.
            out_dir: With it, drawings go to ``out_dir/vis/<image name>``.
            pred_score_thr: Lowest score drawn.
            zoom: Integer enlargement of the drawings (nearest neighbour).

        Returns:
            ``{'predictions': [...]}``, one dict per image with ``bboxes`` (x1, y1, x2, y2
            in image pixels), ``scores``, ``labels``, ``label_names`` and ``img_path``, best
            first.
        """
        images = [images] if isinstance(images, (str, Path)) else list(images)
        predictions = []
        for image, pred in zip(images, self.detector([str(i) for i in images])):
            sample = DetDataSample()
            sample.pred_instances = InstanceData(
                bboxes=torch.from_numpy(np.asarray(pred['bboxes'])),
                scores=torch.from_numpy(np.asarray(pred['scores'])),
                labels=torch.from_numpy(np.asarray(pred['labels'])))
            drawn = draw_prediction(self.visualizer, mmcv.imread(str(image), channel_order='rgb'),
                                    sample, Path(image).name, zoom, pred_score_thr)
            if out_dir:
                save_drawing(drawn, Path(out_dir) / 'vis' / Path(image).name)
            predictions.append(dict(bboxes=pred['bboxes'].tolist(),
                                    scores=pred['scores'].tolist(),
                                    labels=pred['labels'].tolist(),
                                    label_names=pred['label_names'], img_path=str(image)))
        return dict(predictions=predictions)
