"""Data sets: specs, preprocessing with polars, the on-disk cache and in-memory batches."""

from ge4rec.data.batches import Batch, SplitTensors
from ge4rec.data.prepare import PreparedData, load_dataset
from ge4rec.data.spec import CATEGORICAL, NUMERIC, SEQUENCE, FieldInfo, Schema

__all__ = [
    "Batch",
    "SplitTensors",
    "PreparedData",
    "load_dataset",
    "FieldInfo",
    "Schema",
    "CATEGORICAL",
    "NUMERIC",
    "SEQUENCE",
]
