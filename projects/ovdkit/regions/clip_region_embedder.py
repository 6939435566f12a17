"""The frozen CLIP image tower applied to box crops at several scales (ViLD's 1x and 1.5x)."""
from typing import List, Optional, Sequence, Union

import open_clip
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..text.clip_text_encoder import create_clip_model
from ..utils.hashing import state_dict_sha256, weights_id
from .crops import crop_and_normalize, square_crop_boxes


class CLIPRegionEmbedder(nn.Module):
    """Embeds image regions with an open_clip image tower, frozen.

    Each box is cut as a square of side ``scale * max(w, h)`` around its centre for every
    scale (stretching a box to CLIP's square input distorts thin objects), resized to the
    tower's input size with ``roi_align`` and normalised with the model's own mean / std. The
    per-scale embeddings are normalised, averaged and normalised again (ViLD).

    Args:
        model_name: An ``open_clip.list_models()`` name.
        pretrained: An open_clip tag, a local checkpoint path, or ``None`` for random weights
            (explicit opt-in, tests only). Other failures raise ``CLIPWeightsError``.
        crop_scales: Crop side multipliers (ViLD: 1.0 and 1.5).
        device: Initial device.
        crop_batch_size: Crops per image-tower forward (bounds memory).
    """

    def __init__(self, model_name: str, pretrained: Optional[str],
                 crop_scales: Sequence[float] = (1.0, 1.5),
                 device: Union[str, torch.device] = 'cpu', crop_batch_size: int = 256) -> None:
        super().__init__()
        model = create_clip_model(model_name, pretrained, device)
        self.model_name = model_name
        self.pretrained = pretrained
        # channels_last: oneDNN's CPU convolutions of ResNet towers are faster in this layout.
        self.visual = model.visual.eval().requires_grad_(False).to(
            memory_format=torch.channels_last)
        cfg = open_clip.get_model_preprocess_cfg(model)
        size = cfg['size']
        self.input_size = int(size[0] if isinstance(size, (tuple, list)) else size)
        self.mean, self.std = tuple(cfg['mean']), tuple(cfg['std'])
        self.embed_dim = int(open_clip.get_model_config(model_name)['embed_dim'])
        self.crop_scales = tuple(float(s) for s in crop_scales)
        self.crop_batch_size = crop_batch_size
        self.weights_id = (weights_id(pretrained) if pretrained is not None
                           else 'random-sha256:' + state_dict_sha256(self.visual))

    def train(self, mode: bool = True) -> 'CLIPRegionEmbedder':
        """Always eval: the tower is frozen (its BatchNorm statistics included)."""
        return super().train(False)

    @property
    def device(self) -> torch.device:
        """Device of the tower's parameters."""
        return next(self.visual.parameters()).device

    @torch.no_grad()
    def encode_crops(self, crops: Tensor) -> Tensor:
        """``(N, 3, S, S)`` normalised crops -> ``(N, D)`` unit embeddings, in chunks."""
        crops = crops.contiguous(memory_format=torch.channels_last)
        out = [F.normalize(self.visual(crops[i:i + self.crop_batch_size]).float(), dim=-1)
               for i in range(0, len(crops), self.crop_batch_size)]
        return torch.cat(out) if out else crops.new_zeros(0, self.embed_dim)

    @torch.no_grad()
    def forward(self, images: Sequence[Tensor], boxes: Sequence[Tensor]) -> List[Tensor]:
        """Embeds the boxes of a batch of images in one pass of the image tower.

        Args:
            images: B images, each ``(3, H_i, W_i)`` float in [0, 1] (sizes may differ).
            boxes: B tensors ``(K_i, 4)`` x1, y1, x2, y2 in those images' pixels.

        Returns:
            B tensors ``(K_i, D)`` of unit-norm embeddings.
        """
        crops = []
        for image, image_boxes in zip(images, boxes):
            image = image.to(self.device, torch.float32)[None]
            image_boxes = image_boxes.to(self.device, torch.float32)
            zeros = image_boxes.new_zeros(len(image_boxes), 1)
            for scale in self.crop_scales:
                rois = torch.cat([zeros, square_crop_boxes(image_boxes, scale)], dim=1)
                crops.append(crop_and_normalize(image, rois, self.input_size, self.mean,
                                                self.std))
        # crops is ordered image-major, scale-minor: [img0 s0, img0 s1, img1 s0, ...].
        features = self.encode_crops(torch.cat(crops)) if crops else None
        results, row, num_scales = [], 0, len(self.crop_scales)
        for image_boxes in boxes:
            k = len(image_boxes)
            per_scale = features[row:row + k * num_scales].view(num_scales, k, -1) \
                if k else image_boxes.new_zeros(num_scales, 0, self.embed_dim)
            results.append(F.normalize(per_scale.mean(dim=0), dim=-1))
            row += k * num_scales
        return results
