"""One batch, one vocabulary per image: the RoI head's prediction run image by image on the
batch's shared features (the backbone, neck and RPN run once per batch)."""
from contextlib import contextmanager
from typing import Callable, Iterator

from torch import nn


@contextmanager
def roi_predict_image_by_image(roi_head: nn.Module,
                               before_image: Callable[[int], None]) -> Iterator[None]:
    """Runs ``roi_head.predict`` image by image inside the block, ``before_image(i)`` first.

    The backbone, neck and RPN still run once on the whole batch; each image's RoIs are then
    pooled from its own slice of the features and classified after ``before_image(i)`` (which
    installs image ``i``'s vocabulary), so an image's detections are those of its vocabulary
    alone, as if it had been run by itself.

    Args:
        roi_head: The detector's RoI head (mmdet's ``StandardRoIHead`` interface:
            ``predict(x, rpn_results_list, batch_data_samples, rescale)``).
        before_image: Called with each image's index in the batch before its prediction.
    """
    batched = roi_head.predict

    def predict(x, rpn_results_list, batch_data_samples, rescale: bool = False) -> list:
        results = []
        for i in range(len(batch_data_samples)):
            before_image(i)
            results += batched(tuple(level[i:i + 1] for level in x), rpn_results_list[i:i + 1],
                               batch_data_samples[i:i + 1], rescale=rescale)
        return results

    roi_head.predict = predict
    try:
        yield
    finally:
        del roi_head.predict  # the instance attribute: the class's method shows again
