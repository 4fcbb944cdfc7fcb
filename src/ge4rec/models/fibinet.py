"""FiBiNET (Huang et al., RecSys 2019): SENET field importance and bilinear feature interaction."""

from __future__ import annotations

import torch
from torch import nn

from ge4rec.models.base import CTRModel, register_model
from ge4rec.models.layers import MLP, pair_indices


class SENet(nn.Module):
    """Field weights a [B, F]: squeeze (mean over d), excite (F -> F/r -> F, ReLU after each)."""

    def __init__(self, num_fields: int, reduction_ratio: float):
        super().__init__()
        reduced = max(1, int(num_fields / float(reduction_ratio)))
        self.excite = nn.Sequential(
            nn.Linear(num_fields, reduced, bias=False),
            nn.ReLU(),
            nn.Linear(reduced, num_fields, bias=False),
            nn.ReLU(),
        )

    def forward(self, e: torch.Tensor) -> torch.Tensor:
        return self.excite(e.mean(dim=-1))


class BilinearInteraction(nn.Module):
    """p_ij = (left_i W) * right_j for every pair, [B, P, d]; W shared by all fields (field_all),
    one per left field (field_each) or one per pair (field_interaction)."""

    # buffers (register_buffer): the pairs' left and right fields
    rows: torch.Tensor
    cols: torch.Tensor

    def __init__(self, num_fields: int, dim: int, kind: str, rows: torch.Tensor, cols: torch.Tensor):
        super().__init__()
        self.kind = kind
        count = {"field_all": 1, "field_each": num_fields, "field_interaction": len(rows)}[kind]
        self.weight = nn.Parameter(torch.randn(count, dim, dim) / dim**0.5)  # xavier-normal scale for d x d
        self.register_buffer("rows", rows, persistent=False)
        self.register_buffer("cols", cols, persistent=False)

    def forward(self, left: torch.Tensor, right: torch.Tensor) -> torch.Tensor:
        if self.kind == "field_all":
            mapped = (left @ self.weight[0]).index_select(1, self.rows)
        elif self.kind == "field_each":
            mapped = torch.einsum("bfd,fde->bfe", left, self.weight).index_select(1, self.rows)
        else:
            mapped = torch.einsum("bpd,pde->bpe", left.index_select(1, self.rows), self.weight)
        return mapped * right.index_select(1, self.cols)


@register_model("fibinet")
class FiBiNET(CTRModel):
    """LR + MLP(bilinear(e), bilinear(SENET(e))): field re-weighting and bilinear products feed a DNN.

    SENET re-weights the fields (v = a * e); one bilinear layer acts on e, another on v, and their
    concatenated outputs feed the DNN.

    SFG: the right operand of every bilinear product is generated, p_ij = (e_i W_ij) * z_j, the
    same substitution the SFG paper makes in FmFM's <e_i M_ij, z_j>. The SENET branch uses the
    same field weights on both sides, q_ij = (a_i e_i W'_ij) * (a_j z_j). The weights a are
    computed from the raw e.
    """

    uses_linear = True

    def __init__(
        self,
        schema,
        embedding_dim,
        paradigm,
        bilinear_type: str = "field_interaction",
        reduction_ratio: int = 3,
        hidden_units=(400, 400, 400),
        dropout: float = 0.2,
        batch_norm: bool = False,
        activation: str = "relu",
        embedding_init_std: float = 1e-4,
    ):
        super().__init__(schema, embedding_dim, paradigm, embedding_init_std)
        rows, cols = pair_indices(self.num_fields, paradigm.pairs)
        self.senet = SENet(self.num_fields, reduction_ratio)
        self.bilinear = BilinearInteraction(self.num_fields, self.dim, bilinear_type, rows, cols)
        self.bilinear_senet = BilinearInteraction(self.num_fields, self.dim, bilinear_type, rows, cols)
        self.generator = self.make_generator()
        width = 2 * len(rows) * self.dim
        self.dnn = MLP(width, hidden_units, dropout, batch_norm, activation, output_dim=1)

    def forward(self, batch) -> torch.Tensor:
        e, linear, z, partner = self.embed_and_generate(batch)
        weights = self.senet(e).unsqueeze(-1)
        p = self.bilinear(partner, z)
        q = self.bilinear_senet(weights * partner, weights * z)
        return self.first_order(linear) + self.dnn(torch.cat([p.flatten(1), q.flatten(1)], dim=1)).squeeze(-1)
