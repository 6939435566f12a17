"""Box-labelled and image-labelled datasets concatenated for one training run."""
from typing import Sequence, Union

from mmdet.datasets import ConcatDataset
from mmdet.registry import DATASETS
from mmengine.dataset import BaseDataset, ClassBalancedDataset

from .image_label_dataset import ImageLabelDataset


@DATASETS.register_module()
class ImageLabelConcatDataset(ConcatDataset):
    """mmdet's ConcatDataset of one box-labelled dataset and image-labelled ones.

    Its metainfo is the box-labelled dataset's (its ``classes`` are the labels the box losses
    train; the training-vocabulary check compares them with the head's); the image-labelled
    datasets keep their own classes (their labels are names, which the RoI head matches to
    its ``image_label_vocabulary``). mmdet's multi-source samplers draw from it by source, in
    order.

    Args:
        datasets: The box-labelled dataset (or a wrapper of it) first, then
            :class:`ImageLabelDataset` configs.
        lazy_init: As ConcatDataset's.

    Raises:
        ValueError: fewer than two datasets, an image-label dataset first or a box-labelled
            one after the first.
    """

    def __init__(self, datasets: Sequence[Union[BaseDataset, ClassBalancedDataset, dict]],
                 lazy_init: bool = False) -> None:
        built = [DATASETS.build(d) if isinstance(d, dict) else d for d in datasets]
        kinds = [isinstance(d, ImageLabelDataset) for d in built]
        if len(built) < 2 or kinds[0] or not all(kinds[1:]):
            raise ValueError(f'ImageLabelConcatDataset: datasets must be a box-labelled '
                             f'dataset, then ImageLabelDatasets; got '
                             f'{[type(d).__name__ for d in built]}')
        # mmengine's __init__ takes BaseDataset instances only, not a box dataset wrapped for
        # repeat-factor sampling (ClassBalancedDataset, OV-LVIS): its steps, with the metainfo
        # of the first dataset and no comparison of the others'.
        self.datasets = built
        self.ignore_keys = sorted(set().union(*(d.metainfo.keys() for d in built)))
        self._metainfo = built[0].metainfo
        self._fully_initialized = False
        if not lazy_init:
            self.full_init()
