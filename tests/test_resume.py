"""A run survives a crash: RUN_DIR/state.pt after every epoch, `resume=RUN_DIR` continues it to the
numbers of an uninterrupted run, and SIGINT/SIGTERM stop it cleanly (exit 130/143, status
`interrupted`, no metric). Killed runs are real `ge4rec train` processes; the checks of bad resume
targets run `ge4rec.cli.main` in this process."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from ge4rec.errors import RunInterrupted
from ge4rec.results import read_results
from ge4rec.run import train_run
from ge4rec.train.loop import Trainer
from ge4rec.train.state import STATE_FILE

from conftest import TINY, assert_clean_failure, compose_config, run_cli, run_main

# 12 batches an epoch: a signal lands well inside the next epoch; threads=1 as in the processes
RUN = [*TINY, "trainer.max_epochs=3", "trainer.batch_size=256", "threads=1", "analysis.rows=500"]
SAME = ("valid", "test", "best_epoch", "epochs", "stopped", "history")
METRIC_COLUMNS = ("valid_auc", "valid_logloss", "test_auc", "test_logloss", "best_epoch", "epochs")


def metrics_of(run_dir: Path) -> dict:
    return json.loads((run_dir / "metrics.json").read_text())


def assert_same_numbers(run_dir: Path, reference: Path) -> None:
    got, want = metrics_of(run_dir), metrics_of(reference)
    assert got["status"] == "completed"
    for key in SAME:
        assert got[key] == want[key], key


def rows_of(workdir: Path, run_dir: Path) -> list[dict]:
    rows = read_results(workdir / "results").to_dicts()
    return [r for r in rows if Path(r["run_dir"]).resolve() == run_dir.resolve()]


def start_and_signal(workdir: Path, name: str, signum: int) -> subprocess.CompletedProcess:
    """Start `ge4rec train RUN` into workdir/name, send `signum` once its first epoch's state is on
    disk, and wait for it to end."""
    env = dict(os.environ, GE4REC_CACHE_DIR=str(workdir / "cache"), PYTHONUNBUFFERED="1", COLUMNS="200")
    process = subprocess.Popen(
        [sys.executable, "-m", "ge4rec", "train", *RUN, f"hydra.run.dir={name}"],
        cwd=workdir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    state, deadline = workdir / name / STATE_FILE, time.monotonic() + 120
    try:
        while time.monotonic() < deadline and process.poll() is None:
            try:
                if torch.load(state, weights_only=True)["epoch"] >= 1:
                    break
            except (OSError, RuntimeError, EOFError):
                pass
            time.sleep(0.01)
        assert process.poll() is None, "the run ended before it could be stopped"
        process.send_signal(signum)
        out, err = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory, one_thread) -> Path:
    """A working folder with the uninterrupted run in reference/ (and the cache the processes share)."""
    folder = tmp_path_factory.mktemp("resume")
    train_run(compose_config(RUN, folder), folder / "reference")
    assert not (folder / "reference" / STATE_FILE).exists()  # a completed run keeps no state
    return folder


def test_a_killed_run_resumes_to_the_numbers_of_an_uninterrupted_one(workdir, capsys, monkeypatch):
    killed = start_and_signal(workdir, "killed", signal.SIGKILL)
    assert killed.returncode == -signal.SIGKILL
    state = torch.load(workdir / "killed" / STATE_FILE, weights_only=True)
    assert 1 <= state["epoch"] < 3 and not rows_of(workdir, workdir / "killed")

    result = run_main(["train", "resume=killed"], workdir, capsys, monkeypatch)
    assert result.returncode == 0, result.stderr
    assert f"after epoch {state['epoch']}" in result.stdout
    assert_same_numbers(workdir / "killed", workdir / "reference")
    assert not (workdir / "killed" / STATE_FILE).exists()
    (row,) = rows_of(workdir, workdir / "killed")
    (reference,) = rows_of(workdir, workdir / "reference")
    assert row["status"] == "completed" and row["run_id"] == state["run"]["run_id"]
    assert all(row[c] == reference[c] for c in METRIC_COLUMNS)


def test_sigterm_records_an_interrupted_run_that_resumes(workdir):
    result = start_and_signal(workdir, "stopped", signal.SIGTERM)
    assert result.returncode == 143 and "Traceback" not in result.stderr
    (line,) = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert line.startswith("ge4rec: run interrupted by SIGTERM after epoch ")
    assert line.endswith("resume with: ge4rec train resume=stopped")
    (row,) = rows_of(workdir, workdir / "stopped")
    assert row["status"] == "interrupted" and "SIGTERM" in row["error"]
    assert all(row[c] is None for c in METRIC_COLUMNS)
    saved = metrics_of(workdir / "stopped")
    assert saved["status"] == "interrupted" and "test" not in saved and "history" not in saved
    assert (workdir / "stopped" / STATE_FILE).is_file()

    # the run's own command line again, into its folder: the second spelling of resume
    again = run_cli(["train", *RUN, "hydra.run.dir=stopped", "resume=true"], workdir)
    assert again.returncode == 0, again.stderr
    assert_same_numbers(workdir / "stopped", workdir / "reference")
    (done,) = rows_of(workdir, workdir / "stopped")  # the interrupted row is replaced
    assert done["status"] == "completed" and done["run_id"] == row["run_id"]
    assert not (workdir / "stopped" / STATE_FILE).exists()


@pytest.mark.slow
def test_sigint_exits_130_and_keeps_the_state(workdir):
    result = start_and_signal(workdir, "ctrl_c", signal.SIGINT)
    assert result.returncode == 130 and "Traceback" not in result.stderr
    assert "interrupted by SIGINT" in result.stderr and "resume=ctrl_c" in result.stderr
    assert (workdir / "ctrl_c" / STATE_FILE).is_file()
    assert [r["status"] for r in rows_of(workdir, workdir / "ctrl_c")] == ["interrupted"]


def test_early_stopping_and_lr_schedule_survive_an_interruption(tmp_path, one_thread, monkeypatch):
    """In this process: a real SIGINT after some batches of epoch 3, with a learning rate that
    overfits at once, so the lr schedule and early stopping act on both sides of the interruption."""
    overfit = [*TINY, "model=fm", "trainer.lr=0.05", "trainer.max_epochs=8", "analysis.enabled=false"]
    reference = train_run(compose_config(overfit, tmp_path), tmp_path / "reference")
    assert reference["stopped"] == "early_stopping" and len({h["lr"] for h in reference["history"]}) > 1

    step, steps = Trainer.train_step, [0]

    def signalling_step(self, *args):
        steps[0] += 1
        if steps[0] == 2 * 6 + 3:  # 6 batches an epoch: inside epoch 3
            os.kill(os.getpid(), signal.SIGINT)
        return step(self, *args)

    monkeypatch.setattr(Trainer, "train_step", signalling_step)
    cfg = compose_config(overfit, tmp_path)
    with pytest.raises(RunInterrupted) as stopped:
        train_run(cfg, tmp_path / "run")
    assert (stopped.value.signum, stopped.value.epoch, stopped.value.exit_code) == (signal.SIGINT, 2, 130)
    assert metrics_of(tmp_path / "run")["status"] == "interrupted"
    monkeypatch.setattr(Trainer, "train_step", step)

    resumed = train_run(cfg, tmp_path / "run", resume=True)
    for key in SAME:
        assert resumed[key] == reference[key], key
    assert [r["status"] for r in rows_of(tmp_path, tmp_path / "run")] == ["completed"]


def test_resume_refuses_what_it_cannot_continue(workdir, capsys, monkeypatch):
    # a completed run: said so, exit 0, nothing rewritten
    reference = workdir / "reference"
    before = {p: p.stat().st_mtime_ns for p in reference.rglob("*")}
    done = run_main(["train", "resume=reference"], workdir, capsys, monkeypatch)
    assert done.returncode == 0 and "is a completed run" in done.stdout
    assert {p: p.stat().st_mtime_ns for p in reference.rglob("*")} == before

    bad = workdir / "bad"
    (bad / "empty").mkdir(parents=True)
    shutil.copy(reference / "config.yaml", bad / "empty" / "config.yaml")
    for args, mentions in [
        (["resume=nowhere"], ("resume: 'nowhere' is not a folder",)),
        (["resume=empty"], ("resume: 'empty' has no state.pt",)),
        (["resume=true"], ("resume=true", "hydra.run.dir")),
        (["-m", "resume=empty"], ("resume", "not a sweep")),
        (["resume=empty", "hydra.run.dir=other"], ("resume=empty", "two different folders")),
    ]:
        assert_clean_failure(run_main(["train", *args], bad, capsys, monkeypatch), bad, *mentions)

    # an interrupted run: overrides that change the numbers are refused, a broken state is named,
    # and the folder is left as it was
    run = bad / "run"
    shutil.copytree(reference, run)
    (run / "metrics.json").write_text(json.dumps({"status": "interrupted"}))
    (run / STATE_FILE).write_bytes(b"not a state")
    (run / "train.log").touch()  # as `ge4rec train` leaves it
    before = {p: p.stat().st_mtime_ns for p in run.rglob("*")}
    for args, mention in [
        (["trainer.lr=0.1"], "resume: trainer.lr=0.1 (the run has 0.001) would change the run"),
        (["model=fm"], "model.name=fm (the run has deepfm)"),
        (["trainer.progress=true"], f"{STATE_FILE}': "),
    ]:
        result = run_main(["train", "resume=run", *args], bad, capsys, monkeypatch)
        assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
        (line,) = result.stderr.strip().splitlines()
        assert line.startswith("ge4rec: ") and mention in line, line
    assert {p: p.stat().st_mtime_ns for p in run.rglob("*")} == before
