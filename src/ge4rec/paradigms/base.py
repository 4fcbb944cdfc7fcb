"""The paradigm registry and the object a model asks for generators."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from omegaconf import DictConfig

from ge4rec.errors import ConfigError
from ge4rec.paradigms.generators import ACTIVATIONS, GENERATORS, Generator, IdentityGenerator

PAIRS = ("i<j", "all")
CROSS_SOURCES = ("xl", "x0")
TARGETS = ("all", "high_cardinality", "low_cardinality", "random")


def _choice(cfg, key: str, default: str, valid: Sequence[str]) -> str:
    value = str(cfg.get(key, default))
    if value not in valid:
        raise ConfigError(f"paradigm.{key}: '{value}' (expected one of {', '.join(valid)})")
    return value


def _flag(cfg, key: str, default: bool | None) -> bool | None:
    value = cfg.get(key, default)
    if value is None or isinstance(value, bool):
        return value
    raise ConfigError(f"paradigm.{key}: {value!r} (expected true or false)")


class Paradigm:
    """What a model needs to know of its paradigm: its generators and a few interaction options.

    Every option is read and checked here, for all paradigms, so a typo fails before training
    even in a paradigm that ignores the option (disc carries SFG's keys so sweeps compose).
    """

    name = "base"
    generative = False

    def __init__(self, cfg: DictConfig | dict):
        self.cfg = cfg
        self.pairs = _choice(cfg, "pairs", "i<j", PAIRS)
        self.cross_source = _choice(cfg, "source", "xl", CROSS_SOURCES)
        self.share_generator = bool(_flag(cfg, "share_generator", False))
        self.symmetric = bool(_flag(cfg, "symmetric", False))
        self.kind = _choice(cfg, "generator", "dense", tuple(GENERATORS))
        self.activation = str(cfg.get("activation", "relu")).lower()
        if self.activation not in ACTIVATIONS:
            raise ConfigError(
                f"paradigm.activation: '{cfg.get('activation')}' (expected one of {', '.join(ACTIVATIONS)})"
            )
        try:
            self.gamma = float(cfg.get("gamma", 1.0))
        except (TypeError, ValueError):
            raise ConfigError(f"paradigm.gamma: {cfg.get('gamma')!r} (expected a number)") from None
        self.bias = bool(_flag(cfg, "bias", False))
        self.residual = _flag(cfg, "residual", None)
        self.targets = _choice(cfg, "targets", "all", TARGETS)
        self.num_targets = _num_targets(cfg.get("num_targets"), self.targets)
        seed = cfg.get("target_seed", 0)
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ConfigError(f"paradigm.target_seed: {seed!r} (expected an integer)")
        self.target_seed = int(seed)
        try:
            dropout = float(cfg.get("cross_dropout", 0.0) or 0.0)
        except (TypeError, ValueError):
            dropout = -1.0
        if not 0.0 <= dropout < 1.0:
            raise ConfigError(
                f"paradigm.cross_dropout: {cfg.get('cross_dropout')!r} (expected a number in [0, 1))"
            )
        self._cross_dropout = dropout

    @property
    def cross_dropout(self) -> float:
        """Dropout on each cross layer's output: an SFG option of the reference code (its Criteo
        runs use 0.1); the discriminative paradigm has none, whatever the config says."""
        return self._cross_dropout if self.generative else 0.0

    def partner(self, raw, generated):
        """The operand that meets the generated one: raw e_j by default, z_j when symmetric."""
        return generated if self.symmetric else raw

    def target_fields(self, num_fields: int, cardinalities: Sequence[int] | None = None) -> list[int] | None:
        """Indices of the fields that receive generated embeddings; None means all of them.

        high/low_cardinality: the k fields with the most / fewest values (vocabulary rows; ties go
        to the earlier field). random: k fields drawn with paradigm.target_seed, independent of
        the global random state, so the model's initialisation does not depend on it.
        """
        if self.targets == "all":
            return None
        k = self.num_targets
        if isinstance(k, float):
            k = max(1, round(k * num_fields))
        if not 1 <= k <= num_fields:
            raise ConfigError(
                f"paradigm.num_targets: {self.num_targets} (expected 1..{num_fields}, "
                f"the number of fields, or a fraction in (0, 1))"
            )
        if self.targets == "random":
            rng = torch.Generator().manual_seed(self.target_seed)
            return sorted(torch.randperm(num_fields, generator=rng)[:k].tolist())
        if cardinalities is None or len(cardinalities) != num_fields:
            raise ConfigError(
                f"paradigm.targets={self.targets} needs the cardinality of each of the "
                f"{num_fields} fields the generator sees (this model does not provide them)"
            )
        sign = -1 if self.targets == "high_cardinality" else 1
        order = sorted(range(num_fields), key=lambda i: (sign * int(cardinalities[i]), i))
        return sorted(order[:k])

    def generator(
        self,
        num_fields: int,
        dim: int,
        residual_default: bool = False,
        cardinalities: Sequence[int] | None = None,
    ) -> Generator:
        """A generator for `num_fields` fields of size `dim`; `cardinalities`: vocabulary size per field."""
        raise NotImplementedError


def _num_targets(value, targets: str) -> int | float | None:
    if value is None:
        if targets != "all":
            raise ConfigError(
                f"paradigm.num_targets: required with paradigm.targets={targets} "
                f"(a number of fields k >= 1, or a fraction in (0, 1))"
            )
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(
            f"paradigm.num_targets: {value!r} (expected a number of fields k >= 1, or a fraction in (0, 1))"
        )
    if isinstance(value, float) and not value.is_integer():
        if not 0.0 < value < 1.0:
            raise ConfigError(
                f"paradigm.num_targets: {value} (expected a number of fields k >= 1, or a fraction in (0, 1))"
            )
        return float(value)
    if value < 1:
        raise ConfigError(
            f"paradigm.num_targets: {value} (expected a number of fields k >= 1, or a fraction in (0, 1))"
        )
    return int(value)


PARADIGMS: dict[str, type[Paradigm]] = {}


def register_paradigm(name: str) -> Callable[[type[Paradigm]], type[Paradigm]]:
    def wrap(cls: type[Paradigm]) -> type[Paradigm]:
        cls.name = name
        PARADIGMS[name] = cls
        return cls

    return wrap


@register_paradigm("disc")
class Discriminative(Paradigm):
    """Feature interaction: both operands of every interaction are raw embeddings."""

    def generator(
        self,
        num_fields: int,
        dim: int,
        residual_default: bool = False,
        cardinalities: Sequence[int] | None = None,
    ) -> Generator:
        return IdentityGenerator(num_fields, dim)


@register_paradigm("sfg")
class SupervisedFeatureGeneration(Paradigm):
    """One side of every interaction is generated from all fields, trained by the click loss only."""

    generative = True

    def generator(
        self,
        num_fields: int,
        dim: int,
        residual_default: bool = False,
        cardinalities: Sequence[int] | None = None,
    ) -> Generator:
        if self.kind == "identity":
            return IdentityGenerator(num_fields, dim)
        generator = GENERATORS[self.kind](
            num_fields,
            dim,
            act=self.activation,
            gamma=self.gamma,
            bias=self.bias,
            residual=residual_default if self.residual is None else self.residual,
            targets=self.target_fields(num_fields, cardinalities),
            source=self.cross_source,
        )
        # usable as built; a model redraws the weights from its seed-derived stream (CTRModel)
        generator.reset_parameters(torch.Generator().manual_seed(0))
        return generator


def build_paradigm(cfg: DictConfig | dict) -> Paradigm:
    name = str(cfg.get("name"))
    if name not in PARADIGMS:
        raise ConfigError(f"unknown paradigm '{name}' (choose from: {', '.join(sorted(PARADIGMS))})")
    return PARADIGMS[name](cfg)
