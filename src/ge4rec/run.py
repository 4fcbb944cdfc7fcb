"""One training run from a composed config: data -> model -> trainer -> run record -> results store."""

from __future__ import annotations

import hashlib
import json
import os
import random
import time
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import torch
from omegaconf import DictConfig, OmegaConf
from rich.console import Console
from rich.table import Table

from ge4rec.analysis.run_analysis import analysis_settings, collapse_tracker, json_safe, run_analysis
from ge4rec.config import check_train_config
from ge4rec.data import load_dataset
from ge4rec.errors import TrainingFailed
from ge4rec.models import build_model
from ge4rec.paradigms import build_paradigm
from ge4rec.provenance import provenance
from ge4rec.results import new_run_id, register_columns, scan_results, write_row
from ge4rec.train.loop import Trainer, resolve_device


def _register_analysis_columns() -> None:
    """Every row carries the analysis columns (null when a run has none), so rows of failed runs,
    runs without analysis and analysed runs read back as one table."""
    from ge4rec.analysis.run_analysis import scalar_schema

    columns: dict[str, pl.DataType] = scalar_schema()
    register_columns(columns)


_register_analysis_columns()


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
    from ge4rec.results.runs import flatten_config, is_ignored

    container = cfg if isinstance(cfg, dict) else OmegaConf.to_container(cfg, resolve=True)
    flat = {k: v for k, v in flatten_config(container).items() if not is_ignored(k)}
    text = json.dumps(sorted((k, repr(v)) for k, v in flat.items()))
    return hashlib.blake2b(text.encode(), digest_size=12).hexdigest()


def completed_run(results_dir: str | os.PathLike, fingerprint: str) -> dict[str, Any] | None:
    """The newest completed row of the store with this config hash, or None."""
    folder = Path(os.path.expanduser(str(results_dir)))
    if not folder.is_dir():
        return None
    rows = scan_results(folder)
    if "config_hash" not in rows.collect_schema().names():  # a store written before runs had one
        return None
    done = rows.filter((pl.col("config_hash") == fingerprint) & (pl.col("status") == "completed")).collect()
    return done.sort("created_at").row(-1, named=True) if done.height else None


def parameter_count(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def train_run(
    cfg: DictConfig, run_dir: Path, overrides: list[str] | None = None, console: Console | None = None
) -> dict[str, Any]:
    """Train and evaluate one combination; returns metrics.json's content.

    Bad config or data raise Ge4recError before anything is recorded. A failure once training
    has started is recorded as a `failed` row and re-raised as TrainingFailed.
    """
    console = console or Console()
    validate(cfg)
    fingerprint = config_hash(cfg)
    if cfg.get("skip_done", False):
        done = completed_run(cfg.results_dir, fingerprint)
        if done is not None:
            console.print(
                f"skipped: {cfg.model.name} / {cfg.paradigm.name} seed {cfg.seed} already has a completed "
                f"run with this config ({done['run_dir']}, test AUC {done['test_auc']:.4f})"
            )
            return {"status": "skipped", "run_id": done["run_id"], "run_dir": done["run_dir"]}
    if cfg.get("threads"):
        torch.set_num_threads(int(cfg.threads))
    seed = int(cfg.seed)
    device = resolve_device(str(cfg.device))
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
    trainer = Trainer(cfg.trainer, device, seed, console=console)

    run_dir.mkdir(parents=True, exist_ok=True)
    config_json = json.dumps(OmegaConf.to_container(cfg, resolve=True), sort_keys=True)
    (run_dir / "config.yaml").write_text(OmegaConf.to_yaml(cfg, resolve=True))
    row: dict[str, Any] = {
        "run_id": new_run_id(),
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "dataset": data.name,
        "model": str(cfg.model.name),
        "paradigm": str(cfg.paradigm.name),
        "seed": seed,
        "embedding_dim": int(cfg.embedding_dim),
        "parameters": parameter_count(model),
        "generator_parameters": model.generator_parameters(),
        "device": str(device),
        "run_dir": str(run_dir),
        "overrides": " ".join(overrides or []),
        "config": config_json,
        "config_hash": fingerprint,
        **provenance(),
    }
    checkpoint = run_dir / "checkpoint.pt" if cfg.get("save_checkpoint", True) else None
    console.print(
        f"[bold]{row['model']}[/bold] / [bold]{row['paradigm']}[/bold] on [bold]{data.name}[/bold]: "
        f"{data.schema.num_fields} fields, {len(data.splits['train']):,} train rows, d={row['embedding_dim']}, "
        f"{row['parameters']:,} parameters, {device}" + (" (cached data)" if data.reused_cache else "")
    )
    analysis_cfg = analysis_settings(cfg)
    tracker = None
    if cfg.trainer.get("track_collapse", False):  # information abundance after every epoch
        tracker = collapse_tracker(
            data.splits[analysis_cfg["split"]],
            analysis_cfg["rows"],
            seed,
            int(cfg.trainer.eval_batch_size),
            device,
        )
    try:
        result = trainer.fit(model, data.splits, checkpoint, epoch_callback=tracker)
    except (TrainingFailed, torch.OutOfMemoryError) as exc:
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if isinstance(exc, torch.OutOfMemoryError):
            message = f"out of memory: {message} (try a smaller trainer.batch_size)"
        row.update(status="failed", error=message)
        write_row(cfg.results_dir, row)
        (run_dir / "metrics.json").write_text(json.dumps({"status": "failed", "error": message}, indent=2))
        raise TrainingFailed(message) from None
    metrics = {
        "status": "completed",
        "valid": result.valid,
        "test": result.test,
        "best_epoch": result.best_epoch,
        "epochs": result.epochs,
        "stopped": result.stopped,
        "train_seconds": result.train_seconds,
        "samples_per_second": result.samples_per_second,
        "parameters": row["parameters"],
        "generator_parameters": row["generator_parameters"],
        "dataset": data.name,
        "model": row["model"],
        "paradigm": row["paradigm"],
        "seed": seed,
        "device": str(device),
        "history": result.history,
    }
    if (cfg.get("analysis") or {}).get("enabled", True):  # collapse and redundancy, best checkpoint
        analysis = run_analysis(
            model,
            data.splits,
            run_dir,
            seed=seed,
            device=device,
            batch_size=int(cfg.trainer.eval_batch_size),
            **analysis_cfg,
        )
        metrics["analysis"] = json_safe(analysis.summary)
        row.update(analysis.scalars)
    (run_dir / "metrics.json").write_text(json.dumps(metrics, indent=2))
    row.update(
        status="completed",
        valid_auc=result.valid["auc"],
        valid_logloss=result.valid["logloss"],
        test_auc=result.test["auc"],
        test_logloss=result.test["logloss"],
        best_epoch=result.best_epoch,
        epochs=result.epochs,
        train_seconds=result.train_seconds,
        samples_per_second=result.samples_per_second,
    )
    store_file = write_row(cfg.results_dir, row)
    print_summary(console, row, run_dir, store_file)
    return metrics


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
