"""Building blocks shared by the base models."""

from __future__ import annotations

import torch
from torch import nn

from ge4rec.errors import ConfigError

ACTIVATIONS = {
    "relu": nn.ReLU,
    "identity": nn.Identity,
    "linear": nn.Identity,
    "sigmoid": nn.Sigmoid,
    "tanh": nn.Tanh,
    "silu": nn.SiLU,
    "gelu": nn.GELU,
    "prelu": nn.PReLU,
}


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
        hidden: list[int],
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


def pair_sum(z: torch.Tensor, e: torch.Tensor, pairs: str = "i<j") -> torch.Tensor:
    """sum over field pairs of <z_i, e_j>: pairs 'i<j', or 'all' ordered pairs (i = j included).

    For i<j it is sum_i <z_i, sum_{j>i} e_j>, a suffix sum: O(F d), no loop over pairs. With
    z = e it equals the classic FM term 1/2 ((sum e)^2 - sum e^2).
    """
    if pairs == "all":
        return (z.sum(dim=1) * e.sum(dim=1)).sum(dim=-1)
    after = e.flip(1).cumsum(dim=1).flip(1) - e  # sum_{j > i} e_j
    return (z * after).sum(dim=(1, 2))


def pair_products(z: torch.Tensor, e: torch.Tensor, pairs: str = "i<j") -> torch.Tensor:
    """All pairwise inner products <z_i, e_j> as [B, P] (i<j upper triangle, or every ordered pair)."""
    gram = torch.einsum("bid,bjd->bij", z, e)
    f = z.shape[1]
    if pairs == "all":
        return gram.reshape(gram.shape[0], f * f)
    rows, cols = torch.triu_indices(f, f, offset=1, device=z.device)
    return gram[:, rows, cols]


# ------------------------------------------------------------------ shared by the cross networks


def cross_operand(x0: torch.Tensor, x: torch.Tensor, generator) -> torch.Tensor:
    """The operand that takes x_0's place in a cross layer whose input is x_l: the paradigm's
    generator decides (identity: x_0; learned: generated from x_l or x_0, paradigm.source)."""
    return generator.cross(x0, x)


class CrossDropout(nn.Module):
    """Dropout on a cross layer's output (paradigm.cross_dropout; none when the rate is 0)."""

    def __init__(self, rate: float):
        super().__init__()
        self.rate = float(rate)
        self.dropout = nn.Dropout(self.rate) if self.rate > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(x)


def record_cross(record, index: int, operand: torch.Tensor, other: torch.Tensor) -> None:
    """Record a cross layer's generated operand, and the two sides of the first cross."""
    if record is None:
        return
    record(f"generated.{index}", operand)
    if index == 0:
        record("operand_a", operand)
        record("operand_b", other)


def deep_tower(
    structure: str, width: int, hidden, dropout: float, batch_norm: bool, act: str
) -> tuple[MLP | None, int]:
    """The DNN beside (parallel) or on top of (stacked) a cross network, or none, and the width
    of what reaches the output layer."""
    hidden = list(hidden)
    if structure == "crossnet" or not hidden:
        return None, width
    dnn = MLP(width, hidden, dropout, batch_norm, act)
    return dnn, (width + dnn.out_dim if structure == "parallel" else dnn.out_dim)


def combine_cross_deep(
    structure: str, crossed: torch.Tensor, x0: torch.Tensor, dnn: MLP | None
) -> torch.Tensor:
    if dnn is None:
        return crossed
    if structure == "parallel":
        return torch.cat([crossed, dnn(x0)], dim=1)
    return dnn(crossed)
