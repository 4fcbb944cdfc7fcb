"""One Parquet file per run in a folder, each written atomically (ge4rec.io), so parallel jobs
never lose or corrupt a row and `polars.read_parquet(DIR + "/*.parquet")` reads them all.

Every column a row carries is declared here, with its type: a fixed column set keeps rows of
failed runs, runs without analysis and analysed runs readable as one table."""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from ge4rec.io import write_parquet

if TYPE_CHECKING:
    # a data type class (pl.Float64) or instance (pl.Float64()): what a polars schema accepts
    from polars._typing import PolarsDataType

# what the run was and how it ended
RUN_COLUMNS: dict[str, PolarsDataType] = {
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

# the analysis scalars after training (ge4rec.analysis.run_analysis.SCALAR_COLUMNS describes each);
# null when a run has no analysis, or no such embedding; analysis_error says why an analysis that
# was asked for is missing (the run itself completed)
ANALYSIS_COLUMNS: dict[str, PolarsDataType] = {
    "information_abundance_raw": pl.Float64,
    "effective_rank_raw": pl.Float64,
    "collapse_cliff_raw": pl.Int64,
    "information_abundance_raw_field_mean": pl.Float64,
    "information_abundance_operand": pl.Float64,
    "effective_rank_operand": pl.Float64,
    "collapse_cliff_operand": pl.Int64,
    "information_abundance_operand_field_mean": pl.Float64,
    "redundancy_interacting_mean_abs": pl.Float64,
    "redundancy_within_field_mean_abs": pl.Float64,
    "redundancy_cross_field_mean_abs": pl.Float64,
    "redundancy_offdiagonal_mean_abs": pl.Float64,
    "analysis_split": pl.String,
    "analysis_rows": pl.Int64,
    "analysis_seconds": pl.Float64,
}

# the guaranteed columns of every row, in file order
COLUMNS: dict[str, PolarsDataType] = {**RUN_COLUMNS, **ANALYSIS_COLUMNS, "analysis_error": pl.String}


def row_schema(row: dict[str, Any] | None = None) -> dict[str, PolarsDataType]:
    """COLUMNS, plus any further key of `row` (a number or None: Float64, anything else: String)."""
    schema = dict(COLUMNS)
    for name, value in (row or {}).items():
        if name not in schema:
            is_number = value is None or (isinstance(value, (int, float)) and not isinstance(value, bool))
            schema[name] = pl.Float64 if is_number else pl.String
    return schema


def new_run_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S") + "-" + uuid.uuid4().hex[:8]


def write_row(results_dir: str | os.PathLike, row: dict[str, Any]) -> Path:
    """Write one run's row as RESULTS_DIR/<run_id>.parquet; nothing is visible until it is complete."""
    schema = row_schema(row)
    frame = pl.DataFrame({name: [row.get(name)] for name in schema}, schema=schema, strict=False)
    return write_parquet(Path(results_dir) / f"{row['run_id']}.parquet", frame)


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
