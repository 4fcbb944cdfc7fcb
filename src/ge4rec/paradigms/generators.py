"""Generators: maps from the raw field embeddings V [B, F, d] to the operand Z [B, F, d].

Every learned generator follows one recipe (the SFG paper, arXiv 2512.14041):

    H = transform(V)                  the generator kind (below), pre-activation, [B, F, d]
    Z = gamma * act(H)  [+ V]         fixed scale gamma, activation, optional residual
    Z = mask * Z + (1 - mask) * V     only when a subset of target fields is generated

so the kinds differ only in `transform`, and the ablation options (activation, gamma, bias,
residual, targets) mean the same for all of them. Inputs may be [B, F, d] or flattened [B, F*d];
the output has the input's shape.

In a cross layer (DCN, DCN-V2, GDCN) the generator replaces x_0 in x_0 * f(x_l): `cross(x0, xl)`
gives that operand. A learned generator reads x_l (paradigm.source=xl, the reference) or x_0; the
identity generator returns x_0 whatever the source, so the discriminative cross layer is the
identity case of every source.

Initialisation: a generator's weights are drawn in `reset_parameters(rng)` from a random stream
of its own (a torch.Generator the model derives from the run's seed), never from the global one,
so adding a generator leaves every other parameter of a model where the discriminative model has
it: DIS and SFG runs of one seed are paired.

Kinds (`paradigm.generator=NAME`), with their parameter counts (D = F*d; "+" = with bias):
- dense         one D x D map over the concatenation of all fields (All-Predict-All): D^2 (+D).
- field_shared  one d x D map: a single vector generated from all fields, reused by every
                field: D*d (+d).
- own_field     field i generated from v_i alone by its own d x d map (block-diagonal W): F*d^2 (+D).
- mlp2          two stacked D x D layers with the activation between them: 2*D^2 (+2*D).
- attention     single-head self-attention over the fields, shared d x d query, key and value
                maps: 3*d^2 (+3*d).
- exclude_self  dense, with W's diagonal d x d blocks held at zero, so field i is generated from
                the other fields only. W is stored whole, so its count is D^2 (+D) of which F*d^2
                entries are fixed zeros (they never receive a gradient).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ge4rec.errors import ConfigError

# paradigm.activation: the generator's activation (the paper's ablation set, plus gelu). Kept here
# rather than borrowed from ge4rec.models.layers so that the paradigms import no model code.
ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "identity": nn.Identity,
    "linear": nn.Identity,
    "sigmoid": nn.Sigmoid,
    "tanh": nn.Tanh,
    "silu": nn.SiLU,
    "gelu": nn.GELU,
}


def activation(name: str) -> nn.Module:
    try:
        return ACTIVATIONS[str(name).lower()]()
    except KeyError:
        valid = ", ".join(ACTIVATIONS)
        raise ConfigError(f"paradigm.activation: '{name}' (expected one of {valid})") from None


# generator kinds selectable with paradigm.generator=NAME; each takes (num_fields, dim, **options)
GENERATORS: dict[str, type[Generator]] = {}


def register_generator(cls: type[Generator]) -> type[Generator]:
    """Class decorator: `paradigm.generator=<cls.kind>` selects the class."""
    GENERATORS[cls.kind] = cls
    return cls


class Generator(nn.Module):
    """Base class; `forward` takes and returns [B, F, d] (or the flattened [B, F*d])."""

    kind = "base"

    def __init__(self, num_fields: int, dim: int):
        super().__init__()
        self.num_fields, self.dim = num_fields, dim

    def cross(self, x0: torch.Tensor, xl: torch.Tensor) -> torch.Tensor:
        """The operand that takes x_0's place in a cross layer whose input is x_l (both [B, F*d])."""
        raise NotImplementedError

    def reset_parameters(self, rng: torch.Generator) -> None:
        """Draw the initial weights from `rng` (xavier-normal weights, zero biases)."""


@register_generator
class IdentityGenerator(Generator):
    """The discriminative paradigm: Z = V."""

    kind = "identity"

    def __init__(self, num_fields: int, dim: int, **options):
        # options (activation, gamma, ...) are accepted and ignored: there is nothing to generate
        super().__init__(num_fields, dim)

    def forward(self, v: torch.Tensor) -> torch.Tensor:
        return v

    def cross(self, x0: torch.Tensor, xl: torch.Tensor) -> torch.Tensor:
        return x0


class LearnedGenerator(Generator):
    """Z = gamma * act(transform(V)) [+ V], with non-target fields reset to V.

    `targets`: indices of the fields that receive generated embeddings (None: all fields).
    Subclasses build their weights in `__init__` and implement `transform` ([B, F, d] -> [B, F, d]).
    """

    target_mask: torch.Tensor | None  # buffer (register_buffer)

    def __init__(
        self,
        num_fields: int,
        dim: int,
        act: str = "relu",
        gamma: float = 1.0,
        bias: bool = False,
        residual: bool = False,
        targets: Sequence[int] | None = None,
        source: str = "xl",
    ):
        super().__init__(num_fields, dim)
        self.source = str(source)
        self.act_name = str(act)
        self.act = activation(act)
        self.gamma, self.use_bias, self.residual = float(gamma), bool(bias), bool(residual)
        self.targets = None if targets is None else sorted(int(t) for t in targets)
        mask = None
        if self.targets is not None:
            mask = torch.zeros(num_fields, 1, dtype=torch.bool)
            mask[self.targets] = True
        self.register_buffer("target_mask", mask, persistent=False)  # [F, 1]; None: every field

    def transform(self, v: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def reset_parameters(self, rng: torch.Generator) -> None:
        """Every nn.Linear in the generator: xavier-normal weight, zero bias; subclasses with other
        weights extend this."""
        for module in self.modules():
            if isinstance(module, nn.Linear):
                _xavier_normal_(module.weight, rng)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)

    def cross(self, x0: torch.Tensor, xl: torch.Tensor) -> torch.Tensor:
        return self(xl if self.source == "xl" else x0)

    def forward(self, v: torch.Tensor) -> torch.Tensor:
        fields = v.reshape(v.shape[0], self.num_fields, self.dim)
        z = self.gamma * self.act(self.transform(fields))
        if self.residual:
            z = z + fields
        if self.target_mask is not None:
            z = torch.where(self.target_mask, z, fields)
        return z.reshape(v.shape)

    def extra_repr(self) -> str:
        text = f"fields={self.num_fields}, dim={self.dim}, act={self.act_name}, gamma={self.gamma}"
        text += f", bias={self.use_bias}, residual={self.residual}, source={self.source}"
        if self.targets is not None:
            text += f", targets={self.targets}"
        return text


def _xavier_normal_(weight: torch.Tensor, rng: torch.Generator, fan_in: int = 0, fan_out: int = 0) -> None:
    """Fill `weight` in place with xavier-normal values drawn from `rng`, for a fan_in -> fan_out
    linear map (default: a 2-D [fan_out, fan_in] weight's own fans)."""
    if not fan_in:
        fan_out, fan_in = weight.shape
    std = math.sqrt(2.0 / (fan_in + fan_out))
    with torch.no_grad():
        weight.copy_(torch.randn(weight.shape, generator=rng, dtype=weight.dtype) * std)


def _bias(use: bool, *shape: int) -> nn.Parameter | None:
    return nn.Parameter(torch.zeros(*shape)) if use else None


def _linear(fan_in: int, fan_out: int, bias: bool) -> nn.Linear:
    """nn.Linear whose weights `reset_parameters` draws (construction draws nothing here: models
    build generators with the global random state saved and restored)."""
    return nn.Linear(fan_in, fan_out, bias=bias)


@register_generator
class DenseGenerator(LearnedGenerator):
    """All-Predict-All: H = W flatten(V) [+ b], W in R^{(F d) x (F d)}, xavier-normal.

    Row block i of W is field i's encoder over the concatenation of all fields.
    """

    kind = "dense"

    def __init__(self, num_fields: int, dim: int, **options):
        super().__init__(num_fields, dim, **options)
        self.linear = _linear(num_fields * dim, num_fields * dim, self.use_bias)

    def transform(self, v: torch.Tensor) -> torch.Tensor:
        return self.linear(v.flatten(1)).view_as(v)


@register_generator
class FieldSharedGenerator(LearnedGenerator):
    """One vector g = W flatten(V) [+ b], W in R^{d x (F d)}, used as every field's H_i."""

    kind = "field_shared"

    def __init__(self, num_fields: int, dim: int, **options):
        super().__init__(num_fields, dim, **options)
        self.linear = _linear(num_fields * dim, dim, self.use_bias)

    def transform(self, v: torch.Tensor) -> torch.Tensor:
        return self.linear(v.flatten(1)).unsqueeze(1).expand_as(v)


@register_generator
class OwnFieldGenerator(LearnedGenerator):
    """H_i = v_i W_i [+ b_i]: each field from itself only, one d x d map per field (no concatenation)."""

    kind = "own_field"

    def __init__(self, num_fields: int, dim: int, **options):
        super().__init__(num_fields, dim, **options)
        self.weight = nn.Parameter(torch.zeros(num_fields, dim, dim))
        self.bias = _bias(self.use_bias, num_fields, dim)

    def reset_parameters(self, rng: torch.Generator) -> None:
        _xavier_normal_(self.weight, rng, fan_in=self.dim, fan_out=self.dim)
        if self.bias is not None:
            nn.init.zeros_(self.bias)

    def transform(self, v: torch.Tensor) -> torch.Tensor:
        h = torch.einsum("bfi,fio->bfo", v, self.weight)
        return h + self.bias if self.bias is not None else h


@register_generator
class MLP2Generator(LearnedGenerator):
    """Two stacked dense layers: H = W2 act(W1 flatten(V) [+ b1]) [+ b2], both (F d) x (F d)."""

    kind = "mlp2"

    def __init__(self, num_fields: int, dim: int, **options):
        super().__init__(num_fields, dim, **options)
        width = num_fields * dim
        self.first = _linear(width, width, self.use_bias)
        self.hidden_act = activation(self.act_name)
        self.second = _linear(width, width, self.use_bias)

    def transform(self, v: torch.Tensor) -> torch.Tensor:
        return self.second(self.hidden_act(self.first(v.flatten(1)))).view_as(v)


@register_generator
class AttentionGenerator(LearnedGenerator):
    """Self-attention over fields: H = softmax(Q K^T / sqrt(d)) U with Q, K, U = V W_q, V W_k, V W_v.

    The three d x d maps are shared by all fields, so each H_i is a data-dependent mixture of all
    fields (field i included) rather than a fixed linear map of their concatenation.
    """

    kind = "attention"

    def __init__(self, num_fields: int, dim: int, **options):
        super().__init__(num_fields, dim, **options)
        self.qkv = nn.Linear(dim, 3 * dim, bias=self.use_bias)

    def reset_parameters(self, rng: torch.Generator) -> None:
        for block in self.qkv.weight.split(self.dim, dim=0):  # xavier per d x d map, not over 3d x d
            _xavier_normal_(block, rng)
        if self.use_bias:
            nn.init.zeros_(self.qkv.bias)

    def transform(self, v: torch.Tensor) -> torch.Tensor:
        query, key, value = self.qkv(v).split(self.dim, dim=-1)
        return F.scaled_dot_product_attention(query, key, value)


@register_generator
class ExcludeSelfGenerator(LearnedGenerator):
    """Dense with W's diagonal d x d blocks masked to zero: H_i depends on v_j, j != i, only."""

    kind = "exclude_self"
    keep: torch.Tensor  # buffer (register_buffer): 0 on the diagonal blocks, 1 elsewhere

    def __init__(self, num_fields: int, dim: int, **options):
        super().__init__(num_fields, dim, **options)
        self.linear = _linear(num_fields * dim, num_fields * dim, self.use_bias)
        keep = 1.0 - torch.kron(torch.eye(num_fields), torch.ones(dim, dim))
        self.register_buffer("keep", keep, persistent=False)

    def reset_parameters(self, rng: torch.Generator) -> None:
        super().reset_parameters(rng)
        with torch.no_grad():
            self.linear.weight.mul_(self.keep)  # the stored diagonal blocks are zero too

    def transform(self, v: torch.Tensor) -> torch.Tensor:
        return F.linear(v.flatten(1), self.linear.weight * self.keep, self.linear.bias).view_as(v)
