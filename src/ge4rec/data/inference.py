"""Which columns are the label and the fields, and what type each field is.

Declared fields keep their declared type. An undeclared type is inferred from the train split:
a list column or a text column holding the separator is a sequence, a float column or a text
column whose values all read as non-integer numbers is numeric, anything else is categorical.
Every probe of every column runs in one query over the train split.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from ge4rec.data.spec import CATEGORICAL, LABEL_CANDIDATES, NUMERIC, SEQUENCE, FieldSpec, field_spec_from
from ge4rec.errors import ConfigError, DataError


def listing(names, limit: int = 20) -> str:
    """At most `limit` names for a message, and how many more there are."""
    names = list(names)
    shown = ", ".join(names[:limit])
    return shown + (f", ... ({len(names) - limit} more)" if len(names) > limit else "")


def find_label(configured: Any, columns: dict, file: str) -> str:
    """The configured label column, or the first of 'label' / 'click' present."""
    if configured:
        if configured not in columns:
            raise DataError(f"{file}: label column '{configured}' not found (columns: {listing(columns)})")
        return str(configured)
    for candidate in LABEL_CANDIDATES:
        if candidate in columns:
            return candidate
    raise DataError(
        f"{file}: no label column 'label' or 'click' (set dataset.label=NAME; columns: {listing(columns)})"
    )


def field_specs(
    declared: Any, options: dict[str, Any], exclude: set[str], columns: dict, label: str, file: str
) -> list[FieldSpec]:
    """Declared fields (a list of names or mappings), or every column but the label and the
    excluded ones; per-field options applied. Types are left for `infer_types`."""
    if declared:
        items = declared if isinstance(declared, list) else [declared]
        specs = [field_spec_from(item, where="dataset.fields") for item in items]
    else:
        specs = [FieldSpec(name=c) for c in columns if c != label and c not in exclude]
    if not specs:
        raise DataError(f"{file}: no feature columns besides the label '{label}'")
    names = [s.name for s in specs]
    known = set(names)
    for unknown in options:
        if unknown not in known:
            raise ConfigError(f"dataset.field_options: '{unknown}' is not a field (fields: {listing(names)})")
    if len(known) != len(names):
        seen: set[str] = set()
        for n in names:
            if n in seen:
                raise ConfigError(f"dataset.fields: '{n}' is listed twice")
            seen.add(n)
    specs = [
        field_spec_from(s.to_dict(), options[s.name], where="dataset.field_options")
        if s.name in options
        else s
        for s in specs
    ]
    for spec in specs:
        if spec.name == label:
            raise ConfigError(f"dataset.fields: '{label}' is the label, not a field")
        if spec.name not in columns:
            raise DataError(f"{file}: column '{spec.name}' not found (columns: {listing(columns)})")
    return specs


def counted_columns(specs: list[FieldSpec], columns: dict) -> list[str]:
    """The columns whose value counts both type inference and fitting read: every field that is
    or may become categorical (text columns of unknown type, declared categorical fields, and
    columns of other types that can only be categorical)."""
    names = []
    for s in specs:
        dtype = columns[s.name]
        if s.type == CATEGORICAL:
            names.append(s.name)
        elif s.type is None and not (dtype.is_float() or isinstance(dtype, pl.List)):
            names.append(s.name)
    return names


def _stats_from_counts(counts: pl.DataFrame, names: list[str], sep: str) -> dict[str, dict]:
    """infer_types' probes (non-empty values, integers, numbers, any separator) of text columns,
    read from their (field, value, count) table instead of their rows: a probe's answer depends
    on the value alone, so weighting each distinct value by its count gives the same totals."""
    value, n = pl.col("\0value"), pl.col("\0n").cast(pl.Int64)
    table = (
        counts.lazy()
        .filter(pl.col("\0field").is_in(names))
        .group_by("\0field")
        .agg(
            n.sum().alias("n"),
            n.filter(value.cast(pl.Int64, strict=False).is_not_null()).sum().alias("int"),
            n.filter(value.cast(pl.Float64, strict=False).is_not_null()).sum().alias("float"),
            value.str.contains(sep, literal=True).any().alias("seq"),
        )
        .collect()
    )
    found = {row.pop("\0field"): row for row in table.iter_rows(named=True)}
    empty = {"n": 0, "int": 0, "float": 0, "seq": False}  # a column with no value at all
    return {name: found.get(name, empty) for name in names}


def infer_types(
    specs: list[FieldSpec], columns: dict, separator: str, file: str, counts: pl.DataFrame | None
) -> list[str]:
    """Fill in the type of every spec that has none. Returns decisions worth telling the user
    (a column that looks numeric but holds other values too, read as categorical).

    `counts`: train's (field, value, count) table over counted_columns(specs, columns)
    (preprocess.value_counts), which holds every text column still to type; None when there is
    no such column."""
    pending = [s for s in specs if s.type is None]
    text = [s for s in pending if columns[s.name] == pl.String]
    stats: dict[str, dict] = {}
    for sep in dict.fromkeys(s.separator or separator for s in text):
        assert counts is not None, "counted_columns holds every text column of unknown type"
        stats.update(
            _stats_from_counts(counts, [s.name for s in text if (s.separator or separator) == sep], sep)
        )
    decisions = []
    for s in pending:
        dtype = columns[s.name]
        if dtype == pl.String:
            n, ints, floats, seq = (stats[s.name][k] for k in ("n", "int", "float", "seq"))
            if seq:
                s.type = SEQUENCE
            elif n > 0 and ints == n:
                s.type = CATEGORICAL
            elif n > 0 and floats == n:
                s.type = NUMERIC
            else:
                s.type = CATEGORICAL
                if floats > ints:  # non-integer numbers mixed with text: say which way it went
                    decisions.append(
                        f"{file}: column '{s.name}' holds {floats:,} numbers and {n - floats:,} other "
                        f"value{'' if n - floats == 1 else 's'}: "
                        f"read as categorical (dataset.field_options.{s.name}.type=numeric requires numbers)"
                    )
        elif dtype.is_float():
            s.type = NUMERIC
        elif isinstance(dtype, pl.List):
            s.type = SEQUENCE
        else:
            s.type = CATEGORICAL
    return decisions
