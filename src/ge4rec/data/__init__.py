"""Data sets: specs, preprocessing with polars, the on-disk cache and in-memory batches.

Batch and SplitTensors (torch tensors) are imported on first use, so preparing a cache entry
(`ge4rec data prepare`) never pays for importing torch."""

from typing import TYPE_CHECKING, Any

from ge4rec.data.prepare import CacheEntry, PreparedData, load_dataset, prepare_entry
from ge4rec.data.spec import CATEGORICAL, NUMERIC, SEQUENCE, FieldInfo, Schema

if TYPE_CHECKING:
    from ge4rec.data.batches import Batch, SplitTensors


def __getattr__(name: str) -> Any:
    if name in ("Batch", "SplitTensors"):
        from ge4rec.data import batches

        return getattr(batches, name)
    raise AttributeError(f"module 'ge4rec.data' has no attribute '{name}'")


__all__ = [
    "Batch",
    "CacheEntry",
    "prepare_entry",
    "SplitTensors",
    "PreparedData",
    "load_dataset",
    "FieldInfo",
    "Schema",
    "CATEGORICAL",
    "NUMERIC",
    "SEQUENCE",
]
