"""The fitted preprocessing of a data set: one typed encoder per field, fitted on the train split
and applied to every split, in the style of scikit-learn (`fit`, then `transform` any frame).

    pre = Preprocessor.from_specs(specs, label="click", options=Options())
    pre.fit(train)                       # vocabularies, statistics, bucket edges: train only
    arrays = pre.transform(valid, "valid.csv")   # {"label", "cat", "num", "seq"} numpy arrays
    pre.save(folder); Preprocessor.load(folder)  # fields read back by name

Encoders:
- CategoricalEncoder: a vocabulary of the values seen at least `min_count` times in train (most
  frequent first); unseen values map to the OOV id, empty ones to the missing id (missing: token)
  or the OOV id (missing: oov).
- NumericEncoder: the value (after an optional transform) z-scored with train's mean and standard
  deviation (numeric: normalize) or used as it is (numeric: none).
- BucketEncoder: the value's equal-frequency bucket from train quantiles (numeric: bucketize),
  an empty value its own id; embedded like a categorical field.
- SequenceEncoder: separator-split tokens with a vocabulary like a categorical field's, padded
  or cut to `max_len`.

Bad values are never encoded silently: `check` (run by `transform`) stops with a one-line error
naming the file, column, number of rows and first row for a label that is not 0/1, a split with
one class only, and a numeric value that is text, NaN, infinite, or empty where no fill was asked
for (dataset.numeric_missing, or a field's `missing`).

Every statistic of every field is computed in a handful of queries over the train split (one
per kind of encoder), so the cost grows linearly with the number of columns.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import polars as pl

from ge4rec.data.queries import (
    TOTALS,
    WIDE_COLUMNS,
    collect,
    collect_all,
    collect_batches,
    column_stats,
    shown,
)
from ge4rec.data.spec import (
    CATEGORICAL,
    FIRST_VALUE_ID,
    MISSING_ID,
    MISSING_MODES,
    NUMERIC,
    NUMERIC_MODES,
    OOV_ID,
    SEQUENCE,
    FieldSpec,
    Schema,
)
from ge4rec.errors import ConfigError, DataError

# bump whenever the encoded arrays for the same input and options can change
PREPROCESSING_VERSION = 2
NUMERIC_MISSING = ("error", "mean", "zero")
PREPROCESSOR_FILE = "preprocessor.json"
# the encoded parts of a split and their types
ENCODED_PARTS = {"label": np.float32, "cat": np.int32, "num": np.float32, "seq": np.int32}
# rows per chunk when a split is read as codes or encoded into files; a chunk of more than
# CHUNK_COLUMNS columns has proportionally fewer rows, so that its memory stays flat
CHUNK_ROWS = 1 << 18
CHUNK_COLUMNS = 40
VOCABULARY_FILE = "vocabulary.parquet"


@dataclass
class Options:
    """The data set's defaults for every field (a field's own options override them)."""

    separator: str = "^"
    min_count: int = 1
    missing: str = "token"
    numeric: str = "normalize"
    num_buckets: int = 10
    max_len: int | None = None
    numeric_missing: str = "error"

    @classmethod
    def from_config(cls, cfg) -> Options:
        def number(key: str, default, minimum: int):
            value = cfg.get(key, default)
            if value is None and key == "max_len":
                return None
            if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
                raise ConfigError(f"dataset.{key}: {value!r} (expected an integer >= {minimum})")
            return value

        options = cls(
            separator=str(cfg.get("separator", "^")),
            min_count=number("min_count", 1, 1),
            missing=str(cfg.get("missing", "token")),
            numeric=str(cfg.get("numeric", "normalize")),
            num_buckets=number("num_buckets", 10, 1),
            max_len=number("max_len", None, 1),
            numeric_missing=str(cfg.get("numeric_missing", "error")),
        )
        if not options.separator:
            raise ConfigError("dataset.separator: empty (expected a character such as '^')")
        for key, allowed in (
            ("missing", MISSING_MODES),
            ("numeric", NUMERIC_MODES),
            ("numeric_missing", NUMERIC_MISSING),
        ):
            if getattr(options, key) not in allowed:
                raise ConfigError(
                    f"dataset.{key}: '{getattr(options, key)}' (expected one of {', '.join(allowed)})"
                )
        return options


# ----------------------------------------------------------------------------- encoders


def numeric_value(name: str, transform: str, number: pl.Expr | None = None) -> pl.Expr:
    """A column as Float64 (text that is not a number becomes null), transformed. `number`: the
    column already cast (see _NUMBER), so that a query casts each column once."""
    x = number if number is not None else pl.col(name).cast(pl.Float64, strict=False)
    if transform == "log1p":
        x = x.sign() * x.abs().log1p()
    elif transform == "log_square":  # the Criteo custom: v > 2 -> floor(log(v)^2)
        x = pl.when(x > 2).then(x.log().pow(2).floor()).otherwise(x)
    return x


def _text(name: str) -> pl.Expr:
    return pl.col(name).cast(pl.String)


def _or_empty(vocabulary: pl.Series | None) -> pl.Series:
    return vocabulary if vocabulary is not None else pl.Series("t", [], dtype=pl.String)


def _lookup(text: pl.Expr, vocabulary: pl.Series, offset: int) -> pl.Expr:
    """Table rows of text values: offset + FIRST_VALUE_ID + the value's position in the vocabulary,
    offset + OOV_ID for a value not in it. A cast to an Enum of the vocabulary finds the position
    (polars plans many of these in time linear in their number, unlike replace_strict)."""
    position = text.cast(pl.Enum(vocabulary), strict=False).to_physical().cast(pl.Int32)
    return (position + (offset + FIRST_VALUE_ID)).fill_null(offset + OOV_ID)


@dataclass
class _Encoder:
    """What every encoder has: a name, the kind saved to disk and the table block it fills."""

    kind: ClassVar[str]
    table_type: ClassVar[str]
    name: str

    @property
    def vocab_size(self) -> int:
        return 1

    @property
    def width(self) -> int:
        """Slots in a row of the encoded arrays (a sequence's padded length)."""
        return 1

    def expression(self, offset: int) -> pl.Expr:
        """The column's encoded values, its table rows starting at `offset`."""
        raise NotImplementedError

    def params(self) -> dict[str, Any]:
        """JSON-able fitted state (vocabularies are saved apart, in vocabulary.parquet)."""
        return {"kind": self.kind, **{k: v for k, v in vars(self).items() if k != "vocabulary"}}

    @classmethod
    def from_params(cls, params: dict[str, Any], vocabulary: pl.Series | None) -> _Encoder:
        known = {f.name for f in fields(cls)}
        unknown = set(params) - known - {"kind"}
        if unknown:
            raise ValueError(f"unknown {cls.kind} encoder keys {sorted(unknown)}")
        values = {k: v for k, v in params.items() if k in known}
        if "vocabulary" in known:
            values["vocabulary"] = _or_empty(vocabulary)
        return cls(**values)


class _WithVocabulary:
    """An encoder whose table has the reserved rows and then one row per vocabulary value."""

    vocabulary: pl.Series | None

    @property
    def vocab_size(self) -> int:
        assert self.vocabulary is not None, "fitted"
        return FIRST_VALUE_ID + len(self.vocabulary)


@dataclass
class CategoricalEncoder(_WithVocabulary, _Encoder):
    kind: ClassVar[str] = "categorical"
    table_type: ClassVar[str] = CATEGORICAL
    min_count: int = 1
    missing: str = "token"
    vocabulary: pl.Series | None = field(default=None, repr=False)

    def expression(self, offset: int) -> pl.Expr:
        assert self.vocabulary is not None, "fitted"
        missing_id = offset + (MISSING_ID if self.missing == "token" else OOV_ID)
        text = _text(self.name)
        known = _lookup(text, self.vocabulary, offset)
        return pl.when(text.is_null()).then(missing_id).otherwise(known).cast(pl.Int32)


@dataclass
class BucketEncoder(_Encoder):
    kind: ClassVar[str] = "bucketize"
    table_type: ClassVar[str] = CATEGORICAL
    transform: str = "none"
    num_buckets: int = 10
    edges: list[float] | None = None

    @property
    def vocab_size(self) -> int:
        assert self.edges is not None, "fitted"
        return FIRST_VALUE_ID + len(self.edges) + 1

    def expression(self, offset: int) -> pl.Expr:
        x = numeric_value(self.name, self.transform)
        bucket = pl.sum_horizontal([(x > e).cast(pl.Int32) for e in self.edges]) if self.edges else pl.lit(0)
        return (
            pl.when(x.is_null()).then(offset + MISSING_ID).otherwise(bucket + offset + FIRST_VALUE_ID)
        ).cast(pl.Int32)


@dataclass
class NumericEncoder(_Encoder):
    kind: ClassVar[str] = "numeric"
    table_type: ClassVar[str] = NUMERIC
    transform: str = "none"
    mode: str = "normalize"  # normalize | none
    missing: str = "error"  # error | mean | zero | a number, for empty values
    mean: float | None = None
    std: float | None = None
    fill: float | None = None  # what an empty value becomes (None: empty values are an error)

    def expression(self, offset: int) -> pl.Expr:
        x = numeric_value(self.name, self.transform)
        if self.fill is not None:
            x = x.fill_null(self.fill)
        return ((x - self.mean) / self.std).cast(pl.Float32)


@dataclass
class SequenceEncoder(_WithVocabulary, _Encoder):
    kind: ClassVar[str] = "sequence"
    table_type: ClassVar[str] = SEQUENCE
    separator: str = "^"
    min_count: int = 1
    max_len: int | None = None  # None before fitting: the longest in train, at most 64
    vocabulary: pl.Series | None = field(default=None, repr=False)

    @property
    def width(self) -> int:
        assert self.max_len is not None, "fitted"
        return int(self.max_len)

    def tokens(self) -> pl.Expr:
        return _text(self.name).str.split(self.separator)

    def expression(self, offset: int) -> pl.Expr:
        assert self.max_len is not None and self.vocabulary is not None, "fitted"
        length = int(self.max_len)
        tokens = self.tokens().list.eval(_lookup(pl.element(), self.vocabulary, offset))
        padding = pl.lit([0] * length, dtype=pl.List(pl.Int32))
        padded = pl.concat_list([tokens.list.head(length), padding])
        return padded.list.head(length).fill_null(padding).list.to_array(length)


ENCODERS: dict[str, type[_Encoder]] = {
    cls.kind: cls for cls in (CategoricalEncoder, BucketEncoder, NumericEncoder, SequenceEncoder)
}


def encoder_for(spec: FieldSpec, options: Options) -> _Encoder:
    """The unfitted encoder of a typed field spec, its options resolved against the data set's."""
    min_count = spec.min_count if spec.min_count is not None else options.min_count
    if isinstance(min_count, bool) or not isinstance(min_count, int) or min_count < 1:
        raise ConfigError(f"field '{spec.name}': min_count {min_count!r} (expected an integer >= 1)")
    if spec.type == NUMERIC:
        mode = spec.numeric or options.numeric
        if mode == "bucketize":
            buckets = spec.num_buckets or options.num_buckets
            if isinstance(buckets, bool) or not isinstance(buckets, int) or buckets < 1:
                raise ConfigError(f"field '{spec.name}': num_buckets {buckets!r} (expected an integer >= 1)")
            return BucketEncoder(spec.name, transform=spec.transform, num_buckets=buckets)
        missing = str(spec.missing) if spec.missing is not None else options.numeric_missing
        if missing not in NUMERIC_MISSING:
            try:
                float(missing)
            except ValueError:
                raise ConfigError(
                    f"field '{spec.name}': missing '{missing}' (numeric fields take error, mean, zero "
                    "or a number)"
                ) from None
        return NumericEncoder(spec.name, transform=spec.transform, mode=mode, missing=missing)
    missing = spec.missing if spec.missing is not None else options.missing
    if missing not in MISSING_MODES:
        raise ConfigError(
            f"field '{spec.name}': missing '{missing}' (expected one of {', '.join(MISSING_MODES)})"
        )
    if spec.type == SEQUENCE:
        max_len = spec.max_len or options.max_len
        return SequenceEncoder(
            spec.name, separator=spec.separator or options.separator, min_count=min_count, max_len=max_len
        )
    return CategoricalEncoder(spec.name, min_count=min_count, missing=missing)


# ----------------------------------------------------------------------------- checks


@dataclass
class SplitReport:
    """What `check` found in a split that was accepted: its size, classes and filled values."""

    rows: int
    positives: int
    negatives: int
    filled: dict[str, int]  # numeric field -> empty values that its fill replaces
    statistics: dict[str, Any] | None = None  # Preprocessor.statistics() values, when asked for


def _as_number(column: pl.Expr) -> pl.Expr:
    return column.cast(pl.Float64, strict=False)


def _numeric_probes(number: Callable[[pl.Expr], pl.Expr]) -> dict[str, Callable[[pl.Expr], pl.Expr]]:
    """The checks' counts of a numeric column `c`: empty values, text that is not a number, NaN
    or infinite numbers. `number(c)` is the column as Float64."""
    return {
        "empty": lambda c: c.is_null().sum(),
        "text": lambda c: (c.is_not_null() & number(c).is_null()).sum(),
        "nonfinite": lambda c: (number(c).is_nan() | number(c).is_infinite()).sum(),
    }


# a numeric column cast to Float64 once, in a column of its own, for the checks' probes and the
# statistics: polars does not share the casts of one column between aggregations (parsing text
# as numbers several times a column cost 3.5x the time of one cast)
_NUMBER = "{}\0number"


def _number(c: pl.Expr) -> pl.Expr:
    return pl.col(_NUMBER.format(c.meta.output_name()))


_NUMERIC_PROBES = _numeric_probes(_as_number)  # for a long frame: each probe casts
_NUMERIC_PROBES_CAST = _numeric_probes(_number)  # beside the _NUMBER columns


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}" + ("" if n == 1 else "s")


def _quoted(values: list[str]) -> str:
    return ", ".join(f"'{v}'" for v in values)


# ----------------------------------------------------------------------------- the preprocessor


class Preprocessor:
    """The label column and one encoder per field, in field order."""

    def __init__(self, label: str, encoders: list[_Encoder]):
        self.label = label
        self.encoders = list(encoders)
        self.by_name = {e.name: e for e in self.encoders}
        self.fitted = False
        self._schema: Schema | None = None
        # a categorical field fitted from TrainCodes' counts: the code of each vocabulary value
        self._vocabulary_codes: dict[str, np.ndarray] = {}

    @classmethod
    def from_specs(cls, specs: list[FieldSpec], label: str, options: Options) -> Preprocessor:
        return cls(label, [encoder_for(s, options) for s in specs])

    # -- the layout a model sees

    @property
    def schema(self) -> Schema:
        self._require_fit()
        if self._schema is None:
            self._schema = Schema.build(
                [(e.name, e.table_type, e.vocab_size, e.width) for e in self.encoders]
            )
        return self._schema

    def _table_order(self) -> list[tuple[_Encoder, int]]:
        """Encoders in table order with their offsets."""
        schema = self.schema
        return [(self.by_name[f.name], f.offset) for f in schema.fields]

    def _require_fit(self) -> None:
        if not self.fitted:
            raise RuntimeError("Preprocessor: call fit(train) first")

    # -- checks

    def check(self, frame: pl.LazyFrame, file: str, statistics: bool = False) -> SplitReport:
        """Reject a split whose label or numeric values cannot be encoded faithfully (one-line
        DataError naming `file`, the column, how many rows and the first one); report the rest.
        With `statistics`, the report has the values of `self.statistics()` too (read in the
        same pass), for `fit`."""
        label = pl.col(self.label)
        y = label.cast(pl.Float64, strict=False)
        totals = {
            "rows": pl.len(),
            "label_empty": label.is_null().sum(),
            "label_bad": (label.is_not_null() & (y.is_null() | ~y.is_in([0.0, 1.0]))).sum(),
            "positives": (y == 1.0).sum(),
            "negatives": (y == 0.0).sum(),
        }
        numeric = [e for e in self.encoders if isinstance(e, (NumericEncoder, BucketEncoder))]
        names = [e.name for e in numeric]
        if len(names) <= WIDE_COLUMNS:  # one select: each column cast once, beside the columns
            cast = frame.with_columns(_as_number(pl.col(n)).alias(_NUMBER.format(n)) for n in names)
            wanted = self.statistics(cast=True) if statistics else {}
            numeric_stats = column_stats(cast, names, _NUMERIC_PROBES_CAST, file, totals | wanted)
        else:  # a long frame: the probes cast the values themselves
            wanted = self.statistics() if statistics else {}  # keys hold "\0": none is a total's name
            numeric_stats = column_stats(frame, names, _NUMERIC_PROBES, file, totals | wanted)
        stats = numeric_stats[TOTALS]
        fitted = {key: stats[key] for key in wanted}
        rows = stats["rows"]
        if rows == 0:
            raise DataError(f"{file}: no rows (expected at least one)")

        def first(mask: pl.Expr, column: str) -> tuple[int, list[str]]:
            """The first offending row (1-based) and a few distinct offending values, as text."""
            found = collect(
                frame.select(pl.col(column).cast(pl.String).alias("v"))
                .with_row_index("row", offset=1)
                .filter(mask)
                .head(200),
                file,
            )
            values = list(dict.fromkeys(shown(v) for v in found["v"].to_list()))[:3]
            return found["row"][0], values

        name = self.label
        label_empty, label_bad = stats["label_empty"], stats["label_bad"]
        if label_empty:
            row, _ = first(pl.col("v").is_null(), name)
            raise DataError(
                f"{file}: label column '{name}' is empty in {_plural(label_empty, 'row')} "
                f"(first: row {row}); expected 0 or 1"
            )
        if label_bad:
            v = pl.col("v").cast(pl.Float64, strict=False)
            row, values = first(pl.col("v").is_not_null() & (v.is_null() | ~v.is_in([0.0, 1.0])), name)
            raise DataError(
                f"{file}: label column '{name}' must be binary 0/1, found {', '.join(values)} in "
                f"{_plural(label_bad, 'row')} (first: row {row})"
            )
        filled = {}
        v = pl.col("v").cast(pl.Float64, strict=False)
        for e in numeric:
            text, nonfinite, empty = (numeric_stats[e.name][k] for k in ("text", "nonfinite", "empty"))
            if text:
                row, values = first(pl.col("v").is_not_null() & v.is_null(), e.name)
                raise DataError(
                    f"{file}: column '{e.name}' holds {_plural(text, 'non-numeric value')} "
                    f"({_quoted(values)}; first in row {row}); expected numbers (a numeric field)"
                )
            if nonfinite:
                row, values = first(v.is_nan() | v.is_infinite(), e.name)
                raise DataError(
                    f"{file}: column '{e.name}' holds {_plural(nonfinite, 'NaN or infinite value')} "
                    f"({_quoted(values)}; first in row {row}); expected finite numbers"
                )
            if empty and isinstance(e, NumericEncoder):
                if e.missing == "error":
                    row, _ = first(pl.col("v").is_null(), e.name)
                    raise DataError(
                        f"{file}: column '{e.name}' is empty in {_plural(empty, 'row')} (first: row {row}); "
                        "expected a number in every row of a numeric field (to fill empty values set "
                        f"dataset.numeric_missing=mean|zero or dataset.field_options.{e.name}.missing)"
                    )
                filled[e.name] = empty
        positives, negatives = stats["positives"], stats["negatives"]
        if not positives or not negatives:
            raise DataError(
                f"{file}: label column '{name}' is {1 if positives else 0} in all {_plural(rows, 'row')}; "
                "every split needs both 0 and 1 (AUC is undefined with one class)"
            )
        return SplitReport(rows, positives, negatives, filled, fitted if statistics else None)

    # -- fitting

    def statistics(self, cast: bool = False) -> dict[str, pl.Expr]:
        """The aggregations over train that fitting the numeric fields needs (means and standard
        deviations, bucket edges), by name: `check` can compute them in its own pass. `cast`:
        read each column's number from its _NUMBER column."""
        exprs = {}
        for e in self.encoders:
            number = pl.col(_NUMBER.format(e.name)) if cast else None
            if isinstance(e, NumericEncoder):
                x = numeric_value(e.name, e.transform, number)
                exprs[f"{e.name}\0mean"], exprs[f"{e.name}\0std"] = x.mean(), x.std()
            elif isinstance(e, BucketEncoder):
                x = numeric_value(e.name, e.transform, number)
                for i in range(e.num_buckets - 1):
                    exprs[f"{e.name}\0{i}"] = x.quantile((i + 1) / e.num_buckets, "linear")
        return exprs

    def fit(
        self,
        train: pl.LazyFrame,
        file: str = "train",
        counts: pl.DataFrame | None = None,
        statistics: dict[str, Any] | None = None,
    ) -> Preprocessor:
        """Vocabularies, statistics and bucket edges of every field, from `train` only.

        `counts`: train's (field, value, count) table (value_counts) when the caller already has
        it for every categorical field; the vocabularies are then read from it. `statistics`:
        the values of `self.statistics()` over train when the caller already has them."""
        by_kind: dict[type, list] = {cls: [] for cls in ENCODERS.values()}
        for e in self.encoders:
            by_kind[type(e)].append(e)
        numeric, buckets = by_kind[NumericEncoder], by_kind[BucketEncoder]
        categorical, sequences = by_kind[CategoricalEncoder], by_kind[SequenceEncoder]
        queries, names = [], []
        self._vocabulary_codes = {}
        needed = self.statistics()
        if needed and statistics is None:
            queries.append(train.select(expr.alias(key) for key, expr in needed.items()))
            names.append("statistics")
        given = counts is not None and {e.name for e in categorical} <= set(
            counts["\0field"].unique().to_list()
        )
        if categorical and not given:
            queries.append(value_counts(train, [e.name for e in categorical]))
            names.append("categorical")
        if sequences:
            tokens = train.select([e.tokens().alias(e.name) for e in sequences])
            queries.append(_value_counts(tokens, explode=True))
            queries.append(train.select([e.tokens().list.len().max().alias(e.name) for e in sequences]))
            names += ["sequence", "sequence_length"]
        results = dict(zip(names, collect_all(queries, file)))
        row = results["statistics"].row(0, named=True) if "statistics" in results else (statistics or {})

        if numeric:
            for e in numeric:
                mean, std = row[f"{e.name}\0mean"], row[f"{e.name}\0std"]
                mean = mean if mean is not None else 0.0
                std = std if std not in (None, 0.0) else 1.0
                e.fill = {"error": None, "mean": float(mean), "zero": 0.0}.get(e.missing)
                if e.fill is None and e.missing != "error":
                    e.fill = float(e.missing)
                e.mean, e.std = (0.0, 1.0) if e.mode == "none" else (float(mean), float(std))
        if buckets:
            for e in buckets:
                values = [row[f"{e.name}\0{i}"] for i in range(e.num_buckets - 1)]
                e.edges = sorted({v for v in values if v is not None})
        if categorical:
            table = counts if given and counts is not None else results["categorical"]
            vocabularies, self._vocabulary_codes = _vocabularies(
                table, {e.name: e.min_count for e in categorical}
            )
            for e in categorical:
                e.vocabulary = _or_empty(vocabularies.get(e.name))
        if sequences:
            vocabularies, _ = _vocabularies(results["sequence"], {e.name: e.min_count for e in sequences})
            longest = results["sequence_length"].row(0, named=True)
            for e in sequences:
                e.vocabulary = _or_empty(vocabularies.get(e.name))
                e.max_len = int(e.max_len or min(longest[e.name] or 1, 64))
        self.fitted = True
        self._schema = None
        return self

    # -- encoding

    def transform(
        self, frame: pl.LazyFrame, file: str = "frame", check: bool = True
    ) -> dict[str, np.ndarray]:
        """Encode a split in memory: {"label": [n] float32, "cat": [n, F_cat] int32 table rows,
        "num": [n, F_num] float32, "seq": [n, sum of max_len] int32 table rows (0 = padding)}."""
        self._require_fit()
        if check:
            self.check(frame, file)
        chunks = list(self._encoded_chunks(frame, file))
        if len(chunks) == 1:
            return chunks[0]
        return {part: np.concatenate([c[part] for c in chunks]) for part in ENCODED_PARTS}

    def transform_to(
        self,
        frame: pl.LazyFrame,
        folder: Path,
        prefix: str,
        rows: int,
        file: str,
        codes: TrainCodes | None = None,
        coded: bool = False,
    ) -> int:
        """Encode a split straight into `folder/{prefix}_{part}.npy` files (the parts of
        `transform`), chunk by chunk as polars streams them: memory holds one chunk of rows, not
        the split. `rows` is the split's row count (from `check`); the files are written at that
        size and a different count is an error. Returns the rows written.

        `codes`: train's columns read as codes (code_values). A categorical field among them is
        encoded from codes, each code's id looked up once: read back from the codes file when the
        split is train (`coded`), otherwise coded against train's categories as it streams."""
        self._require_fit()
        if coded and codes is not None and codes.rows != rows:
            raise DataError(
                f"{file}: {codes.rows:,} rows read, {rows:,} counted: did the file change meanwhile?"
            )
        widths = self._part_widths()
        # written in row order, appended chunk by chunk (faster than filling a memory map, whose
        # every new page faults); the header says the final shape, which the row checks enforce
        outs = {}
        try:
            for part, dtype in ENCODED_PARTS.items():
                outs[part] = open(Path(folder) / f"{prefix}_{part}.npy", "wb")
                header = {
                    "descr": np.lib.format.dtype_to_descr(np.dtype(dtype)),
                    "fortran_order": False,
                    "shape": (rows, *widths[part]),
                }
                np.lib.format.write_array_header_1_0(outs[part], header)
            start = 0
            for chunk in self._encoded_chunks(frame, file, codes, coded):
                stop = start + len(chunk["label"])
                if stop > rows:
                    raise DataError(
                        f"{file}: more rows than counted ({rows:,}): did the file change meanwhile?"
                    )
                for part, array in chunk.items():
                    if array.size:
                        outs[part].write(np.ascontiguousarray(array, dtype=ENCODED_PARTS[part]).data)
                start = stop
        finally:
            for out in outs.values():
                out.close()
        if start != rows:
            raise DataError(
                f"{file}: {start:,} rows encoded, {rows:,} counted: did the file change meanwhile?"
            )
        return rows

    def _part_widths(self) -> dict[str, tuple[int, ...]]:
        groups = self._groups()
        return {
            "label": (),
            "cat": (len(groups[CATEGORICAL]),),
            "num": (len(groups[NUMERIC]),),
            "seq": (sum(e.width for e in groups[SEQUENCE]),),
        }

    def _groups(self) -> dict[str, list[_Encoder]]:
        order = self._table_order()
        return {
            kind: [e for e, _ in order if e.table_type == kind] for kind in (CATEGORICAL, NUMERIC, SEQUENCE)
        }

    def code_ids(
        self, codes: TrainCodes | None
    ) -> tuple[list[tuple[CategoricalEncoder, int]], dict[str, np.ndarray]]:
        """The categorical fields that `codes` holds (with their table offsets) and the id of
        each of their codes. Once they are known, train's values and counts are released."""
        if codes is None:
            return [], {}
        by_code = [
            (e, off)
            for e, off in self._table_order()
            if isinstance(e, CategoricalEncoder) and e.name in codes.dtypes
        ]
        ids = {e.name: codes.ids(e, off, self._vocabulary_codes.get(e.name)) for e, off in by_code}
        codes.release()  # every id is looked up: train's values and counts are not needed again
        return by_code, ids

    def _encoded_chunks(
        self, frame: pl.LazyFrame, file: str, codes: TrainCodes | None = None, coded: bool = False
    ) -> Iterator[dict[str, np.ndarray]]:
        """The encoded parts of consecutive runs of rows, in row order. One polars query computes
        every field's ids; it streams in chunks, except when many categorical fields are looked
        up by one join of the long frame (WIDE_COLUMNS), which needs the whole split. A field in
        `codes` is looked up from its codes (from the codes file if `coded`, else from the query)."""
        order = self._table_order()
        by_code, ids = self.code_ids(codes)
        dtypes = codes.dtypes if codes is not None else {}
        column_of = {name: j for j, name in enumerate(codes.names)} if codes is not None else {}
        categorical = [
            (e, off) for e, off in order if isinstance(e, CategoricalEncoder) and e.name not in ids
        ]
        joined = categorical if len(categorical) > WIDE_COLUMNS else []
        skipped = {e.name for e, _ in joined} | (set(ids) if coded else set())
        exprs = [pl.col(self.label).cast(pl.Float64, strict=False).alias("\0label")]
        for e, offset in order:
            if e.name in skipped:
                continue
            if e.name in ids:  # the codes, turned into ids as each chunk arrives
                exprs.append(_code(e.name, dtypes[e.name]).alias(e.name))
            else:
                exprs.append(e.expression(offset).alias(e.name))
        query = frame.select(exprs)
        array = codes.array() if coded and codes is not None and ids else None
        table = _CodeTable(ids, [e.name for e, _ in by_code], [off + OOV_ID for _, off in by_code])
        in_file: list[int] | None = [column_of[name] for name in table.names]
        if in_file == list(range(len(column_of))):
            in_file = None  # every column of the file, in its order: the block as read

        def looked_up(df: pl.DataFrame, start: int) -> tuple[list[str], np.ndarray]:
            if not table.names:
                return [], np.zeros((df.height, 0), np.int32)
            if array is None:  # the query's codes
                return table.names, table.lookup(df.select(table.names).to_numpy(order="c"))
            stop = start + df.height
            if stop > len(array):
                raise DataError(f"{file}: more rows than read before: did the file change meanwhile?")
            block = np.asarray(array[start:stop])  # one read a chunk
            return table.names, table.lookup(block if in_file is None else block[:, in_file])

        if joined:
            df = collect(query, file)
            found = _lookup_by_join(frame, joined, df.height, file)
            extra = {e.name: found[:, k] for k, (e, _) in enumerate(joined)}
            yield self._assemble(df, extra, looked_up(df, 0))
            return
        start = 0
        # the chunk's columns: the query's, and the codes read beside it from the codes file
        width = len(exprs) + (len(table.names) if array is not None else 0)
        for df in collect_batches(query, file, _chunk_rows(width)):
            if df.height:
                yield self._assemble(df, {}, looked_up(df, start))
                start += df.height

    def _assemble(
        self, df: pl.DataFrame, extra: dict[str, np.ndarray], looked: tuple[list[str], np.ndarray]
    ) -> dict[str, np.ndarray]:
        """A chunk's parts from the query's columns, `extra` columns, and the `looked` up block
        of coded columns (their names, [rows, len(names)] ids)."""
        n = df.height
        names, block = looked
        groups = self._groups()
        out = {"label": df["\0label"].cast(pl.Float32).to_numpy()}
        wanted = [e.name for e in groups[CATEGORICAL]]

        def column(name: str) -> np.ndarray:
            return extra[name] if name in extra else df[name].to_numpy()

        if wanted == names:  # every categorical column looked up, in table order: the block is it
            out["cat"] = block
        else:
            out["cat"] = np.empty((n, len(wanted)), np.int32)
            position = {name: k for k, name in enumerate(names)}
            for k, name in enumerate(wanted):
                out["cat"][:, k] = block[:, position[name]] if name in position else column(name)
        out["num"] = (
            np.stack([column(e.name) for e in groups[NUMERIC]], axis=1, dtype=np.float32)
            if groups[NUMERIC]
            else np.zeros((n, 0), np.float32)
        )
        out["seq"] = (
            np.concatenate(
                [column(e.name).reshape(n, e.width) for e in groups[SEQUENCE]], axis=1, dtype=np.int32
            )
            if groups[SEQUENCE]
            else np.zeros((n, 0), np.int32)
        )
        return out

    # -- saving

    def save(self, folder: Path) -> None:
        """preprocessor.json (every encoder's fitted state, by field name) and vocabulary.parquet
        (field, id, value: the local id of every value of every vocabulary)."""
        self._require_fit()
        state = {
            "version": PREPROCESSING_VERSION,
            "label": self.label,
            "order": [e.name for e in self.encoders],
            "fields": {e.name: e.params() for e in self.encoders},
        }
        (Path(folder) / PREPROCESSOR_FILE).write_text(json.dumps(state, indent=1))
        with_vocabulary = [
            (e.name, e.vocabulary)
            for e in self.encoders
            if isinstance(e, (CategoricalEncoder, SequenceEncoder)) and e.vocabulary is not None
        ]
        if with_vocabulary:
            sizes = np.array([len(vocabulary) for _, vocabulary in with_vocabulary], dtype=np.int64)
            table = pl.DataFrame(
                {
                    "field": pl.Series([name for name, _ in with_vocabulary], dtype=pl.String).gather(
                        np.repeat(np.arange(len(sizes)), sizes)
                    ),
                    "id": np.arange(sizes.sum())
                    - np.repeat(np.cumsum(sizes) - sizes, sizes)
                    + FIRST_VALUE_ID,
                    "value": pl.concat(
                        [vocabulary.rename("value") for _, vocabulary in with_vocabulary], rechunk=True
                    ),
                }
            )
            # lz4: twice zstd's size, half its time to write and to read back
            table.write_parquet(Path(folder) / VOCABULARY_FILE, compression="lz4")

    @classmethod
    def load(cls, folder: Path) -> Preprocessor:
        folder = Path(folder)
        state = json.loads((folder / PREPROCESSOR_FILE).read_text())
        if state.get("version") != PREPROCESSING_VERSION:
            raise DataError(
                f"{folder / PREPROCESSOR_FILE}: preprocessing version {state.get('version')} "
                f"(this ge4rec writes {PREPROCESSING_VERSION})"
            )
        vocabularies: dict[str, pl.Series] = {}
        if (folder / VOCABULARY_FILE).is_file():
            table = pl.read_parquet(folder / VOCABULARY_FILE).sort(["field", "id"])
            vocabularies = _split_by(table["field"], table["value"].rename("t"))
        encoders = []
        for name in state["order"]:
            params = state["fields"][name]
            encoders.append(ENCODERS[params["kind"]].from_params(params, vocabularies.get(name)))
        pre = cls(state["label"], encoders)
        pre.fitted = True
        return pre


_LOOKUP_ROWS = 8192  # rows of codes turned into ids at a time (see _CodeTable.lookup)


class _CodeTable:
    """The ids of every code of several coded columns, in one table: a block of codes
    ([rows, columns], uint32, a column per name) becomes a block of ids in one gather. A code
    past a column's own ids (a value train never had) gets its out-of-vocabulary id."""

    def __init__(self, ids: dict[str, np.ndarray], names: list[str], oov: list[int]):
        self.names = names
        tables = [np.append(ids[name], np.int32(o)) for name, o in zip(names, oov)]
        sizes = np.array([len(t) for t in tables], dtype=np.int64)
        self.limits = (sizes - 1).astype(np.uint32)  # each column's out-of-vocabulary slot
        self.starts = np.cumsum(sizes) - sizes
        self.ids = np.concatenate(tables).astype(np.int32, copy=False) if tables else np.zeros(0, np.int32)

    def lookup(self, block: np.ndarray) -> np.ndarray:
        """[rows, len(names)] int32 ids of a block of codes. The positions are computed a few
        thousand rows at a time in two small buffers used again for each: a whole chunk's
        positions as intp would be a fresh allocation (and its page faults) every chunk."""
        out = np.empty(block.shape, np.int32)
        rows = min(_LOOKUP_ROWS, len(block))
        clipped = np.empty((rows, len(self.names)), np.uint32)
        index = np.empty((rows, len(self.names)), np.intp)  # np.take converts narrower ones itself, slower
        for start in range(0, len(block), _LOOKUP_ROWS):
            stop = min(start + _LOOKUP_ROWS, len(block))
            n = stop - start
            np.minimum(block[start:stop], self.limits, out=clipped[:n])
            np.add(clipped[:n], self.starts, out=index[:n])
            np.take(self.ids, index[:n], out=out[start:stop])
        return out


def _code(name: str, dtype: pl.Categorical) -> pl.Expr:
    """A column's codes: 0 for an empty value, 1 + the value's category in `dtype` otherwise."""
    return (pl.col(name).cast(pl.String).cast(dtype).to_physical() + 1).fill_null(0).cast(pl.UInt32)


@dataclass
class TrainCodes:
    """Train's text columns read once as dense codes: what both fitting and encoding need.

    Column `names[j]` of train's row i is `array()[i, j]`: 0 for an empty value, k + 1 for the
    k-th category of the column's own polars Categories (`dtypes`). The codes sit in a file of
    the build folder (read back mapped: memory holds a chunk, not the split). Their per-code
    counts are train's value counts, and encoding is one table lookup per code instead of one
    string lookup per value. Other splits are coded against the same Categories as they are
    encoded: a value train never had gets a new code, which maps to the out-of-vocabulary id."""

    names: list[str]
    dtypes: dict[str, pl.Categorical]
    anchors: dict[str, pl.Series] = field(repr=False)  # keep the dtypes' values (see code_values)
    values: dict[str, pl.Series]  # name -> train's distinct values, in code order (code - 1)
    occurrences: dict[str, np.ndarray]  # name -> how often each value occurs in train
    path: Path
    rows: int
    # train's other columns that the preprocessing reads (the label, numeric fields), kept from
    # the same pass in Arrow IPC files next to the codes: checking and encoding train read them
    # there instead of parsing the source again
    kept: list[str] = field(default_factory=list)
    kept_files: list[Path] = field(default_factory=list, repr=False)
    _ids: dict[tuple[str, int], np.ndarray] = field(default_factory=dict, repr=False)

    def frame(self, source: pl.LazyFrame, columns: list[str]) -> pl.LazyFrame:
        """Train's `columns`, from the kept files when they hold every one (else `source`)."""
        if self.kept_files and set(columns) <= set(self.kept):
            return pl.scan_ipc(self.kept_files)
        return source

    def counts(self) -> pl.DataFrame:
        """(field, value, count) of every non-empty value, what `value_counts` gives, and the
        value's code ("\0code"): fitting carries it into the vocabularies (see `ids`)."""
        index = pl.get_index_type()
        parts = [
            pl.DataFrame(
                {
                    "\0field": pl.repeat(name, len(self.values[name]), dtype=pl.String, eager=True),
                    "\0value": self.values[name],
                    "\0n": pl.Series(self.occurrences[name], dtype=index),
                    "\0code": pl.Series(np.arange(1, len(self.values[name]) + 1, dtype=np.uint32)),
                }
            )
            for name in self.names
        ]
        empty = pl.DataFrame(
            schema={"\0field": pl.String, "\0value": pl.String, "\0n": index, "\0code": pl.UInt32}
        )
        return pl.concat([empty, *parts])

    def ids(self, encoder: CategoricalEncoder, offset: int, codes: np.ndarray | None = None) -> np.ndarray:
        """The table row of every code of a categorical field, as its expression would encode the
        code's value: code 0 (empty) the missing row, a vocabulary value its row, any other
        value the out-of-vocabulary row. `codes`: the code of each vocabulary value, when the
        vocabulary was fitted from `counts()`; otherwise the vocabulary's values are coded with
        train's own Categories (they are train values). Either way no value is compared as
        text again."""
        key = (encoder.name, offset)
        if key not in self._ids:
            assert encoder.vocabulary is not None, "fitted"
            n = len(self.occurrences[encoder.name])
            if codes is not None:
                positions = codes.astype(np.int64) - 1
                missing = len(positions) != len(encoder.vocabulary) or (
                    len(positions) > 0 and positions.min() < 0
                )
            else:
                found = encoder.vocabulary.cast(self.dtypes[encoder.name], strict=False).to_physical()
                positions = found.to_numpy().astype(np.int64, copy=False)
                missing = found.null_count() > 0
            if missing or (len(positions) and positions.max() >= n):
                # a vocabulary is fitted on train's values: never encode with codes that disagree
                raise RuntimeError(f"field '{encoder.name}': a vocabulary value has no code in train")
            table = np.full(n + 1, offset + OOV_ID, dtype=np.int32)
            table[0] = offset + (MISSING_ID if encoder.missing == "token" else OOV_ID)
            table[positions + 1] = np.arange(len(positions), dtype=np.int32) + (offset + FIRST_VALUE_ID)
            self._ids[key] = table
        return self._ids[key]

    def release(self) -> None:
        """Drop train's values and counts once every id is looked up (they hold a copy of each
        distinct value; the Categories that code the other splits stay)."""
        self.values.clear()
        self.occurrences.clear()

    def array(self) -> np.ndarray:
        return np.memmap(self.path, dtype=np.uint32, mode="r", shape=(self.rows, len(self.names)))

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)
        for kept in self.kept_files:
            kept.unlink(missing_ok=True)


def code_values(
    frame: pl.LazyFrame, names: list[str], path: Path, file: str, keep: list[str] | None = None
) -> TrainCodes:
    """Read the named columns of train as text in one streamed pass, writing their codes to
    `path` and counting every value (see TrainCodes). The `keep` columns are written as they are
    read, to IPC files named after `path` (TrainCodes.frame reads them back)."""
    dtypes = {name: pl.Categorical(pl.Categories.random()) for name in names}
    # polars keeps a Categories' values only while some column of its type exists: these empty
    # columns keep train's values (and so its codes) alive until the other splits are encoded
    anchors = {name: pl.Series(name, [], dtype=dtype) for name, dtype in dtypes.items()}
    # every column is read, the others too (and dropped), so that a row longer than the header
    # fails here as in a full read: polars reports one only when the query reads every column
    schema = frame.collect_schema()
    others = [c for c in schema if c not in dtypes]
    keep = [c for c in keep or [] if c in schema]
    raw = {c: f"\0raw\0{c}" for c in keep if c in dtypes}  # coded columns kept as they are too
    query = frame.select(
        [_code(name, dtypes[name]).alias(name) for name in names]
        + [pl.col(c) for c in others]
        + [pl.col(c).alias(alias) for c, alias in raw.items()]
    )
    kept = [pl.col(raw[c]).alias(c) if c in raw else pl.col(c) for c in keep]
    kept_files: list[Path] = []
    totals = [np.zeros(1, np.int64) for _ in names]
    rows = 0
    with open(path, "wb") as out:  # in the caller's build folder, which a failed build removes
        for chunk in collect_batches(query, file, _chunk_rows(len(schema) + len(raw))):
            if not chunk.height:
                continue
            if keep:
                kept_files.append(path.with_name(f"{path.name}.{len(kept_files):06d}.arrow"))
                chunk.select(kept).write_ipc(kept_files[-1], compression="lz4")
            for j, name in enumerate(names):  # each column counted where it lies contiguous
                found = np.bincount(chunk.get_column(name).to_numpy())
                if len(found) > len(totals[j]):
                    found[: len(totals[j])] += totals[j]
                    totals[j] = found
                else:
                    totals[j][: len(found)] += found
            codes = chunk.select(names).to_numpy(order="c")
            out.write(codes.data)
            rows += len(codes)
    values, occurrences = {}, {}
    for j, name in enumerate(names):
        values[name] = _categories(dtypes[name], len(totals[j]) - 1)
        occurrences[name] = totals[j][1:]
        if len(values[name]) != len(occurrences[name]) or values[name].null_count():
            # never encode with codes whose values are unknown
            raise RuntimeError(f"{file}: column '{name}': polars returned an incomplete list of values")
    return TrainCodes(names, dtypes, anchors, values, occurrences, path, rows, keep, kept_files)


def _chunk_rows(columns: int) -> int:
    """Rows per chunk of a query with this many columns (CHUNK_ROWS up to CHUNK_COLUMNS)."""
    return max(1, min(CHUNK_ROWS, CHUNK_ROWS * CHUNK_COLUMNS // max(columns, 1)))


def _categories(dtype: pl.Categorical, n: int) -> pl.Series:
    """The first `n` values of a Categorical type, in code order (code - 1 in TrainCodes)."""
    try:  # vectorised: the codes 0..n-1 as the type, read back as text
        found = pl.Series(np.arange(n, dtype=np.uint32)).cat.to(dtype, strict=False).cast(pl.String)
    except Exception:  # an API polars marks unstable: its loop over the values, in Python
        found = dtype.categories.to_series().head(n)
    return found.rename("\0value")


def value_counts(frame: pl.LazyFrame, names: list[str]) -> pl.LazyFrame:
    """(field, value, count) of every non-empty value of the named columns, read as text."""
    return _value_counts(frame.select(pl.col(names).cast(pl.String)))


def _value_counts(columns: pl.LazyFrame, explode: bool = False) -> pl.LazyFrame:
    """(field, value, count) of every non-empty value of every column, in one pass."""
    long = columns.unpivot(variable_name="\0field", value_name="\0value")
    if explode:
        long = long.explode("\0value")
    return long.drop_nulls("\0value").group_by(["\0field", "\0value"]).agg(pl.len().alias("\0n"))


def _vocabularies(
    counts: pl.DataFrame, min_counts: dict[str, int]
) -> tuple[dict[str, pl.Series], dict[str, np.ndarray]]:
    """Each field's values seen at least min_count times, most frequent first (ties by value),
    and, when `counts` has a "\0code" column (TrainCodes.counts), each vocabulary's codes in the
    same order (else no codes)."""
    if counts.height == 0:
        return {}, {}
    names = list(min_counts)
    minimum = pl.DataFrame(
        {
            "\0field": names,
            "\0min": list(min_counts.values()),
            "\0i": pl.Series(range(len(names)), dtype=pl.UInt32),  # sorts faster than the name
        }
    )
    carried = ["\0code"] if "\0code" in counts.columns else []
    kept = (
        counts.lazy()
        .join(minimum.lazy(), on="\0field")
        .filter(pl.col("\0n") >= pl.col("\0min"))
        .sort(["\0i", "\0n", "\0value"], descending=[False, True, False])
        .select("\0i", "\0value", *carried)
        .collect(engine="streaming")
    )
    found = _split_by(kept["\0i"], kept["\0value"].rename("t"))
    codes = _split_by(kept["\0i"], kept["\0code"]) if carried else {}
    return (
        {names[i]: values for i, values in found.items()},
        {names[i]: values.to_numpy() for i, values in codes.items()},
    )


def _split_by(keys: pl.Series, values: pl.Series) -> dict[Any, pl.Series]:
    """Slices of `values` per run of equal `keys` (sorted), without one filter per key."""
    if keys.len() == 0:
        return {}
    starts = (keys != keys.shift(1)).fill_null(True).arg_true().to_list()
    ends = starts[1:] + [keys.len()]
    names = keys.gather(starts).to_list()
    return {name: values.slice(a, b - a) for name, a, b in zip(names, starts, ends)}


def _lookup_by_join(frame: pl.LazyFrame, encoders: list, rows: int, file: str) -> np.ndarray:
    """[rows, len(encoders)] table rows of many categorical fields, from one join of the long
    (row, field, value) frame with all vocabularies, instead of one expression per field."""
    names = [e.name for e, _ in encoders]
    sizes = np.array([len(e.vocabulary) for e, _ in encoders], dtype=np.int64)
    starts = np.repeat(np.array([off for _, off in encoders], dtype=np.int64) + FIRST_VALUE_ID, sizes)
    positions = np.arange(sizes.sum()) - np.repeat(np.cumsum(sizes) - sizes, sizes)
    vocabulary = pl.DataFrame(
        {
            "\0field": pl.Series(np.repeat(np.arange(len(names), dtype=np.int32), sizes)),
            "\0value": pl.concat([e.vocabulary.rename("\0value") for e, _ in encoders], rechunk=True)
            if len(encoders)
            else pl.Series([], dtype=pl.String),
            "\0id": pl.Series((starts + positions).astype(np.int32)),
        }
    )
    fields = pl.DataFrame(
        {
            "\0name": names,
            "\0field": pl.Series(np.arange(len(names), dtype=np.int32)),
            "\0missing": pl.Series(
                [off + (MISSING_ID if e.missing == "token" else OOV_ID) for e, off in encoders],
                dtype=pl.Int32,
            ),
            "\0oov": pl.Series([off + OOV_ID for _, off in encoders], dtype=pl.Int32),
        }
    )
    value = pl.col("\0value")
    long = (
        frame.select(pl.col(names).cast(pl.String))
        .with_row_index("\0row")
        .unpivot(index="\0row", variable_name="\0name", value_name="\0value")
        .join(fields.lazy(), on="\0name", how="left")
        .join(vocabulary.lazy(), on=["\0field", "\0value"], how="left")
        .select(
            "\0row",
            "\0field",
            pl.when(value.is_null())
            .then(pl.col("\0missing"))
            .otherwise(pl.col("\0id").fill_null(pl.col("\0oov"))),
        )
    )
    found = collect(long, file)
    out = np.empty((rows, len(names)), dtype=np.int32)
    out[found["\0row"].to_numpy(), found["\0field"].to_numpy()] = found[:, 2].to_numpy()
    return out
