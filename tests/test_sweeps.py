"""Sweeps on Hydra's launchers: parallel jobs share the cores and the GPUs, every job's outcome is
read back from files, skip_done resumes a sweep, and a job returns its monitored metric."""

from __future__ import annotations

import json
import math
from pathlib import Path

import polars as pl
import pytest
import yaml
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf

from ge4rec import sweeps
from ge4rec.cli import config_dir
from ge4rec.sweeps import (
    JOBS_DIR,
    SUMMARY_FILE,
    available_cores,
    concurrent_jobs,
    job_device,
    job_threads,
    launcher_name,
    run_sweep_job,
)

from conftest import TINY, compose_config, run_cli

BASIC = {"_target_": "hydra._internal.core_plugins.basic_launcher.BasicLauncher"}


def launcher(name: str, *settings: str):
    """hydra.launcher as `ge4rec train -m hydra/launcher=NAME SETTINGS` composes it."""
    pytest.importorskip(
        "hydra_plugins.hydra_joblib_launcher" if name == "joblib" else "hydra_plugins.hydra_submitit_launcher"
    )
    GlobalHydra.instance().clear()
    with initialize_config_dir(version_base="1.3", config_dir=config_dir(), job_name="test"):
        cfg = compose("train", [f"hydra/launcher={name}", *settings], return_hydra_config=True)
    GlobalHydra.instance().clear()
    return cfg.hydra.launcher


def sweep_folder(workdir: Path) -> Path:
    (summary,) = workdir.glob(f"multirun/*/*/{SUMMARY_FILE}")
    return summary.parent


def outcomes(folder: Path) -> list[dict]:
    files = sorted((folder / JOBS_DIR).glob("job-*.json"))
    return [json.loads(file.read_text()) for file in files]


def rows(workdir: Path) -> pl.DataFrame:
    return pl.read_parquet(str(workdir / "results") + "/*.parquet")


# ----------------------------------------------------------------------- threads and devices


def test_joblib_jobs_share_the_cores():
    two = launcher("joblib", "hydra.launcher.n_jobs=2")
    assert launcher_name(two) == "joblib"
    assert job_threads(two, cores=2, batch=2)[0] == 1
    assert job_threads(two, cores=16, batch=None)[0] == 8
    assert job_threads(two, cores=16, batch=1) == (None, "joblib launcher: one job at a time")
    every_core = launcher("joblib")  # n_jobs=-1: one job per core
    assert concurrent_jobs(every_core, cores=16, batch=None) == 16
    assert job_threads(every_core, cores=16, batch=None)[0] == 1
    assert job_threads(every_core, cores=16, batch=4) == (4, "joblib launcher: 4 jobs at once on 16 cores")
    assert concurrent_jobs(launcher("joblib", "hydra.launcher.n_jobs=-2"), cores=16, batch=None) == 15
    assert job_threads(launcher("joblib", "hydra.launcher.n_jobs=8"), cores=4, batch=None)[0] == 1


def test_submitit_jobs_take_their_cpus_per_task_or_share_the_machine():
    local = launcher("submitit_local")
    assert launcher_name(local) == "submitit_local"
    assert job_threads(local, cores=16, batch=4)[0] == 4  # every job of the sweep runs at once
    assert job_threads(launcher("submitit_local", "hydra.launcher.tasks_per_node=2"), 16, 4)[0] == 2
    assert job_threads(launcher("submitit_local", "hydra.launcher.cpus_per_task=3"), 16, 4)[0] == 3
    slurm = launcher("submitit_slurm")
    assert job_threads(slurm, cores=16, batch=100)[0] is None  # its own allocation: torch's default
    assert job_threads(launcher("submitit_slurm", "hydra.launcher.cpus_per_task=8"), 64, 100)[0] == 8


def test_sequential_jobs_keep_torchs_default():
    assert job_threads(BASIC, cores=16, batch=10) == (None, "basic launcher: one job at a time")


def recorded_plan(tmp_path: Path, *overrides: str) -> dict:
    """What the callback records when `ge4rec train -m OVERRIDES` starts."""
    from hydra.types import RunMode

    GlobalHydra.instance().clear()
    with initialize_config_dir(version_base="1.3", config_dir=config_dir(), job_name="test"):
        config = GlobalHydra.instance().hydra.compose_config(
            "train",
            [*overrides, f"hydra.sweep.dir={tmp_path / 'sweep'}"],
            run_mode=RunMode.MULTIRUN,
            with_log_configuration=False,
        )
    GlobalHydra.instance().clear()
    sweeps.SweepSummary().on_multirun_start(config)
    return json.loads((tmp_path / "sweep" / JOBS_DIR / "sweep.json").read_text())


def test_the_sweep_records_how_many_jobs_its_launcher_gets_at_once(tmp_path):
    assert recorded_plan(tmp_path, "seed=1,2,3", "model=fm,deepfm") == {
        "jobs": 6,
        "batch": 6,
        "launcher": "basic",
    }
    assert recorded_plan(tmp_path, "seed=1,2,3", "hydra.sweeper.max_batch_size=2")["batch"] == 2
    pytest.importorskip("hydra_plugins.hydra_optuna_sweeper")
    optuna = recorded_plan(
        tmp_path, "hydra/sweeper=optuna", "hydra.sweeper.n_jobs=4", "hydra.sweeper.n_trials=3"
    )
    assert optuna == {"jobs": None, "batch": 3, "launcher": "basic"}  # Optuna's plan is its own


def test_each_job_gets_its_own_gpu_by_job_number():
    assert [job_device("auto", n, 4) for n in range(6)] == [
        "cuda:0",
        "cuda:1",
        "cuda:2",
        "cuda:3",
        "cuda:0",
        "cuda:1",
    ]
    assert job_device("auto", 3, 2) == "cuda:1"
    assert job_device("auto", 3, 1) == "auto"  # one GPU (or a launcher that hands each job one)
    assert job_device("auto", 3, 0) == "auto"  # no GPU
    assert job_device("auto", None, 4) == "auto"  # not a sweep job
    assert job_device("cpu", 3, 4) == "cpu" and job_device("cuda:2", 3, 4) == "cuda:2"  # as configured


def job_config(tmp_path: Path, number: int, launcher_cfg: dict):
    """The hydra node a sweep job sees (HydraConfig.get()), for job `number` of a sweep in tmp_path."""
    return OmegaConf.create(
        {
            "job": {"num": number, "name": "train"},
            "overrides": {"task": ["model=fm", f"seed={number}"]},
            "runtime": {"output_dir": str(tmp_path / "sweep" / f"{number}_job"), "cwd": str(tmp_path)},
            "sweep": {"dir": str(tmp_path / "sweep")},
            "launcher": launcher_cfg,
        }
    )


def test_a_job_runs_on_its_gpu_and_its_share_of_cores_and_returns_its_metric(tmp_path, monkeypatch):
    seen = {}

    def fake_train_run(cfg, run_dir, overrides):
        seen.update(device=cfg.device, threads=cfg.threads, overrides=overrides)
        return {"status": "completed", "valid": {"auc": 0.75, "logloss": 0.5}}

    monkeypatch.setattr("ge4rec.run.train_run", fake_train_run)
    monkeypatch.setattr(sweeps, "_cuda_devices", lambda: 4)
    monkeypatch.setattr(sweeps, "available_cores", lambda: 16)
    (tmp_path / "sweep" / JOBS_DIR).mkdir(parents=True)
    (tmp_path / "sweep" / JOBS_DIR / "sweep.json").write_text(json.dumps({"jobs": 8, "launcher": "joblib"}))
    cfg = compose_config(["model=fm", "seed=5"], tmp_path)
    assert cfg.device == "auto" and cfg.threads is None

    value = run_sweep_job(cfg, job_config(tmp_path, 5, {"_target_": "x.JoblibLauncher", "n_jobs": 4}))
    assert value == 0.75  # the monitored metric (valid AUC), for a tuning sweeper
    assert seen == {"device": "cuda:1", "threads": 4, "overrides": ["model=fm", "seed=5"]}
    outcome = json.loads((tmp_path / "sweep" / JOBS_DIR / "job-5.json").read_text())
    assert outcome["status"] == "completed" and outcome["device"] == "cuda:1" and outcome["value"] == 0.75

    cfg = compose_config(["model=fm", "trainer.monitor=logloss", "device=cpu", "threads=2"], tmp_path)
    assert run_sweep_job(cfg, job_config(tmp_path, 6, BASIC)) == 0.5  # LogLoss, as monitored
    assert seen["device"] == "cpu" and seen["threads"] == 2  # what the config says is kept


def test_a_job_that_fails_returns_nan_and_records_why(tmp_path, monkeypatch):
    from ge4rec.errors import DataError

    def failing_train_run(cfg, run_dir, overrides):
        raise DataError("valid.csv: column 'b' is missing")

    monkeypatch.setattr("ge4rec.run.train_run", failing_train_run)
    value = run_sweep_job(compose_config(["model=fm"], tmp_path), job_config(tmp_path, 0, BASIC))
    assert math.isnan(value)
    outcome = json.loads((tmp_path / "sweep" / JOBS_DIR / "job-0.json").read_text())
    assert outcome["status"] == "failed" and outcome["error"] == "valid.csv: column 'b' is missing"


def test_a_known_launcher_that_is_missing_says_which_extra_installs_it():
    from ge4rec.errors import Ge4recError

    with pytest.raises(
        Ge4recError,
        match=r"hydra/launcher 'joblib' is not installed \(pip install 'ge4rec\[joblib\]'; installed: basic\)",
    ):
        sweeps.check_hydra_choice("hydra/launcher", "joblib", ["basic"])
    with pytest.raises(Ge4recError, match=r"pip install 'ge4rec\[slurm\]'"):
        sweeps.check_hydra_choice("hydra/launcher", "submitit_slurm", ["basic", "joblib"])
    with pytest.raises(Ge4recError, match=r"pip install 'ge4rec\[optuna\]'"):
        sweeps.check_hydra_choice("hydra/sweeper", "optuna", ["basic"])
    sweeps.check_hydra_choice("hydra/launcher", "joblib", ["basic", "joblib"])  # installed: fine


# ------------------------------------------------------------------------------ real sweeps


@pytest.mark.slow
def test_a_joblib_sweep_runs_jobs_in_parallel_one_share_of_the_cores_each_and_resumes(tmp_path):
    pytest.importorskip("hydra_plugins.hydra_joblib_launcher")
    command = [
        "train",
        "-m",
        "hydra/launcher=joblib",
        "hydra.launcher.n_jobs=2",
        *TINY,
        "model=fm",
        "paradigm=disc",
        "seed=1,2",
        f"results_dir={tmp_path / 'results'}",
    ]
    result = run_cli(command, tmp_path, timeout=600)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    assert "2 jobs: 2 completed, 0 failed, 0 missing, 0 skipped" in result.stdout
    first = rows(tmp_path)
    assert sorted(first["seed"]) == [1, 2] and (first["status"] == "completed").all()
    threads = max(1, available_cores() // 2)  # two jobs at once: 1 thread each on two cores
    assert f"{threads} torch thread" in result.stdout and "joblib launcher: 2 jobs at once" in result.stdout
    folder = sweep_folder(tmp_path)
    assert [(o["job"], o["status"], o["threads"]) for o in outcomes(folder)] == [
        (0, "completed", threads),
        (1, "completed", threads),
    ]
    assert [json.loads(config)["threads"] for config in first["config"]] == [threads, threads]

    again = run_cli([*command, "skip_done=true"], tmp_path, timeout=600)
    assert again.returncode == 0, (again.stdout + again.stderr)[-3000:]
    assert "2 jobs: 0 completed, 0 failed, 0 missing, 2 skipped" in again.stdout
    assert rows(tmp_path).height == 2  # nothing trained twice
    (second,) = [f for f in (tmp_path / "multirun").glob("*/*") if f != folder and f.is_dir()]
    assert [p.name for p in second.iterdir() if p.is_dir()] == [".ge4rec"]  # no empty job folders
    summary = json.loads((second / SUMMARY_FILE).read_text())
    assert (summary["completed"], summary["failed"], summary["missing"], summary["skipped"]) == (0, 0, 0, 2)
    assert summary["status"] == "ok" and {r["run_id"] for r in summary["runs"]} == set(first["run_id"])
    best = first.sort("valid_auc").row(-1, named=True)  # skipped jobs still rank by their numbers
    assert summary["best"]["run_id"] == best["run_id"]


@pytest.mark.slow
def test_a_submitit_local_sweep_records_every_job(tmp_path):
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher")
    command = ["train", "-m", "hydra/launcher=submitit_local", "hydra.launcher.timeout_min=10"]
    command += [*TINY, "model=fm", "paradigm=disc", "seed=1,2", "analysis.enabled=false"]
    result = run_cli([*command, f"results_dir={tmp_path / 'results'}"], tmp_path, timeout=600)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    assert "2 jobs: 2 completed, 0 failed, 0 missing, 0 skipped" in result.stdout
    assert sorted(rows(tmp_path)["seed"]) == [1, 2]
    threads = max(1, available_cores() // 2)  # submitit_local starts both jobs at once
    assert [o["threads"] for o in outcomes(sweep_folder(tmp_path))] == [threads, threads]


@pytest.mark.slow
def test_an_optuna_sweep_tunes_gamma_on_the_metric_each_job_returns(tmp_path):
    pytest.importorskip("hydra_plugins.hydra_optuna_sweeper")
    command = ["train", "-m", "hydra/sweeper=optuna", "hydra/sweeper/sampler=grid"]
    command += [
        "hydra.sweeper.n_trials=2",
        "hydra.sweeper.direction=maximize",
        "paradigm.gamma=choice(0.5,6)",
    ]
    command += [*TINY, "model=fm", "paradigm=sfg", "analysis.enabled=false", "results_dir=results"]
    result = run_cli(command, tmp_path, timeout=600)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    assert "2 jobs: 2 completed, 0 failed, 0 missing, 0 skipped" in result.stdout
    found = rows(tmp_path)
    gammas = sorted(json.loads(config)["paradigm"]["gamma"] for config in found["config"])
    assert gammas == [0.5, 6.0]
    best = found.sort("valid_auc").row(-1, named=True)
    folder = sweep_folder(tmp_path)
    optuna = yaml.safe_load((folder / "optimization_results.yaml").read_text())
    assert optuna["best_value"] == pytest.approx(best["valid_auc"])
    summary = json.loads((folder / SUMMARY_FILE).read_text())
    assert summary["planned"] is False and summary["best"]["run_id"] == best["run_id"]
