"""Square crops of boxes, cut and normalised for a CLIP image tower (batched with roi_align)."""
from typing import Sequence

import torch
from torchvision.ops import roi_align


def square_crop_boxes(boxes: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
    """Square boxes of side ``scale * max(w, h)`` around the centres of ``boxes``.

    Args:
        boxes: ``(N, 4)`` x1, y1, x2, y2.
        scale: Side multiplier (ViLD crops at 1x and 1.5x).

    Returns:
        ``(N, 4)`` square boxes (may extend past the image; those pixels read as zero).
    """
    centre = (boxes[:, :2] + boxes[:, 2:]) / 2
    half = (boxes[:, 2:] - boxes[:, :2]).amax(dim=1, keepdim=True) * scale / 2
    return torch.cat([centre - half, centre + half], dim=1)


def crop_and_normalize(images: torch.Tensor, rois: torch.Tensor, size: int,
                       mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """Cuts boxes out of images, resizes them and applies CLIP's normalisation.

    Args:
        images: ``(B, 3, H, W)`` float in [0, 1].
        rois: ``(N, 5)`` batch index, x1, y1, x2, y2 in pixels.
        size: Output side.
        mean: Per-channel mean of the CLIP preprocessing.
        std: Per-channel std.

    Returns:
        ``(N, 3, size, size)`` normalised crops.
    """
    crops = roi_align(images, rois, output_size=(size, size), spatial_scale=1.0,
                      sampling_ratio=2, aligned=True)
    mean_t = torch.tensor(mean, device=images.device).view(1, 3, 1, 1)
    std_t = torch.tensor(std, device=images.device).view(1, 3, 1, 1)
    return (crops - mean_t) / std_t
