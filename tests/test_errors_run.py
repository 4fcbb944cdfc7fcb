"""docs/errors.md, "Runs, outputs and the results store": folders that cannot be written, run
folders that are not runs, and runs whose numbers cannot be trusted (non-finite scores, one class).

The command-line rows run `ge4rec.cli.main` in this process (conftest.run_main)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import polars as pl
import pytest
import torch
from omegaconf import OmegaConf

from ge4rec.errors import ConfigError, DataError, TrainingFailed
from ge4rec.results import read_results
from ge4rec.run import train_run

from conftest import TINY, assert_clean_failure, assert_nothing_written, compose_config, run_main

FAST = [*TINY, "model=fm", "trainer.max_epochs=1", "analysis.rows=500"]


def no_nan_in(frame: pl.DataFrame) -> bool:
    floats = [c for c, t in frame.schema.items() if t.is_float()]
    return not any(frame[c].is_nan().any() for c in floats)


@pytest.fixture(scope="module")
def analysed_run(tmp_path_factory, one_thread) -> Path:
    """A finished, analysed tiny run folder."""
    tmp = tmp_path_factory.mktemp("analysed")
    train_run(compose_config(FAST, tmp), tmp / "run")
    return tmp / "run"


# ---------------------------------------------------------------------- folders ge4rec writes to


@pytest.mark.errors_row("results-dir-is-a-file")
def test_results_dir_that_is_a_file_stops_before_anything_runs(tmp_path, capsys, monkeypatch):
    (tmp_path / "taken").write_text("not a folder")
    result = run_main(["train", *FAST, "results_dir=taken"], tmp_path, capsys, monkeypatch)
    assert_clean_failure(result, tmp_path, "results_dir", "'taken' is a file")
    assert not (tmp_path / "outputs").exists() and not (tmp_path / "cache").exists()


@pytest.mark.errors_row("results-dir-under-a-file")
def test_results_dir_under_a_file_stops_before_anything_runs(tmp_path, capsys, monkeypatch):
    (tmp_path / "taken").write_text("not a folder")
    result = run_main(["train", *FAST, "results_dir=taken/results"], tmp_path, capsys, monkeypatch)
    assert_clean_failure(result, tmp_path, "results_dir", "'taken' is a file, not a folder")
    assert not (tmp_path / "outputs").exists()


@pytest.mark.errors_row("cache-dir-is-a-file")
def test_cache_dir_that_is_a_file_stops_before_the_data_is_read(tmp_path, capsys, monkeypatch):
    (tmp_path / "cachefile").write_text("not a folder")
    result = run_main(["train", *FAST, f"cache_dir={tmp_path / 'cachefile'}"], tmp_path, capsys, monkeypatch)
    assert_clean_failure(result, tmp_path, "cache_dir", "is a file (expected a folder)")
    assert not (tmp_path / "outputs").exists()


@pytest.mark.errors_row("cache-dir-unwritable")
def test_cache_dir_that_cannot_be_created_stops_before_the_data_is_read(tmp_path, capsys, monkeypatch):
    (tmp_path / "cachefile").write_text("not a folder")
    where = tmp_path / "cachefile" / "ge4rec"
    result = run_main(["train", *FAST, f"cache_dir={where}"], tmp_path, capsys, monkeypatch)
    assert_clean_failure(result, tmp_path, "cache_dir", "cannot be created", "is a file, not a folder")
    assert not (tmp_path / "outputs").exists()


@pytest.mark.errors_row("run-folder-is-a-file")
def test_run_folder_that_is_a_file_stops_before_anything_runs(tmp_path):
    (tmp_path / "run").write_text("not a folder")
    with pytest.raises(ConfigError, match=r"run folder \(hydra.run.dir\): '.*run' is a file"):
        train_run(compose_config(FAST, tmp_path), tmp_path / "run")
    assert (tmp_path / "run").read_text() == "not a folder"
    assert_nothing_written(tmp_path)


@pytest.mark.errors_row("stopped-run-leaves-no-folder")
def test_a_run_stopped_by_bad_input_inside_the_job_leaves_no_run_folder(tmp_path, capsys, monkeypatch):
    # valid overrides, a data set that fails once the job has started: Hydra has made the folder
    (tmp_path / "data").mkdir()
    args = ["train", *FAST, "dataset=csv", f"dataset.path={tmp_path / 'data'}"]
    result = run_main(args, tmp_path, capsys, monkeypatch)
    assert_clean_failure(result, tmp_path)
    assert not (tmp_path / "outputs").exists()


# ----------------------------------------------------------------------------- analyze and plot


@pytest.mark.errors_row("analyze-not-a-run-folder")
def test_analyze_on_a_folder_that_is_not_a_run(tmp_path, capsys, monkeypatch):
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "todo.txt").write_text("nothing to see")
    result = run_main(["analyze", "notes"], tmp_path, capsys, monkeypatch)
    assert_clean_failure(result, tmp_path, "'notes' is not a run folder (no config.yaml)")
    (tmp_path / "notes" / "config.yaml").write_text("- a list, not settings\n")
    (tmp_path / "notes" / "checkpoint.pt").write_bytes(b"")
    result = run_main(["analyze", "notes"], tmp_path, capsys, monkeypatch)
    assert_clean_failure(result, tmp_path, "config.yaml' is not a ge4rec run config")


@pytest.mark.errors_row("analyze-truncated-checkpoint")
def test_analyze_on_a_run_with_a_truncated_checkpoint(tmp_path, capsys, monkeypatch):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    cfg = compose_config(FAST, tmp_path)
    (run_dir / "config.yaml").write_text(OmegaConf.to_yaml(cfg, resolve=True))
    torch.save({"weight": torch.randn(64, 8)}, run_dir / "checkpoint.pt")
    whole = (run_dir / "checkpoint.pt").read_bytes()
    (run_dir / "checkpoint.pt").write_bytes(whole[: len(whole) // 2])
    result = run_main(["analyze", "run"], tmp_path, capsys, monkeypatch)
    assert_clean_failure(result, tmp_path, "cannot load", "checkpoint.pt", "truncated")
    assert not (tmp_path / "cache").exists()  # it failed before the data set was read
    assert sorted(p.name for p in run_dir.iterdir()) == ["checkpoint.pt", "config.yaml"]


@pytest.mark.errors_row("plot-out-missing-folder")
def test_plot_into_a_missing_folder_creates_it(analysed_run, tmp_path, capsys, monkeypatch):
    out = tmp_path / "figures" / "paper" / "spectrum.png"
    result = run_main(
        ["plot", "spectrum", str(analysed_run), "--out", str(out)], tmp_path, capsys, monkeypatch
    )
    assert result.returncode == 0, result.stderr
    assert out.read_bytes().startswith(b"\x89PNG") and result.stdout.strip() == str(out)
    assert [p.name for p in out.parent.iterdir()] == ["spectrum.png"]  # no temporary file left


@pytest.mark.errors_row("plot-out-under-a-file")
def test_plot_into_a_path_under_a_file(analysed_run, tmp_path, capsys, monkeypatch):
    (tmp_path / "figures").write_text("not a folder")
    args = ["plot", "spectrum", str(analysed_run), "--out", "figures/spectrum.png"]
    result = run_main(args, tmp_path, capsys, monkeypatch)
    assert_clean_failure(result, tmp_path, "--out", "'figures' is a file")


# --------------------------------------------------------------- numbers ge4rec cannot stand behind


@pytest.mark.errors_row("analysis-fails-after-training")
def test_an_analysis_that_fails_after_training_keeps_the_run(tmp_path, monkeypatch, one_thread):
    def broken(*args, **kwargs):
        raise RuntimeError("singular matrix in the spectrum\nsecond line")

    monkeypatch.setattr("ge4rec.run.run_analysis", broken)
    metrics = train_run(compose_config(FAST, tmp_path), tmp_path / "run")
    saved = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert saved == metrics
    assert saved["status"] == "completed" and 0.5 < saved["test"]["auc"] < 1
    assert saved["analysis_error"] == "RuntimeError: singular matrix in the spectrum"
    assert "analysis" not in saved and not (tmp_path / "run" / "analysis").exists()
    row = read_results(tmp_path / "results").row(0, named=True)
    assert row["status"] == "completed" and row["test_auc"] == pytest.approx(saved["test"]["auc"])
    assert row["analysis_error"] == saved["analysis_error"] and row["information_abundance_raw"] is None


@pytest.mark.errors_row("nan-scores-at-evaluation")
def test_non_finite_scores_at_evaluation_fail_the_run(tmp_path, monkeypatch, one_thread):
    from ge4rec.models.fm import FM

    original = FM.forward

    def nan_when_evaluating(self, batch):  # trains normally, scores NaN in eval mode
        logits = original(self, batch)
        return logits if self.training else logits * float("nan")

    monkeypatch.setattr(FM, "forward", nan_when_evaluating)
    with pytest.raises(TrainingFailed, match="scores on the valid split after epoch 1 are not finite"):
        train_run(compose_config(FAST, tmp_path), tmp_path / "run")
    rows = read_results(tmp_path / "results")
    assert rows["status"].to_list() == ["failed"] and "not finite" in rows["error"].item()
    assert rows["test_auc"].item() is None and no_nan_in(rows)
    saved = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert saved["status"] == "failed" and "test" not in saved


@pytest.mark.errors_row("one-class-eval-split")
def test_a_test_split_with_one_class_stops_before_training(tmp_path, monkeypatch, one_thread):
    from ge4rec.data import load_dataset

    def one_class_test(cfg, cache_dir):
        data = load_dataset(cfg, cache_dir)
        test = data.splits["test"]
        data.splits["test"] = dataclasses.replace(test, label=torch.zeros_like(test.label))
        return data

    monkeypatch.setattr("ge4rec.run.load_dataset", one_class_test)
    with pytest.raises(DataError, match="1,000 test rows has label 0 .AUC needs both classes"):
        train_run(compose_config(FAST, tmp_path), tmp_path / "run")
    assert not (tmp_path / "run").exists() and not (tmp_path / "results").exists()


@pytest.mark.errors_row("one-class-split-at-evaluation")
def test_the_trainer_never_reports_auc_of_a_one_class_split(tmp_path, one_thread):
    from ge4rec.run import build_run

    run = build_run(compose_config(FAST, tmp_path))
    splits = dict(run.data.splits)
    splits["test"] = dataclasses.replace(splits["test"], label=torch.ones_like(splits["test"].label))
    with pytest.raises(
        TrainingFailed, match=r"the test split has one class only \(1,000 rows, all label 1\)"
    ):
        run.trainer.fit(run.model, splits)
