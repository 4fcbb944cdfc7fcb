"""Logistic regression: the first-order reference point (disc only)."""

from __future__ import annotations

import torch

from ge4rec.models.base import CTRModel, register_model


@register_model("lr")
class LR(CTRModel):
    """w0 + sum_i w(x_i): one learned weight per feature value, no embeddings, no interaction.

    Discriminative only: with no interaction there is nothing for a generator to act on, so
    paradigm=sfg is refused. The embedding table keeps only its first-order column.
    """

    uses_linear = True
    has_interaction = False

    def __init__(self, schema, embedding_dim, paradigm, embedding_init_std: float = 1e-4):
        # LR owns no embedding vectors: a zero-width table plus the first-order column
        super().__init__(schema, 0, paradigm, embedding_init_std)

    def forward(self, batch) -> torch.Tensor:
        _, linear = self.embedding(batch)
        return self.first_order(linear)
