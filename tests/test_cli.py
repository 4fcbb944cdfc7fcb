"""The `ge4rec` command as a user meets it: help, list, validation errors, sweeps."""

from pathlib import Path

import polars as pl
import pytest

from ge4rec.cli import config_dir
from ge4rec.models import get_model_class, model_names

from conftest import TINY, assert_clean_failure, run_cli, run_main, write_csv_folder


def table_rows(text: str, title: str) -> dict[str, list[str]]:
    """The rows of the rich table titled `title`: first cell -> the other cells."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == title)
    rows: dict[str, list[str]] = {}
    for line in lines[start + 1 :]:
        if line.startswith("└"):
            break
        cells = [c.strip() for c in line.strip().strip("│").split("│")]
        if line.startswith("│") and cells[0]:  # not a wrapped description's second line
            rows[cells[0]] = cells[1:]
    return rows


def test_list_shows_data_sets_models_and_paradigms(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # one line per row
    result = run_main(["list"], tmp_path, capsys, monkeypatch)
    assert result.returncode == 0, result.stderr
    presets = {p.stem for p in (Path(config_dir()) / "dataset").glob("*.yaml") if not p.stem.startswith("_")}
    datasets = table_rows(result.stdout, "data sets (dataset=NAME)")
    assert set(datasets) == presets and {"synthetic", "movielens100k", "csv"} <= presets
    assert all(
        len(cells) == 4 and cells[-1] for cells in datasets.values()
    )  # rows, fields, source, description
    assert datasets["movielens100k"][:2] == ["70,000 / 19,999 / 10,001", "10"]
    assert datasets["csv"][:3] == ["-", "-", "-"]  # a data set without a listing
    models = table_rows(result.stdout, "models (model=NAME)")
    assert {name: cells[0] for name, cells in models.items()} == {
        name: "disc, sfg" if get_model_class(name).has_interaction else "disc" for name in model_names()
    }
    assert models["fm"][1] == "Factorization Machine (Rendle, ICDM 2010)."
    assert list(table_rows(result.stdout, "paradigms (paradigm=NAME)")) == ["disc", "sfg"]


def test_train_help_lists_the_config_groups(tmp_path):
    result = run_cli(["train", "--help"], tmp_path)
    assert result.returncode == 0
    section = result.stdout.split("== Config groups (GROUP=OPTION) ==\n", 1)[1].split("\n\n", 1)[0]
    groups = dict(line.split(": ", 1) for line in section.splitlines())
    assert groups["model"].split(", ") == sorted(model_names())
    assert groups["paradigm"] == "disc, sfg" and groups["trainer"] == "default"
    assert {"synthetic", "movielens100k", "csv", "criteo_x1", "avazu_x4"} <= set(
        groups["dataset"].split(", ")
    )


@pytest.mark.parametrize(
    "args, message",
    [
        (["model=nosuch"], "unknown model 'nosuch' (choose from: "),
        (["paradigm=gen"], "unknown paradigm 'gen'"),
        (["dataset=criteo9"], "unknown dataset 'criteo9'"),
        (["trainer.lrr=0.1"], "unknown config key 'trainer.lrr'"),
        (["-m", "model=fm,nosuch"], "unknown model 'nosuch'"),
        (["trainer.batch_size=many"], "trainer.batch_size"),
    ],
)
def test_unknown_choices_and_keys_fail_before_anything_runs(tmp_path, capsys, monkeypatch, args, message):
    assert_clean_failure(run_main(["train", *args], tmp_path, capsys, monkeypatch), tmp_path, message)
    assert not (tmp_path / "results").exists() and not (tmp_path / "outputs").exists()


def test_bad_data_fails_with_one_line_and_leaves_nothing(tmp_path):
    folder = write_csv_folder(
        tmp_path / "data",
        {"train": "label,a,b\n1,x,2\n0,y,3\n", "valid": "label,a\n1,x\n", "test": "label,a,b\n0,x,1\n"},
    )
    result = run_cli(["train", "dataset=csv", f"dataset.path={folder}", "model=fm"], tmp_path)
    assert_clean_failure(result, tmp_path, "valid.csv: column 'b' is missing")
    assert not (tmp_path / "results").exists()
    assert not [p for p in (tmp_path / "cache").glob("*") if p.is_dir()]


@pytest.mark.slow
def test_a_six_job_sweep_leaves_six_rows(tmp_path):
    result = run_cli(
        [
            "train",
            "-m",
            "model=fm,deepfm,dcnv2",
            "paradigm=disc,sfg",
            "trainer.max_epochs=1",
            *TINY,
            "results_dir=results",
        ],
        tmp_path,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    rows = pl.read_parquet(str(tmp_path / "results") + "/*.parquet")
    assert rows.height == 6
    assert sorted(zip(rows["model"], rows["paradigm"])) == sorted(
        (m, p) for m in ("fm", "deepfm", "dcnv2") for p in ("disc", "sfg")
    )
    assert (rows["status"] == "completed").all() and (rows["test_auc"] > 0.5).all()
    assert len(list((tmp_path / "multirun").glob("*/*/*/metrics.json"))) == 6
