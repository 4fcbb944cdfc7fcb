"""FwFM: Field-weighted Factorization Machines (Pan et al., WWW 2018)."""

from __future__ import annotations

import torch
from torch import nn

from ge4rec.errors import ConfigError
from ge4rec.models.base import CTRModel, register_model

LINEAR_TYPES = ("lw", "filv")


def pair_indices(num_fields: int, pairs: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Field indices (i, j) of every pair a model sums over: i<j, or all ordered pairs (i = j included)."""
    if pairs == "all":
        index = torch.arange(num_fields)
        return index.repeat_interleave(num_fields), index.repeat(num_fields)
    rows, cols = torch.triu_indices(num_fields, num_fields, offset=1)
    return rows, cols


@register_model("fwfm")
class FwFM(CTRModel):
    """sum_{i<j} r_ij <e_i, e_j> + linear: FM with one learned weight per field pair.

    linear_type `lw`: the usual per-feature weights w0 + sum_i w(x_i) (the paper's eq. 2);
    `filv`: field-wise linear vectors, sum_i <e_i, w_F(i)> (the paper's FwFM_FiLV).
    SFG: sum_{i<j} r_ij <z_i, e_j> + linear; the generated embedding is the left operand of every
    pair, the first-order part stays on the raw features.
    """

    def __init__(
        self, schema, embedding_dim, paradigm, linear_type: str = "lw", embedding_init_std: float = 1e-4
    ):
        if linear_type not in LINEAR_TYPES:
            raise ConfigError(
                f"model.linear_type: '{linear_type}' (expected one of {', '.join(LINEAR_TYPES)})"
            )
        self.uses_linear = linear_type == "lw"  # decides whether the table carries a first-order column
        super().__init__(schema, embedding_dim, paradigm, embedding_init_std)
        self.linear_type = linear_type
        rows, cols = pair_indices(self.num_fields, paradigm.pairs)
        self.register_buffer("rows", rows, persistent=False)
        self.register_buffer("cols", cols, persistent=False)
        # r_ij = 1 starts the model as an FM
        self.pair_weight = nn.Parameter(torch.ones(len(rows)))
        if linear_type == "filv":
            self.field_linear = nn.Parameter(torch.zeros(self.num_fields, self.dim))
            self.bias = nn.Parameter(torch.zeros(1))
        self.generator = self.make_generator()

    def interaction(self, left: torch.Tensor, right: torch.Tensor) -> torch.Tensor:
        """sum over pairs (i, j) of r_ij <left_i, right_j>, [B]."""
        gram = torch.einsum("bid,bjd->bij", left, right)
        return gram[:, self.rows, self.cols] @ self.pair_weight

    def forward(self, batch) -> torch.Tensor:
        e, linear = self.embedding(batch)
        z = self.generator(e)
        partner = self.paradigm.partner(e, z)
        self.record("raw", e)
        self.record("generated", z)
        self.record("operand_a", z.flatten(1))
        self.record("operand_b", partner.flatten(1))
        if self.linear_type == "filv":
            first = (e * self.field_linear).sum(dim=(1, 2)) + self.bias
        else:
            first = self.first_order(linear)
        return first + self.interaction(z, partner)
