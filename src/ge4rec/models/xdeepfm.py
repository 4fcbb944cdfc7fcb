"""xDeepFM (Lian et al., KDD 2018): the Compressed Interaction Network beside a DNN."""

from __future__ import annotations

import torch
from torch import nn

from ge4rec.models.base import CTRModel, register_model
from ge4rec.models.layers import activation, optional_mlp


class CompressedInteraction(nn.Module):
    """CIN: X^k_h = sum_{i,j} W^{k,h}_{ij} (X^{k-1}_i * U^k_j), then sum pooling over d per feature map.

    U^k is X^0 in the discriminative paradigm and the layer's generated embedding under SFG. Each
    layer is a 1x1 convolution over the H_{k-1} * F outer (Hadamard) products. With split_half
    (the authors' code), half of each hidden layer's maps go to the output and half to the next layer.
    """

    def __init__(self, num_fields: int, layer_units, split_half: bool = False, act: str = "identity"):
        super().__init__()
        units = list(layer_units)
        self.split_half = split_half
        self.layers = nn.ModuleList()
        self.act = activation(act, "model.cin_activation")
        hidden, out_dim = num_fields, 0
        for k, size in enumerate(units):
            last = k == len(units) - 1
            self.layers.append(nn.Conv1d(hidden * num_fields, size, kernel_size=1))
            if self.split_half and not last:
                hidden, out_dim = size // 2, out_dim + size // 2
            else:
                hidden, out_dim = size, out_dim + size
        self.out_dim = out_dim

    def forward(self, x0: torch.Tensor, operands: list[torch.Tensor]) -> torch.Tensor:
        """x0: the first hidden state [B, F, d]; operands: one [B, F, d] per layer. Returns [B, out_dim]."""
        x, pooled = x0, []
        last = len(self.layers) - 1
        for k, (layer, u) in enumerate(zip(self.layers, operands)):
            outer = (x.unsqueeze(2) * u.unsqueeze(1)).flatten(1, 2)  # [B, H * F, d]
            h = self.act(layer(outer))  # [B, H_k, d]
            if self.split_half and k < last:
                x, out = h.chunk(2, dim=1)
            else:
                x = out = h
            pooled.append(out.sum(dim=-1))
        return torch.cat(pooled, dim=1)


@register_model("xdeepfm")
class XDeepFM(CTRModel):
    """LR + CIN(e) + MLP(flatten e), one embedding table; empty hidden_units leaves the CIN alone.

    SFG (the paper's decoder): one generator per CIN layer, and layer k crosses its hidden state
    with Z^(k) = G_k(e) instead of X^0 = e; the first hidden state is e. The DNN stays raw.
    """

    # which entries of the operands' cross-correlation the interaction multiplies (analysis)
    operand_pairing = "fields_all"

    uses_linear = True

    def __init__(
        self,
        schema,
        embedding_dim,
        paradigm,
        cin_layer_units=(64, 64, 64),
        split_half: bool = False,
        cin_activation: str = "identity",
        hidden_units=(400, 400, 400),
        dropout: float = 0.3,
        batch_norm: bool = False,
        activation: str = "relu",
        embedding_init_std: float = 1e-4,
    ):
        super().__init__(schema, embedding_dim, paradigm, embedding_init_std)
        self.cin = CompressedInteraction(self.num_fields, cin_layer_units, split_half, cin_activation)
        self.generators = self.make_generators(len(self.cin.layers))
        self.cin_head = nn.Linear(self.cin.out_dim, 1)
        width = self.num_fields * self.dim
        self.dnn = optional_mlp(width, hidden_units, dropout, batch_norm, activation, output_dim=1)

    def forward(self, batch) -> torch.Tensor:
        e, linear = self.embedding(batch)
        done: dict[int, torch.Tensor] = {}  # a generator shared by all layers runs once
        operands = []
        for gen in self.generators:
            if id(gen) not in done:
                done[id(gen)] = gen(e)
            operands.append(done[id(gen)])
        start = self.paradigm.partner(e, operands[0])
        self.expose_operands(raw=e, generated=operands[0], partner=start, layer=0)
        for k, z in enumerate(operands[1:], start=1):
            self.expose_operands(generated=z, layer=k)
        logit = self.first_order(linear) + self.cin_head(self.cin(start, operands)).squeeze(-1)
        if self.dnn is not None:
            logit = logit + self.dnn(e.flatten(1)).squeeze(-1)
        return logit
