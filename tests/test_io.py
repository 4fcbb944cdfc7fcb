"""ge4rec.io: files appear whole or not at all, and unwritable folders are named before any work."""

from __future__ import annotations

import json

import polars as pl
import pytest
import torch

from ge4rec.errors import ConfigError
from ge4rec.io import (
    atomic_path,
    check_writable_folder,
    save_torch,
    write_bytes,
    write_json,
    write_parquet,
    write_text,
)


def test_each_writer_creates_the_folder_and_leaves_no_temporary_file(tmp_path):
    folder = tmp_path / "a" / "b"
    write_text(folder / "note.txt", "héllo\n")
    write_bytes(folder / "blob.bin", b"\x00\x01")
    write_json(folder / "m.json", {"auc": 0.75, "decisions": ["x"]})
    write_parquet(folder / "row.parquet", pl.DataFrame({"x": [1, 2]}))
    save_torch(folder / "state.pt", {"w": torch.arange(3)})
    assert (folder / "note.txt").read_text() == "héllo\n"
    assert (folder / "blob.bin").read_bytes() == b"\x00\x01"
    assert json.loads((folder / "m.json").read_text()) == {"auc": 0.75, "decisions": ["x"]}
    assert pl.read_parquet(folder / "row.parquet")["x"].to_list() == [1, 2]
    assert torch.equal(torch.load(folder / "state.pt")["w"], torch.arange(3))
    assert sorted(p.name for p in folder.iterdir()) == [
        "blob.bin",
        "m.json",
        "note.txt",
        "row.parquet",
        "state.pt",
    ]


def test_a_writer_that_fails_leaves_the_old_file_and_no_temporary_one(tmp_path):
    target = tmp_path / "metrics.json"
    write_json(target, {"status": "completed"})
    with pytest.raises(TypeError):
        write_json(target, {"bad": object()})  # not JSON: fails before anything is renamed
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half of a fi")
        raise RuntimeError("interrupted")
    assert json.loads(target.read_text()) == {"status": "completed"}
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]


def test_temporary_names_never_match_the_final_extension(tmp_path):
    with atomic_path(tmp_path / "run.parquet") as tmp:
        assert tmp.parent == tmp_path and tmp.name.startswith(".") and tmp.suffix == ".tmp"
        assert list(tmp_path.glob("*.parquet")) == []
        pl.DataFrame({"x": [1]}).write_parquet(tmp)
    assert [p.name for p in tmp_path.glob("*.parquet")] == ["run.parquet"]


def test_check_writable_folder_names_the_option_and_creates_nothing(tmp_path):
    (tmp_path / "file").write_text("x")
    assert check_writable_folder(tmp_path / "new" / "deeper", "results_dir") == tmp_path / "new" / "deeper"
    assert not (tmp_path / "new").exists()
    with pytest.raises(ConfigError, match="results_dir: '.*file' is a file .expected a folder."):
        check_writable_folder(tmp_path / "file", "results_dir")
    with pytest.raises(ConfigError, match="cache_dir: '.*file/x/y' cannot be created: '.*file' is a file"):
        check_writable_folder(tmp_path / "file" / "x" / "y", "cache_dir")
