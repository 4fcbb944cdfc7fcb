"""FmFM / FM^2: Field-matrixed Factorization Machines (Sun et al., WWW 2021)."""

from __future__ import annotations

import torch
from torch import nn

from ge4rec.models.base import CTRModel, register_model
from ge4rec.models.layers import pair_indices


@register_model("fmfm")
class FmFM(CTRModel):
    """LR + sum_{i<j} <e_i M_F(i)F(j), e_j>: a d x d matrix per field pair maps one side first.

    interaction `matrix` is FmFM; `vector` (a diagonal M per pair) is the paper's FvFM. The pair
    matrices [P, d, d] (vectors [P, d]) start xavier-normal with torch's fan rules for their shape,
    as in the reference code (not at the identity).
    SFG (the paper's decoder): sum_{i<j} <e_i M_ij, z_j>; the raw embedding is the mapped left
    operand and the generated one the right operand.
    """

    uses_linear = True
    # buffers (register_buffer): the pairs' left and right fields
    rows: torch.Tensor
    cols: torch.Tensor

    def __init__(
        self, schema, embedding_dim, paradigm, interaction: str = "matrix", embedding_init_std: float = 1e-4
    ):
        super().__init__(schema, embedding_dim, paradigm, embedding_init_std)
        self.interaction_type = interaction
        rows, cols = pair_indices(self.num_fields, paradigm.pairs)
        self.register_buffer("rows", rows, persistent=False)
        self.register_buffer("cols", cols, persistent=False)
        shape = (len(rows), self.dim, self.dim) if interaction == "matrix" else (len(rows), self.dim)
        self.pair_map = nn.Parameter(torch.empty(shape))  # [P, d, d] or [P, d]
        self.generator = self.make_generator()

    def reset_reference_parameters(self) -> None:
        nn.init.xavier_normal_(self.pair_map)

    def interaction(self, left: torch.Tensor, right: torch.Tensor) -> torch.Tensor:
        """sum over pairs (i, j) of <left_i M_ij, right_j>, [B]."""
        lhs = left.index_select(1, self.rows)  # [B, P, d]
        if self.interaction_type == "matrix":
            mapped = torch.einsum("bpd,pde->bpe", lhs, self.pair_map)
        else:
            mapped = lhs * self.pair_map
        return (mapped * right.index_select(1, self.cols)).sum(dim=(1, 2))

    def forward(self, batch) -> torch.Tensor:
        _, linear, z, partner = self.embed_and_generate(batch)
        return self.first_order(linear) + self.interaction(partner, z)
