"""What a sweep (Hydra multirun) did, read back from the results store when the last job returns.

`SweepSummary` is a Hydra callback (registered in configs/train.yaml under `hydra.callbacks`).
At the end of every multirun it lists the jobs the sweep planned, finds each one's row in the
results store (rows whose `run_dir` lies under the sweep folder), and reports how many finished,
failed (with each one's overrides and error) and are missing (no row: not started, or stopped
before it could record one). When the sweep varies keys it names the best job by the monitored
validation metric; when seeds vary too, the best setting by the mean over seeds; when the
paradigm varies beside other keys, the best setting of each paradigm (the comparison an
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
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from ge4rec.io import write_json

SUMMARY_FILE = "sweep_summary.json"
SUMMARY_VERSION = 1
METRICS = ("auc", "logloss", "auc-logloss")
LABELS = {"auc": "AUC", "logloss": "LogLoss", "auc-logloss": "AUC-LogLoss"}
RESULT_COLUMNS = ("valid_auc", "valid_logloss", "test_auc", "test_logloss")
MAX_EXTRA_KEYS = 6

# the summary of the latest multirun of this process (the callback always runs in the process
# that started the sweep, whatever the launcher), for the CLI's exit code
LAST_SUMMARY: dict[str, Any] | None = None


class SweepSummary(Callback):
    """Hydra callback: print and write the sweep summary at the end of every multirun.

    metric: what "best" means; `monitor` (default) ranks on each run's trainer.monitor
    (auc | logloss | auc-logloss, on the validation split), or name one of those to rank on it
    whatever the runs monitored (e.g. experiment=gamma_search picks gamma on valid AUC).
    """

    def __init__(self, metric: str = "monitor", write: bool = True) -> None:
        if metric != "monitor" and metric not in METRICS:
            raise ValueError(f"sweep summary metric: '{metric}' (expected monitor, {', '.join(METRICS)})")
        self.metric = metric
        self.write = write

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        global LAST_SUMMARY
        try:
            summary = summarize_sweep(config, metric=self.metric)
        except Exception as exc:  # the runs are recorded already; a broken summary must not hide that
            print(f"ge4rec: could not summarise the sweep: {type(exc).__name__}: {exc}", file=sys.stderr)
            LAST_SUMMARY = None
            return
        if self.write:
            path = Path(summary["sweep_dir"]) / SUMMARY_FILE
            write_json(path, summary)
            summary["summary_file"] = str(path)
        LAST_SUMMARY = summary
        print(format_summary(summary), flush=True)


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
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.types import RunMode

    from ge4rec.cli import config_dir

    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(version_base="1.3", config_dir=config_dir(), job_name="plan"):
            config = GlobalHydra.instance().hydra.compose_config(
                config_name, list(overrides), run_mode=RunMode.MULTIRUN, with_log_configuration=False
            )
            return planned_jobs(config)
    finally:
        GlobalHydra.instance().clear()


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


def _sweep_rows(results_dir: Path, sweep_dir: Path) -> list[dict[str, Any]]:
    """The store's rows of runs whose folder lies under the sweep folder, oldest first."""
    from ge4rec.results import read_results

    if not results_dir.is_dir():
        return []
    frame = read_results(results_dir)
    if frame.is_empty() or "run_dir" not in frame.columns:
        return []
    rows = []
    for row in frame.to_dicts():
        run_dir = row.get("run_dir")
        if run_dir and _is_under(Path(run_dir), sweep_dir):
            rows.append(row)
    return sorted(rows, key=lambda r: str(r.get("created_at") or ""))


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
    sweep_dir = (cwd / str(config.hydra.sweep.dir)).resolve()
    results_dir = (cwd / str(config.get("results_dir", "results"))).resolve()

    plan = planned_jobs(config)
    started = _started_jobs(sweep_dir)
    rows = _sweep_rows(results_dir, sweep_dir)
    by_overrides: dict[str, dict[str, Any]] = {}
    for row in rows:  # a job run twice into the same folder: its latest row counts
        by_overrides[str(row.get("overrides") or "")] = row

    jobs = [list(job) for job in plan] if plan is not None else []
    known = {" ".join(job) for job in jobs}
    others = [(text, overrides) for text, (overrides, _) in started.items()]
    others += [(text, text.split(" ") if text else []) for text in by_overrides]
    for text, overrides in others:  # jobs of another sweeper, whose plan is unknown here
        if text not in known:
            jobs.append(list(overrides))
            known.add(text)

    runs = []
    for number, job in enumerate(jobs):
        text = " ".join(job)
        row = by_overrides.get(text)
        run: dict[str, Any] = {"job": number, "overrides": job}
        if row is None:
            run.update(
                status="missing",
                run_dir=str(started[text][1]) if text in started else None,
                error="started, but no result was recorded" if text in started else "not started",
            )
        else:
            status = "completed" if row.get("status") == "completed" else "failed"
            run.update(status=status, run_id=row.get("run_id"), run_dir=row.get("run_dir"))
            if status == "failed":
                run["error"] = row.get("error") or f"status {row.get('status')!r}"
            run.update({column: _number(row.get(column)) for column in RESULT_COLUMNS})
            run["monitor"] = _monitor_of(row)
            run["_config"] = row.get("config")
        runs.append(run)

    values_of: dict[str, set[str]] = {}
    for job in jobs:
        for item in job:
            key, value = _split(item)
            values_of.setdefault(key, set()).add(value)
    varied = [key for key, values in values_of.items() if len(values) > 1]

    completed = [run for run in runs if run["status"] == "completed"]
    chosen, note = metric, None
    if metric == "monitor":
        monitors = {run["monitor"] for run in completed if run.get("monitor")}
        if len(monitors) == 1:
            chosen = monitors.pop()
        else:
            chosen = "auc"
            if len(monitors) > 1:
                note = (
                    f"the runs monitor different metrics ({', '.join(sorted(monitors))}): ranked on valid AUC"
                )
    for run in completed:
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
    ranked = [run for run in completed if run.get("score") is not None]
    if varied and ranked:
        group_keys = _group_keys(varied, ranked)
        best = max(ranked, key=lambda run: run["score"])
        summary["best"] = _choice(best, [best], varied, ranked, group_keys, exclude=())
        setting_keys = [key for key in varied if key != "seed"]
        if "seed" in varied and setting_keys:
            summary["best_setting"] = _best_setting(ranked, setting_keys, varied, group_keys)
        if "paradigm" in varied and len(setting_keys) > 1:
            for paradigm in sorted({_value(run, "paradigm") for run in ranked}):
                subset = [run for run in ranked if _value(run, "paradigm") == paradigm]
                keys = [key for key in setting_keys if key != "paradigm"]
                summary["best_per_paradigm"][paradigm] = _best_setting(subset, keys, varied, group_keys)
    for run in runs:
        run.pop("_config", None)
    summary["runs"] = runs
    return summary


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
        f"{summary['failed']} failed, {summary['missing']} missing"
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
