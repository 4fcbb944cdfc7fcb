"""CIN: xDeepFM's Compressed Interaction Network without its DNN (Lian et al., KDD 2018)."""

from __future__ import annotations

from ge4rec.models.base import register_model
from ge4rec.models.xdeepfm import XDeepFM


@register_model("cin")
class CIN(XDeepFM):
    """LR + CIN(e): xDeepFM's explicit, vector-wise interaction part on its own.

    SFG: as in xDeepFM, one generator per CIN layer; layer k crosses its hidden state with
    Z^(k) = G_k(e) instead of X^0 = e.
    """

    def __init__(
        self,
        schema,
        embedding_dim,
        paradigm,
        cin_layer_units=(64, 64, 64),
        split_half: bool = False,
        cin_activation: str = "identity",
        embedding_init_std: float = 1e-4,
    ):
        super().__init__(
            schema,
            embedding_dim,
            paradigm,
            cin_layer_units=cin_layer_units,
            split_half=split_half,
            cin_activation=cin_activation,
            hidden_units=(),
            embedding_init_std=embedding_init_std,
        )
