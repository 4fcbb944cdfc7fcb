"""Wide & Deep (Cheng et al., DLRS 2016) (disc only)."""

from __future__ import annotations

import torch

from ge4rec.models.base import CTRModel, register_model
from ge4rec.models.layers import MLP


@register_model("widedeep")
class WideDeep(CTRModel):
    """LR (wide) + MLP(flatten e) (deep), trained jointly on one embedding table.

    Discriminative only. The wide part is linear in the features (its hand-crafted cross-product
    columns are data preparation, outside the model) and the deep part is an MLP over the raw
    embeddings, the branch SFG keeps raw in every model (as in the SFG paper). No operand of an
    explicit embedding interaction is left for a generator, so paradigm=sfg is refused rather
    than silently training the discriminative model twice.
    """

    uses_linear = True
    has_interaction = False

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
        width = self.num_fields * self.dim
        self.dnn = MLP(width, list(hidden_units), dropout, batch_norm, activation, output_dim=1)

    def forward(self, batch) -> torch.Tensor:
        e, linear = self.embedding(batch)
        self.expose_operands(raw=e)
        return self.first_order(linear) + self.dnn(e.flatten(1)).squeeze(-1)
