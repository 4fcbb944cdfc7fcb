"""Preprocessing: infer or read the field spec, fit vocabularies and statistics on train only,
encode every split with polars, and keep the result in a cache keyed by spec and source content."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import torch
from omegaconf import DictConfig, OmegaConf

from ge4rec.data import sources as src
from ge4rec.data.batches import SplitTensors
from ge4rec.data.derive import apply_derive, parse_derive
from ge4rec.data.spec import (
    CATEGORICAL,
    FIRST_VALUE_ID,
    LABEL_CANDIDATES,
    MISSING_ID,
    MISSING_MODES,
    NUMERIC,
    OOV_ID,
    SEQUENCE,
    FieldSpec,
    Schema,
    field_spec_from,
)
from ge4rec.errors import ConfigError, DataError

CACHE_VERSION = 1
# dataset keys that do not change the encoded data (so changing them keeps the cache)
_NOT_IN_CACHE_KEY = {"embedding_dim", "name", "description", "download", "listing"}
_INTEGER_TYPES = (pl.Int8, pl.Int16, pl.Int32, pl.Int64, pl.UInt8, pl.UInt16, pl.UInt32, pl.UInt64)


@dataclass
class PreparedData:
    """Encoded splits plus what the model needs to know about the fields."""

    name: str
    schema: Schema
    splits: dict[str, SplitTensors]
    cache_dir: Path
    reused_cache: bool
    meta: dict[str, Any]


def load_dataset(cfg: DictConfig, cache_root: str | os.PathLike) -> PreparedData:
    """Return the encoded data set, building the cache entry if it is missing or stale."""
    name = str(cfg.get("name", "dataset"))
    cache_root = Path(os.path.expanduser(str(cache_root)))
    spec_dict = {
        k: v for k, v in OmegaConf.to_container(cfg, resolve=True).items() if k not in _NOT_IN_CACHE_KEY
    }
    derivations = parse_derive(_plain(cfg.get("derive")))  # a bad entry fails before any file is read
    if not derivations:  # an empty `derive` leaves the cache key as it was before the option existed
        spec_dict.pop("derive", None)
    for key, default in (("header", True), ("columns", None)):  # so do the default reading options
        if spec_dict.get(key, default) == default:
            spec_dict.pop(key, None)
    kind = cfg.get("kind", "files")
    if kind == "synthetic":
        from ge4rec.data.synthetic import generate

        frames_fn = lambda: {s: df.lazy() for s, df in generate(cfg.synthetic).items()}  # noqa: E731
        sources_hash = "synthetic"
        described = {"synthetic": spec_dict.get("synthetic")}
    elif kind == "files":
        sources = src.resolve_sources(cfg, name)
        sources_hash = src.fingerprint_files([s.path for s in sources], cache_root / "fingerprints.json")
        frames_fn = lambda: _read_splits(cfg, sources)  # noqa: E731
        described = {s.split: str(s.path) for s in sources}
    else:
        raise ConfigError(f"dataset.kind: '{kind}' (expected files or synthetic)")

    key_material = json.dumps(
        {"v": CACHE_VERSION, "spec": spec_dict, "sources": sources_hash}, sort_keys=True
    )
    key = hashlib.blake2b(key_material.encode(), digest_size=10).hexdigest()
    entry = cache_root / f"{_safe(name)}-{key}"
    reused = (entry / "meta.json").is_file()
    if not reused:
        _build(cfg, name, frames_fn, entry, described)
    meta = json.loads((entry / "meta.json").read_text())
    schema = Schema.from_dict(meta["schema"])
    splits = {s: _load_split(entry, s) for s in src.SPLITS}
    return PreparedData(
        name=name, schema=schema, splits=splits, cache_dir=entry, reused_cache=reused, meta=meta
    )


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name)


def _read_splits(cfg: DictConfig, sources: list[src.Source]) -> dict[str, pl.LazyFrame]:
    delimiter = str(cfg.get("csv_delimiter", ","))
    if cfg.get("file"):
        lf = src.scan(sources[0], delimiter)
        src.columns_of(lf, sources[0])
        return src.split_single_file(
            lf, cfg.get("split_ratios", [0.8, 0.1, 0.1]), cfg.get("split_seed", 2026), sources[0]
        )
    return {s.split: src.scan(s, delimiter) for s in sources}


def _build(cfg: DictConfig, name: str, frames_fn, entry: Path, described: dict) -> None:
    """Fit on train, encode all splits into a temporary folder, then move it into place atomically."""
    entry.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{entry.name}.", dir=entry.parent))
    try:
        frames = frames_fn()
        paths = {s: Path(described.get(s, s)).name for s in src.SPLITS}
        columns = {s: _columns(frames[s], paths[s]) for s in src.SPLITS}
        label = _find_label(cfg, columns["train"], paths["train"])
        derivations = parse_derive(_plain(cfg.get("derive")))
        if derivations:  # derived columns: the same expressions on every split, before fitting
            frames = {
                s: apply_derive(frames[s], derivations, columns[s], label, paths[s]) for s in src.SPLITS
            }
            columns = {s: _columns(frames[s], paths[s]) for s in src.SPLITS}
        specs = _field_specs(cfg, frames["train"], columns["train"], label, paths["train"])
        for split in ("valid", "test"):
            for needed in [label] + [f.name for f in specs]:
                if needed not in columns[split]:
                    raise DataError(
                        f"{paths[split]}: column '{needed}' is missing (train has it; {split} has: "
                        f"{', '.join(list(columns[split])[:20])})"
                    )
        fitted = _fit(frames["train"], specs, cfg, paths["train"])
        schema = Schema.build([(f["name"], f["type"], f["vocab_size"], f["max_len"]) for f in fitted])
        offsets = {f.name: f.offset for f in schema.fields}
        counts = {}
        for split in src.SPLITS:
            arrays = _encode(frames[split], label, fitted, offsets, schema, paths[split])
            if len(arrays["label"]) == 0:
                raise DataError(f"{paths[split]}: no rows (expected at least one)")
            for part, arr in arrays.items():
                np.save(tmp / f"{split}_{part}.npy", arr)
            counts[split] = len(arrays["label"])
        meta = {
            "name": name,
            "version": CACHE_VERSION,
            "label": label,
            "sources": described,
            "rows": counts,
            "schema": schema.to_dict(),
            "fields": [{k: v for k, v in f.items() if k != "vocab"} for f in fitted],
        }
        _write_vocabularies(tmp, fitted)
        (tmp / "meta.json").write_text(json.dumps(meta, indent=1))
        try:
            os.rename(tmp, entry)
        except OSError:
            if not (entry / "meta.json").is_file():  # another process finished first: keep its entry
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _columns(lf: pl.LazyFrame, file: str) -> dict[str, pl.DataType]:
    try:
        cols = dict(lf.collect_schema())
    except Exception as exc:
        raise DataError(f"{file}: cannot read: {src._first_line(exc)}") from None
    if not cols:
        raise DataError(f"{file}: no columns (expected a header row)")
    return cols


def _find_label(cfg: DictConfig, columns: dict, file: str) -> str:
    label = cfg.get("label")
    if label:
        if label not in columns:
            raise DataError(
                f"{file}: label column '{label}' not found (columns: {', '.join(list(columns)[:20])})"
            )
        return str(label)
    for candidate in LABEL_CANDIDATES:
        if candidate in columns:
            return candidate
    raise DataError(
        f"{file}: no label column 'label' or 'click' (set dataset.label=NAME; columns: {', '.join(list(columns)[:20])})"
    )


def _field_specs(
    cfg: DictConfig, train: pl.LazyFrame, columns: dict, label: str, file: str
) -> list[FieldSpec]:
    """Declared fields, or every other column; types not declared are inferred from train."""
    options = _plain(cfg.get("field_options")) or {}
    declared = _plain(cfg.get("fields"))
    exclude = set(_plain(cfg.get("exclude")) or [])
    if declared:
        items = declared if isinstance(declared, list) else [declared]
        specs = [field_spec_from(item, where="dataset.fields") for item in items]
    else:
        specs = [FieldSpec(name=c) for c in columns if c != label and c not in exclude]
    if not specs:
        raise DataError(f"{file}: no feature columns besides the label '{label}'")
    names = [s.name for s in specs]
    for unknown in set(options) - set(names):
        raise ConfigError(f"dataset.field_options: '{unknown}' is not a field (fields: {', '.join(names)})")
    specs = [field_spec_from(s.to_dict(), options.get(s.name), where="dataset.field_options") for s in specs]
    for spec in specs:
        if spec.name not in columns:
            raise DataError(
                f"{file}: column '{spec.name}' not found (columns: {', '.join(list(columns)[:20])})"
            )
        if spec.name == label:
            raise ConfigError(f"dataset.fields: '{label}' is the label, not a field")
    if len(set(names)) != len(names):
        raise ConfigError(f"dataset.fields: a field is listed twice ({', '.join(names)})")
    _infer_types(specs, train, columns, str(cfg.get("separator", "^")), file)
    return specs


def _plain(value):
    return OmegaConf.to_container(value, resolve=True) if OmegaConf.is_config(value) else value


def _infer_types(
    specs: list[FieldSpec], train: pl.LazyFrame, columns: dict, separator: str, file: str
) -> None:
    """String or integer columns are categorical, float columns numeric, separator-holding ones sequences."""
    pending = [s for s in specs if s.type is None]
    probes = []
    for s in pending:
        dtype = columns[s.name]
        sep = s.separator or separator
        if dtype == pl.String:
            c = pl.col(s.name)
            probes += [
                c.is_not_null().sum().alias(f"{s.name}\0n"),
                c.cast(pl.Int64, strict=False).is_not_null().sum().alias(f"{s.name}\0int"),
                c.cast(pl.Float64, strict=False).is_not_null().sum().alias(f"{s.name}\0float"),
                c.str.contains(sep, literal=True).any().alias(f"{s.name}\0seq"),
            ]
    stats = _collect(train.select(probes), file).row(0, named=True) if probes else {}
    for s in pending:
        dtype = columns[s.name]
        if dtype == pl.String:
            n = stats[f"{s.name}\0n"]
            if stats[f"{s.name}\0seq"]:
                s.type = SEQUENCE
            elif n > 0 and stats[f"{s.name}\0int"] == n:
                s.type = CATEGORICAL
            elif n > 0 and stats[f"{s.name}\0float"] == n:
                s.type = NUMERIC
            else:
                s.type = CATEGORICAL
        elif dtype.is_float():
            s.type = NUMERIC
        elif isinstance(dtype, pl.List):
            s.type = SEQUENCE
        else:
            s.type = CATEGORICAL


def _collect(lf: pl.LazyFrame, file: str) -> pl.DataFrame:
    try:
        return lf.collect(engine="streaming")
    except (DataError, ConfigError) as exc:
        raise _own_error(exc) from None
    except Exception as exc:
        raise DataError(f"{file}: {src._first_line(exc)}") from None


def _own_error(exc: DataError | ConfigError) -> DataError | ConfigError:
    """Our error raised inside a polars query (a dataset.derive check): polars appends the
    expression it failed in on further lines; keep our one line."""
    return type(exc)(src._first_line(exc))


def _as_text(name: str) -> pl.Expr:
    return pl.col(name).cast(pl.String)


def _tokens(spec: FieldSpec, separator: str) -> pl.Expr:
    return pl.col(spec.name).cast(pl.String).str.split(spec.separator or separator)


def _numeric_value(spec: FieldSpec) -> pl.Expr:
    x = pl.col(spec.name).cast(pl.Float64, strict=False)
    if spec.transform == "log1p":
        x = x.sign() * x.abs().log1p()
    elif spec.transform == "log_square":  # the Criteo custom: v > 2 -> floor(log(v)^2)
        x = pl.when(x > 2).then(x.log().pow(2).floor()).otherwise(x)
    return x


def _fit(train: pl.LazyFrame, specs: list[FieldSpec], cfg: DictConfig, file: str) -> list[dict[str, Any]]:
    """Vocabularies and numeric statistics from the train split only."""
    separator = str(cfg.get("separator", "^"))
    default_min = int(cfg.get("min_count", 1))
    default_missing = str(cfg.get("missing", "token"))
    default_numeric = str(cfg.get("numeric", "normalize"))
    default_buckets = int(cfg.get("num_buckets", 10))
    default_max_len = cfg.get("max_len")
    fitted: list[dict[str, Any]] = []
    queries: list[pl.LazyFrame] = []
    for spec in specs:
        min_count = spec.min_count if spec.min_count is not None else default_min
        mode = spec.numeric or default_numeric
        if spec.type == NUMERIC and mode in ("normalize", "none"):
            x = _numeric_value(spec)
            queries.append(
                train.select(
                    x.mean().alias("mean"),
                    x.std().alias("std"),
                    x.is_nan().sum().alias("nan"),
                    x.is_not_null().sum().alias("n"),
                    pl.col(spec.name).is_not_null().sum().alias("raw_n"),
                )
            )
        elif spec.type == NUMERIC:  # bucketize by train quantiles
            x = _numeric_value(spec)
            buckets = spec.num_buckets or default_buckets
            qs = [i / buckets for i in range(1, buckets)]
            queries.append(train.select([x.quantile(q, "linear").alias(f"q{i}") for i, q in enumerate(qs)]))
        elif spec.type == SEQUENCE:
            tok = _tokens(spec, separator)
            queries.append(
                train.select(tok.alias("t"))
                .explode("t")
                .drop_nulls()
                .group_by("t")
                .agg(pl.len().alias("n"))
                .filter(pl.col("n") >= min_count)
            )
            queries.append(train.select(tok.list.len().max().alias("m")))
        else:
            queries.append(
                train.select(_as_text(spec.name).alias("t"))
                .drop_nulls()
                .group_by("t")
                .agg(pl.len().alias("n"))
                .filter(pl.col("n") >= min_count)
            )
    try:
        results = iter(pl.collect_all(queries, engine="streaming"))
    except (DataError, ConfigError) as exc:  # raised inside the query (dataset.derive checks)
        raise _own_error(exc) from None
    except Exception as exc:
        raise DataError(f"{file}: {src._first_line(exc)}") from None
    for spec in specs:
        mode = spec.numeric or default_numeric
        missing = (
            spec.missing
            if spec.missing is not None
            else (default_missing if spec.type != NUMERIC else "mean")
        )
        item: dict[str, Any] = {"name": spec.name, "spec": spec.to_dict(), "max_len": 1}
        if spec.type == NUMERIC and mode in ("normalize", "none"):
            row = next(results).row(0, named=True)
            if row["raw_n"] > row["n"]:
                raise DataError(f"{file}: column '{spec.name}' has non-numeric values (declared numeric)")
            if row["nan"]:
                raise DataError(f"{file}: column '{spec.name}' holds NaN values (expected numbers or empty)")
            mean = row["mean"] if row["mean"] is not None else 0.0
            std = row["std"] if row["std"] not in (None, 0.0) else 1.0
            fill = _numeric_fill(missing, mean, spec.name)
            if mode == "none":
                mean, std = 0.0, 1.0
            item.update(type=NUMERIC, vocab_size=1, mean=mean, std=std, fill=fill, mode=mode)
        elif spec.type == NUMERIC:
            row = next(results).row(0, named=True)
            edges = sorted({v for v in row.values() if v is not None})
            item.update(
                type=CATEGORICAL, mode="bucketize", edges=edges, vocab_size=FIRST_VALUE_ID + len(edges) + 1
            )
        else:
            if missing not in MISSING_MODES:
                raise ConfigError(
                    f"field '{spec.name}': missing '{missing}' (expected one of {', '.join(MISSING_MODES)})"
                )
            vocab = next(results).sort(["n", "t"], descending=[True, False])
            item.update(
                type=spec.type,
                missing=missing,
                vocab=vocab["t"],
                vocab_size=FIRST_VALUE_ID + vocab.height,
            )
            if spec.type == SEQUENCE:
                longest = next(results)["m"][0] or 1
                item["max_len"] = int(spec.max_len or default_max_len or min(longest, 64))
                item["separator"] = spec.separator or separator
        fitted.append(item)
    return fitted


def _numeric_fill(missing: str, mean: float, name: str) -> float:
    if missing == "mean":
        return float(mean)
    if missing == "zero":
        return 0.0
    try:
        return float(missing)
    except ValueError:
        raise ConfigError(
            f"field '{name}': missing '{missing}' (numeric fields take mean, zero or a number)"
        ) from None


def _encode(
    lf: pl.LazyFrame, label: str, fitted, offsets, schema: Schema, file: str
) -> dict[str, np.ndarray]:
    """One polars query turns a split into the label, table rows and normalised values."""
    by_name = {f["name"]: f for f in fitted}
    exprs = [
        pl.col(label).cast(pl.Float64, strict=False).alias("__label"),
        pl.col(label).is_not_null().alias("__label_present"),
    ]
    cat_names = [f.name for f in schema.of_type(CATEGORICAL)]
    num_names = [f.name for f in schema.of_type(NUMERIC)]
    seq_fields = schema.of_type(SEQUENCE)
    for name in cat_names:
        f, off = by_name[name], offsets[name]
        if f.get("mode") == "bucketize":
            x = _numeric_value(field_spec_from(f["spec"]))
            bucket = (
                pl.sum_horizontal([(x > e).cast(pl.Int32) for e in f["edges"]]) if f["edges"] else pl.lit(0)
            )
            expr = pl.when(x.is_null()).then(off + MISSING_ID).otherwise(bucket + off + FIRST_VALUE_ID)
        else:
            vocab = f["vocab"]
            ids = pl.Series(
                np.arange(off + FIRST_VALUE_ID, off + FIRST_VALUE_ID + len(vocab), dtype=np.int32)
            )
            missing_id = off + (MISSING_ID if f["missing"] == "token" else OOV_ID)
            text = _as_text(name)
            expr = (
                pl.when(text.is_null())
                .then(missing_id)
                .otherwise(text.replace_strict(vocab, ids, default=off + OOV_ID, return_dtype=pl.Int32))
            )
        exprs.append(expr.cast(pl.Int32).alias(f"c:{name}"))
    for name in num_names:
        f = by_name[name]
        x = _numeric_value(field_spec_from(f["spec"])).fill_null(f["fill"])
        exprs.append(((x - f["mean"]) / f["std"]).cast(pl.Float32).alias(f"n:{name}"))
    for info in seq_fields:
        f, off, length = by_name[info.name], offsets[info.name], info.max_len
        vocab = f["vocab"]
        ids = pl.Series(np.arange(off + FIRST_VALUE_ID, off + FIRST_VALUE_ID + len(vocab), dtype=np.int32))
        tokens = (
            pl.col(info.name)
            .cast(pl.String)
            .str.split(f["separator"])
            .list.eval(pl.element().replace_strict(vocab, ids, default=off + OOV_ID, return_dtype=pl.Int32))
        )
        padded = pl.concat_list([tokens.list.head(length), pl.lit([0] * length, dtype=pl.List(pl.Int32))])
        exprs.append(
            padded.list.head(length)
            .fill_null(pl.lit([0] * length, dtype=pl.List(pl.Int32)))
            .list.to_array(length)
            .alias(f"s:{info.name}")
        )
    df = _collect(lf.select(exprs), file)
    labels = df["__label"]
    if not df["__label_present"].all() or labels.is_null().any():
        raise DataError(f"{file}: label column '{label}' has empty or non-numeric values (expected 0 or 1)")
    bad = labels.filter(~labels.is_in([0.0, 1.0])).unique().head(5).to_list()
    if bad:
        raise DataError(
            f"{file}: label column '{label}' must be binary 0/1, found {', '.join(map(_fmt, bad))}"
        )
    n = df.height
    out = {"label": labels.cast(pl.Float32).to_numpy()}
    out["cat"] = (
        np.stack([df[f"c:{c}"].to_numpy() for c in cat_names], axis=1).astype(np.int32)
        if cat_names
        else np.zeros((n, 0), np.int32)
    )
    out["num"] = (
        np.stack([df[f"n:{c}"].to_numpy() for c in num_names], axis=1).astype(np.float32)
        if num_names
        else np.zeros((n, 0), np.float32)
    )
    out["seq"] = (
        np.concatenate(
            [df[f"s:{f.name}"].to_numpy().reshape(n, f.max_len) for f in seq_fields], axis=1
        ).astype(np.int32)
        if seq_fields
        else np.zeros((n, 0), np.int32)
    )
    return out


def _fmt(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else str(v)


def _write_vocabularies(folder: Path, fitted) -> None:
    """Keep the fitted vocabularies beside the encoded data (id -> value), for inspection and reuse."""
    frames = [
        pl.DataFrame(
            {
                "field": f["name"],
                "id": np.arange(FIRST_VALUE_ID, FIRST_VALUE_ID + len(f["vocab"])),
                "value": f["vocab"],
            }
        )
        for f in fitted
        if "vocab" in f
    ]
    if frames:
        pl.concat(frames).write_parquet(folder / "vocabulary.parquet")


def _load_split(entry: Path, split: str) -> SplitTensors:
    parts = {p: torch.from_numpy(np.load(entry / f"{split}_{p}.npy")) for p in ("cat", "num", "seq", "label")}
    return SplitTensors(parts["cat"], parts["num"], parts["seq"], parts["label"])
