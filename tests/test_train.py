"""Training runs end to end on the tiny built-in data: reproducibility, the run record, failures."""

import json
import shutil

import polars as pl
import pytest
import torch

from ge4rec.errors import TrainingFailed
from ge4rec.results import COLUMNS, read_results
from ge4rec.run import train_run

from conftest import TINY, compose_config, train_tiny

REQUIRED = [
    "run_id",
    "dataset",
    "model",
    "paradigm",
    "seed",
    "status",
    "valid_auc",
    "valid_logloss",
    "test_auc",
    "test_logloss",
    "best_epoch",
    "train_seconds",
    "samples_per_second",
    "parameters",
    "run_dir",
    "config",
]


@pytest.mark.parametrize("model,paradigm", [("fm", "sfg"), ("dcnv2", "sfg"), ("deepfm", "disc")])
def test_same_config_and_seed_give_the_same_metrics(tmp_path, model, paradigm):
    a = train_tiny(tmp_path, "a", f"model={model}", f"paradigm={paradigm}")
    b = train_tiny(tmp_path, "b", f"model={model}", f"paradigm={paradigm}")
    assert a["valid"] == b["valid"] and a["test"] == b["test"] and a["history"] == b["history"]
    c = train_tiny(tmp_path, "c", f"model={model}", f"paradigm={paradigm}", "seed=7")
    assert c["test"] != a["test"]


def test_run_record_metrics_json_checkpoint_and_results_row(tmp_path):
    metrics = train_tiny(tmp_path, "run", "model=dcnv2", "paradigm=sfg", "trainer.max_epochs=3")
    saved = json.loads((tmp_path / "run" / "metrics.json").read_text())
    for key in (
        "valid",
        "test",
        "best_epoch",
        "epochs",
        "train_seconds",
        "samples_per_second",
        "parameters",
        "generator_parameters",
    ):
        assert key in saved
    assert set(saved["valid"]) == {"auc", "logloss"} and saved["test"] == metrics["test"]
    # three epochs (patience 2 cannot stop earlier); the best is the first epoch with the highest
    # valid AUC (trainer.monitor=auc), and the reported valid metrics are that epoch's model's
    history = saved["history"]
    assert saved["epochs"] == len(history) == 3 and [h["epoch"] for h in history] == [1, 2, 3]
    best = max(history, key=lambda h: h["valid_auc"])
    assert saved["best_epoch"] == best["epoch"]
    assert saved["valid"]["auc"] == pytest.approx(best["valid_auc"], abs=1e-9)
    assert saved["valid"]["logloss"] == pytest.approx(best["valid_logloss"], abs=1e-9)
    # 3,000 training rows per epoch over the summed epoch times
    assert saved["samples_per_second"] == pytest.approx(3 * 3000 / saved["train_seconds"], rel=1e-9)
    assert saved["generator_parameters"] == 3 * (8 * 8) ** 2
    assert (tmp_path / "run" / "checkpoint.pt").is_file() and (tmp_path / "run" / "config.yaml").is_file()

    rows = pl.read_parquet(str(tmp_path / "results") + "/*.parquet")
    assert rows.height == 1 and set(REQUIRED) <= set(rows.columns)
    row = rows.row(0, named=True)
    assert (row["model"], row["paradigm"], row["dataset"], row["status"]) == (
        "dcnv2",
        "sfg",
        "synthetic",
        "completed",
    )
    assert row["test_auc"] == pytest.approx(metrics["test"]["auc"])
    assert json.loads(row["config"])["model"]["name"] == "dcnv2"
    assert set(COLUMNS) <= set(read_results(tmp_path / "results").columns)


def test_the_best_checkpoint_is_what_gets_tested(tmp_path, monkeypatch):
    """The test split is scored with the best epoch's weights; the valid metrics reported are
    those of the same weights, kept from the epoch that reached them (valid is not scored again:
    one valid pass per epoch and one test pass in all)."""
    from ge4rec.data import load_dataset
    from ge4rec.models import build_model
    from ge4rec.paradigms import build_paradigm
    from ge4rec.train import loop
    from ge4rec.train.loop import evaluate

    passes = []
    monkeypatch.setattr(loop, "evaluate", lambda *a, **k: passes.append(a[4]) or evaluate(*a, **k))
    cfg = compose_config([*TINY, "model=fm", "paradigm=sfg", "trainer.max_epochs=4"], tmp_path)
    metrics = train_run(cfg, tmp_path / "run")
    assert len(passes) == 5 and passes[-1] == "test split"
    data = load_dataset(cfg.dataset, cfg.cache_dir)
    model = build_model(dict(cfg.model), data.schema, int(cfg.embedding_dim), build_paradigm(cfg.paradigm))
    model.load_state_dict(torch.load(tmp_path / "run" / "checkpoint.pt"))
    reloaded = evaluate(model, data.splits["test"], 4096, torch.device("cpu"))
    assert reloaded["auc"] == pytest.approx(metrics["test"]["auc"], abs=1e-6)
    rescored = evaluate(model, data.splits["valid"], int(cfg.trainer.eval_batch_size), torch.device("cpu"))
    assert rescored == pytest.approx(metrics["valid"], abs=1e-6)
    best = max(metrics["history"], key=lambda h: h["valid_auc"])
    assert best["epoch"] == metrics["best_epoch"]


def test_non_finite_loss_records_a_failed_run(tmp_path, monkeypatch):
    from ge4rec.models.fm import FM

    original = FM.forward
    monkeypatch.setattr(FM, "forward", lambda self, batch: original(self, batch) * float("nan"))
    with pytest.raises(TrainingFailed, match="loss became nan"):
        train_tiny(tmp_path, "run", "model=fm", "paradigm=disc")
    rows = read_results(tmp_path / "results")
    assert rows.height == 1
    row = rows.row(0, named=True)
    assert row["status"] == "failed" and "nan" in row["error"] and row["test_auc"] is None
    # completed runs, with and without the analysis, land in the same store and read as one table
    monkeypatch.setattr(FM, "forward", original)
    analysed = train_tiny(tmp_path, "ok", "model=fm", "paradigm=sfg")
    train_tiny(tmp_path, "ok2", "model=fm", "paradigm=disc", "analysis.enabled=false")
    rows = pl.read_parquet(str(tmp_path / "results") + "/*.parquet")
    assert sorted(rows["status"].to_list()) == ["completed", "completed", "failed"]
    sfg = rows.filter(pl.col("paradigm") == "sfg")
    assert (
        sfg["information_abundance_operand"].item()
        == (analysed["analysis"]["scalars"]["information_abundance_operand"])
    )
    assert rows.filter(pl.col("paradigm") == "disc")["information_abundance_operand"].to_list() == [
        None,
        None,
    ]


def test_one_record_decisions_and_the_run_analyze_rebuilds(tmp_path, monkeypatch):
    """metrics.json and the row come from one record; the data pipeline's decisions reach both the
    log and metrics.json; `ge4rec analyze` rebuilds the very model that was tested."""
    import io

    from rich.console import Console

    from ge4rec.analysis.run_analysis import load_run
    from ge4rec.data import load_dataset
    from ge4rec.train.loop import evaluate

    def with_decisions(cfg, cache_dir):
        data = load_dataset(cfg, cache_dir)
        data.meta["decisions"] = ["column 'C3': 12 unseen values in test mapped to the OOV id"]
        return data

    monkeypatch.setattr("ge4rec.run.load_dataset", with_decisions)
    log = io.StringIO()
    cfg = compose_config([*TINY, "model=fm", "paradigm=disc", "analysis.rows=500"], tmp_path)
    metrics = train_run(cfg, tmp_path / "run", console=Console(file=log, width=200))
    saved = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert (
        saved == metrics
        and saved["decisions"] == with_decisions(cfg.dataset, cfg.cache_dir).meta["decisions"]
    )
    assert "decided: column 'C3': 12 unseen values in test mapped to the OOV id" in log.getvalue()
    row = read_results(tmp_path / "results").row(0, named=True)
    for key in ("dataset", "model", "paradigm", "seed", "parameters", "generator_parameters", "device"):
        assert row[key] == saved[key]
    assert (row["test_auc"], row["valid_logloss"]) == (saved["test"]["auc"], saved["valid"]["logloss"])
    assert row["information_abundance_raw"] == saved["analysis"]["scalars"]["information_abundance_raw"]
    assert row["analysis_error"] is None and "analysis_error" not in saved

    _, data, model, device = load_run(tmp_path / "run")
    assert evaluate(model, data.splits["test"], 4096, device) == saved["test"]


def test_discarding_a_run_folder_removes_only_what_hydra_made(tmp_path, monkeypatch):
    from ge4rec.run import discard_run_folder

    monkeypatch.chdir(tmp_path)
    made = tmp_path / "outputs" / "day" / "run"
    (made / ".hydra").mkdir(parents=True)
    (made / "train.log").write_text("")
    kept = tmp_path / "outputs" / "day" / "kept"
    (kept / ".hydra").mkdir(parents=True)
    (kept / "metrics.json").write_text("{}")
    discard_run_folder(made, "train.log")
    discard_run_folder(kept, "train.log")
    assert not made.exists() and (kept / "metrics.json").is_file()
    discard_run_folder(kept.parent.parent, "train.log")  # holds more than Hydra's files
    (tmp_path / ".hydra").mkdir()
    discard_run_folder(tmp_path, "train.log")  # the working directory is never removed
    assert kept.is_dir() and (tmp_path / ".hydra").is_dir()
    shutil.rmtree(kept)
    discard_run_folder(kept.parent, "train.log")  # an empty folder: removed with its empty parents
    assert sorted(p.name for p in tmp_path.iterdir()) == [".hydra"]


def test_block_shuffle_trains_reproducibly_and_is_recorded_in_the_config(tmp_path):
    blocks = ["model=fm", "paradigm=sfg", "trainer.shuffle=blocks", "trainer.shuffle_block_rows=256"]
    a = train_tiny(tmp_path, "a", *blocks, "trainer.shuffle_window=2")
    b = train_tiny(tmp_path, "b", *blocks, "trainer.shuffle_window=2")
    assert a["test"] == b["test"] and a["history"] == b["history"]
    assert 0.5 < a["test"]["auc"] < 1
    full = train_tiny(tmp_path, "full", "model=fm", "paradigm=sfg")
    assert full["test"] != a["test"]  # a different order of batches, so different numbers
    assert "shuffle: blocks" in (tmp_path / "a" / "config.yaml").read_text()


def test_optimizer_kernels_train_the_same_model(tmp_path):
    """foreach gives loop's bits; fused is reproducible and differs from them only by rounding."""
    loop = train_tiny(tmp_path, "loop", "model=deepfm", "trainer.optimizer_kernel=loop")
    foreach = train_tiny(tmp_path, "foreach", "model=deepfm", "trainer.optimizer_kernel=foreach")
    fused = train_tiny(tmp_path, "fused", "model=deepfm")
    again = train_tiny(tmp_path, "again", "model=deepfm", "trainer.optimizer_kernel=fused")
    assert foreach["test"] == loop["test"] and foreach["history"] == loop["history"]
    assert fused["test"] == again["test"]
    for metric in ("auc", "logloss"):
        assert fused["test"][metric] == pytest.approx(loop["test"][metric], abs=2e-3)
    assert "optimizer_kernel: foreach" in (tmp_path / "foreach" / "config.yaml").read_text()
