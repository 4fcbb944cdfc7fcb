"""DCN: Deep & Cross Network (Wang et al., ADKDD 2017), the rank-one cross network beside a DNN."""

from __future__ import annotations

import torch
from torch import nn

from ge4rec.models.base import register_model
from ge4rec.models.layers import CrossModel, CrossNetwork


class CrossNetV1(CrossNetwork):
    """x_{l+1} = u_l (x_l . w_l) + b_l + x_l, i.e. x_0 x_l^T w_l + b_l + x_l with u_l = x_0.

    The operand u_l is x_0 in the discriminative paradigm and a per-layer generated embedding under
    SFG (read from x_l, or from x_0 with paradigm.source=x0), as in DCN-V2's cross network. It
    meets x_l itself: the two sides of the outer product x_0 x_l^T.
    """

    def __init__(self, width: int, num_layers: int, dropout: float = 0.0):
        super().__init__(num_layers, dropout)
        # one Linear(width, 1) per layer holds w_l (xavier-normal, as every Linear), b_l is separate
        self.projections = nn.ModuleList(nn.Linear(width, 1, bias=False) for _ in range(num_layers))
        self.biases = nn.ParameterList(nn.Parameter(torch.zeros(width)) for _ in range(num_layers))

    def cross_layer(
        self, index: int, operand: torch.Tensor, x: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        return x + operand * self.projections[index](x) + self.biases[index], x


@register_model("dcn")
class DCN(CrossModel):
    """Cross network x_0 x_l^T w_l + b_l + x_l in parallel with a DNN, joined by one linear layer.

    The two outputs are concatenated into the paper's combination layer.

    SFG: each cross layer gets its own generator and its x_0 operand becomes gamma*act(G_l x_l) + x_l
    (paradigm.source=xl, residual on by default), the treatment the SFG paper gives DCN-V2's cross
    layers, of which DCN's are the rank-one special case. The DNN stays on the raw embeddings.
    """

    # which entries of the operands' cross-correlation the interaction multiplies (analysis)
    operand_pairing = "outer"

    def __init__(
        self,
        schema,
        embedding_dim,
        paradigm,
        num_cross_layers: int = 3,
        hidden_units=(400, 400, 400),
        dropout: float = 0.2,
        batch_norm: bool = False,
        activation: str = "relu",
        embedding_init_std: float = 1e-4,
    ):
        super().__init__(schema, embedding_dim, paradigm, embedding_init_std)
        cross = CrossNetV1(self.num_fields * self.dim, num_cross_layers, dropout=paradigm.cross_dropout)
        final = self.build_cross_and_deep(cross, "parallel", hidden_units, dropout, batch_norm, activation)
        self.head = nn.Linear(final, 1)
