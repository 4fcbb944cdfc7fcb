"""FwFM: Field-weighted Factorization Machines (Pan et al., WWW 2018)."""

from __future__ import annotations

import torch
from torch import nn

from ge4rec.models.base import CTRModel, register_model
from ge4rec.models.layers import num_pairs, pair_products


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
        # r_ij, and the model's global bias
        self.pair_weight = nn.Linear(num_pairs(self.num_fields, paradigm.pairs), 1)
        if linear_type == "filv":
            self.field_linear = nn.Linear(self.num_fields * self.dim, 1, bias=False)  # w_F(i), flattened
        self.generator = self.make_generator()

    def interaction(self, left: torch.Tensor, right: torch.Tensor) -> torch.Tensor:
        """sum over pairs (i, j) of r_ij <left_i, right_j> (+ the pair layer's bias), [B]."""
        return self.pair_weight(pair_products(left, right, self.paradigm.pairs)).squeeze(-1)

    def forward(self, batch) -> torch.Tensor:
        e, linear, z, partner = self.embed_and_generate(batch)
        if self.linear_type == "filv":
            first = self.field_linear(e.flatten(1)).squeeze(-1)
        elif self.linear_type == "felv":
            assert linear is not None  # the table carries the d-vectors under felv
            first = (e * linear).sum(dim=(1, 2))  # linear: the values' d-vectors [B, F, d]
        else:
            first = self.first_order(linear)
        return first + self.interaction(z, partner)
