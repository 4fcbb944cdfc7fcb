"""The results store: one Parquet file per finished run, read back as one table."""

from ge4rec.results.store import (
    ANALYSIS_COLUMNS,
    COLUMNS,
    RUN_COLUMNS,
    new_run_id,
    read_results,
    row_schema,
    scan_results,
    write_row,
)

__all__ = [
    "ANALYSIS_COLUMNS",
    "COLUMNS",
    "RUN_COLUMNS",
    "new_run_id",
    "read_results",
    "row_schema",
    "scan_results",
    "write_row",
]
