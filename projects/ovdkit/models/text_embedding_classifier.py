"""A classifier whose class weights are frozen text embeddings plus a learned background."""
from typing import Optional

import torch
import torch.nn.functional as F
from mmdet.registry import MODELS
from torch import Tensor, nn


@MODELS.register_module()
class TextEmbeddingClassifier(nn.Module):
    """Cosine classifier against class text embeddings (ViLD-text).

    ``logits = <norm(W x), norm(t_c)> / temperature`` for each class embedding ``t_c``, and the
    same against a learned background embedding, which is the last column (mmdet's convention:
    label ``num_classes`` is background). The class embeddings are a non-persistent buffer:
    frozen, not trainable, not written to checkpoints, swappable at any time.

    Args:
        in_features: Region feature size.
        out_features: ``num_classes + 1`` as mmdet's bbox head passes it; reset to ``C + 1``
            whenever ``C`` class embeddings are set.
        embed_dim: CLIP joint-space dimension ``D``.
        temperature: Logit temperature (ViLD: 0.01).
    """

    def __init__(self, in_features: int, out_features: int, embed_dim: int,
                 temperature: float = 0.01) -> None:
        super().__init__()
        self.out_features = out_features
        self.temperature = temperature
        self.projection = nn.Linear(in_features, embed_dim)
        self.background_embedding = nn.Parameter(torch.randn(embed_dim) / embed_dim ** 0.5)
        self.register_buffer('class_embeddings', torch.zeros(0, embed_dim), persistent=False)

    def set_class_embeddings(self, embeddings: Tensor) -> None:
        """Installs ``(C, D)`` class embeddings (normalised here) on the classifier's device."""
        if embeddings.ndim != 2 or embeddings.shape[1] != self.projection.out_features:
            raise ValueError(f'class embeddings of shape {tuple(embeddings.shape)} do not fit '
                             f'a classifier of dimension {self.projection.out_features}')
        self.class_embeddings = F.normalize(embeddings.float(), dim=-1).to(
            self.projection.weight.device)
        self.out_features = len(embeddings) + 1

    def embed(self, x: Tensor) -> Tensor:
        """Region embeddings in CLIP space, ``(N, in_features)`` -> ``(N, D)`` unit rows."""
        return F.normalize(self.projection(x), dim=-1)

    def forward(self, x: Tensor, region_embeddings: Optional[Tensor] = None) -> Tensor:
        """Logits ``(N, C + 1)``; the last column is background."""
        if self.class_embeddings.numel() == 0:
            raise RuntimeError('TextEmbeddingClassifier has no class embeddings yet')
        emb = self.embed(x) if region_embeddings is None else region_embeddings
        bg = self.background_embedding
        if torch.is_grad_enabled() and bg.requires_grad:
            weights = torch.cat([self.class_embeddings, F.normalize(bg, dim=0)[None]])
            return emb @ weights.t() / self.temperature
        return emb @ self._inference_weights().t()

    def _inference_weights(self) -> Tensor:
        """``(C + 1, D)``: the class embeddings and the normalised background, divided by the
        temperature, kept until the embeddings, the background or the temperature change.
        With 20,000 names, concatenating the matrix and dividing ``(N, C + 1)`` logits on every
        forward would be a large part of a toy detector's image; the logits equal the training
        path's up to float rounding."""
        bg = self.background_embedding
        key = (self.class_embeddings.data_ptr(), self.class_embeddings.shape,
               self.class_embeddings._version, bg.data_ptr(), bg._version, bg.device,
               self.temperature)
        if getattr(self, '_weights_key', None) != key:
            with torch.no_grad():
                self._weights_cache = torch.cat([self.class_embeddings, F.normalize(
                    bg, dim=0)[None]]) / self.temperature
            self._weights_key = key
        return self._weights_cache
