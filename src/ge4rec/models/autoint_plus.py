"""AutoInt+ (Song et al., CIKM 2019): AutoInt's interacting layers with a parallel DNN."""

from __future__ import annotations

from ge4rec.models.autoint import AutoInt
from ge4rec.models.base import register_model


@register_model("autoint_plus")
class AutoIntPlus(AutoInt):
    """AutoInt + MLP(flatten e): the logit sums the attention output layer and a DNN.

    The same class as `autoint` with a DNN by default (BARS-tuned attention and DNN sizes).
    SFG: as in autoint, the first interacting layer takes its queries from e and its keys and
    values from the generated z; the DNN stays raw.
    """

    def __init__(
        self,
        schema,
        embedding_dim,
        paradigm,
        attention_layers: int = 2,
        num_heads: int = 4,
        attention_dim: int = 32,
        residual: bool = True,
        scaled: bool = True,
        layer_norm: bool = True,
        use_wide: bool = True,
        dnn_hidden_units=(400, 400, 400),
        dropout: float = 0.1,
        batch_norm: bool = False,
        activation: str = "relu",
        embedding_init_std: float = 1e-4,
    ):
        super().__init__(
            schema,
            embedding_dim,
            paradigm,
            attention_layers=attention_layers,
            num_heads=num_heads,
            attention_dim=attention_dim,
            residual=residual,
            scaled=scaled,
            layer_norm=layer_norm,
            use_wide=use_wide,
            dnn_hidden_units=dnn_hidden_units,
            dropout=dropout,
            batch_norm=batch_norm,
            activation=activation,
            embedding_init_std=embedding_init_std,
        )
