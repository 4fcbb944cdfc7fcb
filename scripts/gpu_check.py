"""GPU check: training samples/s and peak GPU memory of DCNv2 and DeepFM, DIS and SFG, each in fp32,
bf16 and bf16 + torch.compile, on a Criteo-shaped data set (scripts/make_criteo_like.py).

    bash scripts/gpu_check.sh [--rows N] [--out FILE.md]           # the whole check on a CUDA machine
    python scripts/gpu_check.py --device cpu --rows 20000 --steps 2  # the same pipeline on the CPU

Steps: write N Criteo-shaped rows in the BARS layout (7:2:1 train/valid/test) into
.bench/gpu_check/criteo_like_N/ (kept: a later check with the same N and seed reuses them), build
ge4rec's cache of them once with `ge4rec data prepare` (dataset=criteo_x1, numeric fields
z-scored), place the training split as `trainer.data_on_device=auto` would (on the GPU when it fits
in half its free memory), then time a bounded number of training steps per combination with
scripts/bench_train.py's loop (Trainer.train_step, batches brought to the device one ahead,
evaluation excluded). A compiled variant compiles during its untimed warm-up steps. Peak GPU memory
is torch.cuda.max_memory_allocated over the combination, the resident splits included. A
combination that fails is reported in its row and the others still run.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import NoReturn

import torch

from ge4rec.errors import Ge4recError
from ge4rec.io import write_text
from ge4rec.train.device import place_splits
from ge4rec.train.loop import resolve_device

REPO = Path(__file__).resolve().parent.parent
BENCH_DIR = REPO / ".bench" / "gpu_check"
# the variants of each model and paradigm: (label, trainer.precision, trainer.compile)
VARIANTS = {"fp32": ("fp32", False), "bf16": ("bf16", False), "bf16+compile": ("bf16", True)}
DATASET = ["dataset=criteo_x1", "dataset.numeric=normalize"]


def fail(message: str) -> NoReturn:
    print(f"gpu_check: {message}", file=sys.stderr)
    raise SystemExit(2)


def check_device(name: str) -> torch.device:
    """The device to measure on; a clear message and exit 2 when it is CUDA and none is visible."""
    if name.startswith("cuda") and not torch.cuda.is_available():
        build = f"CUDA {torch.version.cuda}" if torch.version.cuda else "a CPU-only build"
        visible = os.environ.get("CUDA_VISIBLE_DEVICES")
        where = f", CUDA_VISIBLE_DEVICES={visible!r}" if visible is not None else ""
        fail(
            f"no CUDA device is visible (torch {torch.__version__} is {build}{where}); run this on a "
            "machine with an NVIDIA GPU and a CUDA build of torch, or pass --device cpu for a smoke run"
        )
    try:
        return resolve_device(name)
    except Ge4recError as exc:
        fail(str(exc))


def make_data(folder: Path, rows: int, seed: int) -> Path:
    """N Criteo-shaped rows in the BARS layout in `folder`, written once (make_criteo_like.write_once)."""
    from make_criteo_like import CRITEO_CLICK_RATE, criteo_fields, write_dataset, write_once

    def write() -> None:
        print(f"data: writing {rows:,} Criteo-shaped rows to {folder} ...", flush=True)
        start = time.perf_counter()
        written = write_dataset(
            folder, criteo_fields(), rows, "bars", (0.7, 0.2, 0.1), seed, 1.1, CRITEO_CLICK_RATE
        )
        files = ", ".join(f"{name} {n:,}" for name, n in written.items())
        print(f"data: wrote {files} rows in {time.perf_counter() - start:.0f} s", flush=True)

    if not write_once(folder, {"rows": rows, "seed": seed, "layout": "bars"}, write):
        print(f"data: {folder} (already written)", flush=True)
    return folder


def dataset_overrides(folder: Path, cache: Path) -> list[str]:
    return [*DATASET, f"dataset.path={folder.resolve()}", f"cache_dir={cache.resolve()}"]


def prepare(overrides: list[str]) -> None:
    """Build (or find) the cache with the `ge4rec data prepare` command, as a user would."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "ge4rec", "data", "prepare", *overrides], text=True)
    if done.returncode != 0:
        fail(f"`ge4rec data prepare` failed with exit code {done.returncode}")
    print(f"cache: ready in {time.perf_counter() - start:.0f} s", flush=True)


def gib_or_mib(size: int) -> str:
    return f"{size / 2**30:.2f} GiB" if size >= 2**30 else f"{size / 2**20:.1f} MiB"


def device_line(device: torch.device) -> str:
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        return f"GPU {props.name} ({props.total_memory / 2**30:.0f} GiB), CUDA {torch.version.cuda}"
    return (
        f"device {device} ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"
    )


def measure(bench, cfg, data, device: torch.device, steps: int, warmup: int, train) -> tuple[str, str]:
    """(samples/s, peak GPU memory) of one combination, as table cells; a failure as its message."""
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
    try:
        rate = bench.time_steps(cfg, data, device, steps, warmup, train)
    except Exception as exc:  # noqa: BLE001 - one failed combination must not hide the others
        line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        return f"failed: {type(exc).__name__}: {line[:120]}", "-"
    finally:
        if bool(cfg.trainer.compile):
            torch._dynamo.reset()  # the next model compiles afresh, without the last one's graphs
    peak = gib_or_mib(torch.cuda.max_memory_allocated(device)) if device.type == "cuda" else "-"
    return f"{rate:,.0f}", peak


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000, help="rows of the Criteo-shaped data set")
    parser.add_argument("--device", default="cuda", help="cuda, cuda:N or cpu (a smoke run)")
    parser.add_argument("--data", type=Path, help=f"the data folder (default: {BENCH_DIR}/criteo_like_ROWS)")
    parser.add_argument("--models", nargs="+", default=["dcnv2", "deepfm"])
    parser.add_argument("--paradigms", nargs="+", default=["disc", "sfg"], choices=("disc", "sfg"))
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--batch-size", type=int, default=4096)
    parser.add_argument("--steps", type=int, default=200, help="timed training steps per combination")
    parser.add_argument(
        "--warmup", type=int, default=10, help="untimed steps first (compilation happens here)"
    )
    parser.add_argument("--seed", type=int, default=2026, help="of the generated data")
    parser.add_argument("--out", type=Path, help="also write the Markdown report to this file")
    args = parser.parse_args(argv)
    if args.rows < 100 or args.steps < 1 or args.warmup < 1:
        fail("--rows must be at least 100, --steps and --warmup at least 1")
    device = check_device(args.device)
    began = time.perf_counter()

    scripts = str(Path(__file__).resolve().parent)
    if scripts not in sys.path:  # bench_train and make_criteo_like live beside this file
        sys.path.insert(0, scripts)
    import bench_train as bench

    from ge4rec.data import load_dataset

    folder = make_data(args.data or BENCH_DIR / f"criteo_like_{args.rows}", args.rows, args.seed)
    overrides = dataset_overrides(folder, folder / "cache")
    prepare(overrides)
    common = [*overrides, f"trainer.batch_size={args.batch_size}", "trainer.progress=false"]
    base = bench.compose_for(args.models[0], args.paradigms[0], common)
    data = load_dataset(base.dataset, base.cache_dir)
    placed = place_splits({"train": data.splits["train"]}, device, "auto")
    train = placed.splits["train"]
    size = gib_or_mib(data.splits["train"].nbytes)
    where = "on the GPU" if device.type == "cuda" and placed.on_device["train"] else "in host memory"
    header = [
        f"{device_line(device)}, torch {torch.__version__}",
        f"data: {data.name} shape, {len(data.splits['train']):,} train rows ({size}, {where}), "
        f"{data.schema.num_fields} fields, {data.schema.num_embeddings:,} embedding rows, "
        f"d={base.embedding_dim}; batch {args.batch_size}, {args.steps} timed steps after {args.warmup}",
    ]
    for line in header:
        print(line, flush=True)
    lines = [
        f"<!-- python scripts/gpu_check.py {' '.join(sys.argv[1:] if argv is None else argv)} -->",
        *(f"{line}  " for line in header),
        "",
        "| model | paradigm | precision | compile | samples/s | peak GPU memory |",
        "|---|---|---|---|---:|---:|",
    ]
    print("\n".join(lines[-2:]), flush=True)
    for model in args.models:
        for paradigm in args.paradigms:
            for variant in args.variants:
                precision, compiled = VARIANTS[variant]
                cfg = bench.compose_for(
                    model,
                    paradigm,
                    [*common, f"trainer.precision={precision}", f"trainer.compile={str(compiled).lower()}"],
                )
                rate, peak = measure(bench, cfg, data, device, args.steps, args.warmup, train)
                row = f"| {model} | {paradigm} | {precision} | {'yes' if compiled else 'no'} | {rate} | {peak} |"
                lines.append(row)
                print(row, flush=True)
    took = time.perf_counter() - began
    print(f"done in {took:.0f} s", flush=True)
    if args.out:
        write_text(args.out, "\n".join(lines) + "\n")
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
