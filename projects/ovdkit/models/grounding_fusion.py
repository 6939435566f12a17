"""Deep fusion for region-word grounding: region features attend to the prompt's tokens."""
import torch
from torch import Tensor, nn


class RegionWordFusion(nn.Module):
    """A light pre-norm cross-attention block (GLIP's language-aware visual features).

    ``r' = r + gamma * MHA(LN(r), t, t)``: every region embedding ``r`` attends to the token
    features ``t`` of the whole prompt (all chunks), independently of the other regions. The
    residual is scaled by a learned per-channel ``gamma`` that starts small (layer scale), so
    the block begins close to the identity and training decides how much language enters.

    Args:
        embed_dim: Region and token dimension ``D``.
        num_heads: Attention heads (must divide ``D``).
        layer_scale: Initial value of ``gamma``.
        dropout: Attention dropout.
    """

    def __init__(self, embed_dim: int, num_heads: int = 4, layer_scale: float = 0.1,
                 dropout: float = 0.0) -> None:
        super().__init__()
        if embed_dim % num_heads:
            raise ValueError(f'RegionWordFusion: num_heads {num_heads} does not divide the '
                             f'embedding dimension {embed_dim}')
        self.layer_scale = layer_scale
        self.norm = nn.LayerNorm(embed_dim)
        self.attention = nn.MultiheadAttention(embed_dim, num_heads, dropout=dropout,
                                               batch_first=True)
        self.gamma = nn.Parameter(torch.full((embed_dim,), float(layer_scale)))

    def init_weights(self) -> None:
        """Resets the block (the owning bbox head's Normal(0.01) init must not touch it)."""
        self.norm.reset_parameters()
        self.attention._reset_parameters()
        nn.init.constant_(self.gamma, self.layer_scale)

    def forward(self, regions: Tensor, tokens: Tensor) -> Tensor:
        """Fuses token information into region embeddings.

        Args:
            regions: ``(N, D)`` region embeddings.
            tokens: ``(T, D)`` token features of the vocabulary's prompt.

        Returns:
            ``(N, D)`` language-aware region embeddings.
        """
        if regions.shape[0] == 0:
            return regions
        # One "sequence" of N queries over T keys: queries do not attend to each other, so
        # this is N independent region-to-token attentions in one call.
        attended, _ = self.attention(self.norm(regions)[None], tokens[None], tokens[None],
                                     need_weights=False)
        return regions + self.gamma * attended[0]
