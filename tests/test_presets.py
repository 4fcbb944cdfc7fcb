"""The data set presets (the BARS splits and the raw Kaggle files), on folders built from the real
samples in ../shared/data/samples or from rows written here in each preset's layout, the
`dataset.derive` option they rely on, headerless text files and the single-file split."""

from __future__ import annotations

import json
import math
from datetime import date
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from ge4rec.cli import config_dir
from ge4rec.data import CATEGORICAL, NUMERIC, load_dataset
from ge4rec.data.sources import Source, split_single_file
from ge4rec.data.spec import FIRST_VALUE_ID, MISSING_ID, OOV_ID, SEQUENCE
from ge4rec.errors import ConfigError, DataError
from ge4rec.run import train_run

from conftest import SHARED_DATA, compose_config, load_csv_folder, run_cli, write_csv_folder

SAMPLES = SHARED_DATA / "samples"
CRITEO_SAMPLE = SAMPLES / "criteo_sample.csv"
AVAZU_SAMPLE = SAMPLES / "avazu_sample.csv"

needs_samples = pytest.mark.skipif(
    not (CRITEO_SAMPLE.is_file() and AVAZU_SAMPLE.is_file()),
    reason="../shared/data/samples not present",
)

SPLITS = ("train", "valid", "test")
CRITEO_NUMERIC = [f"I{i}" for i in range(1, 14)]
CRITEO_CATEGORICAL = [f"C{i}" for i in range(1, 27)]
AVAZU_RAW = [
    "C1", "banner_pos", "site_id", "site_domain", "site_category", "app_id", "app_domain",
    "app_category", "device_id", "device_ip", "device_model", "device_type", "device_conn_type",
    "C14", "C15", "C16", "C17", "C18", "C19", "C20", "C21",
]  # fmt: skip
AVAZU_FIELDS = ["hour", *AVAZU_RAW, "weekday", "weekend"]


# ----------------------------------------------------------------------------- helpers


def split_rows(df: pl.DataFrame, ratios=(0.7, 0.2, 0.1)) -> dict[str, pl.DataFrame]:
    """Consecutive train/valid/test slices, as the BARS files are (already shuffled) slices."""
    n_train, n_valid = round(df.height * ratios[0]), round(df.height * ratios[1])
    return {
        "train": df[:n_train],
        "valid": df[n_train : n_train + n_valid],
        "test": df[n_train + n_valid :],
    }


def write_bars(folder: Path, parts: dict[str, pl.DataFrame], fmt: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for split, frame in parts.items():
        if fmt == "csv":
            frame.write_csv(folder / f"{split}.csv")
        else:
            frame.write_parquet(folder / f"{split}.parquet")
    return folder


def criteo_parts(fmt: str) -> dict[str, pl.DataFrame]:
    # CSV keeps the sample's text; Parquet gets typed columns (floats/ints for I*, strings for C*)
    df = pl.read_csv(CRITEO_SAMPLE, infer_schema=(fmt == "parquet"))
    return split_rows(df)


def avazu_hour(i: int) -> str:
    """A YYMMDDHH timestamp for row i: ten days from Tue 2014-10-21, hours cycling through 0..23."""
    return f"1410{21 + i % 10:02d}{(7 * i) % 24:02d}"


def avazu_parts(fmt: str) -> dict[str, pl.DataFrame]:
    # The sample's rows all share one hour (14102100); spread them over ten days and 24 hours so
    # that hour of day, weekday and weekend take many values. Row 0 keeps 14102100 (a Tuesday).
    df = pl.read_csv(AVAZU_SAMPLE, infer_schema=False)
    df = df.with_columns(pl.Series("hour", [avazu_hour(i) for i in range(df.height)]))
    if fmt == "parquet":  # typed as a converted file would be: an integer timestamp and label
        df = df.with_columns(pl.col("click").cast(pl.Int64), pl.col("hour").cast(pl.Int64))
    return split_rows(df)


def load_preset(tmp_path: Path, name: str, folder: Path, *overrides: str):
    cfg = compose_config([f"dataset={name}", f"dataset.path={folder}", *overrides], tmp_path)
    return load_dataset(cfg.dataset, cfg.cache_dir), cfg


def decode(data, field: str, split: str) -> list[str | None]:
    """Values of a categorical field from its encoded ids (None: the OOV id, '<missing>': missing id)."""
    info = next(f for f in data.schema.fields if f.name == field)
    k = [f.name for f in data.schema.of_type(CATEGORICAL)].index(field)
    local = (data.splits[split].cat[:, k] - info.offset).tolist()
    vocab = pl.read_parquet(data.cache_dir / "vocabulary.parquet").filter(pl.col("field") == field)
    by_id = dict(zip(vocab["id"].to_list(), vocab["value"].to_list()))
    return [None if i == OOV_ID else "<missing>" if i == MISSING_ID else by_id[i] for i in local]


# ----------------------------------------------------------------------------- criteo_x1


@needs_samples
@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_criteo_x1_fields_and_numerics_used_as_provided(tmp_path, fmt):
    parts = criteo_parts(fmt)
    folder = write_bars(tmp_path / "Criteo_x1", parts, fmt)
    data, cfg = load_preset(tmp_path, "criteo_x1", folder)

    assert int(cfg.embedding_dim) == 10 and data.meta["label"] == "label"
    assert data.schema.num_fields == 39
    assert [f.name for f in data.schema.of_type(CATEGORICAL)] == CRITEO_CATEGORICAL
    assert [f.name for f in data.schema.of_type(NUMERIC)] == CRITEO_NUMERIC
    assert [len(data.splits[s]) for s in SPLITS] == [140, 40, 20]

    for split in SPLITS:
        raw = parts[split].select(pl.col(CRITEO_NUMERIC).cast(pl.Float64))
        expected = raw.fill_null(0.0).to_numpy()  # as provided, missing -> 0, no z-score
        np.testing.assert_allclose(data.splits[split].num.numpy(), expected, rtol=1e-6)
        assert raw.null_count().sum_horizontal().item() > 0  # the sample does have missing values
        labels = parts[split]["label"].cast(pl.Float32).to_numpy()
        np.testing.assert_array_equal(data.splits[split].label.numpy(), labels)
    assert data.splits["train"].num.abs().max().item() > 1000  # raw counts, not standardised

    # min count 1: every value seen in train has its own id, an empty value the missing id,
    # a value first seen in valid the OOV id
    train, valid = parts["train"], parts["valid"]
    for name in CRITEO_CATEGORICAL:
        info = next(f for f in data.schema.fields if f.name == name)
        seen = set(train[name].drop_nulls().cast(pl.String).to_list())
        assert info.vocab_size == FIRST_VALUE_ID + len(seen), name
        ids = decode(data, name, "train")
        for value, got in zip(train[name].cast(pl.String).to_list(), ids):
            assert got == ("<missing>" if value is None else value), name
        for value, got in zip(valid[name].cast(pl.String).to_list(), decode(data, name, "valid")):
            assert got == ("<missing>" if value is None else value if value in seen else None), name


@needs_samples
def test_criteo_x1_csv_and_parquet_encode_alike(tmp_path):
    loaded = []
    for fmt in ("csv", "parquet"):
        folder = write_bars(tmp_path / fmt / "Criteo_x1", criteo_parts(fmt), fmt)
        loaded.append(load_preset(tmp_path, "criteo_x1", folder)[0])
    a, b = loaded
    assert a.cache_dir != b.cache_dir  # different files, different cache entries
    for split in SPLITS:
        np.testing.assert_allclose(a.splits[split].num.numpy(), b.splits[split].num.numpy(), rtol=1e-6)
        assert (a.splits[split].label == b.splits[split].label).all()
    for name in CRITEO_CATEGORICAL:  # same values (the ids of equally frequent values may differ)
        assert decode(a, name, "test") == decode(b, name, "test")


# ----------------------------------------------------------------------------- avazu_x4


def expected_avazu(frame: pl.DataFrame) -> dict[str, list[str]]:
    """Field values computed independently of the pipeline, with Python's calendar."""
    stamps = [str(h) for h in frame["hour"].to_list()]
    days = [date(2000 + int(s[:2]), int(s[2:4]), int(s[4:6])) for s in stamps]
    out = {name: frame[name].cast(pl.String).to_list() for name in AVAZU_RAW}
    out["hour"] = [str(int(s[6:8])) for s in stamps]
    out["weekday"] = [str(d.isoweekday() % 7) for d in days]  # 0 = Sunday
    out["weekend"] = ["1" if d.isoweekday() >= 6 else "0" for d in days]
    return out


@needs_samples
@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_avazu_x4_fields_derived_time_and_min_count(tmp_path, fmt):
    parts = avazu_parts(fmt)
    folder = write_bars(tmp_path / "Avazu_x4", parts, fmt)
    data, cfg = load_preset(tmp_path, "avazu_x4", folder)

    assert int(cfg.embedding_dim) == 16 and data.meta["label"] == "click"
    assert data.schema.names == AVAZU_FIELDS and "id" not in data.schema.names
    assert all(f.type == CATEGORICAL for f in data.schema.fields)
    assert [len(data.splits[s]) for s in SPLITS] == [70, 20, 10]

    vocab = pl.read_parquet(data.cache_dir / "vocabulary.parquet")
    values = {
        f: set(vocab.filter(pl.col("field") == f)["value"].to_list()) for f in ("hour", "weekday", "weekend")
    }
    # 70 train rows at hours 7i mod 24: every hour at least twice, so all 24 pass min count 2
    assert {int(v) for v in values["hour"]} == set(range(24))
    assert {int(v) for v in values["weekday"]} == set(range(7))  # ten days cover the whole week
    assert values["weekend"] == {"0", "1"}

    # the calendar: 14102100 is Tuesday 2014-10-21, 0h; row 4 is Saturday 25th, row 5 Sunday 26th
    train = {f: decode(data, f, "train") for f in ("hour", "weekday", "weekend")}
    assert (train["hour"][0], train["weekday"][0], train["weekend"][0]) == ("0", "2", "0")
    assert (train["weekday"][4], train["weekend"][4]) == ("6", "1")
    assert (train["weekday"][5], train["weekend"][5]) == ("0", "1")
    for wd, we in zip(train["weekday"], train["weekend"]):
        assert we == ("1" if wd in ("0", "6") else "0")

    # min count 2, every field: a value seen once in train (or never) maps to the OOV id,
    # the others decode to exactly the expected value, in every split
    train_expected = expected_avazu(parts["train"])
    counts = {f: {} for f in AVAZU_FIELDS}
    for f in AVAZU_FIELDS:
        for v in train_expected[f]:
            counts[f][v] = counts[f].get(v, 0) + 1
    for split in SPLITS:
        expected = expected_avazu(parts[split])
        for f in AVAZU_FIELDS:
            got = decode(data, f, split)
            want = [v if counts[f].get(v, 0) >= 2 else None for v in expected[f]]
            assert got == want, (split, f)

    # the min-count case for real: device_ip values are nearly all unique
    ips = parts["train"]["device_ip"].to_list()
    once = [i for i, ip in enumerate(ips) if ips.count(ip) == 1]
    twice = [i for i, ip in enumerate(ips) if ips.count(ip) >= 2]
    got = decode(data, "device_ip", "train")
    assert once and all(got[i] is None for i in once)
    assert not twice or all(got[i] == ips[i] for i in twice)


@needs_samples
def test_avazu_x4_derive_is_part_of_the_cache_key(tmp_path):
    folder = write_bars(tmp_path / "Avazu_x4", avazu_parts("csv"), "csv")
    first, _ = load_preset(tmp_path, "avazu_x4", folder)
    again, _ = load_preset(tmp_path, "avazu_x4", folder)
    assert again.reused_cache and again.cache_dir == first.cache_dir
    # weekend derived differently (here: from the hour of day's timestamp, as weekday) -> rebuilt
    changed, _ = load_preset(
        tmp_path,
        "avazu_x4",
        folder,
        "dataset.derive=[{name:hour,from:hour,op:hour_yymmddhh},{name:weekday,from:hour,op:weekday_yymmddhh},"
        "{name:weekend,from:hour,op:weekday_yymmddhh}]",
    )
    assert not changed.reused_cache and changed.cache_dir != first.cache_dir
    weekend = decode(changed, "weekend", "train")
    assert weekend == decode(changed, "weekday", "train") and set(weekend) - {None} == {
        str(d) for d in range(7)
    }


@needs_samples
def test_presets_read_ge4rec_data_and_expand_home(tmp_path, monkeypatch):
    home = tmp_path / "home"
    write_bars(home / "data" / "Criteo_x1", criteo_parts("csv"), "csv")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("GE4REC_DATA", raising=False)
    cfg = compose_config(["dataset=criteo_x1"], tmp_path)
    assert cfg.dataset.path == "~/data/Criteo_x1"  # the default, '~' expanded when read
    data = load_dataset(cfg.dataset, cfg.cache_dir)
    assert data.meta["sources"]["train"] == str(home / "data" / "Criteo_x1" / "train.csv")

    other = tmp_path / "elsewhere"
    write_bars(other / "Avazu_x4", avazu_parts("parquet"), "parquet")
    monkeypatch.setenv("GE4REC_DATA", str(other))
    cfg = compose_config(["dataset=avazu_x4"], tmp_path)
    assert load_dataset(cfg.dataset, cfg.cache_dir).schema.num_fields == 24


@pytest.mark.parametrize("name, folder", [("criteo_x1", "Criteo_x1"), ("avazu_x4", "Avazu_x4")])
def test_missing_preset_folder_says_how_to_set_it(tmp_path, monkeypatch, name, folder):
    monkeypatch.setenv("GE4REC_DATA", str(tmp_path / "nothing"))
    cfg = compose_config([f"dataset={name}"], tmp_path)
    with pytest.raises(DataError) as err:
        load_dataset(cfg.dataset, cfg.cache_dir)
    message = str(err.value)
    assert "\n" not in message
    assert f"dataset '{name}'" in message and str(tmp_path / "nothing" / folder) in message
    assert "dataset.path=DIR" in message and "GE4REC_DATA" in message
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").iterdir())


def test_missing_preset_folder_through_the_cli_is_one_line_exit_2(tmp_path):
    result = run_cli(["train", "dataset=avazu_x4", f"dataset.path={tmp_path / 'Avazu_x4'}"], tmp_path)
    assert result.returncode == 2, result.stderr
    lines = [ln for ln in result.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("ge4rec: "), result.stderr
    assert "dataset 'avazu_x4'" in lines[0] and str(tmp_path / "Avazu_x4") in lines[0]
    assert "dataset.path=DIR" in lines[0]
    assert "Traceback" not in result.stderr + result.stdout


# ----------------------------------------------------------------------------- end to end


def train_one_epoch(tmp_path, *overrides: str):
    """`ge4rec train` for one epoch in tmp_path: the finished process and its results rows
    (None when the run failed, so the caller's returncode assert shows stderr)."""
    args = ["threads=1", "trainer.max_epochs=1", "trainer.batch_size=64", "trainer.progress=false"]
    result = run_cli(["train", *overrides, *args, "results_dir=results"], tmp_path)
    if result.returncode != 0:
        return result, None
    return result, pl.read_parquet(str(tmp_path / "results") + "/*.parquet")


@needs_samples
def test_criteo_x1_trains_one_epoch_through_the_cli(tmp_path):
    folder = write_bars(tmp_path / "Criteo_x1", criteo_parts("csv"), "csv")
    result, rows = train_one_epoch(tmp_path, "dataset=criteo_x1", f"dataset.path={folder}")
    assert result.returncode == 0, result.stderr[-2000:]
    assert rows.height == 1 and rows["dataset"][0] == "criteo_x1" and rows["status"][0] == "completed"
    assert rows["embedding_dim"][0] == 10
    metrics = json.loads(next((tmp_path / "outputs").glob("*/*/metrics.json")).read_text())
    assert metrics["epochs"] == 1 and metrics["test"]["auc"] == rows["test_auc"][0]
    assert math.isfinite(metrics["test"]["auc"])  # the 20 test rows hold both classes


@needs_samples
def test_avazu_x4_trains_one_epoch(tmp_path):
    folder = write_bars(tmp_path / "Avazu_x4", avazu_parts("parquet"), "parquet")
    cfg = compose_config(
        [
            "dataset=avazu_x4",
            f"dataset.path={folder}",
            "model=fm",
            "threads=1",
            "trainer.max_epochs=1",
            "trainer.batch_size=32",
            "trainer.progress=false",
            "analysis.enabled=false",
        ],
        tmp_path,
    )
    metrics = train_run(cfg, tmp_path / "run")
    assert metrics["status"] == "completed" and metrics["epochs"] == 1


# ----------------------------------------------------------------------------- dataset.derive


TIMES = """click,ts,user
1,14102100,u1
0,14102523,u2
1,,u1
0,14102610,u2
"""


def times_folder(tmp_path: Path, train: str = TIMES) -> Path:
    return write_csv_folder(tmp_path / "data", {"train": train, "valid": TIMES, "test": TIMES})


DERIVE_ALL = (
    "dataset.derive=[{name:hod,from:ts,op:hour_yymmddhh},{name:ts,from:ts,op:weekday_yymmddhh},"
    "{name:weekend,from:ts,op:weekend_yymmddhh}]"
)


def test_derive_adds_and_replaces_columns_from_the_raw_values(tmp_path):
    times_folder(tmp_path)
    data = load_csv_folder(tmp_path, DERIVE_ALL)
    # inferred fields: the file's columns (ts now replaced by its weekday), then the new ones
    assert data.schema.names == ["ts", "user", "hod", "weekend"]
    assert decode(data, "ts", "valid") == ["2", "6", "<missing>", "0"]  # Tue, Sat, empty, Sun
    # every entry reads the raw timestamp, although `ts` itself is replaced by another entry
    assert decode(data, "hod", "valid") == ["0", "23", "<missing>", "10"]
    assert decode(data, "weekend", "valid") == ["0", "1", "<missing>", "1"]


@pytest.mark.parametrize(
    "override, error, message",
    [
        ("dataset.derive=[{name:x,from:ts,op:month_yymmddhh}]", ConfigError, "op 'month_yymmddhh'"),
        ("dataset.derive=[{name:x,op:hour_yymmddhh}]", ConfigError, "missing: from"),
        ("dataset.derive=[{name:x,from:ts,op:hour_yymmddhh,to:y}]", ConfigError, "unknown: to"),
        ("dataset.derive=[{name:click,from:ts,op:hour_yymmddhh}]", ConfigError, "'click' is the label"),
        (
            "dataset.derive=[{name:x,from:time,op:hour_yymmddhh}]",
            DataError,
            "train.csv: column 'time' is missing",
        ),
    ],
)
def test_bad_derive_config_is_a_clear_error(tmp_path, override, error, message):
    times_folder(tmp_path)
    with pytest.raises(error, match=message):
        load_csv_folder(tmp_path, override)
    assert not [p for p in (tmp_path / "cache").glob("*") if p.is_dir()]


@pytest.mark.parametrize("bad", ["1410210", "14102124", "14133100", "noon"])
def test_a_value_that_is_not_yymmddhh_stops_the_build(tmp_path, bad):
    times_folder(tmp_path, train=TIMES.replace("14102523", bad))
    with pytest.raises(DataError) as err:
        load_csv_folder(tmp_path, "dataset.derive=[{name:wd,from:ts,op:weekday_yymmddhh}]")
    message = str(err.value)
    assert message.startswith("train.csv: column 'ts' holds '" + bad + "', not a YYMMDDHH"), message
    assert "\n" not in message
    assert not [p for p in (tmp_path / "cache").glob("*") if p.is_dir()]


# ----------------------------------------------------------------------------- every preset


BARS_PRESETS = {  # name: (folder, rows per split on the BARS page, fields, embedding_dim, min_count)
    "criteo_x1": ("Criteo_x1", (33003326, 8250124, 4587167), 39, 10, 1),
    "avazu_x4": ("Avazu_x4", (32343172, 4042897, 4042898), 24, 16, 2),
    "criteo_x4": ("Criteo_x4", (36672493, 4584062, 4584062), 39, 16, 10),
    "avazu_x1": ("Avazu_x1", (28300276, 4042897, 8085794), 22, 10, 1),
    "frappe_x1": ("Frappe_x1", (202027, 57722, 28860), 10, 10, 1),
    "movielenslatest_x1": ("MovielensLatest_x1", (1404801, 401373, 200686), 3, 10, 1),
    "kkbox_x1": ("KKBox_x1", (5901932, 737743, 737743), 13, 128, 10),
}
KAGGLE_PRESETS = {
    "criteo_kaggle": ("Criteo_kaggle", 45840617, 39),
    "avazu_kaggle": ("Avazu_kaggle", 40428967, 24),
}
OTHER_PRESETS = {"synthetic", "csv", "movielens100k"}  # covered by test_data.py and test_movielens.py


def test_every_preset_is_covered_here():
    shipped = {p.stem for p in (Path(config_dir()) / "dataset").glob("*.yaml") if not p.stem.startswith("_")}
    assert shipped == set(BARS_PRESETS) | set(KAGGLE_PRESETS) | OTHER_PRESETS


@pytest.mark.parametrize("name", [*BARS_PRESETS, *KAGGLE_PRESETS])
def test_preset_composes_with_its_folder_size_and_source(tmp_path, monkeypatch, name):
    monkeypatch.setenv("GE4REC_DATA", "/data")
    cfg = compose_config([f"dataset={name}"], tmp_path).dataset
    listing = cfg.listing
    assert cfg.name == name and listing.source.startswith("https://")
    if name in BARS_PRESETS:
        folder, rows, fields, dim, min_count = BARS_PRESETS[name]
        assert (listing.rows.train, listing.rows.valid, listing.rows.test) == rows
        assert (int(cfg.embedding_dim), int(cfg.min_count)) == (dim, min_count)
        assert cfg.file is None
    else:
        folder, total, fields = KAGGLE_PRESETS[name]
        assert listing.rows.total == total and list(cfg.split_ratios) == [0.8, 0.1, 0.1]
        assert cfg.file in ("train.txt", "train.csv")
    assert cfg.path == f"/data/{folder}" and listing.fields == fields


def bars_rows(name: str, n: int, seed: int = 0) -> pl.DataFrame:
    """Rows in the layout of a BARS split whose values are integer ids (Avazu_x1, Frappe_x1,
    MovielensLatest_x1): a 0/1 label and each field drawn from a few ids, some rare."""
    columns = {
        "avazu_x1": [f"feat_{i}" for i in range(1, 23)],
        "frappe_x1": ["user", "item", "daytime", "weekday", "isweekend", "homework", "cost", "weather",
                      "country", "city"],
        "movielenslatest_x1": ["user_id", "item_id", "tag_id"],
    }[name]  # fmt: skip
    rng = np.random.default_rng(seed)
    data = {"label": rng.integers(0, 2, n)}
    for k, c in enumerate(columns):
        data[c] = rng.zipf(1.5, n) + 1000 * k  # global ids, as the libsvm-converted files hold
    return pl.DataFrame(data)


@pytest.mark.parametrize("name", ["avazu_x1", "frappe_x1", "movielenslatest_x1"])
def test_integer_id_presets_encode_every_train_value(tmp_path, name):
    df = bars_rows(name, 300)
    parts = split_rows(df)
    folder = write_bars(tmp_path / BARS_PRESETS[name][0], parts, "csv")
    data, cfg = load_preset(tmp_path, name, folder)
    fields = [c for c in df.columns if c != "label"]
    assert data.schema.names == fields and all(f.type == CATEGORICAL for f in data.schema.fields)
    assert data.schema.num_fields == BARS_PRESETS[name][2] and int(cfg.embedding_dim) == 10
    assert [len(data.splits[s]) for s in SPLITS] == [210, 60, 30]
    seen = {f: set(parts["train"][f].cast(pl.String).to_list()) for f in fields}
    for split in SPLITS:
        np.testing.assert_array_equal(data.splits[split].label.numpy(), parts[split]["label"].to_numpy())
        for f in fields:  # min count 1: every train value has its own id, the others the OOV id
            want = [v if v in seen[f] else None for v in parts[split][f].cast(pl.String).to_list()]
            assert decode(data, f, split) == want, (split, f)


# ----------------------------------------------------------------------------- criteo_x4


def log_square(value: str | None) -> str:
    """BARS Criteo_x4's bucket of an integer column, computed with Python's math: empty -> 0, then
    floor(ln(v)^2) for v > 2, the integer part otherwise."""
    v = float(value) if value not in (None, "") else 0.0
    return str(math.floor(math.log(v) ** 2)) if v > 2 else str(int(v))


def criteo_raw() -> pl.DataFrame:
    """The Criteo sample as the raw train.txt holds it: integer counts (the sample has '260.0')."""
    df = pl.read_csv(CRITEO_SAMPLE, infer_schema=False)
    return df.with_columns(pl.col(CRITEO_NUMERIC).str.replace(r"\.0$", ""))


def expected_counts(values: list[str | None]) -> dict[str | None, int]:
    counts: dict[str | None, int] = {}
    for v in values:
        counts[v] = counts.get(v, 0) + 1
    return counts


@needs_samples
@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_criteo_x4_buckets_counts_and_drops_rare_values(tmp_path, fmt):
    parts = {s: f.rename({"label": "Label"}) for s, f in split_rows(criteo_raw(), (0.8, 0.1, 0.1)).items()}
    if fmt == "parquet":  # typed as a converted file would be: numbers as floats
        parts = {s: f.with_columns(pl.col(CRITEO_NUMERIC).cast(pl.Float64)) for s, f in parts.items()}
    folder = write_bars(tmp_path / "Criteo_x4", parts, fmt)
    data, cfg = load_preset(tmp_path, "criteo_x4", folder)

    assert int(cfg.embedding_dim) == 16 and data.meta["label"] == "Label"
    assert data.schema.names == CRITEO_NUMERIC + CRITEO_CATEGORICAL
    assert all(f.type == CATEGORICAL for f in data.schema.fields)
    assert [len(data.splits[s]) for s in SPLITS] == [160, 20, 20]

    text = {s: f.with_columns(pl.col(CRITEO_NUMERIC).cast(pl.String)) for s, f in parts.items()}
    for name in CRITEO_NUMERIC + CRITEO_CATEGORICAL:
        bucket = log_square if name in CRITEO_NUMERIC else (lambda v: v)
        counts = expected_counts([bucket(v) for v in text["train"][name].to_list()])
        for split in SPLITS:
            want = [bucket(v) for v in text[split][name].to_list()]
            # min count 10: rarer values, and empty C values, share the OOV id; no missing id
            want = [v if v is not None and counts.get(v, 0) >= 10 else None for v in want]
            assert decode(data, name, split) == want, (split, name)
    # the sample exercises the rule: empty I cells (read as 0), buckets of values above 2 frequent
    # enough to keep, and the OOV id
    assert text["train"]["I1"].null_count() > 0
    kept = {v for name in CRITEO_NUMERIC for v in decode(data, name, "train") if v is not None}
    assert "0" in kept and any(int(v) > 2 for v in kept)
    assert None in decode(data, "C3", "train")


def test_log_square_bucket_values(tmp_path):
    rows = "label,v\n" + "\n".join(
        f"{i % 2},{v}"
        for i, v in enumerate(["0", "1", "2", "3", "10", "100", "-1", "", "260.0", "1.5", "2.5"])
    )
    write_csv_folder(tmp_path / "data", {"train": rows, "valid": rows, "test": rows})
    data = load_csv_folder(tmp_path, "dataset.derive=[{name:v,from:v,op:log_square_bucket}]")
    want = [log_square(v) for v in ["0", "1", "2", "3", "10", "100", "-1", "", "260", "1.5", "2.5"]]
    assert want == ["0", "1", "2", "1", "5", "21", "-1", "0", "30", "1", "0"]
    assert decode(data, "v", "test") == want
    assert data.schema.fields[0].type == CATEGORICAL


def test_log_square_bucket_rejects_text(tmp_path):
    rows = "label,v\n1,3\n0,many\n"
    write_csv_folder(tmp_path / "data", {"train": rows, "valid": rows, "test": rows})
    with pytest.raises(DataError) as err:
        load_csv_folder(tmp_path, "dataset.derive=[{name:v,from:v,op:log_square_bucket}]")
    assert str(err.value) == (
        "train.csv: column 'v' holds 'many', not a number (dataset.derive 'v' reads it)"
    )
    assert not [p for p in (tmp_path / "cache").glob("*") if p.is_dir()]


# ----------------------------------------------------------------------------- kkbox_x1


KKBOX_COLUMNS = [
    "label", "msno", "song_id", "source_system_tab", "source_screen_name", "source_type", "city", "bd",
    "gender", "registered_via", "registration_init_time", "expiration_date", "song_length", "genre_ids",
    "artist_name", "composer", "lyricist", "language", "name", "isrc",
]  # fmt: skip
KKBOX_CATEGORICAL = ["msno", "song_id", "source_system_tab", "source_screen_name", "source_type", "city",
                     "gender", "registered_via", "language", "isrc", "bd"]  # fmt: skip
GENRES = ["465", "465 1259", "958 2022 465 7", None, "921"]
ARTISTS = ["12", "12 3071", "55 56 57 58", None, "9"]
ISRCS = ["TWA530887303", "USUM71703861", None, "GBAHT1600302", "JPB600760301"]
AGES = ["0", "25", "10", "11", "61", "95", "96", "-4", "45", None]


def kkbox_frame(n: int = 400) -> pl.DataFrame:
    """Rows in the KKBox_x1 layout; each row's values cycle through short lists, so every value is
    frequent (>= 10 times in train) except song 'rare' on row 7 only."""
    rows = {c: [] for c in KKBOX_COLUMNS}
    for i in range(n):
        values = {
            "label": str(i % 2), "msno": f"{i % 7 + 1}", "song_id": "rare" if i == 7 else f"{i % 5 + 1}",
            "source_system_tab": ["my library", "discover", "search"][i % 3],
            "source_screen_name": ["Local playlist more", "Online playlist more"][i % 2],
            "source_type": ["local-library", "online-playlist"][i % 2], "city": str(i % 4 + 1),
            "bd": AGES[i % len(AGES)], "gender": ["female", "male", None][i % 3], "registered_via": "7",
            "registration_init_time": "20120102", "expiration_date": "20171005", "song_length": "206471",
            "genre_ids": GENRES[i % len(GENRES)], "artist_name": ARTISTS[i % len(ARTISTS)],
            "composer": "3 4", "lyricist": None, "language": ["3", "52", "-1"][i % 3], "name": "8812",
            "isrc": ISRCS[i % len(ISRCS)],
        }  # fmt: skip
        for c in KKBOX_COLUMNS:
            rows[c].append(values[c])
    return pl.DataFrame(rows, schema={c: pl.String for c in KKBOX_COLUMNS})


def decode_sequence(data, field: str, split: str) -> list[list[str | None]]:
    """A sequence field's values per row (None: the OOV id), padding left out."""
    infos = data.schema.of_type(SEQUENCE)
    start = sum(f.max_len for f in infos[: [f.name for f in infos].index(field)])
    info = next(f for f in infos if f.name == field)
    rows = data.splits[split].seq[:, start : start + info.max_len].tolist()
    vocab = pl.read_parquet(data.cache_dir / "vocabulary.parquet").filter(pl.col("field") == field)
    by_id = dict(zip(vocab["id"].to_list(), vocab["value"].to_list()))
    return [[None if i - info.offset == OOV_ID else by_id[i - info.offset] for i in row if i] for row in rows]


def age_group(age: str | None) -> str | None:
    if age is None or not 1 <= float(age) <= 95:
        return None
    return str(min(7, max(1, math.ceil(float(age) / 10))))


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_kkbox_x1_sequences_isrc_country_and_age_groups(tmp_path, fmt):
    parts = split_rows(kkbox_frame(), (0.8, 0.1, 0.1))
    folder = write_bars(tmp_path / "KKBox_x1", parts, fmt)
    data, cfg = load_preset(tmp_path, "kkbox_x1", folder)

    assert int(cfg.embedding_dim) == 128 and data.schema.num_fields == 13
    assert [f.name for f in data.schema.of_type(CATEGORICAL)] == KKBOX_CATEGORICAL
    assert [(f.name, f.max_len) for f in data.schema.of_type(SEQUENCE)] == [
        ("genre_ids", 3),
        ("artist_name", 3),
    ]
    assert [len(data.splits[s]) for s in SPLITS] == [320, 40, 40]

    for split in SPLITS:
        frame = parts[split]
        # values split at the space, at most 3 kept (the first 3); an empty value has none
        genres = [(v.split(" ")[:3] if v else []) for v in frame["genre_ids"].to_list()]
        artists = [(v.split(" ")[:3] if v else []) for v in frame["artist_name"].to_list()]
        assert decode_sequence(data, "genre_ids", split) == genres
        assert decode_sequence(data, "artist_name", split) == artists
        assert decode(data, "isrc", split) == [v[:2] if v else None for v in frame["isrc"].to_list()]
        assert decode(data, "bd", split) == [age_group(v) for v in frame["bd"].to_list()]
        # empty values and values seen fewer than 10 times in train share the OOV id
        assert decode(data, "gender", split) == frame["gender"].to_list()
        songs = decode(data, "song_id", split)
        assert songs == [None if v == "rare" else v for v in frame["song_id"].to_list()]
    assert decode(data, "song_id", "train")[7] is None
    assert set(decode(data, "bd", "train")) == {None, "1", "2", "3", "5", "7"}
    assert set(decode(data, "isrc", "train")) == {"TW", "US", "GB", "JP", None}


# ----------------------------------------------------------------------------- raw Kaggle files


def write_criteo_txt(folder: Path, frame: pl.DataFrame) -> Path:
    """Criteo's train.txt: tab-separated, no header, empty cells for missing values."""
    folder.mkdir(parents=True, exist_ok=True)
    frame.write_csv(folder / "train.txt", separator="\t", include_header=False)
    return folder


def split_rows_of(data, frame: pl.DataFrame, key: list[str]) -> dict[str, list[int]]:
    """Which rows of `frame` each split holds, found by decoding the key fields: a decoded row
    matches the one row whose values agree wherever the decoded value is known (not the OOV or
    missing id; valid and test rows may hold values train has not seen)."""
    keys = frame.select(pl.col(key).cast(pl.String)).rows()
    out = {}
    for split in SPLITS:
        found = []
        for row in zip(*[decode(data, f, split) for f in key]):
            known = [(j, v) for j, v in enumerate(row) if v not in (None, "<missing>")]
            match = [i for i, k in enumerate(keys) if all(k[j] == v for j, v in known)]
            assert len(match) == 1, (split, row)
            found.append(match[0])
        out[split] = found
    return out


@needs_samples
def test_criteo_kaggle_reads_the_headerless_file_and_splits_8_1_1(tmp_path):
    raw = criteo_raw()
    text = tmp_path / "Criteo_kaggle"
    write_criteo_txt(text, raw)
    first_line = (text / "train.txt").read_text().splitlines()[0]
    assert first_line.count("\t") == 39 and "\t\t" in first_line and not first_line.startswith("label")

    # min count 1 here, so that the C values identify each row
    data, cfg = load_preset(tmp_path, "criteo_kaggle", text, "dataset.min_count=1")
    assert cfg.dataset.header is False and data.meta["label"] == "label"
    assert data.schema.names == CRITEO_NUMERIC + CRITEO_CATEGORICAL
    assert [len(data.splits[s]) for s in SPLITS] == [160, 20, 20]

    rows = split_rows_of(data, raw, CRITEO_CATEGORICAL)
    assert sorted(sum(rows.values(), [])) == list(range(200))  # a partition of the file
    for split, idx in rows.items():
        assert idx == sorted(idx)  # each split keeps the file's order
        original = raw[idx]
        labels = original["label"].cast(pl.Float32).to_numpy()
        np.testing.assert_array_equal(data.splits[split].label.numpy(), labels)
        for name in CRITEO_NUMERIC:  # empty -> 0, then the log-square rule; unseen in train -> OOV
            seen = {log_square(v) for v in raw[rows["train"]][name].to_list()}
            want = [log_square(v) for v in original[name].to_list()]
            assert decode(data, name, split) == [v if v in seen else None for v in want], (split, name)
    assert rows["train"] != list(range(160))  # shuffled, not the first 160 rows

    # the same seed gives the same split (a fresh cache); another seed another one
    again, _ = load_preset(tmp_path / "again", "criteo_kaggle", text, "dataset.min_count=1")
    assert split_rows_of(again, raw, CRITEO_CATEGORICAL) == rows
    other, _ = load_preset(tmp_path, "criteo_kaggle", text, "dataset.min_count=1", "dataset.split_seed=7")
    other_rows = split_rows_of(other, raw, CRITEO_CATEGORICAL)
    assert other.cache_dir != data.cache_dir and other_rows["test"] != rows["test"]
    assert [len(other_rows[s]) for s in SPLITS] == [160, 20, 20]


@needs_samples
def test_avazu_kaggle_drops_id_and_derives_time_fields(tmp_path):
    raw = pl.concat([avazu_parts("csv")[s] for s in SPLITS])
    folder = tmp_path / "Avazu_kaggle"
    folder.mkdir()
    raw.write_csv(folder / "train.csv")
    data, cfg = load_preset(tmp_path, "avazu_kaggle", folder, "dataset.min_count=1")
    assert data.schema.names == AVAZU_FIELDS and "id" not in data.schema.names
    assert [len(data.splits[s]) for s in SPLITS] == [80, 10, 10]
    expected = pl.DataFrame(expected_avazu(raw))
    rows = split_rows_of(data, expected, AVAZU_FIELDS)
    assert sorted(sum(rows.values(), [])) == list(range(100))
    for split, idx in rows.items():  # the rows found agree on every field the split knows
        assert idx == sorted(idx)
        for f in ("hour", "weekday", "weekend"):
            got = decode(data, f, split)
            assert all(g is None or g == w for g, w in zip(got, expected[idx][f].to_list())), (split, f)
    train = {f: decode(data, f, "train") for f in ("hour", "weekday", "weekend")}
    assert all(None not in v for v in train.values())  # min count 1: every train value known
    # the preset itself (the same split): min count 2, as Avazu_x4_001
    data, _ = load_preset(tmp_path, "avazu_kaggle", folder)
    ips = raw[rows["train"]]["device_ip"].to_list()
    want = [ip if ips.count(ip) >= 2 else None for ip in ips]
    assert decode(data, "device_ip", "train") == want and None in want


def test_single_file_split_is_a_seeded_8_1_1_partition(tmp_path):
    path = tmp_path / "all.csv"
    pl.DataFrame({"row": np.arange(1000)}).write_csv(path)
    source = Source("train", path, "csv")

    def split(seed: int) -> dict[str, list[int]]:
        lf = pl.scan_csv(path)
        return {
            s: f.collect()["row"].to_list() for s, f in split_single_file(lf, [8, 1, 1], seed, source).items()
        }

    a, b, c = split(2026), split(2026), split(2027)
    assert [len(a[s]) for s in SPLITS] == [800, 100, 100]
    assert sorted(a["train"] + a["valid"] + a["test"]) == list(range(1000))
    assert all(a[s] == sorted(a[s]) for s in SPLITS)  # file order within a split
    assert a == b and a["test"] != c["test"] and set(a["test"]) != set(c["test"])
    assert a["train"] != list(range(800))  # a random, not a consecutive, split


@needs_samples
def test_criteo_kaggle_trains_one_epoch_through_the_cli(tmp_path):
    folder = write_criteo_txt(tmp_path / "Criteo_kaggle", criteo_raw())
    result, rows = train_one_epoch(tmp_path, "dataset=criteo_kaggle", f"dataset.path={folder}", "model=fm")
    assert result.returncode == 0, result.stderr[-2000:]
    assert rows.height == 1 and rows["dataset"][0] == "criteo_kaggle" and rows["status"][0] == "completed"
    assert rows["embedding_dim"][0] == 16
    metrics = json.loads(next((tmp_path / "outputs").glob("*/*/metrics.json")).read_text())
    assert metrics["epochs"] == 1 and 0.0 <= metrics["test"]["auc"] <= 1.0


# ----------------------------------------------------------------------------- reading options


HEADERLESS = "1\tu1\t3\n0\tu2\t\n1\tu1\t5\n0\tu3\t7\n"


@pytest.mark.parametrize("suffix", [".txt", ".tsv"])
def test_headerless_text_files_with_a_tab(tmp_path, suffix):
    for split in SPLITS:
        (tmp_path / f"{split}{suffix}").write_text(HEADERLESS)
    cfg = compose_config(
        [
            "dataset=csv",
            f"dataset.path={tmp_path}",
            "dataset.csv_delimiter=tab",
            "dataset.header=false",
            "dataset.columns=[click,user,n]",
        ],
        tmp_path,
    )
    data = load_dataset(cfg.dataset, cfg.cache_dir)
    assert data.schema.names == ["user", "n"] and data.meta["label"] == "click"
    assert decode(data, "user", "valid") == ["u1", "u2", "u1", "u3"]
    assert decode(data, "n", "valid") == ["3", "<missing>", "5", "7"]  # all-integer text: categorical
    assert data.meta["sources"]["train"].endswith(f"train{suffix}")


def test_header_and_columns_at_their_defaults_keep_the_cache_key(tmp_path):
    times_folder(tmp_path)
    first = load_csv_folder(tmp_path)
    assert (
        load_csv_folder(tmp_path, "dataset.header=true", "dataset.columns=null").cache_dir == first.cache_dir
    )
    assert load_csv_folder(tmp_path, "+dataset.listing.fields=2").reused_cache  # listing is not in the key
    renamed = load_csv_folder(tmp_path, "dataset.columns=[click,stamp,who]")  # with a header: new names
    assert renamed.cache_dir != first.cache_dir and renamed.schema.names == ["stamp", "who"]


@pytest.mark.parametrize(
    "overrides, error, message",
    [
        (["dataset.header=false"], ConfigError, "dataset.columns: a file without a header row"),
        (
            ["dataset.columns=[click,ts]"],
            DataError,
            "train.csv: 3 columns in its header, but dataset.columns names 2",
        ),
        (["dataset.columns=[click,ts,ts]"], ConfigError, "dataset.columns: 'ts' is named twice"),
        (["dataset.csv_delimiter=ab"], ConfigError, "dataset.csv_delimiter: expected one character"),
    ],
)
def test_bad_reading_options_are_one_line_errors(tmp_path, overrides, error, message):
    times_folder(tmp_path)
    with pytest.raises(error) as err:
        load_csv_folder(tmp_path, *overrides)
    assert message in str(err.value) and "\n" not in str(err.value)
    assert not [p for p in (tmp_path / "cache").glob("*") if p.is_dir()]


@needs_samples
def test_criteo_kaggle_with_a_wrong_file_is_a_clean_failure(tmp_path):
    folder = tmp_path / "Criteo_kaggle"
    folder.mkdir()
    (folder / "train.txt").write_text("1\t2\t3\n0\t4\t5\n")  # 3 columns, not 40
    for path, mentions in [
        (folder, ["train.txt: 3 columns in its first row", "dataset.columns names 40"]),
        (tmp_path / "none", ["dataset 'criteo_kaggle'", "train.txt not found", "dataset.path=DIR"]),
    ]:
        result = run_cli(["train", "dataset=criteo_kaggle", f"dataset.path={path}"], tmp_path)
        output = result.stdout + result.stderr
        lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
        assert result.returncode == 2 and "Traceback" not in output, output
        assert len(lines) == 1 and lines[0].startswith("ge4rec: "), result.stderr
        assert all(m in lines[0] for m in mentions), lines[0]
        assert not list(tmp_path.rglob("*.parquet"))  # no results row
        assert not [p for p in (tmp_path / "cache").glob(".*") if p.is_dir()]  # no partial entry


def test_list_shows_rows_fields_and_source(tmp_path):
    result = run_cli(["list"], tmp_path)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for name in [*BARS_PRESETS, *KAGGLE_PRESETS]:
        assert name in out
    assert "36,672,493 / 4,584,062 / 4,584,062" in out  # criteo_x4
    assert "45,840,617 in one file" in out  # criteo_kaggle
    assert "https://github.com/reczoo/Datasets/tree/main/KKBox/KKBox_x1" in out
    line = next(ln for ln in out.splitlines() if "frappe_x1" in ln)
    assert "202,027 / 57,722 / 28,860" in line and " 10 " in line
