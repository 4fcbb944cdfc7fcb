"""Write a Criteo-shaped synthetic click log: label, I1..I13 (integer counts, some empty), C1..C26
(categorical, Zipf-like frequencies over Criteo's vocabulary sizes, some empty).

    python scripts/make_criteo_like.py --rows 2000000 --out data/criteo_like                 # Kaggle layout
    python scripts/make_criteo_like.py --rows 2000000 --out data/criteo_like --format bars   # BARS layout

Formats:
- `kaggle`: DIR/train.txt as Criteo's Kaggle release ships it: tab-separated, no header, columns
  label, I1..I13, C1..C26 (C values are 8 hex digits), an empty string for a missing value.
- `bars`: DIR/train.csv, valid.csv, test.csv (a random 7:2:1 split, `--splits` to change it) with a
  header `label,I1,...,I13,C1,...,C26`, comma-separated, the BARS column layout; the I columns
  hold the raw counts (not rescaled).

Rows are drawn and written in chunks (`--chunk-rows`) with numpy and polars, so memory stays flat
whatever `--rows` is; the same `--seed`, `--rows` and `--chunk-rows` give the same files.

Where the shape comes from:
- Vocabulary sizes of C1..C26: the number of distinct values of each field in the Kaggle
  Display Advertising Challenge training file (45,840,617 rows), as listed in the Kaggle
  preprocessing of the DLRM benchmark (Naumov et al., "Deep Learning Recommendation Model for
  Personalization and Recommendation Systems", arXiv 1906.00091, 2019) and reused by TorchRec.
  Values are drawn with a bounded power law (P(rank r) ~ r^-s, s = `--zipf`), so a sample of N
  rows sees far fewer distinct values than the vocabulary when the vocabulary is large, as a
  prefix of the real log does.
- Missing rates: about those of the Kaggle file (I1 and I10 about 45% empty, I12 about 77%, C22
  about 76%, C19/C20/C25/C26 about 44%, a few percent elsewhere), rounded.
- Integer fields: non-negative, heavy-tailed counts (log-normal).
- Label: a planted logit (per-value main effects of every field, a few pairwise effects, the log
  counts) with the intercept set so that about 25.6% of rows are clicks (Criteo's click rate), so
  a model can learn it and a better model learns more of it.

The module also serves the other benchmark scripts: `write_dataset` writes any list of fields
(e.g. a Frappe-shaped data set or N Zipf categorical columns) the same way.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

# C1..C26: distinct values in Criteo's Kaggle training file (see the module docstring)
CRITEO_CARDINALITIES = [
    1460, 583, 10131227, 2202608, 305, 24, 12517, 633, 3, 93145, 5683, 8351593, 3194,
    27, 14992, 5461306, 10, 5652, 2173, 4, 7046547, 18, 15, 286181, 105, 142572,
]  # fmt: skip
# approximate share of empty values per field (rounded)
CRITEO_INT_MISSING = [0.45, 0.0, 0.21, 0.22, 0.03, 0.22, 0.04, 0.0, 0.04, 0.45, 0.04, 0.77, 0.22]
CRITEO_CAT_MISSING = [
    0.0, 0.0, 0.03, 0.03, 0.0, 0.12, 0.0, 0.0, 0.0, 0.0, 0.0, 0.03, 0.0,
    0.0, 0.0, 0.03, 0.0, 0.0, 0.44, 0.44, 0.03, 0.76, 0.0, 0.03, 0.44, 0.44,
]  # fmt: skip
CRITEO_CLICK_RATE = 0.256

# Frappe (Baltrunas et al., "Frappe: Understanding the Usage and Perception of Mobile App
# Recommendations In-The-Wild", arXiv 1505.03014, 2015): 957 users, 4,082 apps and the context
# fields as counted in the README of the CTR version of the data (He & Chua, NFM, SIGIR 2017),
# which BARS ships as Frappe_x1 (7:2:1 split).
FRAPPE_CARDINALITIES = {
    "user": 957,
    "item": 4082,
    "daytime": 7,
    "weekday": 7,
    "isweekend": 2,
    "homework": 3,
    "cost": 2,
    "weather": 9,
    "country": 80,
    "city": 233,
}
FRAPPE_CLICK_RATE = 1 / 3  # two sampled negatives per positive

_MASK64 = np.uint64(0xFFFFFFFFFFFFFFFF)
_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


@dataclass
class Field:
    """One column: `kind` is 'cat' (values drawn by rank from a vocabulary) or 'int' (counts)."""

    name: str
    kind: str
    vocab: int = 0  # cat: vocabulary size
    missing: float = 0.0  # share of empty values
    token: str = "hex"  # cat: 'hex' (8 hex digits, like Criteo) or 'int' (a decimal id)
    scale: float = 1.0  # int: log-normal mu of the count


def criteo_fields() -> list[Field]:
    ints = [
        Field(f"I{i + 1}", "int", missing=m, scale=0.5 + 3.5 * ((i * 7) % 13) / 12)
        for i, m in enumerate(CRITEO_INT_MISSING)
    ]
    cats = [
        Field(f"C{i + 1}", "cat", vocab=v, missing=m)
        for i, (v, m) in enumerate(zip(CRITEO_CARDINALITIES, CRITEO_CAT_MISSING))
    ]
    return ints + cats


def frappe_fields() -> list[Field]:
    return [Field(name, "cat", vocab=v, token="int") for name, v in FRAPPE_CARDINALITIES.items()]


def zipf_fields(columns: int, smallest: int = 10, largest: int = 1_000_000) -> list[Field]:
    """`columns` categorical fields, vocabularies log-spaced from `smallest` to `largest` (repeating
    the pattern every 20 columns, so wider tables keep the same mix of small and large fields)."""
    period = 20
    out = []
    for j in range(columns):
        k = j % period
        vocab = round(smallest * (largest / smallest) ** (k / (period - 1)))
        out.append(Field(f"f{j + 1}", "cat", vocab=vocab))
    return out


def _mix(x: np.ndarray) -> np.ndarray:
    """A 64-bit integer hash (splitmix64's finaliser), element-wise on uint64."""
    x = x.astype(np.uint64, copy=True)
    x ^= x >> np.uint64(30)
    x *= np.uint64(0xBF58476D1CE4E5B9)
    x ^= x >> np.uint64(27)
    x *= np.uint64(0x94D049BB133111EB)
    x ^= x >> np.uint64(31)
    return x & _MASK64


def _unit(x: np.ndarray) -> np.ndarray:
    """Hash values -> floats in [-1, 1)."""
    return (_mix(x) >> np.uint64(11)).astype(np.float64) / float(1 << 52) - 1.0


def zipf_ranks(rng: np.random.Generator, vocab: int, n: int, exponent: float) -> np.ndarray:
    """Ranks 0..vocab-1 with P(r) ~ (r+1)^-exponent, by inverting the continuous bounded power law."""
    u = rng.random(n)
    if abs(exponent - 1.0) < 1e-9:
        x = np.exp(u * math.log(vocab + 1.0))
    else:
        a = 1.0 - exponent
        x = (1.0 + u * ((vocab + 1.0) ** a - 1.0)) ** (1.0 / a)
    return np.minimum(np.floor(x).astype(np.int64) - 1, vocab - 1)


def _scramble32(ranks: np.ndarray, salt: np.uint64) -> np.ndarray:
    """A bijection of 32-bit integers keyed by `salt`: distinct ranks give distinct, random-looking
    codes (each step, an odd multiplier or an xor-shift, is invertible modulo 2^32)."""
    m = np.uint64(0xFFFFFFFF)
    x = (ranks.astype(np.uint64) * np.uint64(2654435761) + salt) & m
    x ^= x >> np.uint64(16)
    x = (x * np.uint64(0x45D9F3B)) & m
    x ^= x >> np.uint64(16)
    x = (x * np.uint64(0x119DE1F3)) & m
    x ^= x >> np.uint64(16)
    return x


def _hex_tokens(values: np.ndarray) -> pl.Series:
    """uint32 values -> 8-character lowercase hex strings, without a Python loop."""
    v = values.astype(np.uint32)
    shifts = np.arange(28, -1, -4, dtype=np.uint32)
    digits = _HEX[(v[:, None] >> shifts) & np.uint32(0xF)]
    return pl.Series(np.ascontiguousarray(digits).view("S8").ravel()).cast(pl.String)


class Generator:
    """Draws chunks of rows for a list of fields and a planted click model."""

    def __init__(self, fields: list[Field], seed: int, zipf: float, click_rate: float, pairs: int = 6):
        self.fields, self.seed, self.zipf, self.click_rate = fields, seed, zipf, click_rate
        cats = [i for i, f in enumerate(fields) if f.kind == "cat"]
        rng = np.random.default_rng(seed + 1)
        pair_count = min(pairs, len(cats) * (len(cats) - 1) // 2)
        chosen: set[tuple[int, int]] = set()
        while len(chosen) < pair_count:
            a, b = sorted(rng.choice(cats, size=2, replace=False).tolist())
            chosen.add((a, b))
        self.pairs = sorted(chosen)
        self.main_scale = 1.6 / math.sqrt(max(len(cats), 1))
        self.pair_scale = 1.2 / math.sqrt(max(len(self.pairs), 1))
        self.intercept: float | None = None
        self.chunk_index = 0

    def _salt(self, i: int) -> np.uint64:
        return np.uint64((self.seed * 1_000_003 + i * 7919 + 17) & 0xFFFFFFFF)

    def chunk(self, n: int) -> tuple[pl.DataFrame, np.ndarray]:
        """n rows as a DataFrame (label first) and a uniform [0, 1) draw per row for splitting."""
        rng = np.random.default_rng([self.seed, self.chunk_index])
        self.chunk_index += 1
        logit = np.zeros(n)
        ranks: dict[int, np.ndarray] = {}
        present: dict[int, np.ndarray] = {}
        columns: dict[str, pl.Series] = {}
        for i, f in enumerate(self.fields):
            here = rng.random(n) >= f.missing if f.missing > 0 else np.ones(n, dtype=bool)
            present[i] = here
            if f.kind == "cat":
                r = zipf_ranks(rng, f.vocab, n, self.zipf)
                ranks[i] = r
                effect = _unit(r.astype(np.uint64) * np.uint64(0x9E3779B1) + self._salt(i))
                logit += self.main_scale * np.where(here, effect, 0.0)
                if f.token == "hex":
                    values = _hex_tokens(_scramble32(r, self._salt(i)))
                else:
                    values = pl.Series(r)
            else:
                counts = np.floor(np.exp(rng.normal(f.scale, 1.4, n))).astype(np.int64) - 1
                counts = np.maximum(counts, 0)
                logit += 0.15 * np.where(here, np.log1p(counts) - f.scale, 0.0)
                values = pl.Series(counts)
            columns[f.name] = values
            columns[f.name + "\0present"] = pl.Series(here)
        for a, b in self.pairs:
            key = ranks[a].astype(np.uint64) * np.uint64(1_000_003) + ranks[b].astype(np.uint64)
            effect = _unit(key + self._salt(1000 + a * 97 + b))
            logit += self.pair_scale * np.where(present[a] & present[b], effect, 0.0)
        if self.intercept is None:  # fixed once, from the first chunk: the click rate
            self.intercept = _solve_intercept(logit, self.click_rate)
        prob = 1.0 / (1.0 + np.exp(-(logit + self.intercept)))
        label = (rng.random(n) < prob).astype(np.int8)
        frame = pl.DataFrame(columns).select(
            pl.lit(pl.Series("label", label)),
            *[
                pl.when(pl.col(f.name + "\0present")).then(pl.col(f.name)).otherwise(None).alias(f.name)
                for f in self.fields
            ],
        )
        return frame, rng.random(n)


def _solve_intercept(logit: np.ndarray, rate: float) -> float:
    lo, hi = -20.0, 20.0
    for _ in range(60):
        mid = (lo + hi) / 2
        if np.mean(1.0 / (1.0 + np.exp(-(logit + mid)))) < rate:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def write_once(folder: Path, key: dict, write: Callable[[], object]) -> bool:
    """Fill `folder` with `write()` unless its stamp (`.made`) says it already holds what `key`
    describes; a folder with another stamp, or none, is emptied first. True when written now."""
    stamp = folder / ".made"
    wanted = json.dumps(key)
    if stamp.is_file() and stamp.read_text() == wanted:
        return False
    shutil.rmtree(folder, ignore_errors=True)
    write()
    stamp.write_text(wanted)
    return True


def write_dataset(
    out: Path,
    fields: list[Field],
    rows: int,
    fmt: str = "bars",
    splits: tuple[float, ...] = (0.7, 0.2, 0.1),
    seed: int = 2026,
    zipf: float = 1.1,
    click_rate: float = CRITEO_CLICK_RATE,
    chunk_rows: int = 500_000,
    verbose: bool = False,
) -> dict[str, int]:
    """Write `rows` rows to `out` in the Kaggle layout (one headerless TSV, train.txt) or the BARS
    layout (train/valid/test.csv); returns the rows written per file."""
    out.mkdir(parents=True, exist_ok=True)
    gen = Generator(fields, seed, zipf, click_rate)
    if fmt == "kaggle":
        names = ["train.txt"]
        bounds = np.array([1.0])
    elif fmt == "bars":
        names = ["train.csv", "valid.csv", "test.csv"][: len(splits)]
        bounds = np.cumsum(np.array(splits[: len(names)]) / sum(splits[: len(names)]))
    else:
        raise SystemExit(f"--format: '{fmt}' (expected kaggle or bars)")
    handles = {name: open(out / name, "wb") for name in names}
    written = dict.fromkeys(names, 0)
    try:
        done, start = 0, time.perf_counter()
        while done < rows:
            n = min(chunk_rows, rows - done)
            frame, draw = gen.chunk(n)
            if fmt == "kaggle":
                parts = {"train.txt": frame}
            else:
                which = np.searchsorted(bounds, draw, side="right").clip(0, len(names) - 1)
                parts = {name: frame.filter(pl.Series(which == k)) for k, name in enumerate(names)}
            for name, part in parts.items():
                part.write_csv(
                    handles[name],
                    separator="\t" if fmt == "kaggle" else ",",
                    include_header=fmt == "bars" and written[name] == 0,
                    null_value="",
                )
                written[name] += part.height
            done += n
            if verbose:
                rate = done / (time.perf_counter() - start)
                print(f"\r{done:,} / {rows:,} rows ({rate:,.0f} rows/s)", end="", file=sys.stderr, flush=True)
        if verbose:
            print(file=sys.stderr)
    finally:
        for fh in handles.values():
            fh.close()
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, required=True)
    parser.add_argument("--out", type=Path, default=Path("data/criteo_like"))
    parser.add_argument("--format", choices=("kaggle", "bars"), default="kaggle")
    parser.add_argument("--splits", default="0.7,0.2,0.1", help="bars: train,valid,test shares")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--zipf", type=float, default=1.1, help="power-law exponent of the value frequencies")
    parser.add_argument("--chunk-rows", type=int, default=500_000)
    args = parser.parse_args()
    splits = tuple(float(s) for s in args.splits.split(","))
    start = time.perf_counter()
    written = write_dataset(
        args.out,
        criteo_fields(),
        args.rows,
        args.format,
        splits,
        args.seed,
        args.zipf,
        CRITEO_CLICK_RATE,
        args.chunk_rows,
        verbose=True,
    )
    took = time.perf_counter() - start
    files = ", ".join(f"{name} {n:,} rows" for name, n in written.items())
    print(f"wrote {args.out}: {files} in {took:.1f} s")


if __name__ == "__main__":
    main()
