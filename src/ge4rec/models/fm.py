"""Factorization Machine (Rendle, ICDM 2010)."""

from __future__ import annotations

import torch

from ge4rec.models.base import CTRModel, register_model
from ge4rec.models.layers import pair_sum


@register_model("fm")
class FM(CTRModel):
    """LR + sum_{i<j} <e_i, e_j>.

    SFG: the left operand of every pair is generated, LR + sum_{i<j} <z_i, e_j>.
    """

    uses_linear = True

    def __init__(self, schema, embedding_dim, paradigm, embedding_init_std: float = 1e-4):
        super().__init__(schema, embedding_dim, paradigm, embedding_init_std)
        self.generator = self.make_generator()

    def forward(self, batch) -> torch.Tensor:
        _, linear, z, partner = self.embed_and_generate(batch)
        return self.first_order(linear) + pair_sum(z, partner, self.paradigm.pairs)
