"""docs/errors.md, "Data files": every row's input, and what ge4rec does with it.

Rows whose answer is an error go through the CLI where the whole contract matters (exit code 2,
one line, nothing written), and through `load_dataset` otherwise: the CLI turns every DataError
into that one line the same way.
"""

from __future__ import annotations

import gzip
import logging
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from omegaconf import OmegaConf

from ge4rec.data import cache as cache_module
from ge4rec.data import load_dataset, synthetic
from ge4rec.errors import DataError

from conftest import (
    TINY,
    assert_clean_failure,
    assert_nothing_written,
    compose_config,
    run_cli,
    write_csv_folder,
)

HEADER = "click,user,price,tags"
ROWS = [
    "1,u1,1.5,a^b",
    "0,u2,2.5,b",
    "1,u1,3.5,a^c",
    "0,u3,0.5,c",
    "1,u2,4.5,a",
    "0,u1,2.25,b^c",
    "1,u3,1.75,a",
    "0,u2,3.0,c",
]
COLUMNS = HEADER.split(",")
TRAIN_ARGS = [
    "model=fm",
    "paradigm=disc",
    "trainer.max_epochs=1",
    "trainer.progress=false",
    "embedding_dim=4",
]


def csv_text(rows: list[str] = ROWS, header: str = HEADER) -> str:
    return header + "\n" + "\n".join(rows) + "\n"


def replaced(row: int, column: str, value: str, rows: list[str] = ROWS) -> list[str]:
    """ROWS with one cell changed (row is 0-based here; messages count rows from 1)."""
    cells = [r.split(",") for r in rows]
    cells[row][COLUMNS.index(column)] = value
    return [",".join(c) for c in cells]


def data_folder(tmp_path: Path, **texts: str) -> Path:
    """train/valid/test CSV files: the good ROWS unless a split's text is given."""
    return write_csv_folder(
        tmp_path / "data", {s: texts.get(s, csv_text()) for s in ("train", "valid", "test")}
    )


def work(tmp_path: Path) -> Path:
    """Where runs start and the cache lives; the data files are beside it, in tmp_path/data."""
    folder = tmp_path / "work"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def train(tmp_path: Path, *overrides: str) -> subprocess.CompletedProcess:
    args = ["train", "dataset=csv", f"dataset.path={tmp_path / 'data'}", *TRAIN_ARGS, *overrides]
    return run_cli(args, work(tmp_path))


def load(tmp_path: Path, *overrides: str, folder: Path | None = None):
    cfg = compose_config(
        ["dataset=csv", f"dataset.path={folder or tmp_path / 'data'}", *overrides], work(tmp_path)
    )
    return load_dataset(cfg.dataset, cfg.cache_dir)


def assert_data_error(tmp_path: Path, *mentions: str) -> str:
    """load_dataset stops with a one-line, printable DataError naming `mentions`; nothing cached."""
    with pytest.raises(DataError) as err:
        load(tmp_path)
    message = str(err.value)
    assert "\n" not in message and message.isprintable(), message
    for text in mentions:
        assert text in message, f"{text!r} not in {message!r}"
    assert_nothing_written(work(tmp_path))
    assert cache_entries(tmp_path) == []
    return message


def assert_succeeds_and_logs(result: subprocess.CompletedProcess, tmp_path: Path, decision: str) -> None:
    """The run completed, and the decision is in its output and in its log file."""
    assert result.returncode == 0, result.stderr[-2000:]
    assert decision in result.stdout, result.stdout[-2000:]
    logs = list((work(tmp_path) / "outputs").rglob("*.log"))
    assert logs and any(decision in p.read_text() for p in logs)


def assert_no_partial_entries(tmp_path: Path) -> None:
    root = work(tmp_path) / "cache"
    assert not [p for p in root.iterdir() if p.name.startswith(".") or p.suffix == ".lock"]


def cache_entries(tmp_path: Path) -> list[Path]:
    root = work(tmp_path) / "cache"
    return sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []


def arrays(data) -> dict[str, np.ndarray]:
    """Copies of a loaded data set's arrays (the splits map the cache files, which a test may damage)."""
    if isinstance(data, dict):
        return data
    return {
        f"{s}_{p}": getattr(t, p).numpy().copy()
        for s, t in data.splits.items()
        for p in ("cat", "num", "seq", "label")
    }


def assert_same_arrays(a, b) -> None:
    left, right = arrays(a), arrays(b)
    assert left.keys() == right.keys()
    for key in left:
        np.testing.assert_array_equal(left[key], right[key], err_msg=key)


# ----------------------------------------------------------------------------- numeric values


@pytest.mark.errors_row("numeric-text-in-train")
def test_text_in_a_declared_numeric_column_of_train(tmp_path):
    data_folder(tmp_path, train=csv_text(replaced(1, "price", "abc")))
    result = train(tmp_path, "+dataset.field_options.price.type=numeric")
    assert_clean_failure(
        result, work(tmp_path), "train.csv", "'price'", "1 non-numeric value", "'abc'", "row 2"
    )


@pytest.mark.errors_row("numeric-text-inferred-categorical")
def test_numbers_mixed_with_text_in_train_are_read_as_categorical_and_logged(tmp_path):
    data_folder(tmp_path, train=csv_text(replaced(1, "price", "abc")))
    result = train(tmp_path)
    assert_succeeds_and_logs(result, tmp_path, "train.csv: column 'price' holds 7 numbers and 1 other value")


@pytest.mark.errors_row("numeric-text-in-valid")
def test_text_in_a_numeric_column_of_valid(tmp_path):
    data_folder(tmp_path, valid=csv_text(replaced(2, "price", "abc")))
    result = train(tmp_path)
    assert_clean_failure(
        result, work(tmp_path), "valid.csv", "'price'", "1 non-numeric value", "'abc'", "row 3"
    )


errors_row = pytest.mark.errors_row


def bad_cell(mark, cell: tuple[str, int, str, str], mentions: list[str]):
    """One catalogue row: the cell (split, 0-based row, column, new value) replaced in the good
    files, and what the DataError must name."""
    return pytest.param(*cell, mentions, marks=mark, id=mark.args[0])


BAD_CELLS = [
    bad_cell(
        errors_row("numeric-nan-in-train"),
        ("train", 1, "price", "nan"),
        ["train.csv", "'price'", "1 NaN or infinite value", "'nan'", "row 2"],
    ),
    bad_cell(
        errors_row("numeric-inf-in-train"),
        ("train", 0, "price", "-inf"),
        ["train.csv", "'price'", "'-inf'", "row 1", "expected finite numbers"],
    ),
    bad_cell(
        errors_row("numeric-inf-in-test"),
        ("test", 7, "price", "inf"),
        ["test.csv", "'price'", "'inf'", "row 8"],
    ),
    bad_cell(
        errors_row("numeric-empty-in-valid"),
        ("valid", 3, "price", ""),
        ["valid.csv", "'price'", "empty in 1 row", "dataset.numeric_missing"],
    ),
    bad_cell(
        errors_row("label-minus-one"),
        ("valid", 5, "click", "-1"),
        ["valid.csv", "'click'", "found -1", "1 row", "row 6"],
    ),
    bad_cell(
        errors_row("label-half"),
        ("test", 2, "click", "0.5"),
        ["test.csv", "'click'", "found 0.5", "row 3"],
    ),
    bad_cell(
        errors_row("label-empty"),
        ("train", 4, "click", ""),
        ["train.csv", "label column 'click' is empty in 1 row", "row 5", "expected 0 or 1"],
    ),
]


@pytest.mark.parametrize(("split", "row", "column", "value", "mentions"), BAD_CELLS)
def test_one_bad_cell_is_a_data_error(tmp_path, split, row, column, value, mentions):
    data_folder(tmp_path, **{split: csv_text(replaced(row, column, value))})
    assert_data_error(tmp_path, *mentions)


@pytest.mark.errors_row("numeric-nan-in-valid")
def test_nan_in_a_numeric_column_of_valid(tmp_path):
    data_folder(tmp_path, valid=csv_text(replaced(4, "price", "NaN")))
    result = train(tmp_path)
    assert_clean_failure(result, work(tmp_path), "valid.csv", "'price'", "NaN or infinite", "row 5")


@pytest.mark.errors_row("numeric-empty-in-train")
def test_empty_numeric_cell_in_train(tmp_path):
    data_folder(tmp_path, train=csv_text(replaced(3, "price", "")))
    result = train(tmp_path)
    assert_clean_failure(
        result, tmp_path, "train.csv", "'price'", "empty in 1 row", "row 4", "dataset.numeric_missing"
    )


@pytest.mark.errors_row("numeric-empty-filled-on-request")
def test_empty_numeric_cells_filled_when_asked(tmp_path):
    data_folder(tmp_path, valid=csv_text(replaced(3, "price", "")))
    result = train(tmp_path, "dataset.numeric_missing=mean")
    train_mean = np.mean([float(r.split(",")[2]) for r in ROWS])
    assert_succeeds_and_logs(
        result,
        tmp_path,
        f"valid.csv: filled empty numeric values with the train mean {train_mean:g}: price 1",
    )
    data = load(tmp_path / "zero", "+dataset.field_options.price.missing=zero", folder=tmp_path / "data")
    assert data.meta["decisions"] == ["valid.csv: filled empty numeric values with 0: price 1"]
    mean, std = train_mean, np.std([float(r.split(",")[2]) for r in ROWS], ddof=1)
    assert data.splits["valid"].num[3, 0].item() == pytest.approx((0.0 - mean) / std, rel=1e-6)


# ----------------------------------------------------------------------------- labels


@pytest.mark.errors_row("label-two")
def test_label_two(tmp_path):
    data_folder(tmp_path, train=csv_text(replaced(0, "click", "2")))
    result = train(tmp_path)
    assert_clean_failure(
        result, work(tmp_path), "train.csv", "label column 'click'", "binary 0/1, found 2", "row 1"
    )


@pytest.mark.errors_row("label-text")
def test_label_text(tmp_path):
    data_folder(tmp_path, valid=csv_text(replaced(0, "click", "yes")))
    result = train(tmp_path)
    assert_clean_failure(result, work(tmp_path), "valid.csv", "'click'", "found yes", "row 1")


@pytest.mark.errors_row("split-one-class")
def test_a_split_with_one_class(tmp_path):
    all_zero = [r.replace("1,", "0,", 1) if r.startswith("1,") else r for r in ROWS]
    data_folder(tmp_path, valid=csv_text(all_zero))
    result = train(tmp_path)
    assert_clean_failure(result, work(tmp_path), "valid.csv", "'click' is 0 in all 8 rows", "both 0 and 1")


# ----------------------------------------------------------------------------- file structure


@pytest.mark.errors_row("duplicate-column")
def test_duplicate_column_is_blamed_on_its_file(tmp_path):
    data_folder(tmp_path, train=csv_text(header="click,user,price,user"))
    result = train(tmp_path)
    message = assert_clean_failure(result, work(tmp_path), "train.csv", "'user' appears more than once")
    assert "valid.csv" not in message


@pytest.mark.errors_row("split-file-missing")
def test_a_split_file_missing(tmp_path):
    (data_folder(tmp_path) / "valid.csv").unlink()
    assert_data_error(
        tmp_path, "no valid file 'valid.csv' or 'valid.parquet'", "it holds: test.csv, train.csv"
    )


@pytest.mark.errors_row("label-column-absent")
def test_no_label_column(tmp_path):
    data_folder(tmp_path, train=csv_text(header="clicked,user,price,tags"))
    assert_data_error(
        tmp_path, "train.csv: no label column 'label' or 'click'", "dataset.label=NAME", "clicked"
    )


@pytest.mark.errors_row("only-label-column")
def test_only_the_label_column(tmp_path):
    data_folder(tmp_path, train="click\n1\n0\n")
    assert_data_error(tmp_path, "train.csv: no feature columns besides the label 'click'")


@pytest.mark.errors_row("ragged-row")
def test_a_row_longer_than_the_header(tmp_path):
    data_folder(tmp_path, train=csv_text([*ROWS, "1,u2,1.0,a,surplus"]))
    assert_data_error(tmp_path, "train.csv: a row has more fields than the header", "dataset.csv_delimiter")


@pytest.mark.errors_row("header-only-file")
def test_header_only_file(tmp_path):
    data_folder(tmp_path, valid=HEADER + "\n")
    assert_data_error(tmp_path, "valid.csv: no rows")


@pytest.mark.errors_row("empty-file")
def test_empty_file(tmp_path):
    data_folder(tmp_path, test="")
    result = train(tmp_path)
    assert_clean_failure(result, work(tmp_path), "test.csv", "file is empty")


@pytest.mark.errors_row("column-missing-from-one-split")
def test_column_missing_from_one_split(tmp_path):
    data_folder(tmp_path, valid=csv_text([r.rsplit(",", 1)[0] for r in ROWS], header="click,user,price"))
    assert_data_error(tmp_path, "valid.csv: column 'tags' is missing", "valid has: click, user, price")


@pytest.mark.errors_row("extra-column-in-one-split")
def test_extra_column_in_one_split_is_ignored_and_logged(tmp_path):
    data_folder(tmp_path, valid=csv_text([r + ",z" for r in ROWS], header=HEADER + ",extra"))
    result = train(tmp_path)
    assert_succeeds_and_logs(result, tmp_path, "valid.csv: ignored column(s) not in train.csv: extra")


# ----------------------------------------------------------------------------- encodings and formats


@pytest.mark.errors_row("utf8-bom")
def test_utf8_byte_order_mark(tmp_path):
    data_folder(tmp_path, train="\ufeff" + csv_text())
    data = load(tmp_path)
    assert data.meta["label"] == "click" and data.schema.names == ["user", "price", "tags"]
    assert_same_arrays(data, load(tmp_path / "plain", folder=data_folder(tmp_path / "plain")))


@pytest.mark.errors_row("crlf-line-endings")
def test_crlf_line_endings(tmp_path):
    data_folder(tmp_path, **{s: csv_text().replace("\n", "\r\n") for s in ("train", "valid", "test")})
    data = load(tmp_path)
    assert data.schema.names == ["user", "price", "tags"]
    assert_same_arrays(data, load(tmp_path / "plain", folder=data_folder(tmp_path / "plain")))


@pytest.mark.errors_row("quoted-separators")
def test_quoted_values_holding_the_delimiter(tmp_path):
    data_folder(tmp_path, train=csv_text(replaced(1, "user", '"u,2"')))
    data = load(tmp_path)
    assert len(data.splits["train"]) == len(ROWS)
    vocabulary = data.preprocessor.by_name["user"].vocabulary.to_list()
    assert "u,2" in vocabulary
    assert data.preprocessor.by_name["price"].mean == pytest.approx(
        np.mean([float(r.split(",")[2]) for r in ROWS])
    )


@pytest.mark.errors_row("gzip-compressed-csv")
def test_gzip_compressed_csv(tmp_path):
    folder = data_folder(tmp_path)
    (folder / "train.csv").write_bytes(gzip.compress(csv_text().encode()))
    assert_same_arrays(load(tmp_path), load(tmp_path / "plain", folder=data_folder(tmp_path / "plain")))


@pytest.mark.errors_row("parquet-split-schema-differs")
def test_parquet_split_with_a_different_schema(tmp_path):
    folder = data_folder(tmp_path)
    (folder / "valid.csv").unlink()
    valid = pl.read_csv(csv_text().encode()).with_columns(pl.col("user").str.slice(1).cast(pl.Float64))
    valid.write_parquet(folder / "valid.parquet")
    result = train(tmp_path)
    assert_clean_failure(result, work(tmp_path), "valid.parquet", "'user'", "Float64", "train.csv")
    # integers where train has text: compared as text, and said so
    valid.with_columns(pl.col("user").cast(pl.Int64)).write_parquet(folder / "valid.parquet")
    (folder / "train.csv").write_text(csv_text([r.replace(",u", ",", 1) for r in ROWS]))
    data = load(tmp_path / "ints", folder=folder)
    assert any("valid.parquet: column(s) user typed differently" in d for d in data.meta["decisions"])
    assert (data.splits["valid"].cat[:, 0] - data.schema.fields[0].offset).min().item() >= 2  # all known


@pytest.mark.errors_row("binary-file")
def test_binary_file(tmp_path):
    folder = data_folder(tmp_path)
    (folder / "train.csv").write_bytes(bytes(range(256)) * 40)
    result = train(tmp_path)
    message = assert_clean_failure(result, work(tmp_path), "train.csv", "binary data", "not a CSV text file")
    assert message.isascii() and message.isprintable()
    output = result.stdout + result.stderr
    assert all(c.isprintable() or c in "\n\r\t" for c in output)


@pytest.mark.errors_row("not-utf8-file")
def test_latin1_file(tmp_path):
    folder = data_folder(tmp_path)
    (folder / "train.csv").write_bytes(csv_text().replace("u1", "\u00e91").encode("latin-1"))
    assert_data_error(tmp_path, "train.csv", "not UTF-8 text", "byte 0xe9", "save the file as UTF-8")


@pytest.mark.errors_row("not-parquet-file")
def test_csv_text_named_parquet(tmp_path):
    folder = data_folder(tmp_path)
    (folder / "test.csv").rename(folder / "test.parquet")
    assert_data_error(tmp_path, "test.parquet", "not a Parquet file")


@pytest.mark.errors_row("unreadable-file")
def test_unreadable_file(tmp_path, monkeypatch):
    folder = data_folder(tmp_path)
    target = folder / "train.csv"
    if os.geteuid() != 0:
        target.chmod(0)
    else:  # root reads anything: make opening this one file fail as it would for a user
        real_open = open

        def refusing_open(path, *args, **kwargs):
            if Path(path) == target:
                raise PermissionError(13, "Permission denied", str(path))
            return real_open(path, *args, **kwargs)

        monkeypatch.setattr(cache_module, "open", refusing_open, raising=False)
    try:
        assert_data_error(tmp_path, "train.csv", "cannot read (Permission denied)")
    finally:
        target.chmod(0o644)


@pytest.mark.errors_row("ten-thousand-columns")
def test_ten_thousand_columns(tmp_path):
    width, rows = 10_000, 12
    rng = np.random.default_rng(0)
    header = "click," + ",".join(f"f{i}" for i in range(width))
    texts = {}
    for split in ("train", "valid", "test"):
        values = rng.integers(0, 4, size=(rows, width)).astype(str)
        lines = [f"{i % 2}," + ",".join(row) for i, row in enumerate(values)]
        texts[split] = header + "\n" + "\n".join(lines) + "\n"
    write_csv_folder(tmp_path / "data", texts)
    data = load(tmp_path)
    assert data.schema.num_fields == width and data.splits["valid"].cat.shape == (rows, width)
    # the train values of the last column, read back through its vocabulary
    train_values = pl.read_csv(tmp_path / "data" / "train.csv", columns=[f"f{width - 1}"], infer_schema=False)
    vocabulary = data.preprocessor.by_name[f"f{width - 1}"].vocabulary.to_list()
    local = data.splits["train"].cat[:, -1] - data.schema.fields[-1].offset
    assert [vocabulary[i - 2] for i in local.tolist()] == train_values.to_series().to_list()


@pytest.mark.errors_row("unicode-names-and-values")
def test_unicode_names_and_values(tmp_path):
    header = "click,usér,prix€,tags"
    train_rows = [r.replace("u1", "ü1").replace("a^", "α^") for r in ROWS]
    data_folder(
        tmp_path,
        train=csv_text(train_rows, header),
        valid=csv_text(train_rows, header),
        test=csv_text(ROWS, header),
    )
    data = load(tmp_path)
    assert data.schema.names == ["usér", "prix€", "tags"]
    assert "ü1" in data.preprocessor.by_name["usér"].vocabulary.to_list()
    assert "α" in data.preprocessor.by_name["tags"].vocabulary.to_list()
    assert data.cache_dir.is_dir()


# ----------------------------------------------------------------------------- the cache


@pytest.mark.errors_row("cache-damaged-file")
@pytest.mark.parametrize("damage", ["zeroed", "truncated", "deleted", "manifest"])
def test_damaged_cache_entry_is_rebuilt(tmp_path, caplog, damage):
    data_folder(tmp_path)
    loaded = load(tmp_path)
    entry, first = loaded.cache_dir, arrays(loaded)
    if damage == "zeroed":  # same size: only the checksum tells
        path = entry / "train_cat.npy"
        path.write_bytes(bytes(path.stat().st_size))
    elif damage == "truncated":
        path = entry / "valid_num.npy"
        path.write_bytes(path.read_bytes()[:-4])
    elif damage == "deleted":
        (entry / "test_label.npy").unlink()
    else:
        (entry / "manifest.json").write_text("{")
    with caplog.at_level(logging.WARNING, logger="ge4rec.data"):
        again = load(tmp_path)
    assert not again.reused_cache and again.cache_dir == entry
    assert any("damaged" in r.getMessage() and entry.name in r.getMessage() for r in caplog.records)
    assert_same_arrays(first, again)
    assert load(tmp_path).reused_cache
    assert_no_partial_entries(tmp_path)


@pytest.mark.errors_row("cache-source-changed-same-size-mtime")
def test_source_edit_keeping_size_and_mtime_rebuilds(tmp_path):
    folder = data_folder(tmp_path)
    first = load(tmp_path)
    path = folder / "train.csv"
    before = path.stat()
    path.write_text(csv_text().replace("u3", "u7"))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = path.stat()
    assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)
    rebuilt = load(tmp_path)
    assert not rebuilt.reused_cache and rebuilt.cache_dir != first.cache_dir
    assert "u7" in rebuilt.preprocessor.by_name["user"].vocabulary.to_list()
    # trusting size and time is an explicit choice: remembered once, the same kind of edit goes unseen
    trusted = load(tmp_path, "dataset.fingerprint=mtime")
    path.write_text(csv_text().replace("u3", "u8"))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert load(tmp_path, "dataset.fingerprint=mtime").cache_dir == trusted.cache_dir


@pytest.mark.errors_row("cache-generator-changed")
def test_changed_generator_version_is_a_new_entry(tmp_path, monkeypatch):
    cfg = compose_config(TINY, tmp_path)
    first = load_dataset(cfg.dataset, cfg.cache_dir)
    assert load_dataset(cfg.dataset, cfg.cache_dir).cache_dir == first.cache_dir
    monkeypatch.setattr(synthetic, "GENERATOR_VERSION", synthetic.GENERATOR_VERSION + 1)
    changed = load_dataset(cfg.dataset, cfg.cache_dir)
    assert not changed.reused_cache and changed.cache_dir != first.cache_dir


@pytest.mark.errors_row("cache-interrupted-build")
def test_leftover_build_folders_are_removed_unless_a_builder_holds_them(tmp_path, caplog):
    data_folder(tmp_path)
    entry = load(tmp_path).cache_dir
    root = entry.parent
    leftover = root / f".{entry.name}.killed1"
    (leftover / "sub").mkdir(parents=True)
    (leftover / "train_cat.npy").write_bytes(b"partial")
    live = root / ".csv-0123456789abcdef0123.live1"
    live.mkdir()
    with cache_module.entry_lock(root / "csv-0123456789abcdef0123"), caplog.at_level(logging.WARNING):
        assert load(tmp_path).reused_cache
        assert not leftover.exists() and live.is_dir()
    assert any("interrupted build" in r.getMessage() for r in caplog.records)
    load(tmp_path)  # the lock is free now: the next run removes it
    assert not live.exists()
    assert_no_partial_entries(tmp_path)


_LOADER = """
import sys
from omegaconf import OmegaConf
from ge4rec.data import load_dataset
data = load_dataset(OmegaConf.load(sys.argv[1]).dataset, sys.argv[2])
print("reused" if data.reused_cache else "built", data.cache_dir, flush=True)
"""


@pytest.mark.errors_row("cache-concurrent-builds")
def test_concurrent_processes_build_once(tmp_path):
    cfg = compose_config(TINY, tmp_path)
    OmegaConf.save(cfg, tmp_path / "dataset.yaml", resolve=True)
    root = tmp_path / "shared-cache"
    entry = load_dataset(cfg.dataset, root).cache_dir  # learn the entry's name, then start afresh
    shutil.rmtree(entry)
    env = dict(os.environ, OMP_NUM_THREADS="1")
    logs = [tmp_path / f"p{i}.err" for i in range(2)]
    with cache_module.entry_lock(entry):  # both processes find the entry missing and must wait
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", _LOADER, str(tmp_path / "dataset.yaml"), str(root)],
                stdout=subprocess.PIPE,
                stderr=log.open("w"),
                text=True,
                env=env,
            )
            for log in logs
        ]
        deadline = time.monotonic() + 240
        while not all("waiting" in log.read_text() for log in logs):
            assert all(p.poll() is None for p in procs), [log.read_text() for log in logs]
            assert time.monotonic() < deadline, "the processes never waited for the lock"
            time.sleep(0.2)
    outputs = [p.communicate(timeout=240)[0].split() for p in procs]
    assert all(p.returncode == 0 for p in procs), [log.read_text() for log in logs]
    assert sorted(o[0] for o in outputs) == ["built", "reused"]
    assert {o[1] for o in outputs} == {str(entry)}
    assert cache_module.entry_problem(entry) is None
    assert [p.name for p in root.iterdir()] == [entry.name]  # no leftovers, no lock files
