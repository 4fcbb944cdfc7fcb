"""GDCN: Gated Deep Cross Network (Wang et al., CIKM 2023)."""

from __future__ import annotations

import torch
from torch import nn

from ge4rec.models.base import CTRModel, register_model
from ge4rec.models.layers import CrossDropout, combine_cross_deep, cross_operand, deep_tower, record_cross


class GatedCrossNet(nn.Module):
    """c_{l+1} = u_l * (W_l c_l + b_l) * sigmoid(G_l c_l) + c_l, with u_l = c_0 (the gated cross layer).

    u_l is c_0 in the discriminative paradigm and a per-layer generated embedding under SFG.
    """

    def __init__(self, width: int, num_layers: int, dropout: float = 0.0):
        super().__init__()
        self.crosses = nn.ModuleList(nn.Linear(width, width) for _ in range(num_layers))
        self.gates = nn.ModuleList(nn.Linear(width, width, bias=False) for _ in range(num_layers))
        self.dropout = CrossDropout(dropout)

    def forward(
        self,
        x0: torch.Tensor,
        generators: nn.ModuleList,
        record=None,
    ) -> torch.Tensor:
        x = x0
        for index, (cross, gate, gen) in enumerate(zip(self.crosses, self.gates, generators)):
            operand = cross_operand(x0, x, gen)
            gated = cross(x) * torch.sigmoid(gate(x))
            record_cross(record, index, operand, gated)
            x = self.dropout(x + operand * gated)
        return x


@register_model("gdcn")
class GDCN(CTRModel):
    """Gated cross network with a DNN: GDCN-P (parallel), GDCN-S (stacked) or the cross network alone.

    structure: parallel (default), stacked, or crossnet (no DNN).

    SFG: as for DCN-V2, whose cross layer the gated one extends: one generator per layer, and c_0
    in layer l becomes gamma*act(G_l c_l) + c_l (paradigm.source=xl, residual on by default). The
    gate and the DNN see only raw or hidden states.
    """

    # which entries of the operands' cross-correlation the interaction multiplies (analysis)
    operand_pairing = "hadamard"

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
        self.structure = structure
        width = self.num_fields * self.dim
        self.cross = GatedCrossNet(width, num_cross_layers, dropout=paradigm.cross_dropout)
        self.generators = self.make_generators(num_cross_layers, residual_default=True)
        self.dnn, final = deep_tower(structure, width, hidden_units, dropout, batch_norm, activation)
        self.head = nn.Linear(final, 1)

    def forward(self, batch) -> torch.Tensor:
        e, _ = self.embedding(batch)
        x0 = e.flatten(1)
        self.record("raw", e)
        crossed = self.cross(
            x0,
            self.generators,
            self.record,
        )
        return self.head(combine_cross_deep(self.structure, crossed, x0, self.dnn)).squeeze(-1)
