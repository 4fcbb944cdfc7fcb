"""What a data set's columns are: the spec read from config, and the fitted schema a model sees."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from ge4rec.errors import ConfigError

CATEGORICAL = "categorical"
NUMERIC = "numeric"
SEQUENCE = "sequence"
FIELD_TYPES = (CATEGORICAL, NUMERIC, SEQUENCE)

# Local id layout of every categorical or sequence field's vocabulary. The table row of a local
# id is offset + id; row 0 of the whole table is the shared padding row used by sequences.
OOV_ID = 0
MISSING_ID = 1
FIRST_VALUE_ID = 2

NUMERIC_MODES = ("normalize", "bucketize", "none")
TRANSFORMS = ("none", "log1p", "log_square")
MISSING_MODES = ("token", "oov")
LABEL_CANDIDATES = ("label", "click")


@dataclass
class FieldSpec:
    """How one column is turned into a field; unset options fall back to the data set's."""

    name: str
    type: str | None = None  # None: inferred from the train split
    min_count: int | None = None
    missing: str | None = None  # categorical: "token" (own id) or "oov"; numeric: "mean", "zero" or a number
    transform: str = "none"
    numeric: str | None = None  # normalize | bucketize | none
    num_buckets: int | None = None
    max_len: int | None = None
    separator: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(vars(self))  # flat values: a shallow copy (asdict's deep copy is slow for many fields)


_FIELD_KEYS = set(FieldSpec.__dataclass_fields__)


def field_spec_from(
    item: Any, options: dict[str, Any] | None = None, where: str = "dataset.fields"
) -> FieldSpec:
    """Build a FieldSpec from a config entry: a column name or a mapping with `name` and options."""
    if isinstance(item, str):
        data: dict[str, Any] = {"name": item}
    elif isinstance(item, dict):
        data = dict(item)
    else:
        raise ConfigError(f"{where}: expected a column name or a mapping with 'name', got {item!r}")
    if options:
        data = {**data, **options}
    unknown = set(data) - _FIELD_KEYS
    if unknown:
        raise ConfigError(
            f"{where}: unknown field option(s) {sorted(unknown)} for '{data.get('name')}' "
            f"(valid: {sorted(_FIELD_KEYS)})"
        )
    if "name" not in data or not isinstance(data["name"], str):
        raise ConfigError(f"{where}: every field needs a 'name', got {item!r}")
    spec = FieldSpec(**data)
    if spec.type is not None and spec.type not in FIELD_TYPES:
        raise ConfigError(
            f"{where}: field '{spec.name}' has type '{spec.type}' (expected one of {', '.join(FIELD_TYPES)})"
        )
    if spec.transform not in TRANSFORMS:
        raise ConfigError(
            f"{where}: field '{spec.name}' has transform '{spec.transform}' (expected one of {', '.join(TRANSFORMS)})"
        )
    if spec.numeric is not None and spec.numeric not in NUMERIC_MODES:
        raise ConfigError(
            f"{where}: field '{spec.name}' has numeric '{spec.numeric}' (expected one of {', '.join(NUMERIC_MODES)})"
        )
    return spec


@dataclass
class FieldInfo:
    """A fitted field as the model sees it: its rows in the shared embedding table."""

    name: str
    type: str
    vocab_size: int  # rows in the table (1 for a numeric field)
    offset: int  # first row in the table
    max_len: int = 1  # sequence fields: padded length

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Schema:
    """Fields in table order: categorical, then numeric, then sequence fields."""

    fields: list[FieldInfo] = field(default_factory=list)

    @property
    def num_fields(self) -> int:
        return len(self.fields)

    @property
    def num_embeddings(self) -> int:
        """Rows of the shared table: row 0 is padding, then every field's block."""
        if not self.fields:
            return 1
        last = self.fields[-1]
        return last.offset + last.vocab_size

    def of_type(self, kind: str) -> list[FieldInfo]:
        return [f for f in self.fields if f.type == kind]

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.fields]

    def to_dict(self) -> dict[str, Any]:
        return {"fields": [f.to_dict() for f in self.fields]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Schema:
        return cls([FieldInfo(**f) for f in data["fields"]])

    @classmethod
    def build(cls, entries: list[tuple[str, str, int, int]]) -> Schema:
        """Lay out (name, type, vocab_size, max_len) entries in table order with offsets."""
        order = {CATEGORICAL: 0, NUMERIC: 1, SEQUENCE: 2}
        ordered = sorted(entries, key=lambda e: order[e[1]])  # stable: keeps column order within a type
        fields, offset = [], 1
        for name, kind, size, max_len in ordered:
            fields.append(FieldInfo(name=name, type=kind, vocab_size=size, offset=offset, max_len=max_len))
            offset += size
        return cls(fields)
