"""IPNN: the inner-product neural network of PNN (Qu et al., ICDM 2016)."""

from __future__ import annotations

import torch

from ge4rec.models.base import CTRModel, register_model
from ge4rec.models.layers import MLP, num_pairs, pair_products


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
        self.generator = self.make_generator()
        width = self.num_fields * self.dim + num_pairs(self.num_fields, paradigm.pairs)
        self.dnn = MLP(width, hidden_units, dropout, batch_norm, activation, output_dim=1)

    def forward(self, batch) -> torch.Tensor:
        e, _, z, partner = self.embed_and_generate(batch)
        products = pair_products(z, partner, self.paradigm.pairs)
        return self.dnn(torch.cat([e.flatten(1), products], dim=1)).squeeze(-1)
