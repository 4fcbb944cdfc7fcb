"""Wide & Deep (Cheng et al., DLRS 2016) (disc only)."""

from __future__ import annotations

import torch

from ge4rec.models.base import register_model
from ge4rec.models.dnn import DNN


@register_model("widedeep")
class WideDeep(DNN):
    """LR (wide) + MLP(flatten e) (deep), trained jointly on one embedding table: the `dnn` model
    with a first-order part, and the same options.

    Discriminative only. The wide part is linear in the features (its hand-crafted cross-product
    columns are data preparation, outside the model) and the deep part is an MLP over the raw
    embeddings, the branch SFG keeps raw in every model (as in the SFG paper). No operand of an
    explicit embedding interaction is left for a generator, so paradigm=sfg is refused rather
    than silently training the discriminative model twice.
    """

    uses_linear = True

    def forward(self, batch) -> torch.Tensor:
        e, linear = self.embedding(batch)
        self.expose_operands(raw=e)
        return self.first_order(linear) + self.dnn(e.flatten(1)).squeeze(-1)
