"""Running polars queries over a data file, with failures reported as one-line DataErrors."""

from __future__ import annotations

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


def _reraise(exc: Exception, file: str):
    if isinstance(exc, (DataError, ConfigError)):  # ours, raised inside a query (dataset.derive):
        raise type(exc)(one_line(exc, 1000)) from None  # polars appends the expression: keep line one
    raise DataError(f"{file}: {one_line(exc)}") from None


def collect(lf: pl.LazyFrame, file: str) -> pl.DataFrame:
    try:
        return lf.collect(engine="streaming")
    except Exception as exc:
        _reraise(exc, file)


def collect_all(queries: list[pl.LazyFrame], file: str) -> list[pl.DataFrame]:
    if not queries:
        return []
    try:
        return pl.collect_all(queries, engine="streaming")
    except Exception as exc:
        _reraise(exc, file)
