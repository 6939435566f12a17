"""mmdet's multi-source samplers, refusing a ratio that gives a source no image a batch."""
from typing import List, Sequence

from mmdet.datasets.samplers import GroupMultiSourceSampler, MultiSourceSampler
from mmdet.registry import DATA_SAMPLERS


def check_images_per_source(batch_size: int, source_ratio: Sequence[float]) -> List[int]:
    """The images a batch takes from each source, split as mmdet's multi-source samplers
    split them (``int(batch_size * r / sum(ratios))`` for every source but the first, which
    takes the rest), checked to be at least one each.

    Args:
        batch_size: Images a batch.
        source_ratio: The configured ratio, one number per source.

    Returns:
        The images per source.

    Raises:
        ValueError: a source gets no image; names ``train_dataloader.sampler.source_ratio``.
    """
    num_per_source = [int(batch_size * r / sum(source_ratio)) for r in source_ratio]
    num_per_source[0] = batch_size - sum(num_per_source[1:])
    empty = [i for i, n in enumerate(num_per_source) if n < 1]
    if empty:
        raise ValueError(
            f'train_dataloader.sampler.source_ratio={list(source_ratio)} with '
            f'train_dataloader.sampler.batch_size={batch_size} gives source(s) {empty} no image '
            f'a batch (images per source: {num_per_source}); raise the batch size or '
            f'that source\'s ratio')
    return num_per_source


@DATA_SAMPLERS.register_module()
class CheckedMultiSourceSampler(MultiSourceSampler):
    """mmdet's MultiSourceSampler (each batch takes a fixed count of images from each source
    of a ConcatDataset, split by ``source_ratio``), refusing, before anything is drawn, a split
    that leaves a source without images (:func:`check_images_per_source`)."""

    def __init__(self, dataset, batch_size: int, source_ratio: List[float], **kwargs) -> None:
        check_images_per_source(batch_size, source_ratio)
        super().__init__(dataset, batch_size, source_ratio, **kwargs)


@DATA_SAMPLERS.register_module()
class CheckedGroupMultiSourceSampler(GroupMultiSourceSampler):
    """mmdet's GroupMultiSourceSampler (the same, and a batch's images share an aspect-ratio
    group; its images need ``width`` and ``height``), with the same check."""

    def __init__(self, dataset, batch_size: int, source_ratio: List[float], **kwargs) -> None:
        check_images_per_source(batch_size, source_ratio)
        super().__init__(dataset, batch_size, source_ratio, **kwargs)
