"""CrossNet: DCN-V2's cross network without a DNN (Wang et al., WWW 2021)."""

from __future__ import annotations

from ge4rec.models.base import register_model
from ge4rec.models.dcnv2 import DCNv2


@register_model("crossnet")
class CrossNet(DCNv2):
    """x_{l+1} = x_0 * (W_l x_l + b_l) + x_l for L layers, then a linear head: DCNv2 with structure=crossnet.

    SFG (the paper's decoder): one generator per cross layer; x_0 in layer l becomes
    gamma*act(G_l x_l) + x_l (paradigm.source=xl, residual on by default), exactly as in dcnv2.
    """

    def __init__(
        self,
        schema,
        embedding_dim,
        paradigm,
        num_cross_layers: int = 3,
        variant: str = "stock",
        embedding_init_std: float = 1e-4,
    ):
        super().__init__(
            schema,
            embedding_dim,
            paradigm,
            structure="crossnet",
            num_cross_layers=num_cross_layers,
            hidden_units=(),
            variant=variant,
            embedding_init_std=embedding_init_std,
        )
