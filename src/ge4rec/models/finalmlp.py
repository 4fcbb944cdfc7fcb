"""FinalMLP (Mao et al., AAAI 2023): two MLP streams with feature gating and bilinear fusion."""

from __future__ import annotations

import torch
from torch import nn

from ge4rec.errors import ConfigError
from ge4rec.models.base import CTRModel, register_model
from ge4rec.models.layers import MLP


class FeatureGate(nn.Module):
    """Stream-specific feature selection: g = 2 * sigmoid(MLP(context)), one gate per input unit.

    The context is the concatenated embeddings of the named fields, or a learned vector when no
    field is named (then the gate is the same for every sample).
    """

    context: torch.Tensor  # buffer (register_buffer): the context fields' indices

    def __init__(self, context: list[int], dim: int, out_dim: int, hidden_units):
        super().__init__()
        self.register_buffer("context", torch.tensor(context, dtype=torch.long), persistent=False)
        self.context_vector = None if context else nn.Parameter(torch.randn(1, dim) * 0.01)
        in_dim = len(context) * dim if context else dim
        self.mlp = MLP(in_dim, hidden_units, output_dim=out_dim)

    def forward(self, e: torch.Tensor) -> torch.Tensor:
        source = self.context_vector if self.context_vector is not None else e[:, self.context].flatten(1)
        return 2 * torch.sigmoid(self.mlp(source))


class BilinearFusion(nn.Module):
    """b + w_x^T x + w_y^T y + sum_h x_h^T W_h y_h over `num_heads` chunks of x and y."""

    def __init__(self, dim_x: int, dim_y: int, num_heads: int):
        super().__init__()
        self.num_heads = num_heads
        self.linear_x = nn.Linear(dim_x, 1)
        self.linear_y = nn.Linear(dim_y, 1, bias=False)
        self.weight = nn.Parameter(torch.empty(num_heads, dim_x // num_heads, dim_y // num_heads))
        nn.init.xavier_normal_(self.weight)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        b = x.shape[0]
        heads = torch.einsum(
            "bhi,hij,bhj->b", x.view(b, self.num_heads, -1), self.weight, y.view(b, self.num_heads, -1)
        )
        return self.linear_x(x).squeeze(-1) + self.linear_y(y).squeeze(-1) + heads


@register_model("finalmlp")
class FinalMLP(CTRModel):
    """Two MLP streams over gated copies of flatten(e), fused by a multi-head bilinear layer.

    SFG: the fusion x^T W y is where FinalMLP's two representations multiply, so one stream starts
    from generated embeddings: stream 1 reads the (gated) raw e, stream 2 the (gated) z, and the
    fusion crosses a raw stream with a generated one, the way FM's <z_i, e_j> crosses a generated
    with a raw embedding. The gates' context comes from the raw e.
    """

    gate1: FeatureGate | None  # both, or neither (use_fs)
    gate2: FeatureGate | None

    def __init__(
        self,
        schema,
        embedding_dim,
        paradigm,
        mlp1_hidden_units=(400,),
        mlp1_dropout: float = 0.4,
        mlp1_batch_norm: bool = False,
        mlp2_hidden_units=(800,),
        mlp2_dropout: float = 0.2,
        mlp2_batch_norm: bool = False,
        activation: str = "relu",
        use_fs: bool = True,
        fs_hidden_units=(800,),
        fs1_context=(),
        fs2_context=(),
        num_heads: int = 10,
        embedding_init_std: float = 1e-4,
    ):
        super().__init__(schema, embedding_dim, paradigm, embedding_init_std)
        width = self.num_fields * self.dim
        self.generator = self.make_generator()
        self.stream1 = MLP(width, mlp1_hidden_units, mlp1_dropout, mlp1_batch_norm, activation)
        self.stream2 = MLP(width, mlp2_hidden_units, mlp2_dropout, mlp2_batch_norm, activation)
        if use_fs:
            context1 = self._field_indices(fs1_context, "fs1_context")
            context2 = self._field_indices(fs2_context, "fs2_context")
            self.gate1 = FeatureGate(context1, self.dim, width, fs_hidden_units)
            self.gate2 = FeatureGate(context2, self.dim, width, fs_hidden_units)
        else:
            self.gate1 = self.gate2 = None
        self.fusion = BilinearFusion(self.stream1.out_dim, self.stream2.out_dim, num_heads)

    def _field_indices(self, names, key: str) -> list[int]:
        names = [str(n) for n in names]
        unknown = [n for n in names if n not in self.schema.names]
        if unknown:
            raise ConfigError(
                f"model.{key}: unknown field(s) {unknown} (fields: {', '.join(self.schema.names)})"
            )
        return [self.schema.names.index(n) for n in names]

    def forward(self, batch) -> torch.Tensor:
        e, _, z, partner = self.embed_and_generate(batch)
        x1, x2 = partner.flatten(1), z.flatten(1)
        if self.gate1 is not None and self.gate2 is not None:
            x1, x2 = x1 * self.gate1(e), x2 * self.gate2(e)
        return self.fusion(self.stream1(x1), self.stream2(x2))
