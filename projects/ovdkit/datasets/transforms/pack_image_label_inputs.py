"""PackDetInputs that also packs an image-labelled image's label names into its metainfo."""
from mmdet.datasets.transforms import PackDetInputs
from mmdet.registry import TRANSFORMS

from ..image_label_dataset import IMAGE_LABELS_KEY


@TRANSFORMS.register_module()
class PackImageLabelInputs(PackDetInputs):
    """mmdet's PackDetInputs with ``image_labels`` in the meta keys.

    The models tell an image-labelled sample by that key (it trains the classifier on its
    largest proposal, not the box losses), so the transform refuses an input without it: a
    box-labelled image packed here would be read as having no boxes.

    Args:
        **kwargs: ``PackDetInputs`` arguments; ``image_labels`` joins its ``meta_keys``.
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        if IMAGE_LABELS_KEY not in self.meta_keys:
            self.meta_keys = tuple(self.meta_keys) + (IMAGE_LABELS_KEY, )

    def transform(self, results: dict) -> dict:
        """Packs ``results`` (see PackDetInputs); its ``image_labels`` go to the metainfo.

        Raises:
            KeyError: ``results`` has no ``image_labels`` (not an image-label dataset's).
        """
        if IMAGE_LABELS_KEY not in results:
            raise KeyError(f'PackImageLabelInputs: {results.get("img_path", "an image")} has '
                           f'no {IMAGE_LABELS_KEY!r}: it belongs in ImageLabelDataset\'s '
                           f'pipeline only')
        return super().transform(results)
