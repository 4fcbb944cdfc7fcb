"""Derived columns (`dataset.derive`): new or replaced columns computed from the source columns
with polars expressions, before anything is fitted, the same way in every split.

An entry is `{name: NEW, from: COLUMN, op: OP}`. Every entry reads the columns as the file holds
them, all at once, so `{name: hour, from: hour, op: hour_yymmddhh}` can replace `hour` in place
while other entries still derive from the original timestamp, in whatever order they are listed.
A derived column is then a column like any other: list it in `dataset.fields` (or let inference
pick it up) and give it field options.

The operations: the hour of day, weekday and weekend of a YYMMDDHH timestamp (Avazu); the
log-square bucket of a count (Criteo's integer columns as categories); the country code of an ISRC
and the age group of an age in years (KKBox).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import polars as pl

from ge4rec.errors import ConfigError, DataError

_KEYS = ("name", "from", "op")


@dataclass(frozen=True)
class Derivation:
    name: str
    source: str
    op: str


# ----------------------------------------------------------------------------- the operations


def _yymmddhh(column: str, file: str, entry: str) -> pl.Expr:
    """The timestamp of a YYMMDDHH column (Avazu's `hour`, e.g. 14102100 = 2014-10-21, 00:00).

    Strings and integers are both accepted; a value that is not eight digits naming a real date
    and an hour 00..23 stops the build with a one-line error. Empty values stay empty.
    """

    def check(values: pl.Series) -> pl.Series:
        parsed = values.to_frame("v").select(_parse_yymmddhh(pl.col("v"))).to_series()
        bad = values.filter(values.is_not_null() & parsed.is_null())
        if bad.len():
            raise DataError(
                f"{file}: column '{column}' holds '{bad[0]}', not a YYMMDDHH timestamp like 14102100 "
                f"(dataset.derive '{entry}' reads it)"
            )
        return values

    text = pl.col(column).cast(pl.String).map_batches(check, return_dtype=pl.String, is_elementwise=True)
    return _parse_yymmddhh(text)


def _parse_yymmddhh(text: pl.Expr) -> pl.Expr:
    """Null unless eight digits with a valid date and hour (polars wants minutes, hence the '00')."""
    parsed = (text + "00").str.strptime(pl.Datetime, "%y%m%d%H%M", strict=False)
    return pl.when(text.str.contains(r"^\d{8}$")).then(parsed)


def _hour_of_day(ts: pl.Expr) -> pl.Expr:
    return ts.dt.hour().cast(pl.Int8)


def _weekday(ts: pl.Expr) -> pl.Expr:
    # 0 = Sunday ... 6 = Saturday (strftime's %w, as the BARS/FuxiCTR Avazu_x4 preprocessing)
    return (ts.dt.weekday() % 7).cast(pl.Int8)


def _weekend(ts: pl.Expr) -> pl.Expr:
    return (ts.dt.weekday() >= 6).cast(pl.Int8)  # ISO weekday: 6 = Saturday, 7 = Sunday


def _number(column: str, file: str, entry: str) -> pl.Expr:
    """The column as a float; a value that is not a number stops the build with a one-line error.
    Empty values stay empty."""

    def check(values: pl.Series) -> pl.Series:
        parsed = values.cast(pl.Float64, strict=False)
        bad = values.filter(values.is_not_null() & parsed.is_null())
        if bad.len():
            raise DataError(
                f"{file}: column '{column}' holds '{bad[0]}', not a number (dataset.derive '{entry}' reads it)"
            )
        return parsed

    return pl.col(column).map_batches(check, return_dtype=pl.Float64, is_elementwise=True)


def _log_square_bucket(x: pl.Expr) -> pl.Expr:
    """A count as a category: v > 2 becomes floor(ln(v)^2), any other v its integer part; an empty
    value counts as 0. This is the discretisation of the Criteo challenge winners that the BARS
    Criteo_x4 settings use (FuxiCTR's convert_to_bucket, after filling missing values with 0)."""
    x = x.fill_nan(None).fill_null(0.0)
    bucket = pl.when(x > 2).then(x.log().pow(2).floor()).otherwise(x)
    return bucket.cast(pl.Int64, strict=False).cast(pl.String)


def _isrc_country(column: str) -> pl.Expr:
    """The first two characters of an International Standard Recording Code: the country code."""
    code = pl.col(column).cast(pl.String).str.strip_chars().str.slice(0, 2)
    return pl.when(code.str.len_chars() > 0).then(code)


def _age_group(age: pl.Expr) -> pl.Expr:
    """An age in years in seven groups: "1" for 1..10, "2" for 10..20, ... "6" for 50..60 and "7"
    for 60..95 (upper bounds included); other ages (0, negative, over 95) are empty. The grouping
    of the BARS KKBox_x1 setting (FuxiCTR's bucketize_age on the `bd` column)."""
    group = pl.lit("7")
    for upper, name in ((60, "6"), (50, "5"), (40, "4"), (30, "3"), (20, "2"), (10, "1")):
        group = pl.when(age <= upper).then(pl.lit(name)).otherwise(group)
    return pl.when((age >= 1) & (age <= 95)).then(group)


# op name -> (column, file, entry name) -> expression; add new operations here
OPS: dict[str, Callable[[str, str, str], pl.Expr]] = {
    "hour_yymmddhh": lambda c, f, e: _hour_of_day(_yymmddhh(c, f, e)),
    "weekday_yymmddhh": lambda c, f, e: _weekday(_yymmddhh(c, f, e)),
    "weekend_yymmddhh": lambda c, f, e: _weekend(_yymmddhh(c, f, e)),
    "log_square_bucket": lambda c, f, e: _log_square_bucket(_number(c, f, e)),
    "country_isrc": lambda c, f, e: _isrc_country(c),
    "age_group": lambda c, f, e: _age_group(_number(c, f, e)),
}
OP_HELP = {
    "hour_yymmddhh": "hour of day 0..23 of a YYMMDDHH timestamp",
    "weekday_yymmddhh": "day of week of a YYMMDDHH timestamp, 0 = Sunday .. 6 = Saturday",
    "weekend_yymmddhh": "1 if a YYMMDDHH timestamp falls on a Saturday or Sunday, else 0",
    "log_square_bucket": "a number as a category: floor(ln(v)^2) if v > 2, else its integer part; empty = 0",
    "country_isrc": "the two-letter country code that starts an ISRC",
    "age_group": "an age in years as 1 (1-10), 2 (11-20) .. 6 (51-60), 7 (61-95); other ages empty",
}


# ----------------------------------------------------------------------------- config and application


def parse_derive(value: Any) -> list[Derivation]:
    """Check `dataset.derive` (a list of {name, from, op}) before any file is read."""
    if value is None:
        return []
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list):
        raise ConfigError(f"dataset.derive: expected a list of {{name, from, op}}, got {value!r}")
    out: list[Derivation] = []
    for item in value:
        if not isinstance(item, dict):
            raise ConfigError(f"dataset.derive: expected a mapping {{name, from, op}}, got {item!r}")
        unknown = set(item) - set(_KEYS)
        missing = [k for k in _KEYS if not isinstance(item.get(k), str) or not item.get(k)]
        if unknown or missing:
            raise ConfigError(
                f"dataset.derive: {item!r} needs exactly the keys name, from and op"
                + (f" (unknown: {', '.join(sorted(unknown))})" if unknown else "")
                + (f" (missing: {', '.join(missing)})" if missing else "")
            )
        if item["op"] not in OPS:
            raise ConfigError(
                f"dataset.derive: '{item['name']}' has op '{item['op']}' (expected one of {', '.join(OPS)})"
            )
        out.append(Derivation(item["name"], item["from"], item["op"]))
    names = [d.name for d in out]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ConfigError(f"dataset.derive: '{twice[0]}' is derived twice")
    return out


def apply_derive(
    lf: pl.LazyFrame,
    derivations: list[Derivation],
    columns: dict[str, pl.DataType],
    label: str | None,
    file: str,
) -> pl.LazyFrame:
    """Add (or replace) the derived columns of one split; `columns` are the split's own columns."""
    if not derivations:
        return lf
    for d in derivations:
        if d.source not in columns:
            raise DataError(
                f"{file}: column '{d.source}' is missing (dataset.derive '{d.name}' reads it; "
                f"columns: {', '.join(list(columns)[:20])})"
            )
        if label is not None and d.name == label:
            raise ConfigError(f"dataset.derive: '{d.name}' is the label column; derive another name")
    return lf.with_columns([OPS[d.op](d.source, file, d.name).alias(d.name) for d in derivations])
