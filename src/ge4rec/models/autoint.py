"""AutoInt (Song et al., CIKM 2019): multi-head self-attention over fields; AutoInt+ adds a DNN."""

from __future__ import annotations

import torch
from torch import nn

from ge4rec.models.base import CTRModel, register_model
from ge4rec.models.layers import optional_mlp


class InteractingLayer(nn.Module):
    """One interacting layer: every field attends over all fields with `num_heads` heads.

    out_m = ReLU(concat_h sum_k softmax_k(<W_Q^h q_m, W_K^h c_k>) W_V^h c_k + W_Res q_m), where
    the queries q come from one tensor and the keys/values c from another (the same one in the
    paper). `scaled` divides the scores by sqrt(head_dim); `layer_norm` normalises the output.
    """

    def __init__(
        self,
        in_dim: int,
        head_dim: int,
        num_heads: int,
        residual: bool = True,
        scaled: bool = False,
        layer_norm: bool = False,
    ):
        super().__init__()
        out = head_dim * num_heads
        self.num_heads, self.head_dim, self.scaled = num_heads, head_dim, scaled
        self.query = nn.Linear(in_dim, out, bias=False)
        self.key = nn.Linear(in_dim, out, bias=False)
        self.value = nn.Linear(in_dim, out, bias=False)
        self.residual = nn.Linear(in_dim, out, bias=False) if residual else None
        self.norm = nn.LayerNorm(out) if layer_norm else None
        self.out_dim = out

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        b, f, _ = x.shape
        return x.view(b, f, self.num_heads, self.head_dim).transpose(1, 2)  # [B, H, F, dh]

    def forward(self, queries: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        q = self._heads(self.query(queries))
        k, v = self._heads(self.key(context)), self._heads(self.value(context))
        scores = q @ k.transpose(-1, -2)
        if self.scaled:
            scores = scores / self.head_dim**0.5
        attended = (scores.softmax(dim=-1) @ v).transpose(1, 2).flatten(2)  # [B, F, H * dh]
        if self.residual is not None:
            attended = attended + self.residual(queries)
        out = torch.relu(attended)
        return self.norm(out) if self.norm is not None else out


@register_model("autoint")
class AutoInt(CTRModel):
    """Stacked multi-head self-attention over the fields, then a linear output layer.

    With `dnn_hidden_units` the model is AutoInt+ (a DNN over flatten e added to the logit, as in
    `autoint_plus`); `use_wide` adds an LR term.
    SFG: in the first interacting layer the queries (and the residual) come from the raw e and
    the keys and values from the generated z, so every field attends over generated embeddings:
    attention <q(e_m), k(z_k)> plays FM's <e_i, z_j>, and the values carry z the way the other
    side of a product does. Later layers attend over hidden states, which are no longer embeddings,
    so they are unchanged; the DNN stays raw.
    """

    def __init__(
        self,
        schema,
        embedding_dim,
        paradigm,
        attention_layers: int = 3,
        num_heads: int = 2,
        attention_dim: int = 32,
        residual: bool = True,
        scaled: bool = False,
        layer_norm: bool = False,
        use_wide: bool = False,
        dnn_hidden_units=(),
        dropout: float = 0.0,
        batch_norm: bool = False,
        activation: str = "relu",
        embedding_init_std: float = 1e-4,
    ):
        self.uses_linear = use_wide  # decides whether the table carries a first-order column
        super().__init__(schema, embedding_dim, paradigm, embedding_init_std)
        self.generator = self.make_generator()
        layers, width = [], self.dim
        for _ in range(attention_layers):
            layer = InteractingLayer(width, attention_dim, num_heads, residual, scaled, layer_norm)
            layers.append(layer)
            width = layer.out_dim
        self.attention = nn.ModuleList(layers)
        self.attention_head = nn.Linear(self.num_fields * width, 1)
        width = self.num_fields * self.dim
        self.dnn = optional_mlp(width, dnn_hidden_units, dropout, batch_norm, activation, output_dim=1)

    def forward(self, batch) -> torch.Tensor:
        e, linear, z, queries = self.embed_and_generate(batch)
        h = self.attention[0](queries, z)
        for layer in self.attention[1:]:
            h = layer(h, h)
        logit = self.attention_head(h.flatten(1)).squeeze(-1)
        if self.dnn is not None:
            logit = logit + self.dnn(e.flatten(1)).squeeze(-1)
        if self.uses_linear:
            logit = logit + self.first_order(linear)
        return logit
