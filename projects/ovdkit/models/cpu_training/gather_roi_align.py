"""RoIAlign as a weighted gather (``embedding_bag``): mmcv's ``RoIAlign`` values, cheaper on CPU.

mmcv's CPU ``RoIAlign`` back-propagates one output element at a time, a large part of a
small detector's training step on a CPU. Here every output bin is a bag of bilinear samples
(4 feature-map cells each, weighted and divided by the bin's sample count), pooled by
``torch.nn.functional.embedding_bag`` from the feature map laid out as a ``(B * H * W, C)``
table; its backward is one sorted scatter.
"""
from typing import Tuple, Union

import torch
import torch.nn.functional as F
from mmdet.registry import MODELS
from torch import Tensor, nn


def _axis_samples(start: Tensor, bin_size: Tensor, grid: Tensor, pooled: int, max_grid: int,
                  size: int) -> Tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """Sample positions of one axis and their bilinear neighbours, as mmcv computes them.

    Args:
        start: ``(R,)`` RoI start in feature-map cells.
        bin_size: ``(R,)`` bin length.
        grid: ``(R,)`` long, samples a bin along this axis.
        pooled: Output bins along this axis.
        max_grid: ``grid.max()``: samples beyond a RoI's own ``grid`` are masked.
        size: Feature-map length along this axis.

    Returns:
        ``(R, pooled, max_grid)`` each: low cell, high cell, low weight, high weight, and
        whether the sample counts (inside the RoI's grid and the map's [-1, size] band).
    """
    dtype = start.dtype
    bins = torch.arange(pooled, dtype=dtype, device=start.device)[None, :, None]
    steps = torch.arange(max_grid, dtype=dtype, device=start.device)[None, None, :]
    grid_f = grid.clamp(min=1).to(dtype)[:, None, None]
    pos = start[:, None, None] + bins * bin_size[:, None, None] + \
        (steps + 0.5) * bin_size[:, None, None] / grid_f
    valid = (steps < grid[:, None, None]) & (pos >= -1.0) & (pos <= size)
    pos = pos.clamp(min=0)
    low = pos.floor().long()
    at_edge = low >= size - 1
    low = torch.where(at_edge, torch.full_like(low, size - 1), low)
    high = torch.where(at_edge, low, low + 1)
    frac = torch.where(at_edge, torch.zeros_like(pos), pos - low.to(dtype))
    return low, high, 1 - frac, frac, valid


@MODELS.register_module()
class GatherRoIAlign(nn.Module):
    """mmcv's ``RoIAlign`` (average pooling) computed as an ``embedding_bag`` gather.

    Same arguments, attributes and results as ``mmcv.ops.RoIAlign`` with ``pool_mode='avg'``
    (up to float rounding): bins of ``sampling_ratio`` x ``sampling_ratio`` bilinear samples,
    or ``ceil(roi_size / output_size)`` a side when it is 0; ``aligned`` shifts RoIs by half a
    cell. Gradients flow to the features (not to the RoIs, as in mmcv). Works on any device.

    Args:
        output_size: Output bins ``h`` or ``(h, w)``.
        spatial_scale: Feature-map cells per input pixel (``1 / stride``).
        sampling_ratio: Samples a bin side; 0: adaptive.
        pool_mode: Only ``'avg'``.
        aligned: Pixel-centre alignment (mmcv's default ``True``).
    """

    def __init__(self, output_size: Union[int, Tuple[int, int]], spatial_scale: float = 1.0,
                 sampling_ratio: int = 0, pool_mode: str = 'avg', aligned: bool = True) -> None:
        super().__init__()
        if pool_mode != 'avg':
            raise ValueError(f"GatherRoIAlign: pool_mode must be 'avg', got {pool_mode!r} "
                             f"(mmcv.ops.RoIAlign has the max mode)")
        if int(sampling_ratio) < 0:
            raise ValueError(f'GatherRoIAlign: sampling_ratio must be >= 0, got '
                             f'{sampling_ratio}')
        size = (output_size, output_size) if isinstance(output_size, int) else output_size
        self.output_size = tuple(int(s) for s in size)
        self.spatial_scale = float(spatial_scale)
        self.sampling_ratio = int(sampling_ratio)
        self.pool_mode = pool_mode
        self.aligned = bool(aligned)

    def forward(self, input: Tensor, rois: Tensor) -> Tensor:
        """Pools every RoI.

        Args:
            input: ``(B, C, H, W)`` features.
            rois: ``(R, 5)`` batch index, x1, y1, x2, y2 in input pixels.

        Returns:
            ``(R, C, out_h, out_w)`` pooled features.
        """
        batch, channels, height, width = input.shape
        out_h, out_w = self.output_size
        num = rois.shape[0]
        if num == 0:
            return input.new_zeros((0, channels, out_h, out_w))
        rois = rois.to(input.dtype)
        offset = 0.5 if self.aligned else 0.0
        x1, y1, x2, y2 = (rois[:, i] * self.spatial_scale - offset for i in range(1, 5))
        roi_w, roi_h = x2 - x1, y2 - y1
        if not self.aligned:  # mmcv's legacy mode: RoIs at least one cell
            roi_w, roi_h = roi_w.clamp(min=1.0), roi_h.clamp(min=1.0)
        bin_h, bin_w = roi_h / out_h, roi_w / out_w
        if self.sampling_ratio > 0:
            grid_h = torch.full((num,), self.sampling_ratio, device=rois.device)
            grid_w = grid_h
        else:
            grid_h, grid_w = torch.ceil(bin_h).long(), torch.ceil(bin_w).long()
        max_h, max_w = max(int(grid_h.max()), 1), max(int(grid_w.max()), 1)
        y_lo, y_hi, wy_lo, wy_hi, y_ok = _axis_samples(y1, bin_h, grid_h, out_h, max_h, height)
        x_lo, x_hi, wx_lo, wx_hi, x_ok = _axis_samples(x1, bin_w, grid_w, out_w, max_w, width)

        # Broadcast to (R, out_h, grid_h, out_w, grid_w): y terms on dims 1-2, x on 3-4.
        def along_y(t: Tensor) -> Tensor:
            return t[:, :, :, None, None]

        def along_x(t: Tensor) -> Tensor:
            return t[:, None, None, :, :]

        count = (grid_h * grid_w).clamp(min=1).to(input.dtype)[:, None, None, None, None]
        keep = (along_y(y_ok) & along_x(x_ok)).to(input.dtype) / count
        row = rois[:, 0].long()[:, None, None, None, None] * (height * width)
        top, bottom = row + along_y(y_lo) * width, row + along_y(y_hi) * width
        index = torch.stack([top + along_x(x_lo), top + along_x(x_hi),
                             bottom + along_x(x_lo), bottom + along_x(x_hi)], dim=-1)
        weight = torch.stack([
            along_y(wy_lo) * along_x(wx_lo), along_y(wy_lo) * along_x(wx_hi),
            along_y(wy_hi) * along_x(wx_lo), along_y(wy_hi) * along_x(wx_hi)
        ], dim=-1) * keep[..., None]
        # One bag per output bin, (R, out_h, out_w) of them. Samples are padded to the
        # largest RoI's grid and masked above; the bags keep only weighted samples, so one
        # long RoI does not make every bag long (and the backward's sort longer).
        index = index.permute(0, 1, 3, 2, 4, 5).reshape(num * out_h * out_w, -1)
        weight = weight.permute(0, 1, 3, 2, 4, 5).reshape(num * out_h * out_w, -1)
        used = weight != 0
        sizes = used.sum(dim=1)
        offsets = torch.cumsum(sizes, dim=0) - sizes
        table = input.permute(0, 2, 3, 1).reshape(batch * height * width, channels)
        pooled = F.embedding_bag(index[used], table, offsets, mode='sum',
                                 per_sample_weights=weight[used])
        return pooled.view(num, out_h, out_w, channels).permute(0, 3, 1, 2)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(output_size={self.output_size}, '
                f'spatial_scale={self.spatial_scale}, sampling_ratio={self.sampling_ratio}, '
                f'pool_mode={self.pool_mode}, aligned={self.aligned})')
