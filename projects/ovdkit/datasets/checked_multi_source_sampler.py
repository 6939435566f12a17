"""mmdet's multi-source samplers, refusing a ratio that gives a source no image a batch."""
from typing import List, Sequence

from mmdet.datasets.samplers import GroupMultiSourceSampler, MultiSourceSampler
from mmdet.registry import DATA_SAMPLERS


def check_images_per_source(num_per_source: Sequence[int], batch_size: int,
                            source_ratio: Sequence[float]) -> List[int]:
    """Checks that every source gives at least one image to each batch.

    Args:
        num_per_source: Images a batch takes from each source (mmdet's split of
            ``batch_size`` by ``source_ratio``).
        batch_size: Images a batch.
        source_ratio: The configured ratio.

    Returns:
        ``num_per_source`` as a list.

    Raises:
        ValueError: a source gets no image; names ``train_dataloader.sampler.source_ratio``.
    """
    empty = [i for i, n in enumerate(num_per_source) if n < 1]
    if empty:
        raise ValueError(
            f'train_dataloader.sampler.source_ratio={list(source_ratio)} with '
            f'train_dataloader.sampler.batch_size={batch_size} gives source(s) {empty} no image '
            f'a batch (images per source: {list(num_per_source)}); raise the batch size or '
            f'that source\'s ratio')
    return list(num_per_source)


@DATA_SAMPLERS.register_module()
class CheckedMultiSourceSampler(MultiSourceSampler):
    """mmdet's MultiSourceSampler (each batch takes a fixed count of images from each source
    of a ConcatDataset, split by ``source_ratio``), refusing a split that leaves a source
    without images (:func:`check_images_per_source`)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        check_images_per_source(self.num_per_source, self.batch_size, self.source_ratio)


@DATA_SAMPLERS.register_module()
class CheckedGroupMultiSourceSampler(GroupMultiSourceSampler):
    """mmdet's GroupMultiSourceSampler (the same, and a batch's images share an aspect-ratio
    group), with the same check."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        check_images_per_source(self.num_per_source, self.batch_size, self.source_ratio)
