"""Faster R-CNN whose backbone and neck train in bfloat16 autocast; heads and losses in float32."""
from typing import Optional, Tuple

import torch
from mmdet.models.detectors import FasterRCNN
from mmdet.registry import MODELS
from mmengine.logging import print_log
from torch import Tensor


@MODELS.register_module()
class AutocastTrunkFasterRCNN(FasterRCNN):
    """mmdet's ``FasterRCNN`` with the feature trunk (backbone + neck) run under
    ``torch.autocast(dtype=trunk_dtype)`` while training, its features cast back to float32.

    The convolutions are most of a training step's compute, and bfloat16 convolutions use
    the CPU's AMX / AVX-512 BF16 units (GPUs' tensor cores). The heads stay in float32:
    the open-vocabulary classifiers divide cosines by a temperature of 0.02, where bfloat16's
    8-bit mantissa would move a logit of 50 by up to 0.25; mmdet's box coding and mmcv's CPU
    NMS also need float32. Inference and evaluation run in float32 throughout. Parameters,
    gradients and the optimiser state stay float32 (mixed precision, no loss scaling needed:
    bfloat16 has float32's exponent range).

    Args:
        trunk_dtype: ``'bfloat16'``, or ``None`` for plain float32 training.
        **kwargs: ``FasterRCNN``'s arguments.
    """

    def __init__(self, *args, trunk_dtype: Optional[str] = 'bfloat16', **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if trunk_dtype not in (None, 'bfloat16'):
            raise ValueError(f"AutocastTrunkFasterRCNN: trunk_dtype must be 'bfloat16' or None, "
                             f'got {trunk_dtype!r}')
        self.trunk_dtype = trunk_dtype
        self._warned = False

    def _autocast_device(self, inputs: Tensor) -> Optional[str]:
        """The autocast device type, or ``None`` where bfloat16 is not supported."""
        device = inputs.device.type
        if device == 'cuda' and not torch.cuda.is_bf16_supported():
            if not self._warned:
                print_log('AutocastTrunkFasterRCNN: this GPU has no bfloat16; the trunk trains '
                          'in float32', logger='current')
                self._warned = True
            return None
        return device if device in ('cpu', 'cuda') else None

    def extract_feat(self, batch_inputs: Tensor) -> Tuple[Tensor, ...]:
        """``(B, 3, H, W)`` images -> the neck's ``(B, C, H_l, W_l)`` float32 levels."""
        device = self._autocast_device(batch_inputs) if self.training and self.trunk_dtype \
            else None
        if device is None:
            return super().extract_feat(batch_inputs)
        with torch.autocast(device_type=device, dtype=torch.bfloat16):
            feats = super().extract_feat(batch_inputs)
        return tuple(f.float() for f in feats)
