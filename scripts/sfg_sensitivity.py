"""What SFG's gamma does, and the SFG effect under an equal tuning budget, on the small data sets.

Writes docs/results/gamma_and_budget.md (never edit it by hand; re-run this script):

1. gamma: FM, DeepFM and DCNv2 in the paper's Criteo_x1 configuration (experiment=paper/criteo_x1/M,
   d = 10) on MovieLens 100K and the built-in data, SFG with gamma in {0.01, 0.1, 1, 6}, one seed:
   one line per gamma with valid and test AUC, beside the DIS run of the same seed.
2. equal budget: FM on both data sets with experiment=equal_budget (each paradigm 3 learning rates
   x 3 values of its own knob: gamma for SFG, the embedding L2 for DIS; 3 seeds), reported with
   `ge4rec table main --select best-valid` beside the reference protocol's table (the store of
   `ge4rec reproduce small`).

Runs that the `reproduce small` store already holds (same config, same seed) are not trained again.

    python scripts/sfg_sensitivity.py [--jobs 2] [--results results/sfg_sensitivity]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import polars as pl

from ge4rec.io import write_text
from ge4rec.reproduce import PAPER_SEEDS, SMALL_DATASETS, Job, Plan, _compose, run_plan
from ge4rec.results.render import render
from ge4rec.results.tables import build_main_table, load_runs
from ge4rec.run import completed_run, config_hash

GAMMAS = (0.01, 0.1, 1.0, 6.0)
GAMMA_MODELS = ("fm", "deepfm", "dcnv2")
BUDGET_MODEL = "fm"
LEARNING_RATES = (1e-3, 3e-3, 1e-2)
SEED = PAPER_SEEDS["criteo_x1"]
BUDGET_SEEDS = (SEED, SEED + 1, SEED + 2)


def gamma_jobs() -> list[Job]:
    jobs = []
    for dataset, extra in SMALL_DATASETS.items():
        for model in GAMMA_MODELS:
            base = [f"experiment=paper/criteo_x1/{model}", f"dataset={dataset}", *extra, f"seed={SEED}"]
            jobs.append(Job(f"{dataset}_{model}_disc_s{SEED}", [*base, "paradigm=disc"], "gamma"))
            for gamma in GAMMAS:
                jobs.append(
                    Job(
                        f"{dataset}_{model}_sfg_gamma{gamma:g}_s{SEED}",
                        [*base, "paradigm=sfg", f"paradigm.gamma={gamma}"],
                        "gamma",
                    )
                )
    return jobs


def budget_jobs() -> list[Job]:
    jobs = []
    for dataset, extra in SMALL_DATASETS.items():
        for paradigm in ("disc", "sfg"):
            for lr in LEARNING_RATES:
                for trial in range(3):
                    for seed in BUDGET_SEEDS:
                        overrides = [
                            "experiment=equal_budget",
                            f"model={BUDGET_MODEL}",
                            f"dataset={dataset}",
                            *extra,
                            "embedding_dim=10",
                            f"paradigm={paradigm}",
                            f"trainer.lr={lr}",
                            f"equal_budget.trial={trial}",
                            f"seed={seed}",
                        ]
                        name = f"{dataset}_{BUDGET_MODEL}_{paradigm}_lr{lr:g}_t{trial}_s{seed}"
                        jobs.append(Job(name, overrides, "budget"))
    return jobs


def elsewhere(job: Job, store: Path) -> dict | None:
    """The completed row of `store` (the reproduce store) with this job's exact config."""
    return completed_run(store, config_hash(_compose(job.overrides)))


def gamma_section(frame: pl.DataFrame, reference: pl.DataFrame) -> list[str]:
    both = pl.concat([frame, reference], how="diagonal_relaxed") if reference.height else frame
    both = both.filter(pl.col("status") == "completed").unique(subset=["config_hash"], keep="last")
    lines = [
        "## 1. What gamma does\n",
        f"SFG with gamma in {{{', '.join(f'{g:g}' for g in GAMMAS)}}}, one seed ({SEED}), each model in the paper's "
        "Criteo_x1 configuration (`experiment=paper/criteo_x1/<model>`, whose own gamma is marked *); DIS is the "
        "same configuration with the identity generator. One seed: differences below the seed-to-seed spread "
        "of the main table (its std column) are noise.\n",
    ]
    for dataset in SMALL_DATASETS:
        lines += [
            f"**{dataset}**\n",
            "| model | paradigm | gamma | valid AUC | test AUC | test LogLoss | best epoch |",
            "|---|---|---:|---:|---:|---:|---:|",
        ]
        for model in GAMMA_MODELS:
            rows = both.filter(
                (pl.col("dataset") == dataset) & (pl.col("model") == model) & (pl.col("seed") == SEED)
            )
            paper_gamma = _compose([f"experiment=paper/criteo_x1/{model}"]).paradigm.gamma
            dis = rows.filter(pl.col("paradigm") == "disc")
            for row in dis.head(1).iter_rows(named=True):
                lines.append(
                    f"| {model} | DIS | - | {row['valid_auc']:.4f} | {row['test_auc']:.4f} | "
                    f"{row['test_logloss']:.4f} | {row['best_epoch']} |"
                )
            sfg = rows.filter(pl.col("paradigm") == "sfg")
            by_gamma = {}
            for row in sfg.iter_rows(named=True):
                gamma = float(json.loads(row["config"])["paradigm"]["gamma"])
                if _is_default_variant(row) and gamma in GAMMAS:
                    by_gamma[gamma] = row
            best = max(by_gamma, key=lambda g: by_gamma[g]["valid_auc"]) if by_gamma else None
            for gamma in GAMMAS:
                row = by_gamma.get(gamma)
                if row is None:
                    lines.append(f"| {model} | SFG | {gamma:g} | (missing) | | | |")
                    continue
                mark = "*" if abs(gamma - float(paper_gamma)) < 1e-12 else ""
                win = " (best valid)" if gamma == best else ""
                lines.append(
                    f"| {model} | SFG | {gamma:g}{mark} | {row['valid_auc']:.4f}{win} | {row['test_auc']:.4f} | "
                    f"{row['test_logloss']:.4f} | {row['best_epoch']} |"
                )
        lines.append("")
    return lines


def _is_default_variant(row: dict) -> bool:
    """An SFG run with the paper cell's generator settings (not an ablation variant)."""
    para = json.loads(row["config"])["paradigm"]
    return (
        para.get("generator") == "dense"
        and para.get("activation") == "relu"
        and para.get("targets") == "all"
        and para.get("source") == "xl"
    )


def budget_section(frame: pl.DataFrame, reference: pl.DataFrame) -> list[str]:
    """The main table of FM under the reference protocol (`reference`: the reproduce small store)
    and under the equal budget (`frame`), per data set."""
    if reference.height:
        reference = reference.filter(pl.col("model") == BUDGET_MODEL)
    lines = [
        "## 2. The SFG effect under the reference protocol and under an equal tuning budget\n",
        f"{BUDGET_MODEL.upper()}, d = 10. *Reference protocol*: the paper's Criteo_x1 cell "
        f"(`experiment=paper/criteo_x1/{BUDGET_MODEL}`: lr 1e-3, its L2, SFG's gamma as the paper set it; the "
        "seeds of `ge4rec reproduce small`). *Equal budget*: `experiment=equal_budget`, each paradigm gets 9 "
        "configurations (lr 1e-3, 3e-3, 1e-2 x gamma 0.01, 0.1, 6 for SFG, x embedding L2 0, 1e-6, 1e-5 for DIS), "
        f"{len(BUDGET_SEEDS)} seeds each; the configuration with the best mean *validation* AUC of each paradigm "
        "is reported on *test* (`ge4rec table main --select best-valid`).\n",
    ]
    for dataset in SMALL_DATASETS:
        lines.append(f"### {dataset}\n")
        lines.append("**Reference protocol**\n")
        lines.append(_main_or_note(reference, dataset, None))
        lines.append("**Equal budget (best configuration on validation AUC)**\n")
        lines.append(
            _main_or_note(
                frame.filter(pl.col("model") == BUDGET_MODEL) if frame.height else frame,
                dataset,
                "best-valid",
            )
        )
    return lines


def _main_or_note(frame: pl.DataFrame, dataset: str, select: str | None) -> str:
    from ge4rec.errors import Ge4recError

    if not frame.height or dataset not in set(frame["dataset"].to_list()):
        return "*(no runs)*\n"
    try:
        return render(build_main_table(frame, [dataset], select=select), "md")
    except Ge4recError as exc:
        return f"*(no table: {exc})*\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--results", default="results/sfg_sensitivity")
    parser.add_argument("--reference", default="results/reproduce_small", help="the reproduce small store")
    parser.add_argument("--runs", default="runs/sfg_sensitivity")
    parser.add_argument("--out", default="docs/results/gamma_and_budget.md")
    parser.add_argument("--report-only", action="store_true")
    options = parser.parse_args()
    results, reference = Path(options.results), Path(options.reference)
    start = time.perf_counter()
    jobs = gamma_jobs() + budget_jobs()
    if not options.report_only:
        todo = [job for job in jobs if job.group != "gamma" or elsewhere(job, reference) is None]
        print(f"{len(jobs)} jobs, {len(jobs) - len(todo)} already in {reference}", file=sys.stderr)
        outcomes = run_plan(Plan(todo, results, Path(options.runs), list(SMALL_DATASETS)), options.jobs)
        failed = [o for o in outcomes if o["status"] not in ("completed", "skipped")]
        for o in failed:
            print(f"failed: {o['job']}: {o.get('error')}", file=sys.stderr)
    frame = load_runs([results]) if results.is_dir() else pl.DataFrame()
    ref_frame = load_runs([reference]) if reference.is_dir() else pl.DataFrame()
    budget = frame.filter(pl.col("config").str.contains('"equal_budget"')) if frame.height else frame
    gamma_runs = frame.filter(~pl.col("config").str.contains('"equal_budget"')) if frame.height else frame
    if options.report_only:  # no training now: the runs' own training time, summed
        seconds = float(frame["train_seconds"].fill_null(0).sum()) if frame.height else 0.0
        cost = f"its runs trained {seconds / 60:.0f} min in all here"
    else:
        cost = f"{(time.perf_counter() - start) / 60:.0f} min here"
    page = [
        "# SFG's gamma, and DIS vs SFG under an equal tuning budget (small data sets)\n",
        f"Written by `python scripts/sfg_sensitivity.py` ({cost}). Do not edit by hand: re-run "
        "the script. The built-in data runs at the size `ge4rec reproduce small` uses "
        f"({', '.join(s.split('=')[1] for s in SMALL_DATASETS['synthetic'])} train/valid/test rows).\n",
        *gamma_section(gamma_runs, ref_frame),
        *budget_section(budget, ref_frame),
    ]
    write_text(options.out, "\n".join(page).rstrip() + "\n")
    print(f"written: {options.out}")


if __name__ == "__main__":
    main()
