"""DCN-V2 (Wang et al., WWW 2021) and its cross network alone."""

from __future__ import annotations

import torch
from torch import nn

from ge4rec.models.base import register_model
from ge4rec.models.layers import CrossModel, CrossNetwork


class CrossNetV2(CrossNetwork):
    """x_{l+1} = x_l + u_l * (W_l x_l + b_l), where the interaction operand u_l is x_0 in the
    discriminative paradigm and a per-layer generated embedding under SFG."""

    def __init__(self, width: int, num_layers: int, bias: bool, dropout: float = 0.0):
        super().__init__(num_layers, dropout)
        self.layers = nn.ModuleList(nn.Linear(width, width, bias=bias) for _ in range(num_layers))

    def cross_layer(
        self, index: int, operand: torch.Tensor, x: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        crossed = self.layers[index](x)
        return x + operand * crossed, crossed


@register_model("dcnv2")
class DCNv2(CrossModel):
    """Cross network (full-rank) with a DNN, parallel or stacked.

    variant `stock` (the paper): cross layers with bias, one linear output layer. variant
    `reference` (the SFG authors' code, in both paradigms): bias-free crosses and a two-layer head
    Linear(D, 2D)-ReLU-Linear(2D, 1).

    SFG: each cross layer l gets its own generator G_l and its x_0 operand becomes
    gamma*act(G_l x_l) + x_l (paradigm.source=xl, residual on by default, as the reference does);
    with paradigm.source=x0 the generator reads x_0 instead. The identity generator (disc, or
    paradigm.generator=identity) gives back x_0 for either source, so it is the discriminative
    model exactly. paradigm.cross_dropout (SFG only) drops units of each cross layer's output.
    The DNN stays on the raw embeddings.
    """

    def __init__(
        self,
        schema,
        embedding_dim,
        paradigm,
        structure: str = "parallel",
        num_cross_layers: int = 3,
        hidden_units=(400, 400, 400),
        dropout: float = 0.2,
        batch_norm: bool = False,
        activation: str = "relu",
        variant: str = "stock",
        embedding_init_std: float = 1e-4,
    ):
        super().__init__(schema, embedding_dim, paradigm, embedding_init_std)
        self.variant = variant
        cross = CrossNetV2(
            self.num_fields * self.dim,
            num_cross_layers,
            bias=(variant == "stock"),
            dropout=paradigm.cross_dropout,
        )
        final = self.build_cross_and_deep(cross, structure, hidden_units, dropout, batch_norm, activation)
        if variant == "reference":
            self.head = nn.Sequential(nn.Linear(final, 2 * final), nn.ReLU(), nn.Linear(2 * final, 1))
        else:
            self.head = nn.Linear(final, 1)
