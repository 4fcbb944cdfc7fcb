"""`load_dataset`: from a data set config to encoded splits, through the cache.

sources (files, or the built-in generator)
  -> cache key (options, preprocessing version, source contents or generator version)
  -> cache entry, built when missing or damaged:
       read splits -> label and field specs -> train's text columns read once as codes and
       counted (its label and other columns kept from the same pass) -> types inferred from the
       counts -> checks of every split (train's also computes the numeric statistics) ->
       Preprocessor fitted on train -> every split encoded, the three side by side (train's
       coded columns from their codes, its other columns from the kept ones) -> arrays + state
  -> PreparedData (schema, splits as tensors, decisions taken for the user)
"""

from __future__ import annotations

import codecs
import json
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, fields
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import polars as pl
from omegaconf import DictConfig, OmegaConf

from ge4rec.data import sources as src
from ge4rec.data.cache import CACHE_FORMAT, cache_key, ensure_entry, fingerprint_sources
from ge4rec.data.derive import Derivation, apply_derive, parse_derive
from ge4rec.data.inference import counted_columns, field_specs, find_label, infer_types, listing
from ge4rec.data.preprocess import (
    PREPROCESSING_VERSION,
    BucketEncoder,
    CategoricalEncoder,
    NumericEncoder,
    Options,
    Preprocessor,
    SplitReport,
    TrainCodes,
    code_values,
    value_counts,
)
from ge4rec.data.queries import CODED_COLUMNS, collect, one_line
from ge4rec.data.spec import Schema
from ge4rec.errors import ConfigError, DataError

if TYPE_CHECKING:
    from ge4rec.data.batches import SplitTensors

log = logging.getLogger("ge4rec.data")

# dataset keys that do not change the encoded data (so changing them keeps the cache)
_NOT_IN_CACHE_KEY = {"embedding_dim", "name", "description", "fingerprint", "download", "listing"}
_FINGERPRINTS = ("content", "mtime")
_SNIFF_BYTES = 1 << 16
_CODES_FILE = "train_codes.tmp"  # train's text columns as codes, while the entry is built
_COMPRESSED = (b"\x1f\x8b", b"\x28\xb5\x2f\xfd")  # gzip, zstd: polars decompresses them


@dataclass
class CacheEntry:
    """A built (or reused) cache entry: what `ge4rec data prepare` and `data info` need, with no
    split loaded. `meta` is the entry's meta.json (rows per split, decisions, sources)."""

    name: str
    schema: Schema
    cache_dir: Path
    reused_cache: bool
    meta: dict[str, Any]

    def labels(self, split: str) -> np.ndarray:
        """The split's labels, memory-mapped from the entry."""
        return np.load(self.cache_dir / f"{split}_label.npy", mmap_mode="r")


@dataclass
class PreparedData(CacheEntry):
    """A cache entry with its encoded splits loaded (memory-mapped) as tensors.

    `meta["decisions"]` lists, one line each, what ge4rec decided for the user while preparing
    the data (an ignored column, filled empty values); they are logged on every load.
    """

    splits: dict[str, SplitTensors]

    @cached_property
    def preprocessor(self) -> Preprocessor:
        """The fitted preprocessing, read back from the cache entry on first use."""
        return Preprocessor.load(self.cache_dir)


def load_dataset(cfg: DictConfig, cache_root: str | os.PathLike) -> PreparedData:
    """Return the encoded data set, building the cache entry if it is missing, stale or damaged."""
    entry = prepare_entry(cfg, cache_root)
    splits = {s: _load_split(entry.cache_dir, s) for s in src.SPLITS}
    return PreparedData(**{f.name: getattr(entry, f.name) for f in fields(entry)}, splits=splits)


def prepare_entry(cfg: DictConfig, cache_root: str | os.PathLike) -> CacheEntry:
    """Build the data set's cache entry if it is missing, stale or damaged; load no split."""
    name = str(cfg.get("name", "dataset"))
    cache_root = Path(os.path.expanduser(str(cache_root)))
    spec_dict = {
        k: v
        for k, v in cast("dict[str, Any]", OmegaConf.to_container(cfg, resolve=True)).items()
        if k not in _NOT_IN_CACHE_KEY
    }
    derivations = parse_derive(_plain(cfg.get("derive")))  # a bad entry fails before any file is read
    if not derivations:
        spec_dict.pop("derive", None)
    for key, default in (("header", True), ("columns", None)):  # so do the default reading options
        if spec_dict.get(key, default) == default:
            spec_dict.pop(key, None)
    options = Options.from_config(cfg)
    fingerprint = str(cfg.get("fingerprint", "content"))
    if fingerprint not in _FINGERPRINTS:
        raise ConfigError(f"dataset.fingerprint: '{fingerprint}' (expected content or mtime)")
    kind = cfg.get("kind", "files")
    if kind == "synthetic":
        from ge4rec.data.synthetic import GENERATOR_VERSION, generate

        frames_fn = lambda: {s: df.lazy() for s, df in generate(cfg.synthetic).items()}  # noqa: E731
        sources_key: Any = {"generator": GENERATOR_VERSION}
        described = {"synthetic": spec_dict.get("synthetic")}
        labels = {s: f"synthetic {s} split" for s in src.SPLITS}
    elif kind == "files":
        sources = src.resolve_sources(cfg, name)
        # the files by their real location: the same folder given as a relative, absolute or
        # linked path is one cache entry
        spec_dict.pop("path", None)
        spec_dict["file"] = {s.split: str(s.path.resolve()) for s in sources}
        sources_key = fingerprint_sources(
            {s.split: s.path for s in sources}, cache_root / "fingerprints.json", fingerprint == "mtime"
        )
        frames_fn = lambda: _read_splits(cfg, sources)  # noqa: E731
        described = {s.split: str(s.path) for s in sources}
        labels = {s.split: s.path.name for s in sources}
        if cfg.get("file"):  # one file split by ratios: say which part a message is about
            labels = {s: f"{label} ({s} part)" for s, label in labels.items()}
    else:
        raise ConfigError(f"dataset.kind: '{kind}' (expected files or synthetic)")

    key = cache_key({"preprocessing": PREPROCESSING_VERSION, "spec": spec_dict, "sources": sources_key})
    entry = cache_root / f"{_safe(name)}-{key}"
    reused = ensure_entry(
        entry, lambda folder: _build(cfg, name, frames_fn, folder, described, labels, options, derivations)
    )
    meta = json.loads((entry / "meta.json").read_text())
    for line in meta["decisions"]:
        log.warning("%s", line)
    schema = Schema.from_dict(meta["schema"])
    return CacheEntry(name=name, schema=schema, cache_dir=entry, reused_cache=reused, meta=meta)


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name)


def _plain(value):
    return OmegaConf.to_container(value, resolve=True) if OmegaConf.is_config(value) else value


# ----------------------------------------------------------------------------- reading


def _read_splits(cfg: DictConfig, sources: list[src.Source]) -> dict[str, pl.LazyFrame]:
    delimiter = str(cfg.get("csv_delimiter", ","))
    for source in {s.path: s for s in sources}.values():
        _sniff(source)
    if cfg.get("file"):
        lf = src.scan(sources[0], delimiter)
        src.columns_of(lf, sources[0])
        return src.split_single_file(
            lf, cfg.get("split_ratios", [0.8, 0.1, 0.1]), cfg.get("split_seed", 2026), sources[0]
        )
    return {s.split: src.scan(s, delimiter) for s in sources}


def _sniff(source: src.Source) -> None:
    """Refuse a file that is not what its format says (binary data as CSV, text as Parquet)
    before polars reads it, so no message ever quotes its bytes."""
    try:
        with open(source.path, "rb") as fh:
            head = fh.read(_SNIFF_BYTES)
    except OSError as exc:
        raise DataError(f"{source.path}: cannot read ({exc.strerror or type(exc).__name__})") from None
    if not head:
        return  # empty: sources.scan says so
    if source.fmt == "parquet":
        if not head.startswith(b"PAR1"):
            raise DataError(f"{source.path}: not a Parquet file (it does not start with 'PAR1')")
        return
    if head.startswith(_COMPRESSED):
        return
    nul = head.find(b"\x00")
    if nul >= 0:
        raise DataError(f"{source.path}: binary data (a NUL byte at offset {nul}), not a CSV text file")
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=len(head) < _SNIFF_BYTES)
    except UnicodeDecodeError as exc:
        raise DataError(
            f"{source.path}: not UTF-8 text (byte 0x{head[exc.start]:02x} at offset {exc.start}); "
            "save the file as UTF-8"
        ) from None


def _columns(lf: pl.LazyFrame, file: str) -> dict[str, pl.DataType]:
    try:
        cols = dict(lf.collect_schema())
    except Exception as exc:
        raise DataError(f"{file}: cannot read: {one_line(exc)}") from None
    if not cols:
        raise DataError(f"{file}: no columns (expected a header row)")
    for column in cols:  # polars renames a repeated header name to NAME_duplicated_N
        base, sep, number = column.rpartition("_duplicated_")
        if sep and number.isdigit() and base in cols:
            raise DataError(
                f"{file}: column '{base}' appears more than once in the header (names must be unique)"
            )
    return cols


# ----------------------------------------------------------------------------- building


def _build(
    cfg: DictConfig,
    name: str,
    frames_fn,
    folder: Path,
    described: dict,
    labels: dict[str, str],
    options: Options,
    derivations: list[Derivation],
) -> None:
    """Fit on train and encode every split into `folder` (the cache fills in the manifest)."""
    frames = frames_fn()
    splits = src.SPLITS
    columns = {s: _columns(frames[s], labels[s]) for s in splits}
    label = find_label(cfg.get("label"), columns["train"], labels["train"])
    if derivations:  # derived columns: the same expressions on every split, before fitting
        frames = {s: apply_derive(frames[s], derivations, columns[s], label, labels[s]) for s in splits}
        columns = {s: _columns(frames[s], labels[s]) for s in splits}
    specs = field_specs(
        _plain(cfg.get("fields")),
        _plain(cfg.get("field_options")) or {},
        set(_plain(cfg.get("exclude")) or []),
        columns["train"],
        label,
        labels["train"],
    )
    # one pass over train counts the values of every field that is or may become categorical:
    # type inference reads the counts, and so does fitting the vocabularies
    counted = counted_columns(specs, columns["train"])
    codes: TrainCodes | None = None
    counts: pl.DataFrame | None = None
    if counted and len(counted) <= CODED_COLUMNS:  # read once as codes: counted, then encoded from them
        # kept from the same pass: every field that is not coded, and the coded ones that are
        # not text (an integer column may be inferred numeric); a text column that type
        # inference makes numeric or a sequence is read from the file again
        keep = [label] + [
            s.name for s in specs if s.name not in counted or _type_class(columns["train"][s.name]) != "text"
        ]
        codes = code_values(frames["train"], counted, folder / _CODES_FILE, labels["train"], keep)
        counts = codes.counts()
    elif counted:  # very many columns: one long group_by counts them (a select of each would not scale)
        counts = collect(value_counts(frames["train"], counted), labels["train"])
    decisions = infer_types(specs, columns["train"], options.separator, labels["train"], counts)
    needed = [label] + [s.name for s in specs]
    for split in splits[1:]:
        for column in needed:
            if column not in columns[split]:
                raise DataError(
                    f"{labels[split]}: column '{column}' is missing (train has it; {split} has: "
                    f"{listing(columns[split])})"
                )
        extra = [c for c in columns[split] if c not in columns["train"]]
        if extra:
            decisions.append(
                f"{labels[split]}: ignored column(s) not in {labels['train']}: {listing(extra, 10)}"
            )
    pre = Preprocessor.from_specs(specs, label, options)
    decisions += _check_column_types(pre, columns, labels)
    if codes is not None:  # train's other columns from the coding pass: the file is not parsed again
        coded = set(codes.names)
        read = [label] + [
            e.name for e in pre.encoders if not (isinstance(e, CategoricalEncoder) and e.name in coded)
        ]
        frames = {**frames, "train": codes.frame(frames["train"], read)}
    reports = {s: pre.check(frames[s], labels[s], statistics=s == "train") for s in splits}
    pre.fit(frames["train"], labels["train"], counts, reports["train"].statistics)
    del counts  # in the vocabularies now: its memory goes before the splits are encoded
    pre.code_ids(codes)  # looked up once, before the splits are encoded side by side
    # the splits are encoded at once, each in a thread: polars and numpy release the GIL, so one
    # split's numpy work runs while another's file is parsed. Every split is waited for before
    # the first failure (in split order) is raised.
    with ThreadPoolExecutor(len(splits), thread_name_prefix="ge4rec-encode") as pool:
        encoding = {
            split: pool.submit(
                pre.transform_to,
                frames[split],
                folder,
                split,
                reports[split].rows,
                labels[split],
                codes,
                split == "train",
            )
            for split in splits
        }
    rows = {split: job.result() for split, job in encoding.items()}
    if codes is not None:  # not part of the entry (a failed build's folder goes whole)
        codes.remove()
    decisions += _fill_decisions(pre, reports, labels)
    pre.save(folder)
    meta = {
        "name": name,
        "version": CACHE_FORMAT,
        "preprocessing": PREPROCESSING_VERSION,
        "label": label,
        "sources": described,
        "rows": rows,
        "schema": pre.schema.to_dict(),
        "decisions": decisions,
    }
    (folder / "meta.json").write_text(json.dumps(meta, indent=1))


def _type_class(dtype: pl.DataType) -> str:
    if dtype in (pl.String, pl.Categorical) or isinstance(dtype, (pl.Categorical, pl.Enum)):
        return "text"
    if dtype.is_integer():
        return "integer"
    if dtype.is_float():
        return "float"
    if dtype == pl.Boolean:
        return "boolean"
    return "other"


def _check_column_types(pre: Preprocessor, columns: dict[str, dict], labels: dict[str, str]) -> list[str]:
    """Splits read from different formats (CSV text, typed Parquet) must agree on what a value is:
    a numeric field or the label needs numbers or text; a categorical or sequence field compares
    values as text, so text and integers mix (logged), but floats ("1.0" is not "1") or other
    types mixed with anything else are an error."""
    train = labels["train"]
    mixed: dict[str, list[str]] = {}
    numeric_like = [pre.label] + [
        e.name for e in pre.encoders if isinstance(e, (NumericEncoder, BucketEncoder))
    ]
    for column in numeric_like:
        for split, cols in columns.items():
            if _type_class(cols[column]) not in ("text", "integer", "float", "boolean"):
                raise DataError(
                    f"{labels[split]}: column '{column}' is {cols[column]} (expected numbers or text)"
                )
    numeric_names = set(numeric_like)
    for e in pre.encoders:
        if e.name in numeric_names:
            continue
        first = columns["train"][e.name]
        for split, cols in list(columns.items())[1:]:
            dtype = cols[e.name]
            if dtype == first:
                continue
            kinds = {_type_class(first), _type_class(dtype)}
            if kinds <= {"text", "integer"}:
                mixed.setdefault(split, []).append(e.name)
                continue
            raise DataError(
                f"{labels[split]}: column '{e.name}' is {dtype} but {first} in {train}; a categorical "
                "field's values must have the same type in every split (convert the files to one type)"
            )
    return [
        f"{labels[split]}: column(s) {listing(names, 10)} typed differently from {train} (text and "
        "integers): values compared as text"
        for split, names in mixed.items()
    ]


def _fill_decisions(pre: Preprocessor, reports: dict[str, SplitReport], labels: dict[str, str]) -> list[str]:
    """One line per split that had empty numeric values filled: which columns, how many, with what."""
    decisions = []
    for split, report in reports.items():
        by_fill: dict[str, list[str]] = {}
        for column, count in report.filled.items():
            by_fill.setdefault(_fill_text(cast(NumericEncoder, pre.by_name[column])), []).append(
                f"{column} {count:,}"
            )
        if by_fill:
            parts = [f"with {fill}: {listing(columns, 10)}" for fill, columns in by_fill.items()]
            decisions.append(f"{labels[split]}: filled empty numeric values {'; '.join(parts)}")
    return decisions


def _fill_text(encoder: NumericEncoder) -> str:
    if encoder.missing == "mean":
        return f"the train mean {encoder.fill:g}"
    return f"{encoder.fill:g}"


def _load_split(entry: Path, split: str) -> SplitTensors:
    """A split's arrays memory-mapped from the cache entry: pages are read when a batch touches
    them and the operating system keeps them as file cache, so a split needs no second copy in
    the process's own memory. The mapping is private (copy on write): the files are never written."""
    import torch

    from ge4rec.data.batches import SplitTensors

    parts = {
        p: torch.from_numpy(np.load(entry / f"{split}_{p}.npy", mmap_mode="c"))
        for p in ("cat", "num", "seq", "label")
    }
    return SplitTensors(parts["cat"], parts["num"], parts["seq"], parts["label"])
