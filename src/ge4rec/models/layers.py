"""Building blocks shared by the base models: activations by name, MLP towers, field pairs and
the cross networks' skeleton."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import cast

import torch
from torch import nn

from ge4rec.errors import ConfigError
from ge4rec.models.base import CTRModel
from ge4rec.paradigms.generators import ACTIVATIONS as GENERATOR_ACTIVATIONS
from ge4rec.paradigms.generators import Generator

# model.activation and model.cin_activation: the generators' activations, plus PReLU
ACTIVATIONS: dict[str, type[nn.Module]] = {**GENERATOR_ACTIVATIONS, "prelu": nn.PReLU}


def activation(name: str, where: str = "activation") -> nn.Module:
    try:
        return ACTIVATIONS[str(name).lower()]()
    except KeyError:
        raise ConfigError(
            f"{where}: unknown activation '{name}' (choose from: {', '.join(ACTIVATIONS)})"
        ) from None


class MLP(nn.Module):
    """Linear -> [BatchNorm] -> activation -> [Dropout] per hidden layer, optional output layer."""

    def __init__(
        self,
        in_dim: int,
        hidden: Iterable[int],
        dropout: float = 0.0,
        batch_norm: bool = False,
        act: str = "relu",
        output_dim: int | None = None,
    ):
        super().__init__()
        layers: list[nn.Module] = []
        dim = in_dim
        for width in hidden:
            layers.append(nn.Linear(dim, width))
            if batch_norm:
                layers.append(nn.BatchNorm1d(width))
            layers.append(activation(act, "model.activation"))
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            dim = width
        if output_dim is not None:
            layers.append(nn.Linear(dim, output_dim))
            dim = output_dim
        self.out_dim = dim
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def optional_mlp(in_dim: int, hidden: Iterable[int], *options, **keywords) -> MLP | None:
    """MLP(in_dim, hidden, *options, **keywords) for a model whose DNN is optional: None when
    `hidden` names no layer."""
    hidden = list(hidden)
    return MLP(in_dim, hidden, *options, **keywords) if hidden else None


# ------------------------------------------------------------------------------------ field pairs


def pair_indices(
    num_fields: int, pairs: str, device: torch.device | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Field indices (i, j) of every pair a model sums over: i<j, or all ordered pairs (i = j
    included), row-major."""
    if pairs == "all":
        index = torch.arange(num_fields, device=device)
        return index.repeat_interleave(num_fields), index.repeat(num_fields)
    rows, cols = torch.triu_indices(num_fields, num_fields, offset=1, device=device)
    return rows, cols


def num_pairs(num_fields: int, pairs: str) -> int:
    """How many pairs `pair_indices` gives: F(F-1)/2 for i<j, F^2 for all ordered pairs."""
    return num_fields * num_fields if pairs == "all" else num_fields * (num_fields - 1) // 2


class _SuffixSum(torch.autograd.Function):
    """sum_{j >= i} x_j along dim 1, and its gradient, the prefix sum of the output's gradient.

    The forward is a reversed cumulative sum (flip, cumsum, flip); autograd would differentiate it
    as flip, reversed cumsum (itself flip, cumsum, flip), flip: four flips that cancel, leaving
    the cumsum this backward computes directly, with the same values.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        return x.flip(1).cumsum(dim=1).flip(1)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        return grad.cumsum(dim=1)


def suffix_sum(x: torch.Tensor) -> torch.Tensor:
    """sum_{j >= i} x_j along dim 1 (differentiable)."""
    return cast(torch.Tensor, _SuffixSum.apply(x))


def pair_sum(z: torch.Tensor, e: torch.Tensor, pairs: str = "i<j") -> torch.Tensor:
    """sum over field pairs of <z_i, e_j>: pairs 'i<j', or 'all' ordered pairs (i = j included).

    For i<j it is sum_i <z_i, sum_{j>i} e_j>, a suffix sum: O(F d), no loop over pairs. With
    z = e it equals the classic FM term 1/2 ((sum e)^2 - sum e^2).
    """
    if pairs == "all":
        return (z.sum(dim=1) * e.sum(dim=1)).sum(dim=-1)
    after = suffix_sum(e) - e  # sum_{j > i} e_j
    return (z * after).sum(dim=(1, 2))


def pair_products(z: torch.Tensor, e: torch.Tensor, pairs: str = "i<j") -> torch.Tensor:
    """All pairwise inner products <z_i, e_j> as [B, P], in `pair_indices` order."""
    gram = torch.einsum("bid,bjd->bij", z, e)
    rows, cols = pair_indices(z.shape[1], pairs, device=z.device)
    # one gather along the flattened F x F products (index_select: a fast kernel, and a backward
    # that adds into one axis, where indexing with (rows, cols) runs a general index_put)
    return gram.flatten(1).index_select(1, rows * z.shape[1] + cols)


# ------------------------------------------------------------------ shared by the cross networks


class CrossDropout(nn.Module):
    """Dropout on a cross layer's output (paradigm.cross_dropout; none when the rate is 0)."""

    def __init__(self, rate: float):
        super().__init__()
        self.rate = float(rate)
        self.dropout = nn.Dropout(self.rate) if self.rate > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(x)


class CrossNetwork(nn.Module):
    """The loop every cross network runs: layer l crosses x_l with the operand u_l that takes x_0's
    place, x_{l+1} = dropout(cross_layer(l, u_l, x_l)).

    The paradigm's generator of layer l gives u_l (`Generator.cross`): x_0 itself under DIS, a
    generated embedding (from x_l, or from x_0 with paradigm.source=x0) under SFG. Subclasses
    define `cross_layer`; `expose` (the model's `expose_operands`) sees every layer's operand.
    """

    def __init__(self, num_layers: int, dropout: float = 0.0):
        super().__init__()
        self.num_layers = int(num_layers)
        self.dropout = CrossDropout(dropout)

    def cross_layer(
        self, index: int, operand: torch.Tensor, x: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Layer `index`: x_{l+1} before dropout, and the tensor the operand multiplies there."""
        raise NotImplementedError

    def forward(
        self, x0: torch.Tensor, generators: nn.ModuleList, expose: Callable[..., None] | None = None
    ) -> torch.Tensor:
        x = x0
        for index in range(self.num_layers):
            operand = cast(Generator, generators[index]).cross(x0, x)
            out, partner = self.cross_layer(index, operand, x)
            if expose is not None:
                expose(generated=operand, partner=partner, layer=index)
            x = self.dropout(out)
        return x


def deep_tower(
    structure: str, width: int, hidden, dropout: float, batch_norm: bool, act: str
) -> tuple[MLP | None, int]:
    """The DNN beside (parallel) or on top of (stacked) a cross network, or none, and the width
    of what reaches the output layer."""
    dnn = None if structure == "crossnet" else optional_mlp(width, hidden, dropout, batch_norm, act)
    if dnn is None:
        return None, width
    return dnn, (width + dnn.out_dim if structure == "parallel" else dnn.out_dim)


def combine_cross_deep(
    structure: str, crossed: torch.Tensor, x0: torch.Tensor, dnn: MLP | None
) -> torch.Tensor:
    if dnn is None:
        return crossed
    if structure == "parallel":
        return torch.cat([crossed, dnn(x0)], dim=1)
    return dnn(crossed)


class CrossModel(CTRModel):
    """A cross network over x_0 = flatten(e) with a DNN beside it (parallel), on top of it
    (stacked) or none (crossnet), then an output layer: what DCN, DCN-V2 and GDCN share.

    A subclass builds its `CrossNetwork`, hands it to `build_cross_and_deep` and sets `head` over
    the width that returns. Each cross layer has its own generator (or one shared by all), and
    the DNN reads the raw x_0.
    """

    # which entries of the operands' cross-correlation the interaction multiplies (analysis)
    operand_pairing = "hadamard"
    # the output layer over the width build_cross_and_deep returns (set by the subclass)
    head: nn.Module

    def build_cross_and_deep(
        self,
        cross: CrossNetwork,
        structure: str,
        hidden_units,
        dropout: float,
        batch_norm: bool,
        activation: str,
    ) -> int:
        """Keep `cross`, make one generator per cross layer (the residual on by default, as the
        reference does) and the DNN; return the width that reaches the output layer."""
        self.structure, self.cross = structure, cross
        self.generators = self.make_generators(cross.num_layers, residual_default=True)
        width = self.num_fields * self.dim
        self.dnn, final = deep_tower(structure, width, hidden_units, dropout, batch_norm, activation)
        return final

    def forward(self, batch) -> torch.Tensor:
        e, _ = self.embedding(batch)
        self.expose_operands(raw=e)
        x0 = e.flatten(1)
        crossed = self.cross(x0, self.generators, self.expose_operands)
        return self.head(combine_cross_deep(self.structure, crossed, x0, self.dnn)).squeeze(-1)
