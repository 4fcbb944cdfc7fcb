"""FwFM: Field-weighted Factorization Machines (Pan et al., WWW 2018)."""

from __future__ import annotations

import torch
from torch import nn

from ge4rec.models.base import CTRModel, register_model


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

    The linear part (the FwFM paper's three forms): linear_type `lw`, a weight per feature value,
    w0 + sum_i w(x_i); `felv`, feature-wise linear vectors, sum_i <e_i, w(x_i)> with a d-vector per
    value (read from the same table lookup as e_i); `filv`, field-wise linear vectors,
    sum_i <e_i, w_F(i)> with a d-vector per field. The pair weights r_ij are the weight of a
    Linear(P, 1) (xavier-normal, zero bias), as in the reference code, not ones.
    SFG: sum_{i<j} r_ij <z_i, e_j> + linear; the generated embedding is the left operand of every
    pair, the first-order part stays on the raw features.
    """

    def __init__(
        self, schema, embedding_dim, paradigm, linear_type: str = "lw", embedding_init_std: float = 1e-4
    ):
        self.uses_linear = linear_type == "lw"  # decides whether the table carries a first-order column
        self.linear_vectors = linear_type == "felv"  # ... or a d-vector per value
        super().__init__(schema, embedding_dim, paradigm, embedding_init_std)
        self.linear_type = linear_type
        rows, cols = pair_indices(self.num_fields, paradigm.pairs)
        self.register_buffer("rows", rows, persistent=False)
        self.register_buffer("cols", cols, persistent=False)
        self.pair_weight = nn.Linear(len(rows), 1)  # r_ij, and the model's global bias
        if linear_type == "filv":
            self.field_linear = nn.Linear(self.num_fields * self.dim, 1, bias=False)  # w_F(i), flattened
        self.generator = self.make_generator()

    def interaction(self, left: torch.Tensor, right: torch.Tensor) -> torch.Tensor:
        """sum over pairs (i, j) of r_ij <left_i, right_j> (+ the pair layer's bias), [B]."""
        gram = torch.einsum("bid,bjd->bij", left, right)
        return self.pair_weight(gram[:, self.rows, self.cols]).squeeze(-1)

    def forward(self, batch) -> torch.Tensor:
        e, linear = self.embedding(batch)
        z = self.generator(e)
        partner = self.paradigm.partner(e, z)
        self.record("raw", e)
        self.record("generated", z)
        self.record("operand_a", z.flatten(1))
        self.record("operand_b", partner.flatten(1))
        if self.linear_type == "filv":
            first = self.field_linear(e.flatten(1)).squeeze(-1)
        elif self.linear_type == "felv":
            first = (e * linear).sum(dim=(1, 2))  # linear: the values' d-vectors [B, F, d]
        else:
            first = self.first_order(linear)
        return first + self.interaction(z, partner)
