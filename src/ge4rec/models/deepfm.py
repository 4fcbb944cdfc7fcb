"""DeepFM (Guo et al., IJCAI 2017)."""

from __future__ import annotations

import torch

from ge4rec.models.base import CTRModel, register_model
from ge4rec.models.layers import MLP, pair_sum


@register_model("deepfm")
class DeepFM(CTRModel):
    """LR + FM(e) + MLP(flatten e), all sharing one embedding table.

    SFG: the FM term becomes sum_{i<j} <z_i, e_j>; the deep branch stays on the raw embeddings.
    """

    uses_linear = True

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
        self.dnn = MLP(
            self.num_fields * self.dim, hidden_units, dropout, batch_norm, activation, output_dim=1
        )

    def forward(self, batch) -> torch.Tensor:
        e, linear, z, partner = self.embed_and_generate(batch)
        deep = self.dnn(e.flatten(1)).squeeze(-1)
        return self.first_order(linear) + pair_sum(z, partner, self.paradigm.pairs) + deep
