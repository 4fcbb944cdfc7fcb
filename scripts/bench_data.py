"""Preprocessing speed and memory of ge4rec and FuxiCTR 2.3.10 on the same CSV files: fit the
vocabularies on train, encode train/valid/test, write the result; each tool as a whole process.

    python scripts/bench_data.py                          # 2,000,000 rows x 20 Zipf categorical columns
    python scripts/bench_data.py --rows 500000 --cols 100
    python scripts/bench_data.py --criteo                 # Criteo-shaped: 13 integer + 26 categorical columns
    python scripts/bench_data.py --scale rows             # 0.5M .. 10M rows x 20 columns
    python scripts/bench_data.py --scale rows --tools ge4rec   # the same, ge4rec alone
    python scripts/bench_data.py --scale cols             # 20 .. 1000 columns x 200,000 rows
    python scripts/bench_data.py --breakdown              # plus where ge4rec's time goes
    python scripts/bench_data.py --write-docs             # also replace the section in docs/benchmarks.md

The data (not timed) is written by scripts/make_criteo_like.py into .bench/data/ as a BARS folder
(train/valid/test.csv, 8:1:1): by default `--cols` categorical columns of 8-hex-digit values with
Zipf-like frequencies, vocabularies log-spaced from 10 to 1,000,000 values; with `--criteo` the
Criteo shape (I1..I13 integers read as numeric, C1..C26 categorical, empty values).

- FuxiCTR: FeatureProcessor + build_dataset as its examples run them (polars statistics, Ray
  transform, parquet output), in .bench/fuxictr-venv (built on first use), every column declared
  (categorical as str, Criteo's I columns numeric, min count 1).
- ge4rec: `ge4rec data prepare` where the installed ge4rec has that command, otherwise a
  `python -c` that composes the same config and calls ge4rec.data.load_dataset (the same work:
  schema inference, fit on train, encode, write the cache entry). `dataset=csv` infers the
  column types (string values: categorical); `--criteo` uses the criteo_x1 preset.
Each run starts from an empty output folder (a fresh ge4rec cache, a fresh FuxiCTR data_root).

Measured per run: wall time of the process; `peak tree RSS`, the largest sum of the resident set
sizes of the process and all its descendants (Ray's workers and services included), sampled from
/proc every 50 ms (pages shared between processes count once per process); `max single RSS`, the
largest peak RSS of any one process of the tree (os.wait4's ru_maxrss). The two tools alternate,
`--rounds` times; ratios are medians of the per-round ratios.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _fuxictr_env as fx
from _bench_common import (
    command_line,
    gib,
    markdown_table,
    run_measured,
    thread_env,
    write_docs_section,
)

DATA_DIR = fx.BENCH_DIR / "data"
GE4REC = Path(sys.executable).parent / "ge4rec"
SCALE_ROWS = "500000,1000000,2000000,5000000,10000000"
SCALE_COLS = "20,100,300,1000"

# the fallback ge4rec process: compose the data set config as `ge4rec train` would, and prepare it
LOAD_SNIPPET = """
import json, sys
from hydra import compose, initialize_config_dir
from ge4rec.cli import config_dir
from ge4rec.data import load_dataset
with initialize_config_dir(version_base="1.3", config_dir=config_dir()):
    cfg = compose("train", overrides=json.loads(sys.argv[1]))
data = load_dataset(cfg.dataset, cfg.cache_dir)
print("rows", {k: len(v) for k, v in data.splits.items()})
"""


def make_data(rows: int, cols: int, criteo: bool, seed: int) -> Path:
    # imported here: the breakdown worker runs this file too, and must start with ge4rec's imports only
    from make_criteo_like import CRITEO_CLICK_RATE, criteo_fields, write_dataset, write_once, zipf_fields

    folder = DATA_DIR / (f"criteo_like_{rows}" if criteo else f"zipf_{rows}x{cols}")
    fields = criteo_fields() if criteo else zipf_fields(cols)
    # wide tables: smaller chunks keep the generator's memory flat
    chunk = max(10_000, min(500_000, 20_000_000 // max(len(fields), 1)))

    def write() -> None:
        print(f"writing {folder} ...", file=sys.stderr, flush=True)
        # in a child process: the memory the generator touches would otherwise stay in this
        # process, and every tool started after it by fork would report it as its peak RSS
        with multiprocessing.get_context("spawn").Pool(1) as pool:
            pool.apply(
                write_dataset,
                (folder, fields, rows, "bars", (0.8, 0.1, 0.1), seed, 1.1, CRITEO_CLICK_RATE, chunk),
            )

    write_once(folder, {"rows": rows, "cols": cols, "criteo": criteo, "seed": seed}, write)
    return folder


def ge4rec_overrides(folder: Path, criteo: bool, cache: Path) -> list[str]:
    dataset = ["dataset=criteo_x1"] if criteo else ["dataset=csv"]
    return [*dataset, f"dataset.path={folder.resolve()}", f"cache_dir={cache}"]


def has_prepare_command() -> bool:
    if not GE4REC.is_file():
        return False
    probe = subprocess.run([str(GE4REC), "data", "prepare", "--help"], capture_output=True, text=True)
    return probe.returncode == 0


def ge4rec_command(folder: Path, criteo: bool, cache: Path, use_cli: bool) -> list[str]:
    overrides = ge4rec_overrides(folder, criteo, cache)
    if use_cli:
        return [str(GE4REC), "data", "prepare", *overrides]
    return [sys.executable, "-c", LOAD_SNIPPET, json.dumps(overrides)]


def fuxictr_command(folder: Path, criteo: bool, out: Path) -> list[str]:
    header = (folder / "train.csv").open().readline().strip().split(",")
    fields = [c for c in header if c != "label"]
    numeric = [c for c in fields if criteo and c.startswith("I")]
    categorical = [c for c in fields if c not in numeric]
    args = [
        "prepare",
        *("--train", str(folder / "train.csv"), "--valid", str(folder / "valid.csv")),
        *("--test", str(folder / "test.csv"), "--out", str(out), "--dataset-id", "bench"),
        *("--categorical", ",".join(categorical)),
    ]
    if numeric:
        args += ["--numeric", ",".join(numeric)]
    return fx.worker_command(*args)


def count_rows(folder: Path) -> int:
    total = 0
    for split in ("train", "valid", "test"):
        with open(folder / f"{split}.csv", "rb") as fh:
            total += sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 24), b"")) - 1
    return total


def measure_pair(
    folder: Path, criteo: bool, rounds: int, threads: int | None, use_cli: bool, tools: tuple[str, ...]
) -> dict:
    """The tools `rounds` times, alternating; per-tool lists of runs and FuxiCTR's own stage times."""
    runs: dict[str, list] = {"fuxictr": [], "ge4rec": []}
    fx_stages: list[dict] = []
    for round_index in range(rounds):
        order = ("fuxictr", "ge4rec") if round_index % 2 == 0 else ("ge4rec", "fuxictr")
        for tool in (t for t in order if t in tools):
            scratch = Path(tempfile.mkdtemp(prefix=f"bench-{tool}-", dir=fx.BENCH_DIR))
            try:
                if tool == "fuxictr":
                    env, ray_tmp = fx.worker_env(threads)
                    try:
                        run = run_measured(fuxictr_command(folder, criteo, scratch), env=env)
                    finally:
                        shutil.rmtree(ray_tmp, ignore_errors=True)
                    if run.returncode == 0:
                        fx_stages.append(fx.parse_tagged(run.output, "FUXICTR_STAGES"))
                else:
                    cmd = ge4rec_command(folder, criteo, scratch / "cache", use_cli)
                    run = run_measured(cmd, env=thread_env(threads))
                    if run.returncode != 0 and use_cli:  # a `data prepare` with other arguments
                        print("`ge4rec data prepare` failed; timing load_dataset instead", file=sys.stderr)
                        use_cli = False
                        run = run_measured(
                            ge4rec_command(folder, criteo, scratch / "cache", False), thread_env(threads)
                        )
            finally:
                shutil.rmtree(scratch, ignore_errors=True)
            if run.returncode != 0:
                raise SystemExit(
                    f"{tool} failed (exit {run.returncode}):\n" + "\n".join(run.output.splitlines()[-25:])
                )
            runs[tool].append(run)
            print(
                f"  {tool}: {run.wall_s:.1f} s, peak tree RSS {gib(run.peak_tree_rss)}, "
                f"max single RSS {gib(run.max_single_rss)}",
                file=sys.stderr,
                flush=True,
            )
    return {"runs": runs, "fx_stages": fx_stages, "use_cli": use_cli}


def summary_row(label: list[str], rows: int, result: dict) -> list[str]:
    fxr, ger = result["runs"]["fuxictr"], result["runs"]["ge4rec"]

    def med(runs, key):
        return statistics.median(getattr(r, key) for r in runs)

    if not fxr:  # ge4rec alone (--tools ge4rec)
        return [
            *label,
            "-",
            f"{med(ger, 'wall_s'):.1f}",
            "-",
            f"{rows / med(ger, 'wall_s'):,.0f}",
            "-",
            "-",
            gib(int(med(ger, "peak_tree_rss"))),
            "-",
            "-",
            gib(int(med(ger, "max_single_rss"))),
        ]

    speed = statistics.median(f.wall_s / g.wall_s for f, g in zip(fxr, ger))
    memory = statistics.median(f.peak_tree_rss / g.peak_tree_rss for f, g in zip(fxr, ger))
    return [
        *label,
        f"{med(fxr, 'wall_s'):.1f}",
        f"{med(ger, 'wall_s'):.1f}",
        f"{rows / med(fxr, 'wall_s'):,.0f}",
        f"{rows / med(ger, 'wall_s'):,.0f}",
        f"{speed:.2f}",
        gib(int(med(fxr, "peak_tree_rss"))),
        gib(int(med(ger, "peak_tree_rss"))),
        f"{memory:.2f}",
        gib(int(med(fxr, "max_single_rss"))),
        gib(int(med(ger, "max_single_rss"))),
    ]


SUMMARY_HEADER = [
    "FuxiCTR s",
    "ge4rec s",
    "FuxiCTR rows/s",
    "ge4rec rows/s",
    "speed-up (FuxiCTR s / ge4rec s)",
    "FuxiCTR peak tree RSS",
    "ge4rec peak tree RSS",
    "memory ratio (FuxiCTR / ge4rec)",
    "FuxiCTR max single RSS",
    "ge4rec max single RSS",
]


# ------------------------------------------------------------------------ ge4rec's own breakdown


REFERENCE_CODES = "reference: parse train and code its categorical columns alone (polars Categorical cast)"


def breakdown_worker(overrides: list[str]) -> None:
    """In a fresh process: time ge4rec's preparation stage by stage by wrapping its functions
    (a stage whose function is not there is left out; the rest of load_dataset is `other`)."""
    start = time.perf_counter()
    import polars as pl
    from hydra import compose, initialize_config_dir

    from ge4rec.cli import config_dir
    from ge4rec.data import prepare

    with initialize_config_dir(version_base="1.3", config_dir=config_dir()):
        cfg = compose("train", overrides=overrides)
    stages: dict[str, float] = {"imports and config": time.perf_counter() - start}

    spans: dict[str, list[float]] = {}  # stage -> [first start, last end] of concurrent calls

    def timed(owner, attr: str, stage: str, concurrent: bool = False) -> None:
        """Add the calls' time to the stage; for calls that may overlap (`concurrent`: one per
        split, in threads), the wall time from the first start to the last end."""
        original = getattr(owner, attr, None)
        if original is None:
            return

        def wrapper(*a, **k):
            t0 = time.perf_counter()
            try:
                return original(*a, **k)
            finally:
                t1 = time.perf_counter()
                if concurrent:
                    span = spans.setdefault(stage, [t0, t1])
                    span[0], span[1] = min(span[0], t0), max(span[1], t1)
                    stages[stage] = span[1] - span[0]
                else:
                    stages[stage] = stages.get(stage, 0.0) + t1 - t0

        setattr(owner, attr, wrapper)

    from ge4rec.data import cache
    from ge4rec.data.preprocess import Preprocessor

    timed(prepare, "fingerprint_sources", "hash the source files")
    timed(prepare, "collect", "count the values of train's fields (one pass: types and vocabularies)")
    timed(prepare, "code_values", "read train's text columns once as codes and count them")
    timed(prepare, "infer_types", "infer field types (from the counts)")
    timed(Preprocessor, "check", "check labels and numbers (reads each split)")
    timed(Preprocessor, "fit", "fit vocabularies (from the counts) and numeric statistics")
    timed(Preprocessor, "code_ids", "ids of train's codes (from the vocabularies)")
    timed(Preprocessor, "transform_to", "encode into .npy files (each split in a thread)", concurrent=True)
    timed(Preprocessor, "save", "write the fitted preprocessor")
    timed(cache, "write_manifest", "checksum the cache files")
    timed(cache, "entry_problem", "verify the cache entry against its manifest")
    timed(prepare, "_load_split", "import torch and map the arrays (ge4rec train; not data prepare)")
    t0 = time.perf_counter()
    data = prepare.load_dataset(cfg.dataset, cfg.cache_dir)
    total = time.perf_counter() - t0
    stages["other"] = total - sum(v for k, v in stages.items() if k != "imports and config")
    stages["load_dataset in all"] = total
    t0 = time.perf_counter()  # for reference: a bare read of every file (types left as strings)
    folder = Path(str(cfg.dataset.path))
    for split in ("train", "valid", "test"):
        pl.scan_csv(folder / f"{split}.csv", infer_schema=False).collect()
    stages["reference: parse all files alone"] = time.perf_counter() - t0
    # the floor of the coding pass: train's categorical columns parsed and coded by polars
    # (a Categorical cast), nothing counted, kept or written
    coded = [f.name for f in data.schema.fields if f.type == "categorical"]
    t0 = time.perf_counter()
    query = pl.scan_csv(folder / "train.csv", infer_schema=False).select(
        pl.col(name).cast(pl.Categorical(pl.Categories.random())).to_physical() for name in coded
    )
    for _ in query.collect_batches(engine="streaming"):
        pass
    stages[REFERENCE_CODES] = time.perf_counter() - t0
    print("GE4REC_STAGES " + json.dumps(stages), flush=True)


def breakdown(folder: Path, criteo: bool, threads: int | None) -> tuple[str, float]:
    scratch = Path(tempfile.mkdtemp(prefix="bench-breakdown-", dir=fx.BENCH_DIR))
    try:
        overrides = ge4rec_overrides(folder, criteo, scratch / "cache")
        cmd = [sys.executable, str(Path(__file__).resolve()), "--breakdown-worker", json.dumps(overrides)]
        run = run_measured(cmd, env=thread_env(threads))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if run.returncode != 0:
        raise SystemExit("breakdown failed:\n" + "\n".join(run.output.splitlines()[-25:]))
    stages = fx.parse_tagged(run.output, "GE4REC_STAGES")
    in_process = (
        stages["imports and config"]
        + stages["load_dataset in all"]
        + stages["reference: parse all files alone"]
        + stages[REFERENCE_CODES]
    )
    rows = [["interpreter start-up and exit", f"{run.wall_s - in_process:.2f}"]]
    rows += [[k, f"{v:.2f}"] for k, v in stages.items()]
    return markdown_table(["ge4rec stage", "seconds"], rows), run.wall_s


# ------------------------------------------------------------------------------------------- main


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--breakdown-worker":
        breakdown_worker(json.loads(sys.argv[2]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000, help="rows in all (8:1:1 train/valid/test)")
    parser.add_argument("--cols", type=int, default=20, help="Zipf categorical columns")
    parser.add_argument("--criteo", action="store_true", help="Criteo-shaped data instead (39 columns)")
    parser.add_argument("--scale", choices=("rows", "cols"), help="a scaling table instead of one comparison")
    parser.add_argument("--scale-rows", default=SCALE_ROWS, help="--scale rows: the row counts")
    parser.add_argument("--scale-cols", default=SCALE_COLS, help="--scale cols: the column counts")
    parser.add_argument("--scale-cols-rows", type=int, default=200_000, help="--scale cols: rows per table")
    parser.add_argument("--rounds", type=int, default=1, help="runs of each tool per size (alternating)")
    parser.add_argument("--threads", type=int, default=0, help="threads per tool (0: each tool's default)")
    parser.add_argument("--breakdown", action="store_true", help="also time ge4rec's stages in-process")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--keep-data", action="store_true", help="--scale: keep every size's CSV files")
    parser.add_argument("--write-docs", action="store_true", help="replace this benchmark's section of docs")
    parser.add_argument(
        "--tools",
        choices=("both", "ge4rec"),
        default="both",
        help="ge4rec: time ge4rec alone (long scaling runs)",
    )
    args = parser.parse_args()

    tools = ("ge4rec",) if args.tools == "ge4rec" else ("fuxictr", "ge4rec")
    if "fuxictr" in tools:
        fx.ensure_venv()
    threads = args.threads or None
    use_cli = has_prepare_command()
    how = "`ge4rec data prepare`" if use_cli else "`python -c` calling ge4rec.data.load_dataset"
    if args.scale == "rows":
        sizes = [(int(r), args.cols) for r in args.scale_rows.split(",")]
    elif args.scale == "cols":
        sizes = [(args.scale_cols_rows, int(c)) for c in args.scale_cols.split(",")]
    else:
        sizes = [(args.rows, args.cols)]
    table_rows, notes = [], []
    last_folder = None
    for rows, cols in sizes:
        folder = make_data(rows, cols, args.criteo, args.seed)
        total_rows = count_rows(folder)
        shape = "Criteo-shaped (13 numeric + 26 categorical)" if args.criteo else f"{cols} categorical"
        print(f"{total_rows:,} rows x {shape} ({folder}):", file=sys.stderr, flush=True)
        result = measure_pair(folder, args.criteo, args.rounds, threads, use_cli, tools)
        use_cli = result["use_cli"]
        table_rows.append(summary_row([f"{total_rows:,}", shape], total_rows, result))
        if result["fx_stages"]:
            stages = result["fx_stages"][-1]
            notes.append(
                f"FuxiCTR's own stage times at {total_rows:,} rows x {shape} (s): "
                + ", ".join(f"{k} {v:.1f}" for k, v in stages.items())
            )
        if last_folder is not None and args.scale and not args.keep_data:
            shutil.rmtree(last_folder, ignore_errors=True)
        last_folder = folder
    table = markdown_table(["rows", "columns", *SUMMARY_HEADER], table_rows, "ll" + "r" * len(SUMMARY_HEADER))
    other = f"FuxiCTR {fx.FUXICTR_VERSION}" if "fuxictr" in tools else "FuxiCTR not run"
    header = (
        f"ge4rec via {how}; {other}; threads per tool: "
        f"{args.threads or 'each tool default'}; {os.cpu_count()} logical CPUs; "
        f"{args.rounds} run(s) per tool and size; {time.strftime('%Y-%m-%d')}"
    )
    parts = [f"    {command_line()}", "", header, "", table, ""]
    parts += [n + "." for n in notes]
    if args.breakdown and last_folder is not None:
        stage_table, wall = breakdown(last_folder, args.criteo, threads)
        parts += [
            "",
            f"Where ge4rec's time goes (last size; a separate process of {wall:.1f} s that also runs "
            "the two references):",
            "",
            stage_table,
        ]
    if last_folder is not None and args.scale and not args.keep_data:
        shutil.rmtree(last_folder, ignore_errors=True)
    body = "\n".join(parts)
    print()
    print(body)
    if args.write_docs:
        if args.scale:
            title = f"Preprocessing: scaling with {args.scale}"
        else:
            title = "Preprocessing vs FuxiCTR" + (": Criteo-shaped data" if args.criteo else "")
        write_docs_section(title, body)


if __name__ == "__main__":
    main()
