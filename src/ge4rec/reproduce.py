"""`ge4rec reproduce`: the SFG paper's experiments as one command, and the page that reports them.

`reproduce small` runs, on the data sets that need no download (the built-in data and MovieLens
100K), the main-table sweep of the paper's seven base models in both paradigms over seeds and the
four DCNv2 ablations, then writes docs/results/paper_small.md (the main, ablation and collapse
tables and the spectrum and redundancy figures of DIS vs SFG for FM and DCNv2). `reproduce paper
--data DIR` runs the same on Criteo_x1 and Avazu_x4 with the paper's settings.

Every cell is the paper's own configuration (`experiment=paper/<data set>/<model>`, the BARS-tuned
base model plus the SFG settings of the authors' code); on the small data sets the Criteo_x1
cells are used (their d = 10 is MovieLens' d) with the data set swapped. Jobs run in a pool of
worker processes (`--jobs`, each with cores / jobs torch threads) and write to one results store;
a job whose exact config already has a completed row there is skipped, so a re-run trains only
what is missing.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ge4rec.errors import CommandParser, Ge4recError

PAPER_MODELS = ("fm", "fmfm", "crossnet", "deepfm", "ipnn", "xdeepfm", "dcnv2")
# the DCNv2 ablations of the paper, each variant as the paradigm overrides that make it (full SFG
# and DIS come from the main sweep); the paper ran them on Avazu_x4
ABLATIONS: dict[str, list[list[str]]] = {
    "source": [["paradigm.source=x0"]],
    "generator": [
        [f"paradigm.generator={kind}"]
        for kind in ("field_shared", "own_field", "mlp2", "attention", "exclude_self")
    ],
    "target": [
        [f"paradigm.targets={kind}", "paradigm.num_targets=0.5"]
        for kind in ("high_cardinality", "low_cardinality", "random")
    ],
    "activation": [[f"paradigm.activation={act}"] for act in ("identity", "sigmoid", "tanh", "silu")],
}
# the built-in data set at a size that keeps `reproduce small` within its time budget on a laptop
SYNTHETIC_SMALL = [
    "dataset.synthetic.train_rows=30000",
    "dataset.synthetic.valid_rows=10000",
    "dataset.synthetic.test_rows=10000",
]
SMALL_DATASETS: dict[str, list[str]] = {"movielens100k": [], "synthetic": SYNTHETIC_SMALL}
# the data set the small ablations run on: the paper ran them on one data set (Avazu_x4); DCNv2 at
# the paper's size is the most expensive model, so they run on the smaller of the two
SMALL_ABLATION_DATASET = "synthetic"
PAPER_DATASETS = {"criteo_x1": "Criteo_x1", "avazu_x4": "Avazu_x4"}
PAPER_SEEDS = {"criteo_x1": 2021, "avazu_x4": 2019}


@dataclass
class Job:
    name: str  # a readable, unique label: also the run folder's name
    overrides: list[str]
    group: str = "main"  # main | ablation


@dataclass
class Plan:
    jobs: list[Job]
    results_dir: Path
    runs_dir: Path
    datasets: list[str]
    seeds: dict[str, list[int]] = field(default_factory=dict)
    ablation_seeds: list[int] = field(default_factory=list)  # the ablation table compares these seeds


def sweep_jobs(
    label: str, cell: str, data: list[str], seeds: list[int], ablation_seeds: list[int] | None
) -> list[Job]:
    """The jobs of one data set: every paper model in both paradigms over `seeds` (the paper cell
    `experiment=paper/<cell>/<model>` with the `data` overrides), then, unless `ablation_seeds` is
    None, every DCNv2 ablation variant over those seeds. Run folders are named after `label`."""
    jobs = [
        Job(
            f"{label}_{model}_{paradigm}_s{seed}",
            [f"experiment=paper/{cell}/{model}", *data, f"paradigm={paradigm}", f"seed={seed}"],
        )
        for model in PAPER_MODELS
        for seed in seeds
        for paradigm in ("disc", "sfg")
    ]
    if ablation_seeds is None:
        return jobs
    for family, variants in ABLATIONS.items():
        for variant in variants:
            tag = "_".join(v.split("=", 1)[1] for v in variant)
            for seed in ablation_seeds:
                overrides = [
                    f"experiment=paper/{cell}/dcnv2",
                    *data,
                    "paradigm=sfg",
                    *variant,
                    f"seed={seed}",
                ]
                jobs.append(Job(f"{label}_dcnv2_{family}_{tag}_s{seed}", overrides, "ablation"))
    return jobs


def _seed_range(first: int, count: int) -> list[int]:
    return list(range(first, first + count))


def small_plan(seeds: int, ablation_seeds: int, results_dir: Path, runs_dir: Path, ablations: bool) -> Plan:
    cell = "criteo_x1"  # the paper's d = 10 cells, with the data set swapped
    seed_list = _seed_range(PAPER_SEEDS[cell], seeds)
    ablation_list = seed_list[:ablation_seeds]
    jobs: list[Job] = []
    for dataset, extra in SMALL_DATASETS.items():
        with_ablations = ablations and dataset == SMALL_ABLATION_DATASET
        data = [f"dataset={dataset}", *extra]
        jobs += sweep_jobs(dataset, cell, data, seed_list, ablation_list if with_ablations else None)
    seed_lists = {dataset: seed_list for dataset in SMALL_DATASETS}
    return Plan(jobs, results_dir, runs_dir, list(SMALL_DATASETS), seed_lists, ablation_list)


def paper_plan(
    data: Path, seeds: int, results_dir: Path, runs_dir: Path, ablations: bool, ablation_seeds: int = 3
) -> Plan:
    jobs: list[Job] = []
    seed_lists = {}
    for dataset, folder in PAPER_DATASETS.items():
        path = data / folder
        if not path.is_dir():
            raise Ge4recError(f"reproduce paper: no {folder} folder in '{data}' (expected {path})")
        seed_lists[dataset] = _seed_range(PAPER_SEEDS[dataset], seeds)
        with_ablations = ablations and dataset == "avazu_x4"  # as the paper ran them
        ablation_list = seed_lists[dataset][:ablation_seeds] if with_ablations else None
        jobs += sweep_jobs(dataset, dataset, [f"dataset.path={path}"], seed_lists[dataset], ablation_list)
    ablation_list = seed_lists["avazu_x4"][:ablation_seeds]
    return Plan(jobs, results_dir, runs_dir, list(PAPER_DATASETS), seed_lists, ablation_list)


# ------------------------------------------------------------------------------------ workers

_WORKER: dict[str, Any] = {}


def _init_worker(threads: int) -> None:
    import torch

    torch.set_num_threads(max(1, threads))
    _WORKER["threads"] = threads


def _compose(overrides: list[str]):
    from hydra import compose

    from ge4rec.cli import shipped_configs

    with shipped_configs("reproduce"):
        return compose(config_name="train", overrides=overrides)


def job_overrides(job: Job, plan_results: str, threads: int) -> list[str]:
    return [
        *job.overrides,
        f"results_dir={plan_results}",
        f"threads={threads}",
        "trainer.progress=false",
        "skip_done=true",
    ]


def _run_job(args: tuple[Job, str, str]) -> dict[str, Any]:
    """Train one job in this worker process; returns what the parent reports."""
    import io

    from rich.console import Console

    from ge4rec.errors import TrainingFailed
    from ge4rec.run import train_run

    job, results_dir, runs_dir = args
    threads = _WORKER.get("threads", 1)
    start = time.perf_counter()
    overrides = job_overrides(job, results_dir, threads)
    try:
        cfg = _compose(overrides)
        metrics = train_run(
            cfg, Path(runs_dir) / job.name, overrides, console=Console(file=io.StringIO(), width=200)
        )
    except TrainingFailed as exc:
        return {
            "job": job.name,
            "status": "failed",
            "error": str(exc),
            "seconds": time.perf_counter() - start,
        }
    except Ge4recError as exc:
        return {"job": job.name, "status": "error", "error": str(exc), "seconds": time.perf_counter() - start}
    except Exception as exc:  # a bug in one job must not stop the sweep; it is reported at the end
        message = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        return {"job": job.name, "status": "error", "error": message, "seconds": time.perf_counter() - start}
    status = "skipped" if metrics.get("status") == "skipped" else "completed"
    return {
        "job": job.name,
        "status": status,
        "test_auc": (metrics.get("test") or {}).get("auc"),
        "seconds": time.perf_counter() - start,
    }


def run_plan(plan: Plan, jobs: int, threads: int | None = None) -> list[dict[str, Any]]:
    """Run every job of the plan in `jobs` worker processes, with a progress bar over the sweep."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    console = Console(stderr=True)
    cores = os.cpu_count() or 1
    threads = threads or max(1, cores // max(1, jobs))
    plan.results_dir.mkdir(parents=True, exist_ok=True)
    plan.runs_dir.mkdir(parents=True, exist_ok=True)
    payload = [(job, str(plan.results_dir), str(plan.runs_dir)) for job in plan.jobs]
    outcomes: list[dict[str, Any]] = []
    context = multiprocessing.get_context("spawn")
    counts = {"completed": 0, "skipped": 0, "failed": 0}
    with (
        Progress(
            TextColumn("[bold]reproduce"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[counts]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
        ) as progress,
        context.Pool(jobs, initializer=_init_worker, initargs=(threads,)) as pool,
    ):
        task = progress.add_task("jobs", total=len(payload), counts="")
        for outcome in pool.imap_unordered(_run_job, payload):
            outcomes.append(outcome)
            key = outcome["status"] if outcome["status"] in counts else "failed"
            counts[key] += 1
            if key == "failed":
                progress.console.print(f"[red]failed[/red] {outcome['job']}: {outcome.get('error')}")
            elif not console.is_terminal:  # a log file gets one line per job instead of a live bar
                auc = outcome.get("test_auc")
                progress.console.print(
                    f"{len(outcomes)}/{len(payload)} {outcome['status']} {outcome['job']}"
                    + (f" test AUC {auc:.4f}" if auc is not None else "")
                    + f" ({outcome['seconds']:.0f}s)"
                )
            progress.update(
                task,
                advance=1,
                counts=f"{counts['completed']} trained, {counts['skipped']} skipped, {counts['failed']} failed",
            )
    return outcomes


# ------------------------------------------------------------------------------------- command


def reproduce_command(args: list[str]) -> None:
    parser = CommandParser(
        prog="ge4rec reproduce",
        description="Run the SFG paper's experiments and write the page with its tables.",
    )
    parser.add_argument(
        "target",
        choices=("small", "paper"),
        help="small: built-in + MovieLens 100K; paper: Criteo_x1 + Avazu_x4",
    )
    parser.add_argument("--data", default=None, help="paper: the folder holding Criteo_x1/ and Avazu_x4/")
    parser.add_argument("--seeds", type=int, default=None, help="seeds per cell (small: 5, paper: 5)")
    parser.add_argument(
        "--ablation-seeds", type=int, default=3, help="seeds per ablation variant (default 3)"
    )
    parser.add_argument("--no-ablations", action="store_true", help="the main table only")
    parser.add_argument(
        "--jobs", type=int, default=None, help="parallel worker processes (default: min(2, cores))"
    )
    parser.add_argument(
        "--results", default=None, help="the results store (default: results/reproduce_<target>)"
    )
    parser.add_argument("--runs", default=None, help="run folders (default: runs/reproduce_<target>)")
    parser.add_argument("--out", default=None, help="the page (default: docs/results/paper_<target>.md)")
    parser.add_argument("--dry-run", action="store_true", help="list the jobs and exit")
    parser.add_argument(
        "--report-only", action="store_true", help="write the page from the store, train nothing"
    )
    options = parser.parse_args(args)
    seeds = options.seeds or 5
    if seeds < 1 or options.ablation_seeds < 1:
        raise Ge4recError("reproduce: --seeds and --ablation-seeds must be at least 1")
    results = Path(options.results or f"results/reproduce_{options.target}")
    runs = Path(options.runs or f"runs/reproduce_{options.target}")
    out = Path(options.out or f"docs/results/paper_{options.target}.md")
    if not out.parent.is_dir():
        raise Ge4recError(f"reproduce: --out {out}: folder '{out.parent}' does not exist")
    if options.target == "small":
        plan = small_plan(seeds, options.ablation_seeds, results, runs, not options.no_ablations)
    else:
        if not options.data:
            raise Ge4recError(
                "reproduce paper: --data DIR is required (the folder holding Criteo_x1/ and Avazu_x4/)"
            )
        plan = paper_plan(
            Path(os.path.expanduser(options.data)), seeds, results, runs, not options.no_ablations
        )
    if options.dry_run:
        for job in plan.jobs:
            print(f"{job.name}: ge4rec train {' '.join(job.overrides)} results_dir={results}")
        print(f"{len(plan.jobs)} jobs")
        return
    jobs = options.jobs or min(2, os.cpu_count() or 1)
    start = time.perf_counter()
    outcomes: list[dict[str, Any]] = []
    if not options.report_only:
        # one data preparation per data set before the workers start (they would race to build it)
        for dataset in plan.datasets:
            first = next(j for j in plan.jobs if f"{dataset}_" in j.name)
            from ge4rec.data import load_dataset

            cfg = _compose(first.overrides)
            load_dataset(cfg.dataset, cfg.cache_dir)
        outcomes = run_plan(plan, jobs)
    minutes = (time.perf_counter() - start) / 60
    from ge4rec.report import write_reproduce_page

    command = "ge4rec reproduce " + " ".join(args)
    write_reproduce_page(plan, out, command=command, minutes=minutes, outcomes=outcomes)
    failed = [o for o in outcomes if o["status"] not in ("completed", "skipped")]
    print(f"written: {out} ({len(outcomes)} jobs, {len(failed)} failed, {minutes:.1f} min)")
    if failed:
        for o in failed:
            print(f"  failed: {o['job']}: {o.get('error')}", file=sys.stderr)
        sys.exit(1)
