"""The paradigm registry and the object a model asks for generators."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from omegaconf import DictConfig

from ge4rec.config import ParadigmConfig, typed
from ge4rec.config.schema import CROSS_SOURCES, PAIRS, TARGETS
from ge4rec.errors import ConfigError
from ge4rec.paradigms.generators import GENERATORS, Generator, IdentityGenerator

__all__ = ["CROSS_SOURCES", "PAIRS", "TARGETS", "Paradigm", "build_paradigm", "register_paradigm"]


class Paradigm:
    """What a model needs to know of its paradigm: its generators and a few interaction options.

    The options (ge4rec.config.schema.ParadigmConfig) are typed and checked on construction, for
    all paradigms, so a typo fails before training even in a paradigm that ignores the option
    (disc carries SFG's keys so sweeps compose); a key left out takes the schema's default.
    """

    name = "base"
    generative = False

    def __init__(self, cfg: DictConfig | dict):
        self.cfg = cfg = typed(ParadigmConfig, cfg, "paradigm")
        self.pairs = cfg.pairs
        self.cross_source = cfg.source
        self.share_generator = cfg.share_generator
        self.symmetric = cfg.symmetric
        self.kind = cfg.generator
        self.activation = cfg.activation.lower()
        self.gamma = cfg.gamma
        self.bias = cfg.bias
        self.residual = cfg.residual
        self.targets = cfg.targets
        # a whole number of fields, or a fraction of them
        count = cfg.num_targets
        self.num_targets = int(count) if count is not None and count >= 1 else count
        self.target_seed = cfg.target_seed
        self._cross_dropout = cfg.cross_dropout

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
        # every registered kind takes (num_fields, dim, **options)
        factory: Callable[..., Generator] = GENERATORS[self.kind]
        generator = factory(
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
