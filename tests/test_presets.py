"""The BARS presets criteo_x1 and avazu_x4, on folders built from the real samples in
../shared/data/samples, and the `dataset.derive` option they rely on."""

from __future__ import annotations

import json
import math
from datetime import date
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from ge4rec.data import CATEGORICAL, NUMERIC, load_dataset
from ge4rec.data.spec import FIRST_VALUE_ID, MISSING_ID, OOV_ID
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


@needs_samples
def test_criteo_x1_trains_one_epoch_through_the_cli(tmp_path):
    folder = write_bars(tmp_path / "Criteo_x1", criteo_parts("csv"), "csv")
    result = run_cli(
        [
            "train",
            "dataset=criteo_x1",
            f"dataset.path={folder}",
            "threads=1",
            "trainer.max_epochs=1",
            "trainer.batch_size=64",
            "trainer.progress=false",
            "results_dir=results",
        ],
        tmp_path,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    rows = pl.read_parquet(str(tmp_path / "results") + "/*.parquet")
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
