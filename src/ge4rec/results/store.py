"""One Parquet file per run in a folder, each written atomically (temp file + rename), so parallel
jobs never lose or corrupt a row and `polars.read_parquet(DIR + "/*.parquet")` reads them all."""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path
from typing import Any

import polars as pl

# the guaranteed columns and their types; a row may carry more (analysis scalars, extra options)
COLUMNS: dict[str, pl.DataType] = {
    "run_id": pl.String,
    "created_at": pl.String,
    "dataset": pl.String,
    "model": pl.String,
    "paradigm": pl.String,
    "seed": pl.Int64,
    "status": pl.String,
    "error": pl.String,
    "embedding_dim": pl.Int64,
    "valid_auc": pl.Float64,
    "valid_logloss": pl.Float64,
    "test_auc": pl.Float64,
    "test_logloss": pl.Float64,
    "best_epoch": pl.Int64,
    "epochs": pl.Int64,
    "train_seconds": pl.Float64,
    "samples_per_second": pl.Float64,
    "parameters": pl.Int64,
    "generator_parameters": pl.Int64,
    "device": pl.String,
    "run_dir": pl.String,
    "overrides": pl.String,
    "config": pl.String,
    "config_hash": pl.String,
    "ge4rec_version": pl.String,
    "git_commit": pl.String,
    "torch_version": pl.String,
}


# further columns that every row carries (null where a run has no value), e.g. analysis scalars;
# a fixed column set keeps `polars.read_parquet(DIR + "/*.parquet")` working across all rows
EXTRA_COLUMNS: dict[str, pl.DataType] = {}


def register_columns(columns: dict[str, pl.DataType]) -> None:
    EXTRA_COLUMNS.update(columns)


def row_schema() -> dict[str, pl.DataType]:
    return {**COLUMNS, **EXTRA_COLUMNS}


def new_run_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S") + "-" + uuid.uuid4().hex[:8]


def write_row(results_dir: str | os.PathLike, row: dict[str, Any]) -> Path:
    """Write one run's row as RESULTS_DIR/<run_id>.parquet; nothing is visible until it is complete."""
    folder = Path(results_dir)
    folder.mkdir(parents=True, exist_ok=True)
    for name, value in row.items():
        if name not in COLUMNS and name not in EXTRA_COLUMNS:
            is_number = value is None or (isinstance(value, (int, float)) and not isinstance(value, bool))
            register_columns({name: pl.Float64 if is_number else pl.String})
    schema = row_schema()
    frame = pl.DataFrame({name: [row.get(name)] for name in schema}, schema=schema, strict=False)
    final = folder / f"{row['run_id']}.parquet"
    tmp = folder / f".{row['run_id']}.{os.getpid()}.tmp"
    try:
        frame.write_parquet(tmp)
        os.replace(tmp, final)
    finally:
        if tmp.exists():
            tmp.unlink()
    return final


def scan_results(results_dir: str | os.PathLike) -> pl.LazyFrame:
    """All rows of a results folder as one lazy frame (columns missing from older rows are null):
    a query that selects and filters reads only the columns it needs."""
    files = sorted(Path(results_dir).glob("*.parquet"))
    if not files:
        return pl.LazyFrame(schema=COLUMNS)
    return pl.concat([pl.scan_parquet(f) for f in files], how="diagonal_relaxed")


def read_results(results_dir: str | os.PathLike) -> pl.DataFrame:
    """All rows of a results folder as one frame (columns missing from older rows are null)."""
    return scan_results(results_dir).collect()
