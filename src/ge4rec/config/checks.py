"""The one place config values are checked, and config errors put into one line.

Types and key names are the schema's job (OmegaConf rejects `trainer.lr=abc` or `trainer.lrr=1`
while composing); `check_block` enforces the value rules on the fields (ge4rec.config.rules) and
each block's own `check`. Every failure is a ConfigError that names the key.
"""

import dataclasses
import re
import types
import typing
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, TypeGuard, cast

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import ConfigKeyError, InterpolationResolutionError, OmegaConfBaseException

from ge4rec.config.rules import rule_of
from ge4rec.errors import ConfigError

if TYPE_CHECKING:
    from _typeshed import DataclassInstance


def is_schema(kind: Any) -> TypeGuard[type["DataclassInstance"]]:
    return isinstance(kind, type) and dataclasses.is_dataclass(kind)


def typed(schema: type, cfg: Any, where: str) -> DictConfig:
    """`cfg` (a block of a composed config, a loaded one, or a plain dict) on top of `schema`'s
    defaults, checked: a wrong type, an unknown key or a bad value raises ConfigError naming
    `where.KEY`. Interpolations are resolved first, so a block taken out of a larger config
    keeps the values it had there."""
    data = OmegaConf.to_container(cfg, resolve=True) if OmegaConf.is_config(cfg) else dict(cfg)
    try:
        # a dataclass schema merges into a DictConfig
        node = cast(DictConfig, OmegaConf.merge(OmegaConf.structured(schema), data))
    except OmegaConfBaseException as exc:
        raise ConfigError(error_message(exc, where) or f"{where}: {first_line(exc)}") from None
    check_block(node, schema, where)
    return node


def check_block(node: DictConfig, schema: type, where: str) -> None:
    """Every value rule of `schema`'s fields, nested blocks included, then the block's `check`."""
    for spec in dataclasses.fields(schema):
        if spec.name not in node:
            continue
        key = f"{where}.{spec.name}" if where else spec.name
        value = node[spec.name]
        rule = rule_of(spec)
        plain = OmegaConf.to_container(value, resolve=True) if OmegaConf.is_config(value) else value
        if rule is not None and plain is not None and not rule.test(plain):
            raise ConfigError(f"{key}: {show(plain)} (expected {rule.describe()})")
        nested = OmegaConf.get_type(value) if OmegaConf.is_dict(value) else None
        if is_schema(nested):
            check_block(value, nested, key)
    own_check = getattr(schema, "check", None)
    if own_check is not None:
        own_check(node, where)


def show(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return f"{value:g}"
    return repr(value)


def first_line(exc: BaseException) -> str:
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    return lines[0] if lines else type(exc).__name__


# ------------------------------------------------------------------------------- error messages


def error_message(exc: BaseException, where: str = "") -> str | None:
    """One line for a composition or merge error of OmegaConf (also wrapped by Hydra): the full
    key, the value and the type expected; None when `exc` is no such error."""
    inner: BaseException | None = exc
    seen: set[int] = set()
    while inner is not None and not isinstance(inner, OmegaConfBaseException) and id(inner) not in seen:
        seen.add(id(inner))
        inner = inner.__cause__ or inner.__context__
    if not isinstance(inner, OmegaConfBaseException) or not getattr(inner, "full_key", None):
        return None
    key = f"{where}.{inner.full_key}" if where else str(inner.full_key)
    owner, leaf = getattr(inner, "object_type", None), getattr(inner, "key", None)
    text = str(getattr(inner, "msg", "") or first_line(inner))
    if isinstance(inner, ConfigKeyError | AttributeError) or " not in '" in text:
        message = unknown_key(key, [f.name for f in dataclasses.fields(owner)] if is_schema(owner) else [])
    elif isinstance(inner, InterpolationResolutionError):
        message = f"{key}: {first_line(inner)}"
    elif "deletion" in text:
        message = f"{key}: cannot be removed (every key of its block is needed; set a value instead)"
    elif "not Optional" in text:
        message = f"{key}: null (expected {expected_type(owner, leaf, inner) or 'a value'})"
    else:
        expected = expected_type(owner, leaf, inner)
        value = getattr(inner, "value", None)
        message = f"{key}: {show(value)} (expected {expected})" if expected else f"{key}: {first_line(inner)}"
    source = re.match(r"In '([^']+)'", str(exc))
    if source and source.group(1) not in ("train", "config"):
        message += f" (in configs/{source.group(1)}.yaml)"
    return message


def unknown_key(key: str, known: Iterable[Any]) -> str:
    """The line for a key its block does not have, with the keys the block has (where known)."""
    names = ", ".join(str(k) for k in known)
    hint = f" (keys of {key.rpartition('.')[0] or 'the top level'}: {names})" if names else ""
    return f"unknown config key '{key}'{hint}"


def expected_type(owner: Any, leaf: Any, exc: OmegaConfBaseException) -> str | None:
    """What the node `leaf` of `owner` takes, in words: from the dataclass annotation, else from
    the list the failing element belongs to."""
    if is_schema(owner) and isinstance(leaf, str):
        hints = typing.get_type_hints(owner)
        if leaf in hints:
            return describe(hints[leaf])
    ref = getattr(exc, "ref_type", None)
    if typing.get_origin(ref) in (list, typing.List):  # noqa: UP006 (OmegaConf reports typing.List)
        return describe(typing.get_args(ref)[0])
    return None


_WORDS = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}
_PLURAL = {int: "integers", float: "numbers", bool: "true/false values", str: "strings"}


def describe(kind: Any) -> str:
    """A type annotation in words: int -> 'an integer', list[int] | None -> 'a list of integers or null'."""
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin in (typing.Union, types.UnionType):
        rest = [a for a in args if a is not type(None)]
        return " or ".join(describe(a) for a in rest) + (" or null" if len(rest) < len(args) else "")
    if origin is list:
        element = args[0] if args else Any
        return f"a list of {_PLURAL[element]}" if element in _PLURAL else "a list"
    if origin is dict or kind is dict:
        return "a mapping"
    if is_schema(kind):
        return "a mapping of " + ", ".join(f.name for f in dataclasses.fields(kind))
    return _WORDS.get(kind, "a value")


# ----------------------------------------------------------------------------- a whole config


def dataset_schema(block: Any) -> type:
    from ge4rec.config.schema import DatasetConfig, SyntheticDatasetConfig

    kind = OmegaConf.get_type(block) if OmegaConf.is_config(block) else None
    if is_schema(kind) and issubclass(kind, DatasetConfig):
        return kind
    return SyntheticDatasetConfig if "synthetic" in block else DatasetConfig


def model_block_schema(block: Any) -> type | None:
    """The schema a composed model block was built on (so a changed model.name is caught), else
    the one of its name."""
    from ge4rec.config.models import ModelConfig

    kind = OmegaConf.get_type(block) if OmegaConf.is_config(block) else None
    if is_schema(kind) and issubclass(kind, ModelConfig):
        return kind
    return model_schema(block.get("name"))


def model_schema(name: Any) -> type | None:
    """The model's dataclass; None for a registered model that brings none (it checks its own
    keyword arguments). An unknown name raises ConfigError with the known ones."""
    from ge4rec.config.models import MODEL_SCHEMAS

    if name in MODEL_SCHEMAS:
        return MODEL_SCHEMAS[name]
    from ge4rec.models import get_model_class

    get_model_class(str(name))
    return None


def check_train_config(cfg: DictConfig) -> None:
    """A composed train config, checked as `ge4rec train` needs it before it reads any data:
    every block against its schema (types, keys, value rules), then the checks that read more
    than one block (TrainConfig.check). Raises ConfigError naming the key."""
    from ge4rec.config.schema import ParadigmConfig, TrainConfig, TrainerConfig

    root = OmegaConf.get_type(cfg)
    root = root if is_schema(root) and issubclass(root, TrainConfig) else TrainConfig
    blocks = {
        # the root's own blocks first (analysis; equal_budget, whose trial the others read)
        **{spec.name: hint for spec, hint in _nested_blocks(root)},
        "trainer": TrainerConfig,
        "paradigm": ParadigmConfig,
        "model": model_block_schema(cfg.model),
        "dataset": dataset_schema(cfg.dataset),
    }
    for where, schema in blocks.items():
        if schema is not None:
            typed(schema, cfg.get(where) or {}, where)
    typed(root, cfg, "")


def check_dataset_config(cfg: DictConfig) -> None:
    """The block a data command reads (`ge4rec data prepare|info`), checked as check_train_config
    checks it; the model and trainer blocks are left to `ge4rec train` (checking them reads the
    model registry, which imports torch)."""
    schema = dataset_schema(cfg.dataset)
    if schema is not None:
        typed(schema, cfg.get("dataset") or {}, "dataset")


def _nested_blocks(schema: type) -> list[tuple[Any, type]]:
    hints = typing.get_type_hints(schema)
    return [(spec, hints[spec.name]) for spec in dataclasses.fields(schema) if is_schema(hints[spec.name])]
