"""The model registry and the base class every CTR model derives from."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from ge4rec.data.batches import Batch
from ge4rec.data.spec import Schema
from ge4rec.errors import ConfigError
from ge4rec.models.embedding import FeatureEmbedding
from ge4rec.paradigms import Generator, Paradigm

MODELS: dict[str, type[CTRModel]] = {}


def register_model(name: str) -> Callable[[type[CTRModel]], type[CTRModel]]:
    """Class decorator: `model=NAME` in a config selects the class."""

    def wrap(cls: type[CTRModel]) -> type[CTRModel]:
        cls.name = name
        MODELS[name] = cls
        return cls

    return wrap


class CTRModel(nn.Module):
    """A base CTR model: FeatureEmbedding -> (paradigm's generator) -> interaction -> logit.

    Subclasses set `uses_linear` when they have a first-order (LR) part, and `has_interaction =
    False` when there is nothing for a generator to act on (then SFG is refused).
    """

    name = "base"
    uses_linear = False
    has_interaction = True

    def __init__(
        self, schema: Schema, embedding_dim: int, paradigm: Paradigm, embedding_init_std: float = 1e-4
    ):
        super().__init__()
        if paradigm.generative and not self.has_interaction:
            raise ConfigError(
                f"model '{self.name}' has no feature interaction for SFG to generate for (use paradigm=disc)"
            )
        self.schema, self.paradigm = schema, paradigm
        self.num_fields, self.dim = schema.num_fields, int(embedding_dim)
        self.embedding = FeatureEmbedding(
            schema, self.dim, linear=self.uses_linear, init_std=embedding_init_std
        )
        self.bias = nn.Parameter(torch.zeros(1)) if self.uses_linear else None
        self._captured: dict[str, torch.Tensor] | None = None

    # --- what the analysis sees ---------------------------------------------------------------
    # Models call `self.record(name, tensor)` in forward; it costs nothing unless a capture is on.
    # Names: "raw" (E [B, F, d]), "generated" or "generated.0", "generated.1", ... per layer
    # (Z [B, F, d] or flattened [B, F*d]), and "operand_a" / "operand_b" (the two sides of the
    # model's first interaction, [B, D] each) for the redundancy measure.
    def record(self, name: str, tensor: torch.Tensor) -> None:
        if self._captured is not None:
            self._captured[name] = tensor.detach()

    @torch.no_grad()
    def capture(self, batch: Batch) -> dict[str, torch.Tensor]:
        """Run forward on `batch` (eval mode) and return what the model recorded."""
        was_training = self.training
        self.eval()
        self._captured = {}
        try:
            self(batch)
            return self._captured
        finally:
            self._captured = None
            self.train(was_training)

    def make_generator(self, residual_default: bool = False) -> Generator:
        # the fields' cardinalities let paradigm.targets pick the highest/lowest-cardinality fields
        cardinalities = [f.vocab_size for f in self.schema.fields]
        return self.paradigm.generator(
            self.num_fields, self.dim, residual_default=residual_default, cardinalities=cardinalities
        )

    def make_generators(self, count: int, residual_default: bool = False) -> nn.ModuleList:
        """One generator per interaction layer, or one shared by all (paradigm.share_generator)."""
        if self.paradigm.share_generator:
            shared = self.make_generator(residual_default)
            return nn.ModuleList([shared] * count)
        return nn.ModuleList([self.make_generator(residual_default) for _ in range(count)])

    def first_order(self, linear: torch.Tensor | None) -> torch.Tensor:
        return linear + self.bias

    def forward(self, batch: Batch) -> torch.Tensor:
        """Logits [B]."""
        raise NotImplementedError

    def generator_parameters(self) -> int:
        seen, total = set(), 0
        for module in self.modules():
            if isinstance(module, Generator):
                for p in module.parameters():
                    if id(p) not in seen:
                        seen.add(id(p))
                        total += p.numel()
        return total

    def embedding_parameters(self) -> list[nn.Parameter]:
        return list(self.embedding.parameters())


def model_names() -> list[str]:
    _import_all()
    return sorted(MODELS)


def get_model_class(name: str) -> type[CTRModel]:
    _import_all()
    if name not in MODELS:
        raise ConfigError(f"unknown model '{name}' (choose from: {', '.join(sorted(MODELS))})")
    return MODELS[name]


def build_model(cfg: Any, schema: Schema, embedding_dim: int, paradigm: Paradigm) -> CTRModel:
    """Instantiate `cfg.name` with the config's remaining keys as keyword arguments."""
    cls = get_model_class(str(cfg["name"]))
    options = {k: v for k, v in dict(cfg).items() if k != "name"}
    accepted = inspect.signature(cls.__init__).parameters
    unknown = [k for k in options if k not in accepted]
    if unknown:
        valid = [k for k in accepted if k not in ("self", "schema", "embedding_dim", "paradigm")]
        raise ConfigError(f"model '{cls.name}': unknown option(s) {unknown} (valid: {', '.join(valid)})")
    return cls(schema, embedding_dim, paradigm, **options)


def _import_all() -> None:
    """Import every module in ge4rec.models so their @register_model decorators run."""
    import importlib
    import pkgutil

    import ge4rec.models as package

    for info in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"ge4rec.models.{info.name}")
