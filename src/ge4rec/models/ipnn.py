"""IPNN: the inner-product neural network of PNN (Qu et al., ICDM 2016)."""

from __future__ import annotations

import torch

from ge4rec.models.base import CTRModel, register_model
from ge4rec.models.layers import MLP, pair_products


@register_model("ipnn")
class IPNN(CTRModel):
    """MLP(flatten e, <e_i, e_j>_{i<j}): the embeddings and their inner products feed an MLP.

    The product layer's linear signal (flatten e) and its inner products are concatenated; the
    MLP's first layer is the product layer's learned transform (l_z + l_p in the paper).
    SFG: the products become <z_i, e_j>; the linear signal stays on the raw embeddings.
    """

    def __init__(
        self,
        schema,
        embedding_dim,
        paradigm,
        hidden_units=(400, 400, 400),
        dropout: float = 0.2,
        batch_norm: bool = False,
        activation: str = "relu",
        embedding_init_std: float = 1e-4,
    ):
        super().__init__(schema, embedding_dim, paradigm, embedding_init_std)
        f = self.num_fields
        num_pairs = f * f if paradigm.pairs == "all" else f * (f - 1) // 2
        self.generator = self.make_generator()
        width = f * self.dim + num_pairs
        self.dnn = MLP(width, list(hidden_units), dropout, batch_norm, activation, output_dim=1)

    def forward(self, batch) -> torch.Tensor:
        e, _ = self.embedding(batch)
        z = self.generator(e)
        partner = self.paradigm.partner(e, z)
        self.record("raw", e)
        self.record("generated", z)
        self.record("operand_a", z.flatten(1))
        self.record("operand_b", partner.flatten(1))
        products = pair_products(z, partner, self.paradigm.pairs)
        return self.dnn(torch.cat([e.flatten(1), products], dim=1)).squeeze(-1)
