"""The paradigm registry and the object a model asks for generators."""

from __future__ import annotations

from collections.abc import Callable

from omegaconf import DictConfig

from ge4rec.errors import ConfigError
from ge4rec.paradigms.generators import GENERATORS, Generator, IdentityGenerator

PAIRS = ("i<j", "all")
CROSS_SOURCES = ("xl", "x0")


class Paradigm:
    """What a model needs to know of its paradigm: its generators and a few interaction options."""

    name = "base"
    generative = False

    def __init__(self, cfg: DictConfig | dict):
        self.cfg = cfg
        self.pairs = str(cfg.get("pairs", "i<j"))
        if self.pairs not in PAIRS:
            raise ConfigError(f"paradigm.pairs: '{self.pairs}' (expected one of {', '.join(PAIRS)})")
        self.cross_source = str(cfg.get("source", "xl"))
        if self.cross_source not in CROSS_SOURCES:
            raise ConfigError(f"paradigm.source: '{self.cross_source}' (expected one of {', '.join(CROSS_SOURCES)})")
        self.share_generator = bool(cfg.get("share_generator", False))

    def generator(self, num_fields: int, dim: int, residual_default: bool = False) -> Generator:
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

    def generator(self, num_fields: int, dim: int, residual_default: bool = False) -> Generator:
        return IdentityGenerator(num_fields, dim)


@register_paradigm("sfg")
class SupervisedFeatureGeneration(Paradigm):
    """One side of every interaction is generated from all fields, trained by the click loss only."""

    generative = True

    def __init__(self, cfg):
        super().__init__(cfg)
        kind = str(cfg.get("generator", "dense"))
        if kind not in GENERATORS:
            raise ConfigError(f"paradigm.generator: unknown generator '{kind}' (choose from: {', '.join(GENERATORS)})")
        self.kind = kind

    def generator(self, num_fields: int, dim: int, residual_default: bool = False) -> Generator:
        cfg = self.cfg
        residual = cfg.get("residual")
        options = {
            "act": str(cfg.get("activation", "relu")),
            "gamma": float(cfg.get("gamma", 1.0)),
            "bias": bool(cfg.get("bias", False)),
            "residual": residual_default if residual is None else bool(residual),
        }
        if self.kind == "identity":
            return IdentityGenerator(num_fields, dim)
        return GENERATORS[self.kind](num_fields, dim, **options)


def build_paradigm(cfg: DictConfig | dict) -> Paradigm:
    name = str(cfg.get("name"))
    if name not in PARADIGMS:
        raise ConfigError(f"unknown paradigm '{name}' (choose from: {', '.join(sorted(PARADIGMS))})")
    return PARADIGMS[name](cfg)
