"""Memory and time of the whole path on a Criteo-shaped raw file as it grows: `ge4rec data prepare`
and `ge4rec train` (one epoch, test evaluation, collapse/redundancy analysis) on the raw Kaggle
layout, each as a whole process, with the disk the source and the cache take.

    python scripts/bench_scale.py                              # 5M and 20M rows, FM under SFG
    python scripts/bench_scale.py --rows 1000000,5000000 --model dcnv2
    python scripts/bench_scale.py --shuffle blocks             # trainer.shuffle=blocks
    python scripts/bench_scale.py --write-docs                 # also replace the section in docs/benchmarks.md

The data (not timed) is written by scripts/make_criteo_like.py in the raw Kaggle format (one
header-less, tab-separated train.txt: label, I1..I13, C1..C26) into .bench/data/kaggle_N, and read
with the `criteo_kaggle` preset (split 8:1:1 by dataset.split_seed, Criteo_x4's preprocessing: min
count 10, I columns log-square bucketed, all 39 fields categorical). Each size starts from an empty
cache folder.

Memory per process tree, sampled from /proc every 50 ms: `peak RSS` (resident pages, including
the pages of memory-mapped cache files the process touched, which the system can drop and read
again) and `peak anon` (resident minus file-backed pages: the memory the process owns). Flat
memory per row means both grow no faster than the row count; the 24 GiB budget is about anon.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from _bench_common import (
    BENCH,
    REPO,
    command_line,
    gib,
    machine_line,
    markdown_table,
    run_measured,
    thread_env,
    write_docs_section,
)
from make_criteo_like import criteo_fields, write_dataset, write_once
from omegaconf import OmegaConf

GE4REC = Path(sys.executable).parent / "ge4rec"
TITLE = "Criteo scale: memory per row"


def folder_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def data_folder(rows: int) -> Path:
    """Where make_data writes N rows (bench_optimizer.py reads them there too)."""
    return BENCH / "data" / f"kaggle_{rows}"


def work_folder(rows: int) -> Path:
    """The run folders and the cache of N rows (`work_folder(N) / "cache"`)."""
    return BENCH / "scale" / f"{rows}"


def make_data(rows: int) -> Path:
    """N Criteo-shaped rows in the raw Kaggle layout (train.txt), written once."""
    folder = data_folder(rows)
    write_once(
        folder,
        {"rows": rows, "layout": "kaggle"},
        lambda: write_dataset(folder, criteo_fields(), rows, "kaggle", verbose=True),
    )
    return folder


def measure(rows: int, args) -> dict:
    data = make_data(rows)
    work = work_folder(rows)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    common = ["dataset=criteo_kaggle", f"dataset.path={data}", f"cache_dir={work / 'cache'}"]
    env = thread_env(args.threads)
    prepare = run_measured([str(GE4REC), "data", "prepare", *common], env=env, cwd=REPO)
    if prepare.returncode != 0:
        raise SystemExit(f"data prepare failed:\n{prepare.output[-3000:]}")
    run_dir = work / "run"
    train_cmd = [
        str(GE4REC),
        "train",
        *common,
        f"model={args.model}",
        f"paradigm={args.paradigm}",
        "trainer.max_epochs=1",
        "trainer.progress=false",
        f"trainer.shuffle={args.shuffle}",
        f"results_dir={work / 'results'}",
        f"hydra.run.dir={run_dir}",
    ]
    train = run_measured(train_cmd, env=env, cwd=REPO)
    if train.returncode != 0:
        raise SystemExit(f"train failed:\n{train.output[-3000:]}")
    metrics = json.loads((run_dir / "metrics.json").read_text())
    cache = next(p for p in (work / "cache").iterdir() if p.is_dir() and not p.name.startswith("."))
    meta = json.loads((cache / "meta.json").read_text())
    return {
        "rows": rows,
        "source_bytes": (data / "train.txt").stat().st_size,
        "cache_bytes": folder_bytes(cache),
        "train_rows": meta["rows"]["train"],
        "prepare": prepare,
        "train": train,
        "samples_per_second": metrics["samples_per_second"],
        "test_auc": metrics["test"]["auc"],
        "run_bytes": folder_bytes(run_dir),
        "optimizer_kernel": OmegaConf.load(run_dir / "config.yaml").trainer.optimizer_kernel,
    }


def report(results: list[dict], args) -> str:
    rows = []
    for r in results:
        for step in ("prepare", "train"):
            run = r[step]
            rows.append(
                [
                    f"{r['rows']:,}",
                    f"`{step}`",
                    f"{run.wall_s:.0f} s",
                    gib(run.peak_tree_rss),
                    gib(run.peak_tree_anon),
                    f"{run.peak_tree_rss / r['rows']:.0f} B",
                    f"{run.peak_tree_anon / r['rows']:.0f} B",
                ]
            )
    table = markdown_table(
        ["rows", "step", "wall", "peak RSS", "peak anon", "RSS per row", "anon per row"], rows, "rlrrrrr"
    )
    disk = markdown_table(
        ["rows", "train.txt", "cache entry", "run folder", "train rows", "samples/s", "test AUC"],
        [
            [
                f"{r['rows']:,}",
                gib(r["source_bytes"]),
                gib(r["cache_bytes"]),
                gib(r["run_bytes"]),
                f"{r['train_rows']:,}",
                f"{r['samples_per_second']:,.0f}",
                f"{r['test_auc']:.4f}",
            ]
            for r in results
        ],
        "rrrrrrr",
    )
    marginal = []
    for small, large in zip(results, results[1:]):
        extra = large["rows"] - small["rows"]
        parts = [
            f"`{step}` {(large[step].peak_tree_anon - small[step].peak_tree_anon) / extra:.0f} B anon, "
            f"{(large[step].peak_tree_rss - small[step].peak_tree_rss) / extra:.0f} B RSS"
            for step in ("prepare", "train")
        ]
        marginal.append(
            f"- from {small['rows']:,} to {large['rows']:,} rows, each extra row costs: {'; '.join(parts)}"
        )
    growth = ("\n" + "\n".join(marginal) + "\n") if marginal else ""
    return (
        f"{machine_line(args.threads)}. `{command_line()}`: `criteo_kaggle` on a Criteo-shaped raw "
        f"file, `{args.model}` under `{args.paradigm}`, one epoch, `trainer.shuffle={args.shuffle}`, "
        f"`trainer.optimizer_kernel={results[0]['optimizer_kernel']}`.\n\n"
        f"{table}\n{growth}\n{disk}\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="5000000,20000000", help="comma-separated row counts")
    parser.add_argument("--model", default="fm")
    parser.add_argument("--paradigm", default="sfg")
    parser.add_argument("--shuffle", default="full", choices=("full", "blocks"))
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--write-docs", action="store_true")
    args = parser.parse_args()
    results = []
    for rows in [int(r) for r in args.rows.split(",")]:
        result = measure(rows, args)
        results.append(result)
        print(
            f"{rows:,} rows: prepare {result['prepare'].wall_s:.0f} s, peak anon "
            f"{gib(result['prepare'].peak_tree_anon)}; train {result['train'].wall_s:.0f} s, peak anon "
            f"{gib(result['train'].peak_tree_anon)}, RSS {gib(result['train'].peak_tree_rss)}",
            flush=True,
        )
    text = report(results, args)
    print(text)
    if args.write_docs:
        write_docs_section(TITLE, text)


if __name__ == "__main__":
    main()
