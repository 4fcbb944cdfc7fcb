"""Sweeps (Hydra multiruns): how each job runs, and what the sweep did, read back from files.

Each job of a multirun goes through `run_sweep_job`: it picks the job's torch threads (when
`threads` is null, the machine's cores shared among the jobs the launcher runs at once) and its
CUDA device (with several GPUs and device=auto, one per job number), trains, and writes a small
outcome file `<sweep dir>/.ge4rec/job-N.json` (completed, failed with its error, or skipped by
skip_done). A job that fails, whatever the reason, fails alone: the other jobs still run. It
returns the monitored validation metric, so a tuning sweeper (Optuna) can optimise it.

`SweepSummary` is a Hydra callback (registered in configs/train.yaml under `hydra.callbacks`).
At the start of every multirun it writes the sweep's plan (`.ge4rec/sweep.json`: how many jobs);
at the end it lists the jobs the sweep planned, finds each one's outcome file and its row in the
results store (rows whose `run_dir` lies under the sweep folder, or the completed row a skipped
job found), and reports how many completed, failed (with each one's overrides and error), were
skipped (already completed in the store) and are missing (no outcome and no row: not started,
or stopped before it could record one). When the sweep varies keys it names the best job by the
monitored validation metric; when seeds vary too, the best setting by the mean over seeds; when
the paradigm varies beside other keys, the best setting of each paradigm (the comparison an
equal-budget sweep is for). It prints that and writes it to `<sweep dir>/sweep_summary.json`.

Everything comes from files (the store, the sweep folder), never from the jobs' processes, so
the summary is the same whichever launcher ran them (in process, joblib, a cluster).
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
import traceback
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from ge4rec.io import read_json, write_json

SUMMARY_FILE = "sweep_summary.json"
SUMMARY_VERSION = 1
METRICS = ("auc", "logloss", "auc-logloss")
LABELS = {"auc": "AUC", "logloss": "LogLoss", "auc-logloss": "AUC-LogLoss"}
RESULT_COLUMNS = ("valid_auc", "valid_logloss", "test_auc", "test_logloss")
MAX_EXTRA_KEYS = 6
# under the sweep folder: the sweep's plan (sweep.json) and one outcome file per job (job-N.json)
JOBS_DIR = ".ge4rec"
PLAN_FILE = "sweep.json"

# the summary of the latest multirun of this process (the callback always runs in the process
# that started the sweep, whatever the launcher), for the CLI's exit code
LAST_SUMMARY: dict[str, Any] | None = None


class SweepSummary(Callback):
    """Hydra callback: record the sweep's plan when a multirun starts, and print and write the
    sweep summary when it ends.

    metric: what "best" means; `monitor` (default) ranks on each run's trainer.monitor
    (auc | logloss | auc-logloss, on the validation split), or name one of those to rank on it
    whatever the runs monitored (e.g. experiment=gamma_search picks gamma on valid AUC).
    """

    def __init__(self, metric: str = "monitor", write: bool = True) -> None:
        if metric != "monitor" and metric not in METRICS:
            raise ValueError(f"sweep summary metric: '{metric}' (expected monitor, {', '.join(METRICS)})")
        self.metric = metric
        self.write = write

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        try:
            plan = planned_jobs(config)
            write_json(
                _sweep_dir(config) / JOBS_DIR / PLAN_FILE,
                {
                    "jobs": None if plan is None else len(plan),
                    "batch": _batch_size(config.hydra.sweeper, plan),
                    "launcher": launcher_name(config.hydra.launcher),
                },
            )
        except Exception as exc:  # without a plan the jobs fall back to the launcher's settings alone
            print(f"ge4rec: could not record the sweep's plan: {type(exc).__name__}: {exc}", file=sys.stderr)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        global LAST_SUMMARY
        try:
            summary = summarize_sweep(config, metric=self.metric)
        except Exception as exc:  # the runs are recorded already; a broken summary must not hide that
            print(f"ge4rec: could not summarise the sweep: {type(exc).__name__}: {exc}", file=sys.stderr)
            LAST_SUMMARY = {"status": "unknown"}  # an outcome nobody can vouch for: exit 1
            return
        if self.write:
            path = Path(summary["sweep_dir"]) / SUMMARY_FILE
            write_json(path, summary)
            summary["summary_file"] = str(path)
        LAST_SUMMARY = summary
        print(format_summary(summary), flush=True)


def _batch_size(sweeper: Mapping[str, Any], plan: list[list[str]] | None) -> int | None:
    """How many jobs the sweeper hands the launcher at once: the basic sweeper all of its plan (or
    max_batch_size), Optuna's its n_jobs trials; None when unknown."""
    size = sweeper.get("max_batch_size") if plan is not None else sweeper.get("n_jobs")
    if plan is not None:
        return min(len(plan), int(size)) if size else len(plan)
    trials = sweeper.get("n_trials")
    if isinstance(size, int) and size > 0:
        return min(size, trials) if isinstance(trials, int) and trials > 0 else size
    return None


def _sweep_dir(config: DictConfig) -> Path:
    """The sweep folder, absolute, from a config with a `hydra` node or from that node itself; the
    same in the process that starts the sweep and in its jobs (Hydra copies the resolved
    ${now:...} into every job's config)."""
    hydra_cfg = config.hydra if "hydra" in config else config
    cwd = Path(OmegaConf.select(hydra_cfg, "runtime.cwd", default=None) or os.getcwd())
    return (cwd / str(hydra_cfg.sweep.dir)).resolve()


# ------------------------------------------------------------------- before a sweep starts

LAUNCHER_EXTRAS = {"joblib": "joblib", "submitit_local": "slurm", "submitit_slurm": "slurm"}
SWEEPER_EXTRAS = {"optuna": "optuna"}


def _check_hydra_key(cfg: DictConfig, key: str) -> None:
    """An unknown hydra.* key: one line naming it with the keys its block has."""
    from ge4rec.config.checks import unknown_key
    from ge4rec.errors import Ge4recError

    parent, _, leaf = key.rpartition(".")
    node = OmegaConf.select(cfg, parent) if parent else cfg
    if node is None or not OmegaConf.is_dict(node) or leaf not in node:
        known = node.keys() if node is not None and OmegaConf.is_dict(node) else ()
        raise Ge4recError(f"{unknown_key(key, known)}; add new keys with +{key}=VALUE")


def check_hydra_overrides(args: list[str]) -> None:
    """Compose the config with the command line's hydra.* and hydra/... overrides (the launcher,
    the sweeper and their settings, which the per-key checks leave to Hydra), so a launcher that
    is not installed or a launcher setting that is unknown or of the wrong type fails in one
    line (Ge4recError) before any job starts."""
    from hydra.core.global_hydra import GlobalHydra
    from hydra.types import RunMode

    from ge4rec.cli import _NO_VALIDATION, _one_line, shipped_configs, split_args
    from ge4rec.errors import Ge4recError

    flags, overrides = split_args(args)
    if any(f in _NO_VALIDATION or f in ("--cfg", "-c") for f in flags):
        return
    hydra_items = [item for item in overrides if item.lstrip("+~").startswith("hydra")]
    if not hydra_items:
        return
    mode = RunMode.MULTIRUN if "-m" in flags or "--multirun" in flags else RunMode.RUN
    with shipped_configs("check"):
        hydra_app = GlobalHydra.instance().hydra
        assert hydra_app is not None  # set by shipped_configs
        groups = []
        for item in hydra_items:
            key, _, value = item.lstrip("+~").partition("=")
            if "/" in key:  # a config group: hydra/launcher=joblib
                groups.append(item)
                check_hydra_choice(key, value, hydra_app.config_loader.get_group_options(key))
        try:
            cfg = hydra_app.compose_config("train", overrides, run_mode=mode, with_log_configuration=False)
        except Exception as exc:
            try:  # name an unknown key with the keys there are
                base = hydra_app.compose_config("train", groups, run_mode=mode, with_log_configuration=False)
            except Exception:
                base = None
            for item in hydra_items:
                key = item.split("=", 1)[0]
                if base is not None and "/" not in key and not key.startswith(("+", "~")):
                    _check_hydra_key(base, key)
            cause = exc.__cause__
            detail = f": {_one_line(cause)}" if cause is not None and str(cause) else ""
            raise Ge4recError(_one_line(exc).replace("Error merging override ", "") + detail) from None
    launcher = cfg.hydra.launcher
    if launcher_name(launcher) == "joblib":
        n_jobs = launcher.get("n_jobs")
        if n_jobs is not None and int(n_jobs) == 0:
            raise Ge4recError(
                "hydra.launcher.n_jobs: 0 (expected the number of jobs to run at once, or -1 for one per core)"
            )


def check_hydra_choice(group: str, value: str, available: list[str]) -> None:
    """A hydra/launcher or hydra/sweeper choice must be installed; a known one that is not names
    the extra that installs it."""
    from ge4rec.errors import Ge4recError

    if value in available:
        return
    installed = ", ".join(available)
    extra = {"hydra/launcher": LAUNCHER_EXTRAS, "hydra/sweeper": SWEEPER_EXTRAS}.get(group, {}).get(value)
    if extra:
        raise Ge4recError(
            f"{group} '{value}' is not installed (pip install 'ge4rec[{extra}]'; installed: {installed})"
        )
    raise Ge4recError(f"unknown {group} '{value}' (choose from: {installed})")


# ------------------------------------------------------------------------- inside each job


def available_cores() -> int:
    """CPU cores this process may run on (its affinity: a cluster job's allocation, a taskset)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def launcher_name(launcher: Mapping[str, Any] | None) -> str:
    """basic | joblib | submitit_local | submitit_slurm | the launcher's class for another one."""
    target = str((launcher or {}).get("_target_", "")) if launcher is not None else ""
    for name, suffix in (
        ("basic", "BasicLauncher"),
        ("joblib", "JoblibLauncher"),
        ("submitit_local", "submitit_launcher.LocalLauncher"),
        ("submitit_slurm", "submitit_launcher.SlurmLauncher"),
    ):
        if target.endswith(suffix):
            return name
    return target.rpartition(".")[2] or "basic"


def concurrent_jobs(launcher: Mapping[str, Any], cores: int, batch: int | None) -> int:
    """How many of the sweep's jobs the launcher runs at once on this machine's cores, given the
    number of jobs the sweeper hands it at once (`batch`; None when unknown).

    joblib: hydra.launcher.n_jobs (-1 = one per core, -2 = all cores but one, as joblib counts),
    at most the batch; submitit_local: the whole batch at once, times tasks_per_node processes
    each; basic: one after another; submitit_slurm: each job on its own allocation, so 1."""
    name = launcher_name(launcher)
    if name == "joblib":
        n_jobs = launcher.get("n_jobs")
        n = 1 if n_jobs is None else int(n_jobs)
        if n < 0:
            n = cores + 1 + n
        return max(1, min(n, batch) if batch else n)
    if name == "submitit_local":
        return max(1, (batch or 1) * int(launcher.get("tasks_per_node") or 1))
    return 1


def job_threads(launcher: Mapping[str, Any], cores: int, batch: int | None) -> tuple[int | None, str]:
    """Torch threads for one job of a sweep whose config leaves `threads` null, and why.

    None (torch's default) when the job has the machine or its allocation to itself; otherwise
    max(1, cores // jobs running at once), so parallel jobs never fight over the cores. A
    submitit launcher's cpus_per_task, when set, is what the job was given: that many."""
    name = launcher_name(launcher)
    cpus = launcher.get("cpus_per_task") if name.startswith("submitit") else None
    if cpus:
        return int(cpus), f"{name} launcher: hydra.launcher.cpus_per_task={int(cpus)}"
    jobs = concurrent_jobs(launcher, cores, batch)
    if jobs <= 1:
        return None, f"{name} launcher: one job at a time"
    threads = max(1, cores // jobs)
    return threads, f"{name} launcher: {jobs} jobs at once on {cores} cores"


def job_device(device: str, job_num: int | None, device_count: int) -> str:
    """The device of sweep job `job_num`: with device=auto and several CUDA devices, job N takes
    cuda:(N mod device count), so parallel jobs spread over the GPUs instead of all sharing
    cuda:0; anything else is kept as configured."""
    if str(device) != "auto" or job_num is None or device_count < 2:
        return str(device)
    return f"cuda:{int(job_num) % device_count}"


def monitored_value(monitor: str, auc: float | None, logloss: float | None) -> float:
    """The validation metric a run monitored: AUC, LogLoss, or AUC - LogLoss (NaN when missing).
    Larger is better for auc and auc-logloss, smaller for logloss."""
    if monitor == "logloss":
        value = logloss
    elif monitor == "auc-logloss":
        value = None if auc is None or logloss is None else auc - logloss
    else:
        value = auc
    return float("nan") if value is None else float(value)


def outcome_path(sweep_dir: Path, job_num: int) -> Path:
    return Path(sweep_dir) / JOBS_DIR / f"job-{int(job_num)}.json"


def _batch_of(sweep_dir: Path) -> int | None:
    """How many jobs the launcher gets at once in this sweep, from the plan the sweep recorded."""
    plan = read_json(Path(sweep_dir) / JOBS_DIR / PLAN_FILE)
    batch = plan.get("batch", plan.get("jobs")) if isinstance(plan, dict) else None
    return batch if isinstance(batch, int) and batch > 0 else None


def run_sweep_job(cfg: DictConfig, hydra_cfg: DictConfig) -> float:
    """Run one job of a multirun (the Hydra task in MULTIRUN mode) and record its outcome.

    Never raises for the job's own failures (bad data, a swept value that fails in training, a
    bug): the error is printed, written to the job's outcome file and, once training started,
    recorded in the store as a failed row; the sweep goes on with its other jobs. Returns the
    monitored validation metric (NaN for a failed job)."""
    import torch

    from ge4rec.errors import Ge4recError, TrainingFailed
    from ge4rec.run import discard_run_folder, train_run

    sweep_dir = _sweep_dir(hydra_cfg)
    number = int(hydra_cfg.job.num)
    overrides = [str(item) for item in hydra_cfg.overrides.task]
    outcome: dict[str, Any] = {
        "job": number,
        "overrides": overrides,
        "status": "started",
        "run_dir": str(hydra_cfg.runtime.output_dir),
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    path = outcome_path(sweep_dir, number)
    write_json(path, outcome)

    notes = []
    if cfg.get("threads") is None:
        threads, why = job_threads(hydra_cfg.launcher, available_cores(), _batch_of(sweep_dir))
        if threads is not None:
            cfg.threads = threads  # not part of config_hash: skip_done still recognises the run
            notes.append(
                f"{threads} torch thread{'s' if threads > 1 else ''} ({why}; set threads= to choose)"
            )
    device = job_device(str(cfg.get("device", "auto")), number, _cuda_devices())
    if device != str(cfg.get("device", "auto")):
        cfg.device = device  # not part of config_hash either
        notes.append(f"device {device} (job {number} of {_cuda_devices()} CUDA devices)")
    if notes:
        print(f"job {number}: " + "; ".join(notes), flush=True)

    value = float("nan")
    try:
        metrics = train_run(cfg, Path(hydra_cfg.runtime.output_dir), overrides)
    except (Ge4recError, TrainingFailed) as exc:
        outcome.update(status="failed", error=str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
    except Exception as exc:  # a bug: its traceback helps, but the other jobs still run
        traceback.print_exc()
        outcome.update(status="failed", error=f"{type(exc).__name__}: {exc}".splitlines()[0])
    else:
        monitor = str(cfg.trainer.get("monitor", "auc"))
        outcome["monitor"] = monitor
        if metrics.get("status") == "skipped":  # `valid`: the completed run's, from the store
            outcome.update(
                status="skipped", run_id=metrics.get("run_id"), done_run_dir=metrics.get("run_dir")
            )
        else:
            outcome["status"] = "completed"  # its row lies in the store, under this job's folder
        valid = metrics.get("valid") or {}
        value = monitored_value(monitor, valid.get("auc"), valid.get("logloss"))
        outcome["value"] = None if math.isnan(value) else value
    if outcome["status"] == "failed":
        print(f"ge4rec: job {number} failed: {outcome['error']}", file=sys.stderr, flush=True)
    run_dir, log_name = Path(hydra_cfg.runtime.output_dir), f"{hydra_cfg.job.name}.log"
    if outcome["status"] != "completed" and discard_run_folder(run_dir, log_name):
        outcome["run_dir"] = None  # skipped, or failed before it wrote anything: no empty run folder
    outcome.update(
        threads=torch.get_num_threads(),
        device=str(cfg.get("device")),
        finished_at=time.strftime("%Y-%m-%dT%H:%M:%S"),
    )
    write_json(path, outcome)
    return value


def _cuda_devices() -> int:
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


# ------------------------------------------------------------------------------------ the jobs


def planned_jobs(config: DictConfig) -> list[list[str]] | None:
    """Every job's override list, in job-number order, as Hydra's basic sweeper expands them
    (sweeper params first, the command line's overrides after and winning); None for another
    sweeper, whose plan only its own state knows."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser

    sweeper = config.hydra.sweeper
    if not str(sweeper.get("_target_", "")).endswith(".BasicSweeper"):
        return None
    params = sweeper.get("params") or {}
    arguments = [f"{key}={value}" for key, value in params.items()]
    arguments += [str(item) for item in config.hydra.overrides.task]
    try:
        parsed = OverridesParser.create().parse_overrides(arguments)
        batches = BasicSweeper.split_arguments(parsed, None)
    except Exception:  # e.g. glob(...) choices, which need Hydra's config loader
        return None
    return [list(job) for batch in batches for job in batch]


def sweep_plan(overrides: list[str], config_name: str = "train") -> list[list[str]] | None:
    """The jobs `ge4rec train -m OVERRIDES` would run, each as its override list, without running
    any: the multirun config composed as Hydra composes it, expanded as the basic sweeper does."""
    from hydra.core.global_hydra import GlobalHydra
    from hydra.types import RunMode

    from ge4rec.cli import shipped_configs

    with shipped_configs("plan"):
        hydra_app = GlobalHydra.instance().hydra
        assert hydra_app is not None  # set by shipped_configs
        config = hydra_app.compose_config(
            config_name, list(overrides), run_mode=RunMode.MULTIRUN, with_log_configuration=False
        )
        return planned_jobs(config)


def _started_jobs(sweep_dir: Path) -> dict[str, tuple[list[str], Path]]:
    """Job folders Hydra created: joined overrides -> (overrides, folder), from .hydra/overrides.yaml."""
    started: dict[str, tuple[list[str], Path]] = {}
    if not sweep_dir.is_dir():
        return started
    for file in sorted(sweep_dir.rglob("overrides.yaml")):
        if file.parent.name != ".hydra":
            continue
        try:
            overrides = [str(item) for item in OmegaConf.load(file)]
        except Exception:
            continue
        started[" ".join(overrides)] = (overrides, file.parent.parent)
    return started


def _store_rows(results_dir: Path) -> list[dict[str, Any]]:
    """Every row of the results store."""
    from ge4rec.results import read_results

    if not results_dir.is_dir():
        return []
    frame = read_results(results_dir)
    return [] if frame.is_empty() else frame.to_dicts()


def _sweep_rows(rows: list[dict[str, Any]], sweep_dir: Path) -> list[dict[str, Any]]:
    """The rows of runs whose folder lies under the sweep folder, oldest first."""
    mine = [row for row in rows if row.get("run_dir") and _is_under(Path(row["run_dir"]), sweep_dir)]
    return sorted(mine, key=lambda r: str(r.get("created_at") or ""))


def _outcomes(sweep_dir: Path) -> dict[int, dict[str, Any]]:
    """The jobs' outcome files: job number -> outcome."""
    found: dict[int, dict[str, Any]] = {}
    folder = sweep_dir / JOBS_DIR
    if not folder.is_dir():
        return found
    for file in folder.glob("job-*.json"):
        outcome = read_json(file)
        try:
            outcome["overrides"] = [str(item) for item in outcome["overrides"]]
            found[int(outcome["job"])] = outcome
        except (KeyError, TypeError, ValueError):  # not an outcome file (None included)
            continue
    return found


def _folder_key(path: Any) -> str:
    return str(Path(str(path)).resolve()) if path else ""


def _is_under(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder)
    except ValueError:
        return False
    return True


# ------------------------------------------------------------------------------------ metrics


def _monitor_of(row: dict[str, Any]) -> str | None:
    try:
        monitor = json.loads(row.get("config") or "{}").get("trainer", {}).get("monitor")
    except (TypeError, ValueError, AttributeError):
        return None
    return str(monitor).lower() if monitor else None


def _score(metric: str, values: dict[str, Any]) -> float | None:
    """The validation score to maximise: AUC, -LogLoss, or AUC - LogLoss (the trainer's monitors)."""
    auc, logloss = values.get("valid_auc"), values.get("valid_logloss")
    if metric == "auc":
        score = auc
    elif metric == "logloss":
        score = None if logloss is None else -logloss
    else:
        score = None if auc is None or logloss is None else auc - logloss
    if score is None or not math.isfinite(score):
        return None
    return float(score)


def _number(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


# ------------------------------------------------------------------------------- the summary


def _split(override: str) -> tuple[str, str]:
    key, _, value = override.partition("=")
    return key.lstrip("+~"), value


def _flatten(node: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(node, dict):
        flat: dict[str, Any] = {}
        for key, value in node.items():
            flat.update(_flatten(value, f"{prefix}{key}."))
        return flat
    return {prefix[:-1]: json.dumps(node) if isinstance(node, list) else node}


def summarize_sweep(config: DictConfig, metric: str = "monitor") -> dict[str, Any]:
    """The summary of the multirun whose (multirun-mode) config this is; see module docstring."""
    cwd = Path(OmegaConf.select(config, "hydra.runtime.cwd", default=None) or os.getcwd())
    sweep_dir = _sweep_dir(config)
    results_dir = (cwd / str(config.get("results_dir", "results"))).resolve()

    plan = planned_jobs(config)
    started = _started_jobs(sweep_dir)
    outcomes = _outcomes(sweep_dir)
    store = _store_rows(results_dir)
    by_id = {str(row.get("run_id")): row for row in store}
    by_overrides: dict[str, dict[str, Any]] = {}
    by_folder: dict[str, dict[str, Any]] = {}
    for row in _sweep_rows(store, sweep_dir):  # a job run twice into the same folder: its latest row counts
        by_overrides[str(row.get("overrides") or "")] = row
        by_folder[_folder_key(row.get("run_dir"))] = row

    # (job number, overrides, outcome file): the planned jobs, or for a sweeper whose plan only it
    # knows (Optuna), every job that wrote an outcome, then any other job folder or row
    entries: list[tuple[int, list[str], dict[str, Any] | None]] = []
    if plan is not None:
        for number, job in enumerate(plan):
            outcome = outcomes.get(number)
            entries.append((number, list(job), outcome if outcome and outcome["overrides"] == job else None))
    else:
        entries = [(number, outcome["overrides"], outcome) for number, outcome in sorted(outcomes.items())]
    known = {" ".join(job) for _, job, _ in entries}
    known_folders = {_folder_key(outcome.get("run_dir")) for _, _, outcome in entries if outcome}
    others: list[tuple[str, list[str], Path | str | None]] = [
        (text, overrides, folder) for text, (overrides, folder) in started.items()
    ]
    others += [
        (text, text.split(" ") if text else [], row.get("run_dir")) for text, row in by_overrides.items()
    ]
    for text, overrides, folder in others:
        if text not in known and _folder_key(folder) not in known_folders:
            entries.append((len(entries), list(overrides), None))
            known.add(text)
    jobs = [job for _, job, _ in entries]

    runs = [
        _job_run(number, job, outcome, by_overrides, by_folder, by_id, started, results_dir)
        for number, job, outcome in entries
    ]

    values_of: dict[str, set[str]] = {}
    for job in jobs:
        for item in job:
            key, value = _split(item)
            values_of.setdefault(key, set()).add(value)
    varied = [key for key, values in values_of.items() if len(values) > 1]

    completed = [run for run in runs if run["status"] == "completed"]
    finished = [run for run in runs if run["status"] in ("completed", "skipped")]  # both have numbers
    chosen, note = metric, None
    if metric == "monitor":
        monitors = {run["monitor"] for run in finished if run.get("monitor")}
        if len(monitors) == 1:
            chosen = monitors.pop()
        else:
            chosen = "auc"
            if len(monitors) > 1:
                note = (
                    f"the runs monitor different metrics ({', '.join(sorted(monitors))}): ranked on valid AUC"
                )
    for run in finished:
        run["score"] = _score(chosen, run)

    summary: dict[str, Any] = {
        "version": SUMMARY_VERSION,
        "sweep_dir": str(sweep_dir),
        "results_dir": str(results_dir),
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "jobs": len(runs),
        "completed": len(completed),
        "failed": sum(run["status"] == "failed" for run in runs),
        "missing": sum(run["status"] == "missing" for run in runs),
        "skipped": sum(run["status"] == "skipped" for run in runs),
        "planned": plan is not None,
        "status": "ok",
        "metric": chosen,
        "metric_note": note,
        "varied_keys": varied,
        "best": None,
        "best_setting": None,
        "best_per_paradigm": {},
    }
    if summary["failed"]:
        summary["status"] = "failed"
    elif summary["missing"]:
        summary["status"] = "incomplete"
    ranked = [run for run in finished if run.get("score") is not None]
    if varied and ranked:
        group_keys = _group_keys(varied, ranked)
        best = max(ranked, key=lambda run: run["score"])
        summary["best"] = _choice(best, [best], varied, ranked, group_keys, exclude=())
        setting_keys = [key for key in varied if key != "seed"]
        if "seed" in varied and setting_keys:
            summary["best_setting"] = _best_setting(ranked, setting_keys, varied, group_keys)
        if "paradigm" in varied and len(setting_keys) > 1:
            for paradigm in sorted({_value(run, "paradigm") for run in ranked}, key=str):
                subset = [run for run in ranked if _value(run, "paradigm") == paradigm]
                keys = [key for key in setting_keys if key != "paradigm"]
                summary["best_per_paradigm"][paradigm] = _best_setting(subset, keys, varied, group_keys)
    for run in runs:
        run.pop("_config", None)
    summary["runs"] = runs
    return summary


def _job_run(
    number: int,
    job: list[str],
    outcome: dict[str, Any] | None,
    by_overrides: dict[str, dict[str, Any]],
    by_folder: dict[str, dict[str, Any]],
    by_id: dict[str, dict[str, Any]],
    started: dict[str, tuple[list[str], Path]],
    results_dir: Path,
) -> dict[str, Any]:
    """One job's entry in the summary. Its outcome file, when it wrote one, says what happened
    (completed, failed, skipped) and which folder is its own; the store's rows give the numbers.
    A job without an outcome file (a launcher that lost it, a sweep from before) is judged by its
    row alone."""
    text = " ".join(job)
    run: dict[str, Any] = {"job": number, "overrides": job}
    outcome = outcome or {}  # what the job wrote: nothing when `state` is None
    state = outcome.get("status")
    row = by_folder.get(_folder_key(outcome.get("run_dir"))) if outcome else by_overrides.get(text)
    if state == "skipped":
        done = by_id.get(str(outcome.get("run_id")))
        run.update(status="skipped", run_id=outcome.get("run_id"), run_dir=outcome.get("done_run_dir"))
        if done is not None:
            _add_numbers(run, done)
        return run
    if state == "failed" and (row is None or row.get("status") == "completed"):
        # failed before training started (no row, by design), or failed after an older
        # completed try of the same job in this folder
        run.update(status="failed", run_dir=outcome.get("run_dir"), error=outcome.get("error") or "failed")
        return run
    if row is None:
        run["status"] = "missing"
        if state == "completed":
            run.update(
                run_dir=outcome.get("run_dir"), error=f"completed, but its row is not in {results_dir}"
            )
        elif text in started or state == "started":
            run.update(
                run_dir=outcome.get("run_dir") if outcome else str(started[text][1]),
                error="started, but no result was recorded",
            )
        else:
            run.update(run_dir=None, error="not started")
        return run
    status = "completed" if row.get("status") == "completed" else "failed"
    run.update(status=status, run_id=row.get("run_id"), run_dir=row.get("run_dir"))
    if status == "failed":
        run["error"] = row.get("error") or (outcome or {}).get("error") or f"status {row.get('status')!r}"
    _add_numbers(run, row)
    return run


def _add_numbers(run: dict[str, Any], row: dict[str, Any]) -> None:
    run.update({column: _number(row.get(column)) for column in RESULT_COLUMNS})
    run["monitor"] = _monitor_of(row)
    run["_config"] = row.get("config")


def _value(run: dict[str, Any], key: str) -> str | None:
    for item in run["overrides"]:
        k, value = _split(item)
        if k == key:
            return value
    return None


def _group_keys(varied: list[str], runs: list[dict[str, Any]]) -> set[str]:
    """Varied keys that choose a config group (paradigm, model, experiment/...), not one value."""
    config = json.loads(runs[0].get("_config") or "{}")
    return {key for key in varied if "/" in key or key == "experiment" or isinstance(config.get(key), dict)}


def _extras(chosen: list[dict[str, Any]], pool: list[dict[str, Any]], varied, group_keys) -> dict[str, Any]:
    """Resolved config values that vary among the runs sharing the chosen runs' group choices but
    are not overrides of their own (e.g. the gamma or L2 an index like equal_budget.trial picks)."""
    anchor = chosen[0]
    same_groups = [run for run in pool if all(_value(run, k) == _value(anchor, k) for k in group_keys)]
    flat = [_flatten(json.loads(run.get("_config") or "{}")) for run in same_groups]
    if len(flat) < 2:
        return {}
    skip = set(varied) | {"seed"}
    keys = [key for key in flat[0] if key not in skip and len({json.dumps(f.get(key)) for f in flat}) > 1]
    mine = _flatten(json.loads(anchor.get("_config") or "{}"))
    return {key: mine.get(key) for key in keys[:MAX_EXTRA_KEYS]}


def _choice(best, members, varied, pool, group_keys, exclude) -> dict[str, Any]:
    overrides = {key: _value(best, key) for key in varied if key not in exclude}
    entry: dict[str, Any] = {"overrides": overrides, "resolved": _extras(members, pool, varied, group_keys)}
    if len(members) == 1:
        entry.update(job=best["job"], run_id=best.get("run_id"), run_dir=best.get("run_dir"))
    entry["runs"] = len(members)
    for column in (*RESULT_COLUMNS, "score"):
        values = [run[column] for run in members if run.get(column) is not None]
        entry[column] = sum(values) / len(values) if values else None
    return entry


def _best_setting(runs, keys, varied, group_keys) -> dict[str, Any] | None:
    """The setting (values of `keys`) with the best mean score over its runs (the seeds)."""
    settings: dict[tuple, list[dict[str, Any]]] = {}
    for run in runs:
        settings.setdefault(tuple(_value(run, key) for key in keys), []).append(run)
    if not settings:
        return None
    members = max(settings.values(), key=lambda group: sum(r["score"] for r in group) / len(group))
    exclude = [key for key in varied if key not in keys]
    return _choice(members[0], members, varied, runs, group_keys, exclude=exclude)


# ------------------------------------------------------------------------------------ printing


def _describe(entry: dict[str, Any]) -> str:
    parts = [f"{key}={value}" for key, value in entry["overrides"].items()]
    extras = ", ".join(f"{key}={value}" for key, value in entry.get("resolved", {}).items())
    return " ".join(parts) + (f" [{extras}]" if extras else "")


def _metrics_text(entry: dict[str, Any], metric: str) -> str:
    columns = {
        "auc": ("valid_auc", "test_auc"),
        "logloss": ("valid_logloss", "test_logloss"),
        "auc-logloss": ("valid_auc", "valid_logloss", "test_auc", "test_logloss"),
    }[metric]
    parts = []
    for column in columns:
        split, name = column.split("_")
        value = entry.get(column)
        parts.append(f"{split} {LABELS[name]} " + ("n/a" if value is None else f"{value:.4f}"))
    if entry.get("runs", 1) > 1:
        parts.append(f"mean of {entry['runs']} runs")
    return ", ".join(parts)


def _job_label(run: dict[str, Any], varied: list[str]) -> str:
    """The overrides that tell this job from the others (all of them when nothing varies)."""
    items = [item for item in run["overrides"] if _split(item)[0] in varied] or run["overrides"]
    return "[" + " ".join(items) + "]"


def format_summary(summary: dict[str, Any]) -> str:
    where = os.path.relpath(summary["sweep_dir"]) if summary["sweep_dir"] else "?"
    lines = [
        f"sweep {where}: {summary['jobs']} jobs: {summary['completed']} completed, "
        f"{summary['failed']} failed, {summary['missing']} missing, {summary.get('skipped', 0)} skipped"
        + (" (already completed in the store)" if summary.get("skipped") else "")
    ]
    metric, label = summary["metric"], f"valid {LABELS[summary['metric']]}"
    if summary.get("metric_note"):
        lines.append(f"  ({summary['metric_note']})")
    if summary["best"]:
        lines.append(
            f"best on {label}: {_describe(summary['best'])} ({_metrics_text(summary['best'], metric)})"
        )
    if summary["best_setting"]:
        entry = summary["best_setting"]
        lines.append(f"best setting on {label}: {_describe(entry)} ({_metrics_text(entry, metric)})")
    for paradigm, entry in summary["best_per_paradigm"].items():
        if entry:
            lines.append(f"best {paradigm} on {label}: {_describe(entry)} ({_metrics_text(entry, metric)})")
    for status in ("failed", "missing"):
        troubled = [run for run in summary["runs"] if run["status"] == status]
        if troubled:
            lines.append(f"{status} ({len(troubled)}):")
            for run in troubled:
                lines.append(
                    f"  job {run['job']} {_job_label(run, summary['varied_keys'])}: {run.get('error')}"
                )
                if run.get("run_dir"):
                    lines.append(f"    {os.path.relpath(run['run_dir'])}")
    if summary.get("summary_file"):
        lines.append(f"summary: {os.path.relpath(summary['summary_file'])}")
    return "\n".join(lines)
