"""One training run from a composed config: build_run (data, model, paradigm, trainer) -> train ->
analyse -> RunRecord (config.yaml, metrics.json and the results row, each written atomically)."""

from __future__ import annotations

import hashlib
import json
import math
import os
import random
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np
import polars as pl
import torch
from omegaconf import DictConfig, OmegaConf
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ge4rec.analysis.run_analysis import (
    ANALYSIS_FOLDER,
    analysis_settings,
    collapse_tracker,
    json_safe,
    run_analysis,
)
from ge4rec.config import check_train_config
from ge4rec.data import PreparedData, Schema, load_dataset
from ge4rec.errors import DataError, Ge4recError, RunInterrupted, TrainingFailed
from ge4rec.io import check_writable_folder, write_json, write_text
from ge4rec.models import CTRModel, build_model
from ge4rec.paradigms import Paradigm, build_paradigm
from ge4rec.provenance import provenance
from ge4rec.results import new_run_id, scan_results, write_row
from ge4rec.train.interrupt import StopSignal
from ge4rec.train.loop import Trainer, TrainResult, resolve_device
from ge4rec.train.state import STATE_FILE, load_state


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def validate(cfg: DictConfig) -> None:
    """Checks that need no data: everything a typo in an override could get wrong (the schemas'
    types and keys, the value rules, the paradigm against the model, the device)."""
    check_train_config(cfg)


def config_hash(cfg: DictConfig | dict) -> str:
    """A fingerprint of everything in a config that can change a run's numbers (the keys of
    ge4rec.results.runs.IGNORED_CONFIG_KEYS left out): equal hashes = the same experiment."""
    from ge4rec.results.runs import comparable_config

    container = (
        cfg if isinstance(cfg, dict) else cast("dict[str, Any]", OmegaConf.to_container(cfg, resolve=True))
    )
    flat = comparable_config(container)
    text = json.dumps(sorted((k, repr(v)) for k, v in flat.items()))
    return hashlib.blake2b(text.encode(), digest_size=12).hexdigest()


def completed_run(results_dir: str | os.PathLike, fingerprint: str) -> dict[str, Any] | None:
    """The newest completed row of the store whose config has this hash, or None.

    The hash is recomputed from each row's stored config, so rows recorded by an earlier ge4rec
    whose hash was computed differently (e.g. before whole-number floats were canonical) still
    match; the stored `config_hash` column is only a shortcut."""
    folder = Path(os.path.expanduser(str(results_dir)))
    if not folder.is_dir():
        return None
    rows = scan_results(folder)
    names = rows.collect_schema().names()
    if "config" not in names:
        return None
    wanted = [c for c in (*_DONE_COLUMNS, "config_hash", "config") if c in names]
    done = rows.filter(pl.col("status") == "completed").select(wanted).collect().sort("created_at")
    if "config_hash" in names:
        same = done.filter(pl.col("config_hash") == fingerprint)
        if same.height:
            return same.row(-1, named=True)
    for index in range(done.height - 1, -1, -1):
        stored = done["config"][index]
        try:
            config = json.loads(stored) if stored else None
        except ValueError:
            continue
        if isinstance(config, dict) and config_hash(config) == fingerprint:
            return done.row(index, named=True)
    return None


# what skip_done reports of the completed run it found
_DONE_COLUMNS = ("run_id", "run_dir", "created_at", "valid_auc", "valid_logloss", "test_auc")


def parameter_count(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


# ------------------------------------------------------------------------------------ build a run


@dataclass
class Run:
    """What a composed config trains: the encoded data, the paradigm, the initialised model, the
    trainer, the device and the seed."""

    cfg: DictConfig
    data: PreparedData
    paradigm: Paradigm
    model: CTRModel
    trainer: Trainer
    device: torch.device
    seed: int

    @property
    def schema(self) -> Schema:
        return self.data.schema


def build_run(
    cfg: DictConfig,
    *,
    device: str | None = None,
    data: PreparedData | None = None,
    console: Console | None = None,
) -> Run:
    """The one way a config becomes a run (`ge4rec train`, `ge4rec analyze`, the benchmarks): load
    (or reuse) the data set, seed every random stream with `seed`, build the paradigm, the model
    with its reference initialisation, and the trainer. `device` overrides the config's;
    `data`, when given, must be the config's data set already loaded."""
    seed = int(cfg.seed)
    target = resolve_device(str(device or cfg.get("device", "auto")))
    if data is None:
        data = load_dataset(cfg.dataset, cfg.cache_dir)
    seed_everything(seed)
    paradigm = build_paradigm(cfg.paradigm)
    model = build_model(
        OmegaConf.to_container(cfg.model, resolve=True),
        data.schema,
        int(cfg.embedding_dim),
        paradigm,
        seed=seed,
    )
    trainer = Trainer(cfg.trainer, target, seed, console=console)
    return Run(cfg=cfg, data=data, paradigm=paradigm, model=model, trainer=trainer, device=target, seed=seed)


def check_evaluable(data: PreparedData) -> None:
    """AUC needs both classes: a valid or test split with one label stops the run before training."""
    for split in ("valid", "test"):
        labels = data.splits[split].label
        rows, positives = len(labels), int(labels.sum().item())
        if positives in (0, rows):
            raise DataError(
                f"dataset '{data.name}': every one of the {rows:,} {split} rows has label "
                f"{int(positives == rows)} (AUC needs both classes in the valid and test splits)"
            )


def check_folders(cfg: DictConfig, run_dir: Path) -> Path:
    """Fail before any data is loaded when results_dir, cache_dir or the run folder cannot be
    written; returns results_dir with `~` expanded."""
    results_dir = check_writable_folder(cfg.results_dir, "results_dir")
    check_writable_folder(cfg.cache_dir, "cache_dir")
    check_writable_folder(run_dir, "run folder (hydra.run.dir)")
    return results_dir


def discard_run_folder(run_dir: Path, log_name: str) -> bool:
    """Remove a run folder that holds nothing but what Hydra put there before the job started (its
    .hydra/ folder and log), with the empty folders above it up to the working directory. A folder
    with anything else in it is left as it is. True when no such folder is left."""
    run_dir, cwd = Path(run_dir).resolve(), Path.cwd().resolve()
    if not run_dir.is_dir():
        return True
    if cwd.is_relative_to(run_dir):  # never the working directory itself
        return False
    if any(p.name not in (".hydra", log_name) for p in run_dir.iterdir()):
        return False
    shutil.rmtree(run_dir, ignore_errors=True)
    folder = run_dir.parent
    while folder != cwd and folder.is_relative_to(cwd) and folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()
        folder = folder.parent
    return not run_dir.exists()


# ------------------------------------------------------------------------------- the run record

_RESULT_COLUMNS = {  # results-row column: metrics.json path
    "valid_auc": ("valid", "auc"),
    "valid_logloss": ("valid", "logloss"),
    "test_auc": ("test", "auc"),
    "test_logloss": ("test", "logloss"),
}


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    message = text[0] if text else ""
    if isinstance(exc, Ge4recError | TrainingFailed):
        return message or type(exc).__name__
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


@dataclass
class RunRecord:
    """The facts of one run, gathered once: metrics.json and the results row are two views of
    them, and config.yaml the resolved config; each file is written atomically (ge4rec.io)."""

    run_dir: Path
    results_dir: Path
    config_yaml: str
    facts: dict[str, Any]  # what the run is: the results row's identity and provenance columns
    decisions: list[str] = field(default_factory=list)
    status: str = "running"
    error: str | None = None
    result: TrainResult | None = None
    analysis: dict[str, Any] | None = None  # metrics.json's "analysis" block
    analysis_scalars: dict[str, Any] = field(default_factory=dict)
    analysis_error: str | None = None

    @classmethod
    def of(
        cls,
        run: Run,
        run_dir: Path,
        results_dir: Path,
        overrides: list[str] | None = None,
        fingerprint: str | None = None,
    ) -> RunRecord:
        cfg = run.cfg
        facts = {
            "run_id": new_run_id(),
            "created_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "dataset": run.data.name,
            "model": str(cfg.model.name),
            "paradigm": str(cfg.paradigm.name),
            "seed": run.seed,
            "embedding_dim": int(cfg.embedding_dim),
            "parameters": parameter_count(run.model),
            "generator_parameters": run.model.generator_parameters(),
            "device": str(run.device),
            "run_dir": str(run_dir),
            "overrides": " ".join(overrides or []),
            "config": json.dumps(OmegaConf.to_container(cfg, resolve=True), sort_keys=True),
            "config_hash": fingerprint or config_hash(cfg),
            **provenance(),
        }
        return cls(
            run_dir=Path(run_dir),
            results_dir=Path(results_dir),
            config_yaml=OmegaConf.to_yaml(cfg, resolve=True),
            facts=facts,
            decisions=[str(d) for d in run.data.meta.get("decisions", [])],
        )

    def metrics(self) -> dict[str, Any]:
        """metrics.json's content."""
        out: dict[str, Any] = {"status": self.status}
        if self.error is not None:
            out["error"] = self.error
        result = self.result
        if result is not None:
            out.update(
                valid=result.valid,
                test=result.test,
                best_epoch=result.best_epoch,
                epochs=result.epochs,
                stopped=result.stopped,
                train_seconds=result.train_seconds,
                samples_per_second=result.samples_per_second,
                precision=result.precision,
                compile=result.compiled,
                splits_on_device=result.splits_on_device,
            )
        for key in ("parameters", "generator_parameters", "dataset", "model", "paradigm", "seed", "device"):
            out[key] = self.facts[key]
        if result is not None:
            out["history"] = result.history
        if self.analysis is not None:
            out["analysis"] = self.analysis
        if self.analysis_error is not None:
            out["analysis_error"] = self.analysis_error
        out["decisions"] = list(self.decisions)
        return json_safe(out)

    def row(self) -> dict[str, Any]:
        """The results-store row."""
        row = {**self.facts, "status": self.status, "error": self.error}
        result = self.result
        if result is not None:
            for column, (split, metric) in _RESULT_COLUMNS.items():
                row[column] = getattr(result, split)[metric]
            row.update(
                best_epoch=result.best_epoch,
                epochs=result.epochs,
                train_seconds=result.train_seconds,
                samples_per_second=result.samples_per_second,
            )
        row.update(json_safe(self.analysis_scalars))
        row["analysis_error"] = self.analysis_error
        return row

    def write_config(self) -> None:
        write_text(self.run_dir / "config.yaml", self.config_yaml)

    def fail(self, message: str) -> Path:
        """Record the run as failed: metrics.json and a row with status 'failed' and the error."""
        self.status, self.error = "failed", message
        self.result, self.analysis, self.analysis_scalars = None, None, {}
        return self._write()

    def interrupt(self, message: str) -> Path:
        """Record the run as interrupted: metrics.json and a row with status 'interrupted', the
        message as its error, and no metric (the run folder keeps the state to resume from)."""
        self.status, self.error = "interrupted", message
        self.result, self.analysis, self.analysis_scalars, self.analysis_error = None, None, {}, None
        return self._write()

    def complete(self) -> Path:
        """Record the run as completed; a metric that is not a finite number records it as failed
        instead (and raises TrainingFailed)."""
        self.status = "completed"
        row = self.row()
        bad = [c for c in _RESULT_COLUMNS if not math.isfinite(row[c])]
        if bad:
            message = f"non-finite {', '.join(f'{c} {row[c]}' for c in bad)}; nothing recorded as completed"
            self.fail(message)
            raise TrainingFailed(message)
        return self._write()

    def _write(self) -> Path:
        """metrics.json, then the row (the row is what marks the run done); returns the row's file."""
        write_json(self.run_dir / "metrics.json", self.metrics())
        return write_row(self.results_dir, self.row())


# -------------------------------------------------------------------------------------- train


def train_run(
    cfg: DictConfig,
    run_dir: Path,
    overrides: list[str] | None = None,
    console: Console | None = None,
    *,
    resume: bool = False,
) -> dict[str, Any]:
    """Train and evaluate one combination; returns metrics.json's content.

    Bad config or data (or a results_dir, cache_dir or run folder that cannot be written) raise
    Ge4recError before anything is recorded. A failure once training has started is recorded as a
    `failed` row and re-raised as TrainingFailed. An analysis that fails after training leaves the
    run completed, with the error in `analysis_error` (metrics.json and the row).

    While it trains, RUN_DIR/state.pt holds what resuming needs (ge4rec.train.state); the run
    removes it when it ends. SIGINT/SIGTERM stop the run after the batch it is on: it is recorded
    as `interrupted` (no metric) and RunInterrupted is raised. `resume=True` continues the run in
    `run_dir` from its state; `cfg` must be the run's own config (ge4rec.resume.resume_config).
    """
    console = console or Console()
    run_dir = Path(run_dir)
    validate(cfg)
    results_dir = check_folders(cfg, run_dir)
    fingerprint = config_hash(cfg)
    state = resume_state(run_dir, cfg, fingerprint) if resume else None
    if state is None and cfg.get("skip_done", False):
        done = completed_run(results_dir, fingerprint)
        if done is not None:
            console.print(
                f"skipped: {cfg.model.name} / {cfg.paradigm.name} seed {cfg.seed} already has a completed "
                f"run with this config ({done['run_dir']}, test AUC {done['test_auc']:.4f})"
            )
            return {
                "status": "skipped",
                "run_id": done["run_id"],
                "run_dir": done["run_dir"],
                "valid": {"auc": done.get("valid_auc"), "logloss": done.get("valid_logloss")},
            }
    if cfg.get("threads"):
        torch.set_num_threads(int(cfg.threads))
    with StopSignal() as stop:
        return _train(cfg, run_dir, results_dir, fingerprint, overrides, console, state, stop)


def resume_state(run_dir: Path, cfg: DictConfig, fingerprint: str) -> dict[str, Any]:
    """The state in RUN_DIR/state.pt, checked against the config and device it is resumed with."""
    state_file = run_dir / STATE_FILE
    if not state_file.is_file():
        raise Ge4recError(f"resume: '{run_dir}' has no {STATE_FILE} to resume from")
    state = load_state(state_file)
    if state["run"].get("config_hash") != fingerprint:
        raise Ge4recError(
            f"resume: the config differs from the one '{run_dir}' was trained with (another config_hash)"
        )
    device = resolve_device(str(cfg.device)).type
    if state["device"] != device:
        raise Ge4recError(
            f"resume: '{run_dir}' trained on {state['device']}; resume it there "
            f"(device={state['device']}), not on {device}, so it continues with the same random streams"
        )
    return state


def _train(
    cfg: DictConfig,
    run_dir: Path,
    results_dir: Path,
    fingerprint: str,
    overrides: list[str] | None,
    console: Console,
    state: dict[str, Any] | None,
    stop: StopSignal,
) -> dict[str, Any]:
    run = build_run(cfg, console=console)
    check_evaluable(run.data)
    record = RunRecord.of(run, run_dir, results_dir, overrides, fingerprint)
    if state is None:
        record.write_config()
    else:  # the same run: its identity and its row
        record.facts.update({k: state["run"][k] for k in ("run_id", "created_at", "overrides")})
    data, facts = run.data, record.facts
    state_file = run_dir / STATE_FILE
    checkpoint = run_dir / "checkpoint.pt" if cfg.get("save_checkpoint", True) else None
    console.print(
        f"[bold]{facts['model']}[/bold] / [bold]{facts['paradigm']}[/bold] on [bold]{data.name}[/bold]: "
        f"{data.schema.num_fields} fields, {len(data.splits['train']):,} train rows, d={facts['embedding_dim']}, "
        f"{facts['parameters']:,} parameters, {run.device}" + (" (cached data)" if data.reused_cache else "")
    )
    for decision in record.decisions:
        console.print(f"decided: {escape(decision)}")
    if state is not None:
        console.print(
            f"resuming {escape(os.path.relpath(run_dir))} after epoch {state['epoch']} "
            f"(at most {cfg.trainer.max_epochs})"
        )
    analysis_cfg = analysis_settings(cfg)
    tracker = None
    if cfg.trainer.get("track_collapse", False):  # information abundance after every epoch
        tracker = collapse_tracker(
            data.splits[analysis_cfg["split"]],
            analysis_cfg["rows"],
            run.seed,
            int(cfg.trainer.eval_batch_size),
            run.device,
        )
    run_facts = {k: facts[k] for k in ("run_id", "created_at", "overrides", "config_hash")}
    try:
        try:
            with stop.deferred():
                record.result = run.trainer.fit(
                    run.model,
                    data.splits,
                    checkpoint,
                    epoch_callback=tracker,
                    state_file=state_file,
                    resume=state,
                    stop=stop,
                    run_facts=run_facts,
                )
        except (TrainingFailed, torch.OutOfMemoryError) as exc:
            message = _one_line(exc)
            if isinstance(exc, torch.OutOfMemoryError):
                detail = message.removeprefix("OutOfMemoryError: ")
                message = f"out of memory: {detail} (try a smaller trainer.batch_size)"
            record.fail(message)
            raise TrainingFailed(message) from None
        if (cfg.get("analysis") or {}).get("enabled", True):  # collapse and redundancy, best checkpoint
            analyse(record, run, analysis_cfg, console)
        with stop.deferred():  # the record and the state go together
            store_file = record.complete()
            state_file.unlink(missing_ok=True)
    except TrainingFailed:
        state_file.unlink(missing_ok=True)  # a failed run is not resumed
        raise
    except RunInterrupted as exc:
        if exc.epoch is None:  # before the trainer wrote its first state
            exc.epoch = 0
        record.interrupt(f"interrupted by {exc.signal_name} {exc.progress}")
        raise
    print_summary(console, record.row(), run_dir, store_file)
    stop.check(record.result.epochs)  # a signal while the run was being recorded: it is complete
    return record.metrics()


def analyse(record: RunRecord, run: Run, settings: dict[str, Any], console: Console) -> None:
    """The collapse and redundancy analysis of the trained model, into `record`. The run is trained
    and evaluated already, so an analysis that fails does not discard it: the error goes to
    `record.analysis_error` and the log, and no analysis file is left in the run folder."""
    try:
        analysis = run_analysis(
            run.model,
            run.data.splits,
            record.run_dir,
            seed=run.seed,
            device=run.device,
            batch_size=int(run.cfg.trainer.eval_batch_size),
            **settings,
        )
    except Exception as exc:  # noqa: BLE001 - any failure here must still let the run be recorded
        record.analysis_error = _one_line(exc)
        shutil.rmtree(record.run_dir / ANALYSIS_FOLDER, ignore_errors=True)
        console.print(
            f"[yellow]analysis failed[/yellow], the run is recorded without it: {escape(record.analysis_error)}"
        )
        return
    record.analysis = json_safe(analysis.summary)
    record.analysis_scalars = dict(analysis.scalars)


def print_summary(console: Console, row: dict[str, Any], run_dir: Path, store_file: Path) -> None:
    table = Table(title=f"{row['model']} / {row['paradigm']} on {row['dataset']} (seed {row['seed']})")
    for col in ("split", "AUC", "LogLoss"):
        table.add_column(col, justify="right" if col != "split" else "left")
    table.add_row("valid", f"{row['valid_auc']:.4f}", f"{row['valid_logloss']:.4f}")
    table.add_row("test", f"{row['test_auc']:.4f}", f"{row['test_logloss']:.4f}")
    console.print(table)
    console.print(
        f"best epoch {row['best_epoch']} of {row['epochs']}, train {row['train_seconds']:.1f}s, "
        f"{row['samples_per_second']:,.0f} samples/s, {row['parameters']:,} parameters "
        f"({row['generator_parameters']:,} in generators)"
    )
    console.print(f"run folder: {os.path.relpath(run_dir)}   results row: {os.path.relpath(store_file)}")
