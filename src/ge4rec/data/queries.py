"""Running polars queries over a data file, with failures reported as one-line DataErrors."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, NoReturn

import polars as pl

from ge4rec.errors import ConfigError, DataError


def one_line(exc: BaseException, limit: int = 200) -> str:
    """The first line of an error, printable characters only and at most `limit` of them
    (a message about a binary file must not write its bytes to the terminal)."""
    lines = str(exc).strip().splitlines()
    return shown(lines[0] if lines else type(exc).__name__, limit)


def shown(value: object, limit: int = 40) -> str:
    """A value from a data file as a message may quote it: printable, and cut to `limit`."""
    text = "".join(c if c.isprintable() else "?" for c in str(value))
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _reraise(exc: Exception, file: str) -> NoReturn:
    if isinstance(exc, (DataError, ConfigError)):  # ours, raised inside a query (dataset.derive):
        raise type(exc)(one_line(exc, 1000)) from None  # polars appends the expression: keep line one
    message = one_line(exc)
    if "more fields than defined" in message:  # polars' words for a row longer than the header
        message = "a row has more fields than the header (check dataset.csv_delimiter and quoting)"
    raise DataError(f"{file}: {message}") from None


def collect(lf: pl.LazyFrame, file: str) -> pl.DataFrame:
    try:
        return lf.collect(engine="streaming")
    except Exception as exc:
        _reraise(exc, file)


def collect_batches(lf: pl.LazyFrame, file: str, rows: int) -> Iterator[pl.DataFrame]:
    """The query's result as consecutive DataFrames of about `rows` rows, in row order, streamed."""
    try:
        yield from lf.collect_batches(chunk_size=rows, maintain_order=True, engine="streaming")
    except Exception as exc:
        _reraise(exc, file)


def collect_all(queries: list[pl.LazyFrame], file: str) -> list[pl.DataFrame]:
    if not queries:
        return []
    try:
        return pl.collect_all(queries, engine="streaming")
    except Exception as exc:
        _reraise(exc, file)


# Above this many columns, per-column statistics and lookups run on a long (unpivoted) frame:
# polars plans a select in time proportional to its number of expressions at a cost per
# expression that dominates for thousands of columns, while one group_by or join over the long
# frame costs the same whatever the number of columns. Below it, the wide select is cheaper.
WIDE_COLUMNS = 200
# Reading train's categorical columns as codes (one cast per column in one select) stays the
# faster way to count and encode them well above WIDE_COLUMNS: at 1,000 Zipf columns it takes
# 38 s and 3.8 GB against the long frame's 50 s and 5.4 GB (200,000 rows); at 5,000 columns
# the two are level. Above this many, the long frame counts them and a join encodes them.
CODED_COLUMNS = 2000


TOTALS = "\0"


def column_stats(
    lf: pl.LazyFrame,
    names: list[str],
    stats: dict[str, Callable[[pl.Expr], pl.Expr]],
    file: str,
    totals: dict[str, pl.Expr] | None = None,
) -> dict[str, dict[str, Any]]:
    """{column: {stat: value}} of aggregations `stats[stat](column expression)`, read in one pass.

    `totals` are aggregations over the whole frame (a row count, say), computed with the column
    statistics (one select, or one collect_all above WIDE_COLUMNS text columns) and returned under
    the key TOTALS: checking a split does not read its file once more for them."""
    totals = totals or {}
    if not names and not totals:
        return {}
    schema = lf.collect_schema()
    out: dict[str, dict[str, Any]] = {}
    if len(names) <= WIDE_COLUMNS or any(schema[n] != pl.String for n in names):
        exprs = [fn(pl.col(n)).alias(f"{n}\0{stat}") for n in names for stat, fn in stats.items()]
        exprs += [expr.alias(f"\0{key}") for key, expr in totals.items()]
        row = collect(lf.select(exprs), file).row(0, named=True)
        out = {n: {stat: row[f"{n}\0{stat}"] for stat in stats} for n in names}
    else:
        value = pl.col("\0value")
        long = lf.select(names).unpivot(variable_name="\0field", value_name="\0value")
        query = long.group_by("\0field").agg([fn(value).alias(stat) for stat, fn in stats.items()])
        whole = [lf.select([expr.alias(f"\0{key}") for key, expr in totals.items()])] if totals else []
        table, *rest = collect_all([query, *whole], file)
        out = {row.pop("\0field"): row for row in table.iter_rows(named=True)}
        row = rest[0].row(0, named=True) if rest else {}
    if totals:
        out[TOTALS] = {key: row[f"\0{key}"] for key in totals}
    return out
