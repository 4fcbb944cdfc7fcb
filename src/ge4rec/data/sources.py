"""Finding and reading a data set's source files (CSV or Parquet) as polars LazyFrames.

Text files (.csv, and .txt or .tsv such as Criteo's `train.txt`) are read as CSV with
`dataset.csv_delimiter`; a file without a header row (`dataset.header=false`) takes its column
names from `dataset.columns`."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
import polars as pl
from omegaconf import OmegaConf

from ge4rec.data.queries import one_line
from ge4rec.errors import ConfigError, DataError

SPLITS = ("train", "valid", "test")
EXTENSIONS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet", ".txt": "csv", ".tsv": "csv"}


@dataclass
class Source:
    """One split's file, or a slice of one file split by ratios. A CSV file without a header row
    has `header` False and its column names in `columns` (which rename a header row otherwise)."""

    split: str
    path: Path
    fmt: str
    header: bool = True
    columns: tuple[str, ...] | None = None


def resolve_sources(cfg, name: str) -> list[Source]:
    """Locate the train/valid/test files a data set config names; clear errors when absent."""
    header, columns = _reading_options(cfg)
    if cfg.get("file"):
        path = Path(os.path.expanduser(str(cfg.file)))
        if cfg.get("path") and not path.is_absolute():
            path = Path(os.path.expanduser(str(cfg.path))) / path
        if not path.is_file():
            hint = "set dataset.file=PATH"
            if cfg.get("path") and not Path(str(cfg.file)).is_absolute():
                hint = f"{_how_to_set_path(cfg)}; or dataset.file=PATH"
            raise DataError(f"dataset '{name}': file {path} not found ({hint})")
        fmt = _checked_format(path, cfg, name, header, columns)
        return [Source(split, path, fmt, header, columns) for split in SPLITS]
    if not cfg.get("path"):
        raise DataError(
            f"dataset '{name}': no data given (set dataset.path=DIR holding train/valid/test files)"
        )
    folder = Path(os.path.expanduser(str(cfg.path)))
    if not folder.is_dir():
        raise DataError(f"dataset '{name}': folder {folder} not found ({_how_to_set_path(cfg)})")
    sources = []
    for split in SPLITS:
        stem = str(cfg.get(split) or split)
        candidates = (
            [folder / stem] if Path(stem).suffix in EXTENSIONS else [folder / (stem + e) for e in EXTENSIONS]
        )
        found = [p for p in candidates if p.is_file()]
        if not found:
            listing = ", ".join(sorted(p.name for p in folder.iterdir())[:12]) or "nothing"
            raise DataError(
                f"dataset '{name}': no {split} file '{stem}.csv' or '{stem}.parquet' in {folder} (it holds: {listing})"
            )
        fmt = _checked_format(found[0], cfg, name, header, columns)
        sources.append(Source(split, found[0], fmt, header, columns))
    return sources


def _reading_options(cfg) -> tuple[bool, tuple[str, ...] | None]:
    """`dataset.header` and `dataset.columns`, checked before any file is read."""
    header = cfg.get("header", True)
    if header is None:
        header = True
    if not isinstance(header, bool):
        raise ConfigError(f"dataset.header: expected true or false, got {header!r}")
    columns = cfg.get("columns")
    if OmegaConf.is_config(columns):
        columns = OmegaConf.to_container(columns, resolve=True)
    if columns is None:
        if not header:
            raise ConfigError(
                "dataset.columns: a file without a header row (dataset.header=false) needs its column "
                "names, e.g. dataset.columns=[label,I1,C1]"
            )
        return header, None
    if isinstance(columns, str):  # one comma-separated string
        columns = [c.strip() for c in columns.split(",")]
    if not isinstance(columns, list) or not columns or not all(isinstance(c, str) and c for c in columns):
        raise ConfigError(f"dataset.columns: expected a list of column names, got {columns!r}")
    twice = sorted({c for c in columns if columns.count(c) > 1})
    if twice:
        raise ConfigError(f"dataset.columns: '{twice[0]}' is named twice")
    return header, tuple(columns)


def _checked_format(path: Path, cfg, name: str, header: bool, columns) -> str:
    fmt = _format_of(path, cfg.get("format", "auto"), name)
    if fmt == "parquet" and (not header or columns is not None):
        option = "dataset.header=false" if not header else "dataset.columns"
        raise ConfigError(
            f"{option}: applies to CSV and text files; {path} is Parquet (its columns are named)"
        )
    return fmt


def _how_to_set_path(cfg) -> str:
    """How to point a data set at its folder, naming the environment variable its default reads.

    `path: ${oc.env:GE4REC_DATA,"~/data"}/Criteo_x1` gives
    "set dataset.path=DIR, or GE4REC_DATA=DIR to read DIR/Criteo_x1".
    """
    hint = "set dataset.path=DIR"
    try:
        raw = (
            cast("dict[str, Any]", OmegaConf.to_container(cfg, resolve=False)).get("path")
            if OmegaConf.is_config(cfg)
            else None
        )
    except Exception:  # an unresolvable sibling key: the plain hint will do
        raw = None
    if not isinstance(raw, str):
        return hint
    for match in re.finditer(r"\$\{oc\.env:\s*([A-Za-z_][A-Za-z0-9_]*)[^${}]*\}", raw):
        var = match.group(1)
        rest = raw.replace(match.group(0), "DIR")
        if rest == "DIR":
            return f"{hint}, or the environment variable {var}=DIR"
        if "${" not in rest:
            return f"{hint}, or {var}=DIR to read {rest}"
    return hint


def _format_of(path: Path, fmt: str, name: str) -> str:
    if fmt and fmt != "auto":
        if fmt not in ("csv", "parquet"):
            raise DataError(f"dataset '{name}': format '{fmt}' (expected auto, csv or parquet)")
        return fmt
    suffix = path.suffix.lower()
    if suffix not in EXTENSIONS:
        raise DataError(
            f"dataset '{name}': {path} is neither .csv (.txt, .tsv) nor .parquet (set dataset.format=csv|parquet)"
        )
    return EXTENSIONS[suffix]


def scan(source: Source, delimiter: str = ",") -> pl.LazyFrame:
    """Read lazily. CSV columns are read as strings: their types are inferred by ge4rec, not by polars."""
    if source.path.stat().st_size == 0:
        expected = "a header and rows" if source.header else "rows"
        raise DataError(f"{source.path}: file is empty (expected {expected})")
    delimiter = {"\\t": "\t", "tab": "\t"}.get(delimiter, delimiter)  # as typed on a command line
    if len(delimiter) != 1:
        raise ConfigError(
            f"dataset.csv_delimiter: expected one character (e.g. ',' or a tab), got {delimiter!r}"
        )
    try:
        if source.fmt == "csv":
            lf = pl.scan_csv(
                source.path,
                infer_schema=False,
                separator=delimiter,
                has_header=source.header,
                new_columns=list(source.columns) if source.columns else None,
            )
        else:
            lf = pl.scan_parquet(source.path)
    except Exception as exc:  # polars raises several types for unreadable files
        raise DataError(f"{source.path}: cannot read as {source.fmt}: {one_line(exc)}") from None
    if source.columns:
        _check_column_count(source, delimiter)
    return lf


def _check_column_count(source: Source, delimiter: str) -> None:
    """`dataset.columns` must name every column of the file: one too few or too many is an error."""
    assert source.columns is not None  # the caller checks only a source that names its columns
    try:
        found = len(
            pl.scan_csv(
                source.path, infer_schema=False, separator=delimiter, has_header=source.header
            ).collect_schema()
        )
    except Exception as exc:
        raise DataError(f"{source.path}: cannot read as {source.fmt}: {one_line(exc)}") from None
    if found != len(source.columns):
        what = "columns in its header" if source.header else "columns in its first row"
        raise DataError(f"{source.path}: {found} {what}, but dataset.columns names {len(source.columns)}")


def columns_of(lf: pl.LazyFrame, source: Source) -> dict[str, pl.DataType]:
    try:
        return dict(lf.collect_schema())
    except Exception as exc:
        raise DataError(f"{source.path}: cannot read as {source.fmt}: {one_line(exc)}") from None


def split_single_file(lf: pl.LazyFrame, ratios, seed: int, source: Source) -> dict[str, pl.LazyFrame]:
    """Split one file into train/valid/test by a seeded permutation of its rows.

    Row i goes to the split its place in the permutation falls in (the first ratios[0] share of
    places is train, and so on); each split keeps the file's row order. The same file, ratios and
    seed give the same split on any machine: numpy's PCG64 generator, not a hash. Only the row
    count and the assignment are held in memory; the rows are read lazily, split by split.
    """
    ratios = [float(r) for r in ratios]
    if len(ratios) != 3 or min(ratios) < 0 or sum(ratios) <= 0:
        raise DataError(f"dataset.split_ratios: expected three non-negative numbers, got {ratios}")
    try:
        n = lf.select(pl.len()).collect().item()
    except Exception as exc:
        raise DataError(f"{source.path}: cannot read as {source.fmt}: {one_line(exc)}") from None
    if n == 0:
        raise DataError(f"{source.path}: file has no rows")
    rng = np.random.default_rng(int(seed))
    order = rng.permutation(n)
    bounds = np.cumsum(np.array(ratios) / sum(ratios) * n).round().astype(int)
    parts = (order[: bounds[0]], order[bounds[0] : bounds[1]], order[bounds[1] :])
    indexed = lf.with_row_index("__row")
    return {
        split: indexed.filter(pl.col("__row").cast(pl.Int64).is_in(pl.Series(np.sort(rows)).implode())).drop(
            "__row"
        )
        for split, rows in zip(SPLITS, parts)
    }
