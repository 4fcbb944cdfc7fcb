"""docs/errors.md, section Sweeps: a job that fails fails alone, and a bad sweep fails before any job."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import polars as pl
import pytest

from ge4rec.sweeps import SUMMARY_FILE

from conftest import TINY, assert_clean_failure, run_cli, write_csv_folder

GOOD = {
    "train": "label,a,b\n1,x,p\n0,y,q\n1,x,q\n0,z,p\n1,y,p\n0,x,q\n1,z,q\n0,y,q\n",
    "valid": "label,a,b\n1,x,p\n0,y,q\n1,z,p\n0,x,q\n",
    "test": "label,a,b\n0,x,p\n1,y,q\n1,z,q\n0,y,p\n",
}
BAD = {**GOOD, "valid": "label,a\n1,x\n0,y\n"}  # valid.csv lacks column b
CSV = ["dataset=csv", "model=fm", "paradigm=disc", "trainer.max_epochs=1", "trainer.progress=false"]
CSV += ["embedding_dim=4", "analysis.enabled=false", "results_dir=results"]


def summary_of(workdir: Path) -> dict:
    (file,) = workdir.glob(f"multirun/*/*/{SUMMARY_FILE}")
    return json.loads(file.read_text())


def stored(workdir: Path) -> pl.DataFrame:
    files = list((workdir / "results").glob("*.parquet"))
    return pl.read_parquet(files) if files else pl.DataFrame()


def failing_csv_sweep(tmp_path: Path, folders: dict[str, dict[str, str]]) -> subprocess.CompletedProcess:
    """`ge4rec train -m dataset.path=A,B,...` over CSV folders written under tmp_path (name: the
    rows' text); checks that the sweep exits 1 without a traceback."""
    paths = ",".join(str(write_csv_folder(tmp_path / name, rows)) for name, rows in folders.items())
    result = run_cli(["train", "-m", f"dataset.path={paths}", *CSV], tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output[-3000:]
    assert "Traceback" not in output
    return result


@pytest.mark.errors_row("sweep-job-fails-at-data-loading")
@pytest.mark.slow
def test_a_job_whose_data_fails_to_load_fails_alone(tmp_path):
    # the basic launcher runs the jobs one after another: the failed first job must not stop the second
    result = failing_csv_sweep(tmp_path, {"bad": BAD, "good": GOOD})
    output = result.stdout + result.stderr
    (line,) = [ln for ln in result.stderr.splitlines() if ln.startswith("ge4rec: job 0 failed: ")]
    assert "valid.csv" in line and "column 'b'" in line
    assert "2 jobs: 1 completed, 1 failed, 0 missing, 0 skipped" in result.stdout
    assert re.search(r"failed \(1\):\n  job 0 \[dataset\.path=\S*bad\]: .*column 'b'", result.stdout), output
    found = stored(tmp_path)
    assert found.height == 1 and found["status"].to_list() == ["completed"]  # nothing recorded for bad data
    summary = summary_of(tmp_path)
    assert [run["status"] for run in summary["runs"]] == ["failed", "completed"]
    assert "column 'b'" in summary["runs"][0]["error"] and summary["status"] == "failed"
    folder = Path(summary["sweep_dir"])  # the failed job left no empty run folder, only its outcome
    assert not list(folder.glob("0_*"))
    assert [p.name for p in folder.glob("1_*")] == ["1_csv_fm_disc_s2026"]
    outcome = json.loads((folder / ".ge4rec" / "job-0.json").read_text())
    assert outcome["status"] == "failed" and outcome["run_dir"] is None and "column 'b'" in outcome["error"]


@pytest.mark.errors_row("sweep-job-fails-in-training")
@pytest.mark.slow
def test_a_job_whose_training_diverges_fails_alone_under_joblib(tmp_path):
    pytest.importorskip("hydra_plugins.hydra_joblib_launcher")
    command = ["train", "-m", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", *TINY, "model=fm"]
    command += ["paradigm=disc", "trainer.lr=1e30,1e-3", "trainer.grad_clip_norm=0", "analysis.enabled=false"]
    result = run_cli([*command, "results_dir=results"], tmp_path, timeout=600)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output[-3000:]
    assert "2 jobs: 1 completed, 1 failed, 0 missing, 0 skipped" in result.stdout
    assert re.search(r"failed \(1\):\n  job 0 \[trainer\.lr=1e\+30\]: loss became nan", result.stdout), output
    found = stored(tmp_path).sort("status")
    assert found["status"].to_list() == ["completed", "failed"]  # the failure is in the store too
    assert found["error"][1].startswith("loss became nan") and found["valid_auc"][1] is None


@pytest.mark.errors_row("sweep-every-job-fails")
def test_a_sweep_whose_every_job_fails_exits_1_and_names_them_all(tmp_path):
    result = failing_csv_sweep(tmp_path, {"one": BAD, "two": BAD})
    assert "2 jobs: 0 completed, 2 failed, 0 missing, 0 skipped" in result.stdout
    assert "job 0 [dataset.path=" in result.stdout and "job 1 [dataset.path=" in result.stdout
    assert stored(tmp_path).height == 0
    summary = summary_of(tmp_path)
    assert summary["status"] == "failed" and summary["best"] is None


@pytest.mark.errors_row("sweep-bad-value-in-one-sweep-value")
def test_a_bad_value_among_the_sweeps_values_fails_before_any_job(tmp_path):
    pytest.importorskip("hydra_plugins.hydra_joblib_launcher")
    command = ["train", "-m", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", *TINY, "model=fm"]
    result = run_cli([*command, "seed=1,2", "trainer.batch_size=512,0"], tmp_path)
    assert_clean_failure(result, tmp_path, "trainer.batch_size", "0")


@pytest.mark.errors_row("sweep-launcher-unknown")
def test_a_launcher_that_is_not_installed_fails_before_any_job(tmp_path):
    result = run_cli(["train", "-m", "hydra/launcher=rocket", *TINY, "seed=1,2"], tmp_path)
    assert_clean_failure(result, tmp_path, "unknown hydra/launcher 'rocket' (choose from: basic")


@pytest.mark.errors_row("sweep-launcher-bad-setting")
@pytest.mark.slow
def test_a_bad_launcher_setting_fails_before_any_job(tmp_path):
    pytest.importorskip("hydra_plugins.hydra_joblib_launcher")
    command = ["train", "-m", "hydra/launcher=joblib", *TINY, "seed=1,2"]
    result = run_cli([*command, "hydra.launcher.n_jobs=0"], tmp_path)
    assert_clean_failure(result, tmp_path, "hydra.launcher.n_jobs: 0 (expected")
    result = run_cli([*command, "hydra.launcher.n_jobs=many"], tmp_path)
    assert_clean_failure(result, tmp_path, "hydra.launcher.n_jobs=many", "Integer")
