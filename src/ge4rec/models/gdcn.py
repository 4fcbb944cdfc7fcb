"""GDCN: Gated Deep Cross Network (Wang et al., CIKM 2023)."""

from __future__ import annotations

import torch
from torch import nn

from ge4rec.errors import ConfigError
from ge4rec.models.base import CTRModel, register_model
from ge4rec.models.layers import MLP

STRUCTURES = ("parallel", "stacked", "crossnet")


class GatedCrossNet(nn.Module):
    """c_{l+1} = u_l * (W_l c_l + b_l) * sigmoid(G_l c_l) + c_l, with u_l = c_0 (the gated cross layer).

    u_l is c_0 in the discriminative paradigm and a per-layer generated embedding under SFG.
    """

    def __init__(self, width: int, num_layers: int):
        super().__init__()
        self.crosses = nn.ModuleList(nn.Linear(width, width) for _ in range(num_layers))
        self.gates = nn.ModuleList(nn.Linear(width, width, bias=False) for _ in range(num_layers))

    def forward(
        self,
        x0: torch.Tensor,
        generators: nn.ModuleList,
        source: str,
        generative: bool,
        shape: tuple[int, int],
        record=None,
    ) -> torch.Tensor:
        x = x0
        f, d = shape
        for index, (cross, gate, gen) in enumerate(zip(self.crosses, self.gates, generators)):
            raw = x if (generative and source == "xl") else x0
            operand = gen(raw.view(-1, f, d)).reshape(raw.shape)
            gated = cross(x) * torch.sigmoid(gate(x))
            if record is not None:
                record(f"generated.{index}", operand)
                if index == 0:
                    record("operand_a", operand)
                    record("operand_b", gated)
            x = x + operand * gated
        return x


@register_model("gdcn")
class GDCN(CTRModel):
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
        if structure not in STRUCTURES:
            raise ConfigError(f"model.structure: '{structure}' (expected one of {', '.join(STRUCTURES)})")
        self.structure = structure
        width = self.num_fields * self.dim
        self.cross = GatedCrossNet(width, int(num_cross_layers))
        self.generators = self.make_generators(int(num_cross_layers), residual_default=True)
        hidden = list(hidden_units)
        if structure == "crossnet" or not hidden:
            self.dnn, final = None, width
        else:
            self.dnn = MLP(width, hidden, dropout, batch_norm, activation)
            final = width + self.dnn.out_dim if structure == "parallel" else self.dnn.out_dim
        self.head = nn.Linear(final, 1)

    def forward(self, batch) -> torch.Tensor:
        e, _ = self.embedding(batch)
        x0 = e.flatten(1)
        self.record("raw", e)
        crossed = self.cross(
            x0,
            self.generators,
            self.paradigm.cross_source,
            self.paradigm.generative,
            (self.num_fields, self.dim),
            self.record,
        )
        if self.dnn is None:
            out = crossed
        elif self.structure == "parallel":
            out = torch.cat([crossed, self.dnn(x0)], dim=1)
        else:
            out = self.dnn(crossed)
        return self.head(out).squeeze(-1)
