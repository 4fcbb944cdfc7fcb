"""The model registry and the base class every CTR model derives from."""

from __future__ import annotations

import hashlib
import inspect
from collections.abc import Callable
from typing import Any, NamedTuple, cast

import torch
from omegaconf import OmegaConf
from torch import nn

from ge4rec.config import typed
from ge4rec.config.checks import model_schema
from ge4rec.data.batches import Batch
from ge4rec.data.spec import Schema
from ge4rec.errors import ConfigError
from ge4rec.models.embedding import FeatureEmbedding
from ge4rec.paradigms import Generator, Paradigm

MODELS: dict[str, type[CTRModel]] = {}

# --- the names a model's operands are captured under (the keys of `CTRModel.capture`) -------------
RAW = "raw"  # E [B, F, d]: the raw field embeddings
GENERATED = "generated"  # Z [B, F, d] (or flattened [B, F*d]) of a model with one interaction
OPERAND_A = "operand_a"  # the generated side of the model's first interaction, flattened [B, D]
OPERAND_B = "operand_b"  # the side it meets there (its partner), flattened [B, D]


def generated_layer(index: int) -> str:
    """The name of interaction layer `index`'s operand (cross networks, CIN): "generated.0", ..."""
    return f"{GENERATED}.{index}"


def generated_layer_index(name: str) -> int | None:
    """The layer of a `generated_layer` name, None for any other name ("generated" included)."""
    prefix, dot, index = name.partition(".")
    return int(index) if prefix == GENERATED and dot and index.isdigit() else None


class Embedded(NamedTuple):
    """What a model with one interaction works on: E, the first-order part, Z and Z's partner."""

    raw: torch.Tensor
    linear: torch.Tensor | None
    generated: torch.Tensor
    partner: torch.Tensor


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

    Initialisation (the reference protocol, FuxiCTR's `reset_parameters`): `build_model` calls
    `reset_parameters(seed)` once the model is built: every nn.Linear and nn.Conv1d weight outside
    the generators becomes xavier-normal and every such bias zero, drawn from the global random
    stream in module order; parameters of other shapes are set by the owning module's
    `reset_reference_parameters()`; the embedding table keeps its normal(0, init_std) start.
    Generators are built with the global random state saved and restored, and draw their weights
    from streams of their own derived from the seed, so under one seed a DIS and an SFG model
    start every shared parameter from the same values.
    """

    name = "base"
    uses_linear = False
    linear_vectors = False  # FwFM's FeLV: a d-vector per value beside its embedding (same lookup)
    has_interaction = True
    # which entries of the cross-correlation between the interaction's two operands the
    # interaction multiplies (the analysis reads it): fields_distinct = <a_i, b_j>, i != j (FM
    # family); fields_all = a_i * b_j for every i, j (CIN); hadamard = a_c * b_c (cross networks);
    # outer = every a_c with every b_c' (DCN's rank-one cross)
    operand_pairing = "fields_distinct"
    # the paradigm's generator of a model with one interaction (set by the subclass: make_generator)
    generator: Generator

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
            schema,
            self.dim,
            linear=self.uses_linear,
            linear_vectors=self.linear_vectors,
            init_std=embedding_init_std,
        )
        self.bias = nn.Parameter(torch.zeros(1)) if self.uses_linear else None
        self._captured: dict[str, torch.Tensor] | None = None

    # --- what the analysis sees ---------------------------------------------------------------
    def expose_operands(
        self,
        raw: torch.Tensor | None = None,
        generated: torch.Tensor | None = None,
        partner: torch.Tensor | None = None,
        layer: int | None = None,
    ) -> None:
        """Show the analysis the model's interaction operands; it costs nothing unless `capture` runs.

        raw: E [B, F, d], captured as RAW. generated: the operand on the generated side of an
        interaction (Z under SFG, E under DIS), [B, F, d] or flattened: GENERATED for a model with
        one interaction, `generated_layer(layer)` for interaction layer `layer` of a model with
        several (cross networks, CIN). partner: what `generated` meets in that interaction; for the
        model's first interaction (layer None or 0) the two, flattened to [B, D], are captured as
        OPERAND_A and OPERAND_B, the pair the redundancy measure correlates (later layers' partners
        are not captured).
        """
        if partner is not None and generated is None:
            raise ValueError("expose_operands: a partner needs the generated operand it meets")
        if self._captured is None:
            return
        if raw is not None:
            self._captured[RAW] = raw.detach()
        if generated is not None:
            name = GENERATED if layer is None else generated_layer(layer)
            self._captured[name] = generated.detach()
        if partner is not None and generated is not None and layer in (None, 0):
            self._captured[OPERAND_A] = generated.flatten(1).detach()
            self._captured[OPERAND_B] = partner.flatten(1).detach()

    def embed_and_generate(self, batch: Batch) -> Embedded:
        """E and the first-order part from the table, Z = self.generator(E) and the partner Z meets
        (E, or Z under paradigm.symmetric), exposed as the model's one interaction: the start of
        every model whose single interaction pairs a generated operand with a partner."""
        e, linear = self.embedding(batch)
        z = self.generator(e)
        partner = self.paradigm.partner(e, z)
        self.expose_operands(raw=e, generated=z, partner=partner)
        return Embedded(e, linear, z, partner)

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
        # building a generator must not move the global random stream (see reset_parameters)
        with torch.random.fork_rng(devices=[]):
            return self.paradigm.generator(
                self.num_fields, self.dim, residual_default=residual_default, cardinalities=cardinalities
            )

    def reset_parameters(self, seed: int) -> None:
        """The reference initialisation (see the class docstring), deterministic in `seed`."""
        generators = self.generators_in_order()
        inside = {id(m) for g in generators for m in g.modules()}
        for module in self.modules():
            if id(module) in inside or module is self.embedding:
                continue
            if isinstance(module, (nn.Linear, nn.Conv1d)):
                nn.init.xavier_normal_(module.weight)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            hook = getattr(module, "reset_reference_parameters", None)
            if hook is not None:
                hook()
        for index, generator in enumerate(generators):
            generator.reset_parameters(torch.Generator().manual_seed(generator_seed(seed, index)))

    def generators_in_order(self) -> list[Generator]:
        """The model's distinct generators in module order (a shared one once)."""
        seen, out = set(), []
        for module in self.modules():
            if isinstance(module, Generator) and id(module) not in seen:
                seen.add(id(module))
                out.append(module)
        return out

    def make_generators(self, count: int, residual_default: bool = False) -> nn.ModuleList:
        """One generator per interaction layer, or one shared by all (paradigm.share_generator)."""
        if self.paradigm.share_generator:
            shared = self.make_generator(residual_default)
            return nn.ModuleList([shared] * count)
        return nn.ModuleList([self.make_generator(residual_default) for _ in range(count)])

    def first_order(self, linear: torch.Tensor | None) -> torch.Tensor:
        assert linear is not None and self.bias is not None, "first_order: a model without uses_linear"
        return linear + self.bias

    def forward(self, batch: Batch) -> torch.Tensor:
        """Logits [B]."""
        raise NotImplementedError

    def generator_parameters(self) -> int:
        return sum(p.numel() for g in self.generators_in_order() for p in g.parameters())

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


def generator_seed(seed: int, index: int) -> int:
    """The seed of generator `index`'s own random stream, derived from the run's seed."""
    digest = hashlib.blake2b(f"ge4rec-generator:{int(seed)}:{index}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") & (2**63 - 1)


def build_model(
    cfg: Any, schema: Schema, embedding_dim: int, paradigm: Paradigm, seed: int | None = None
) -> CTRModel:
    """Instantiate `cfg.name` with the config's remaining keys (typed and checked against the
    model's schema, missing ones at its defaults) as keyword arguments and give it
    the reference initialisation; `seed` (default: torch's initial seed) also seeds the generators'
    own random streams."""
    cls = get_model_class(str(cfg["name"]))
    options_schema = model_schema(cls.name)
    if options_schema is not None:  # typed and checked (ge4rec.config.models), defaults filled in
        options = cast("dict[str, Any]", OmegaConf.to_container(typed(options_schema, cfg, "model")))
    else:  # a model that brings no schema checks its own keyword arguments
        options = cast(
            "dict[str, Any]",
            OmegaConf.to_container(cfg, resolve=True) if OmegaConf.is_config(cfg) else dict(cfg),
        )
    options.pop("name")
    accepted = inspect.signature(cls.__init__).parameters
    unknown = [k for k in options if k not in accepted]
    if unknown:
        valid = [k for k in accepted if k not in ("self", "schema", "embedding_dim", "paradigm")]
        raise ConfigError(f"model '{cls.name}': unknown option(s) {unknown} (valid: {', '.join(valid)})")
    model = cls(schema, embedding_dim, paradigm, **options)
    model.reset_parameters(torch.initial_seed() if seed is None else int(seed))
    return model


def _import_all() -> None:
    """Import every module in ge4rec.models so their @register_model decorators run."""
    import importlib
    import pkgutil

    import ge4rec.models as package

    for info in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"ge4rec.models.{info.name}")
