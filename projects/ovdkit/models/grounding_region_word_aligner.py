"""Region-word alignment logits: projected region features x CLIP token features (GLIP)."""
import math
from typing import Mapping, Optional

import torch
import torch.nn.functional as F
from mmdet.registry import MODELS
from torch import Tensor, nn

from .grounding_fusion import RegionWordFusion
from .grounding_positive_map import (class_positive_map, class_scores_from_token_scores,
                                     span_token_pairs)


@MODELS.register_module()
class RegionWordAligner(nn.Module):
    """Scores regions against every token of the vocabulary's prompt.

    ``logit[n, t] = <norm(r_n), norm(w_t)> / temperature + <norm(w_t), b> + b0`` where ``r_n``
    is the region feature projected to CLIP's space (optionally fused with the tokens,
    :class:`RegionWordFusion`) and ``w_t`` a frozen token feature. The bias follows GLIP: a
    learned vector ``b`` (zero at start) lets a token's bias depend on the token itself, and
    the scalar ``b0`` starts at ``-log((1 - prior_prob) / prior_prob)`` so every token begins
    with probability ``prior_prob`` and the focal loss is not swamped by negatives at start.

    Token features and the positive map are non-persistent buffers: frozen, outside
    checkpoints, swapped with the vocabulary.

    Args:
        in_features: Region feature size.
        out_features: What mmdet's bbox head passes (``num_classes + 1``); unused, the token
            count follows the vocabulary.
        embed_dim: CLIP joint-space dimension ``D``.
        temperature: Logit temperature.
        prior_prob: Initial token probability.
        fusion: ``RegionWordFusion`` arguments (``num_heads``, ``layer_scale``, ``dropout``),
            or ``None`` for no fusion.
        token_bias: Learn GLIP's token-dependent bias ``<norm(w_t), b>``; ``False`` keeps
            ``b`` at zero (one scalar bias for every token). ``b`` is fitted on base tokens only,
            whose positives are base boxes.
    """

    def __init__(self, in_features: int, out_features: int, embed_dim: int,
                 temperature: float = 0.02, prior_prob: float = 0.01,
                 fusion: Optional[Mapping] = None, token_bias: bool = True) -> None:
        super().__init__()
        if not 0 < prior_prob < 1:
            raise ValueError(f'RegionWordAligner: prior_prob must be in (0, 1), got {prior_prob}')
        if temperature <= 0:
            raise ValueError(f'RegionWordAligner: temperature must be > 0, got {temperature}')
        self.temperature = temperature
        self.prior_prob = prior_prob
        self.projection = nn.Linear(in_features, embed_dim)
        self.fusion = RegionWordFusion(embed_dim, **fusion) if fusion is not None else None
        self.bias_lang = nn.Parameter(torch.zeros(embed_dim), requires_grad=token_bias)
        self.bias0 = nn.Parameter(torch.tensor(self._prior_bias()))
        self.register_buffer('token_features', torch.zeros(0, embed_dim), persistent=False)
        self.register_buffer('positive_map', torch.zeros(0, 0), persistent=False)
        self.register_buffer('span_map', torch.zeros(0, 0), persistent=False)
        self.register_buffer('span_owners', torch.zeros(0, dtype=torch.long), persistent=False)

    @property
    def embed_dim(self) -> int:
        """The CLIP dimension ``D`` token features must have."""
        return self.projection.out_features

    def _prior_bias(self) -> float:
        return -math.log((1 - self.prior_prob) / self.prior_prob)

    def init_weights(self) -> None:
        """GLIP's start: zero token-dependent bias, prior bias; fusion reset.

        Runs after the bbox head's own init (mmengine initialises children last), which draws
        every ``weight`` below ``fc_cls`` from N(0, 0.01): fine for the projection (its output
        is normalised), wrong for the fusion block's LayerNorm.
        """
        nn.init.zeros_(self.bias_lang)
        nn.init.constant_(self.bias0, self._prior_bias())
        if self.fusion is not None:
            self.fusion.init_weights()

    def set_tokens(self, features: Tensor, positive_map: Tensor,
                   owners: Optional[Tensor] = None) -> None:
        """Installs a vocabulary's tokens on the aligner's device.

        Args:
            features: ``(T, D)`` token features (normalised here).
            positive_map: ``(S, T)`` binary span -> token map, one span per class or, with
                ``owners``, one per synonym.
            owners: ``(S,)`` int64 class of each span; None: span ``c`` is class ``c``.
        """
        if features.ndim != 2 or features.shape[1] != self.embed_dim:
            raise ValueError(f'token features of shape {tuple(features.shape)} do not fit an '
                             f'aligner of dimension {self.embed_dim}')
        if positive_map.ndim != 2 or positive_map.shape[1] != features.shape[0]:
            raise ValueError(f'positive map of shape {tuple(positive_map.shape)} does not fit '
                             f'{features.shape[0]} tokens')
        device = self.projection.weight.device
        self.token_features = F.normalize(features.float(), dim=-1).to(device)
        span_map = positive_map.float().to(device)
        if owners is None:
            owners = torch.arange(len(span_map))
        owners = owners.long().to(device)
        num_classes = int(owners.max()) + 1 if len(owners) else 0
        self.span_map, self.span_owners = span_map, owners
        self._span_pairs = span_token_pairs(span_map)
        # training targets: every token of every synonym of the class is a positive
        self.positive_map = class_positive_map(span_map, owners, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        """Token logits ``(N, T)`` of region features ``(N, in_features)``."""
        if self.token_features.numel() == 0:
            raise RuntimeError('RegionWordAligner has no token features yet')
        regions = self.projection(x)
        if self.fusion is not None:
            regions = self.fusion(regions, self.token_features)
        regions = F.normalize(regions, dim=-1)
        bias = self.token_features @ self.bias_lang + self.bias0
        return regions @ self.token_features.t() / self.temperature + bias

    def class_scores(self, token_logits: Tensor) -> Tensor:
        """Class probabilities ``(N, C)``: mean of each span's tokens' sigmoid (GLIP), the best
        span of the class's synonyms."""
        return class_scores_from_token_scores(token_logits.sigmoid(), self.span_map,
                                              self.span_owners, len(self.positive_map),
                                              self._span_pairs)
