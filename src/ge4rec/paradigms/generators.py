"""Generators: maps from the raw field embeddings V [B, F, d] to the operand Z [B, F, d]."""

from __future__ import annotations

import torch
from torch import nn

from ge4rec.models.layers import activation


class Generator(nn.Module):
    """Base class; `forward` takes and returns [B, F, d] (or the flattened [B, F*d])."""

    def __init__(self, num_fields: int, dim: int):
        super().__init__()
        self.num_fields, self.dim = num_fields, dim


class IdentityGenerator(Generator):
    """The discriminative paradigm: Z = V."""

    def forward(self, v: torch.Tensor) -> torch.Tensor:
        return v


class DenseGenerator(Generator):
    """All-Predict-All: Z = gamma * act(W flatten(V) [+ b]) [+ V], W in R^{(F d) x (F d)}.

    Row block i of W is field i's encoder over the concatenation of all fields. W is initialised
    xavier-normal; gamma is a fixed scale, not learned.
    """

    def __init__(self, num_fields: int, dim: int, act: str = "relu", gamma: float = 1.0, bias: bool = False,
                 residual: bool = False):
        super().__init__(num_fields, dim)
        width = num_fields * dim
        self.linear = nn.Linear(width, width, bias=bias)
        nn.init.xavier_normal_(self.linear.weight)
        if bias:
            nn.init.zeros_(self.linear.bias)
        self.act = activation(act, "paradigm.activation")
        self.gamma, self.residual = float(gamma), bool(residual)

    def forward(self, v: torch.Tensor) -> torch.Tensor:
        flat = v.reshape(v.shape[0], -1)
        z = self.gamma * self.act(self.linear(flat))
        if self.residual:
            z = z + flat
        return z.reshape(v.shape)


# generator kinds selectable with paradigm.generator=NAME; each takes (num_fields, dim, **options)
GENERATORS: dict[str, type[Generator]] = {"identity": IdentityGenerator, "dense": DenseGenerator}
