"""Finding and reading a data set's source files (CSV or Parquet) as polars LazyFrames."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
from omegaconf import OmegaConf

from ge4rec.errors import DataError

SPLITS = ("train", "valid", "test")
EXTENSIONS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}


@dataclass
class Source:
    """One split's file, or a slice of one file split by ratios."""

    split: str
    path: Path
    fmt: str


def resolve_sources(cfg, name: str) -> list[Source]:
    """Locate the train/valid/test files a data set config names; clear errors when absent."""
    if cfg.get("file"):
        path = Path(os.path.expanduser(str(cfg.file)))
        if cfg.get("path") and not path.is_absolute():
            path = Path(os.path.expanduser(str(cfg.path))) / path
        if not path.is_file():
            raise DataError(f"dataset '{name}': file {path} not found (set dataset.file=PATH)")
        fmt = _format_of(path, cfg.get("format", "auto"), name)
        return [Source(split, path, fmt) for split in SPLITS]
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
        sources.append(Source(split, found[0], _format_of(found[0], cfg.get("format", "auto"), name)))
    return sources


def _how_to_set_path(cfg) -> str:
    """How to point a data set at its folder, naming the environment variable its default reads.

    `path: ${oc.env:GE4REC_DATA,"~/data"}/Criteo_x1` gives
    "set dataset.path=DIR, or GE4REC_DATA=DIR to read DIR/Criteo_x1".
    """
    hint = "set dataset.path=DIR"
    try:
        raw = OmegaConf.to_container(cfg, resolve=False).get("path") if OmegaConf.is_config(cfg) else None
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
            f"dataset '{name}': {path} is neither .csv nor .parquet (set dataset.format=csv|parquet)"
        )
    return EXTENSIONS[suffix]


def scan(source: Source, delimiter: str = ",") -> pl.LazyFrame:
    """Read lazily. CSV columns are read as strings: their types are inferred by ge4rec, not by polars."""
    if source.path.stat().st_size == 0:
        raise DataError(f"{source.path}: file is empty (expected a header and rows)")
    try:
        if source.fmt == "csv":
            return pl.scan_csv(source.path, infer_schema=False, separator=delimiter)
        return pl.scan_parquet(source.path)
    except Exception as exc:  # polars raises several types for unreadable files
        raise DataError(f"{source.path}: cannot read as {source.fmt}: {_first_line(exc)}") from None


def columns_of(lf: pl.LazyFrame, source: Source) -> dict[str, pl.DataType]:
    try:
        return dict(lf.collect_schema())
    except Exception as exc:
        raise DataError(f"{source.path}: cannot read as {source.fmt}: {_first_line(exc)}") from None


def split_single_file(lf: pl.LazyFrame, ratios, seed: int, source: Source) -> dict[str, pl.LazyFrame]:
    """Split one file into train/valid/test by a seeded permutation of its rows."""
    ratios = [float(r) for r in ratios]
    if len(ratios) != 3 or min(ratios) < 0 or sum(ratios) <= 0:
        raise DataError(f"dataset.split_ratios: expected three non-negative numbers, got {ratios}")
    df = lf.collect()
    n = df.height
    if n == 0:
        raise DataError(f"{source.path}: file has no rows")
    rng = np.random.default_rng(int(seed))
    order = rng.permutation(n)
    bounds = np.cumsum(np.array(ratios) / sum(ratios) * n).round().astype(int)
    assignment = np.empty(n, dtype=np.int8)
    assignment[order[: bounds[0]]] = 0
    assignment[order[bounds[0] : bounds[1]]] = 1
    assignment[order[bounds[1] :]] = 2
    split_col = pl.Series("__split", assignment)
    df = df.with_columns(split_col)
    return {s: df.filter(pl.col("__split") == i).drop("__split").lazy() for i, s in enumerate(SPLITS)}


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
