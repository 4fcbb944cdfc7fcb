"""The results store: one Parquet file per finished run, read back as one table."""

from ge4rec.results.store import (
    COLUMNS,
    new_run_id,
    read_results,
    register_columns,
    row_schema,
    scan_results,
    write_row,
)

__all__ = [
    "COLUMNS",
    "new_run_id",
    "read_results",
    "register_columns",
    "row_schema",
    "scan_results",
    "write_row",
]
