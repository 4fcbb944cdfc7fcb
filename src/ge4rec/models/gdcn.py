"""GDCN: Gated Deep Cross Network (Wang et al., CIKM 2023)."""

from __future__ import annotations

import torch
from torch import nn

from ge4rec.models.base import register_model
from ge4rec.models.layers import CrossModel, CrossNetwork


class GatedCrossNet(CrossNetwork):
    """c_{l+1} = u_l * (W_l c_l + b_l) * sigmoid(G_l c_l) + c_l, with u_l = c_0 (the gated cross layer).

    u_l is c_0 in the discriminative paradigm and a per-layer generated embedding under SFG.
    """

    def __init__(self, width: int, num_layers: int, dropout: float = 0.0):
        super().__init__(num_layers, dropout)
        self.crosses = nn.ModuleList(nn.Linear(width, width) for _ in range(num_layers))
        self.gates = nn.ModuleList(nn.Linear(width, width, bias=False) for _ in range(num_layers))

    def cross_layer(
        self, index: int, operand: torch.Tensor, x: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        gated = self.crosses[index](x) * torch.sigmoid(self.gates[index](x))
        return x + operand * gated, gated


@register_model("gdcn")
class GDCN(CrossModel):
    """Gated cross network with a DNN: GDCN-P (parallel), GDCN-S (stacked) or the cross network alone.

    structure: parallel (default), stacked, or crossnet (no DNN).

    SFG: as for DCN-V2, whose cross layer the gated one extends: one generator per layer, and c_0
    in layer l becomes gamma*act(G_l c_l) + c_l (paradigm.source=xl, residual on by default). The
    gate and the DNN see only raw or hidden states.
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
        embedding_init_std: float = 1e-4,
    ):
        super().__init__(schema, embedding_dim, paradigm, embedding_init_std)
        cross = GatedCrossNet(self.num_fields * self.dim, num_cross_layers, dropout=paradigm.cross_dropout)
        final = self.build_cross_and_deep(cross, structure, hidden_units, dropout, batch_norm, activation)
        self.head = nn.Linear(final, 1)
