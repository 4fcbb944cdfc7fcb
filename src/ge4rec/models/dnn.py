"""DNN: an MLP over the concatenated field embeddings (disc only)."""

from __future__ import annotations

import torch

from ge4rec.models.base import CTRModel, register_model
from ge4rec.models.layers import MLP


@register_model("dnn")
class DNN(CTRModel):
    """MLP(flatten e): fields interact only implicitly, inside the hidden layers.

    Discriminative only: an MLP over the raw embeddings is the branch SFG leaves raw, and the model
    has no explicit interaction whose operand could be generated, so paradigm=sfg is refused.
    """

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
        self.dnn = MLP(width, hidden_units, dropout, batch_norm, activation, output_dim=1)

    def forward(self, batch) -> torch.Tensor:
        e, _ = self.embedding(batch)
        self.expose_operands(raw=e)
        return self.dnn(e.flatten(1)).squeeze(-1)
