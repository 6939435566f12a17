"""ViLD-image's L1 distillation of region embeddings onto CLIP image embeddings."""
from typing import Optional

from mmdet.registry import MODELS
from mmengine.logging import MessageHub
from torch import Tensor, nn


@MODELS.register_module()
class ViLDDistillationLoss(nn.Module):
    """``loss_weight * mean over regions of sum_d |e_region - e_clip|`` (ViLD, Eq. 4).

    Both embeddings are expected to be unit vectors. Summed over the ``D`` dimensions, the loss
    of random unit vectors is about ``sqrt(4 D / pi)`` (12.8 at D = 128, 25.5 at D = 512), which
    outweighs the text branch's cross-entropy early in training; ``warmup_iters`` ramps the
    weight linearly from 0 over the first iterations of the run (read from mmengine's
    MessageHub) for short schedules.

    Args:
        loss_weight: Weight (ViLD: 0.5).
        warmup_iters: Iterations of the linear weight ramp; 0 = none (ViLD).
    """

    def __init__(self, loss_weight: float = 0.5, warmup_iters: int = 0) -> None:
        super().__init__()
        self.loss_weight = loss_weight
        self.warmup_iters = warmup_iters

    def current_weight(self) -> float:
        """The weight at the current training iteration."""
        if self.warmup_iters <= 0:
            return self.loss_weight
        iteration = MessageHub.get_current_instance().get_info('iter', 0) or 0
        return self.loss_weight * min(1.0, (iteration + 1) / self.warmup_iters)

    def forward(self, region_embeddings: Tensor, clip_embeddings: Tensor,
                avg_factor: Optional[float] = None) -> Tensor:
        """The loss.

        Args:
            region_embeddings: ``(N, D)`` the detector's region embeddings.
            clip_embeddings: ``(N, D)`` the stored CLIP image embeddings (any float dtype).
            avg_factor: Divisor instead of ``N``.

        Returns:
            A scalar; 0 (still attached to the graph) when ``N == 0``.
        """
        if region_embeddings.shape != clip_embeddings.shape:
            raise ValueError(f'region embeddings {tuple(region_embeddings.shape)} and CLIP '
                             f'embeddings {tuple(clip_embeddings.shape)} differ in shape')
        if len(region_embeddings) == 0:
            return region_embeddings.sum() * 0
        per_region = (region_embeddings - clip_embeddings.to(region_embeddings)).abs().sum(-1)
        divisor = avg_factor if avg_factor is not None else len(per_region)
        return self.current_weight() * per_region.sum() / max(float(divisor), 1.0)
