"""Training throughput of ge4rec and FuxiCTR 2.3.10 side by side: the same seven models (FM, FmFM,
CrossNet, DeepFM, IPNN, xDeepFM, DCNv2) with the same settings on the same data, one epoch each.

    python scripts/bench_vs_fuxictr.py                        # Frappe-shaped data, 3 rounds
    python scripts/bench_vs_fuxictr.py --models fm deepfm --rounds 1 --train-rows 20000   # a quick check
    python scripts/bench_vs_fuxictr.py --data DIR             # your BARS folder (categorical columns)
    python scripts/bench_vs_fuxictr.py --write-docs           # also replace the section in docs/benchmarks.md

What is compared (training samples/s, one epoch of the train split, batch 4096, d = 10):
- FuxiCTR `fit`: BaseModel.fit(epochs=1) timed as a whole: its Ray data loader (parquet, shuffled),
  the training steps, the end-of-epoch validation pass, checkpoint save and reload;
  `loop`: train_step over the loader, no validation; `steps`: train_step over batches prepared
  before the clock starts (no data pipeline).
- ge4rec `fit`: Trainer.fit(max_epochs=1) timed as a whole: the training pass, the validation pass
  and best-state copy of the epoch, then the test pass (valid is not scored again); `loop`: Trainer.train_step
  over the epoch's reshuffled in-memory batches (batch slicing included), no evaluation; `steps`:
  train_step over batches prepared before the clock starts. DIS and SFG (gamma 1, ReLU, dense).
Each tool runs in its own process (FuxiCTR in .bench/fuxictr-venv, built on first use); model by
model, the two alternate for `--rounds` rounds so machine noise hits both, and every ratio is the
median of the per-round ratios. Model settings are ge4rec's configs (configs/model/*.yaml), passed
to both: the MLP sizes, dropout and batch norm, 3 cross layers, CIN [64, 64, 64].

Also: this machine's float32 matmul throughput at the models' sizes, and the share of it one
ge4rec training step reaches (the matrix-product FLOPs of a whole step, counted op by op by
ge4rec.analysis.flops: matrix products and convolutions only).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import _fuxictr_env as fx
from _bench_common import (
    build,
    compose,
    machine_line,
    markdown_table,
    matmul_peak,
    step_flops,
    time_epoch_loop,
    time_fit,
    time_steps_only,
    warm_up_torch,
    write_docs_section,
)
from make_criteo_like import FRAPPE_CLICK_RATE, frappe_fields, write_dataset, write_once

DOCS_TITLE = "ge4rec vs FuxiCTR: training throughput"
FRAPPE_TRAIN_ROWS = 60_607


def make_frappe_like(folder: Path, train_rows: int, seed: int) -> Path:
    """A Frappe-shaped BARS folder (7:2:1), regenerated only when its size or seed changed."""
    total = round(train_rows / 0.7)
    write_once(
        folder,
        {"train_rows": train_rows, "seed": seed},
        lambda: write_dataset(
            folder, frappe_fields(), total, "bars", (0.7, 0.2, 0.1), seed, 1.1, FRAPPE_CLICK_RATE
        ),
    )
    return folder


def columns_of(folder: Path) -> tuple[list[str], str]:
    header = (folder / "train.csv").open().readline().strip().split(",")
    label = "label" if "label" in header else "click"
    return [c for c in header if c != label], label


def fuxictr_prepare(folder: Path, threads: int) -> tuple[Path, str]:
    """FuxiCTR's parquet version of the folder (rebuilt when the CSV files change)."""
    fields, label = columns_of(folder)
    files = [folder / f"{s}.csv" for s in ("train", "valid", "test")]
    key = json.dumps([[str(f.resolve()), f.stat().st_size, f.stat().st_mtime_ns] for f in files])
    root = fx.BENCH_DIR / "fuxictr-data"
    dataset_id = "bench_" + folder.name
    stamp = root / dataset_id / ".source"
    if stamp.is_file() and stamp.read_text() == key:
        return root, dataset_id
    import shutil

    shutil.rmtree(root / dataset_id, ignore_errors=True)
    print(f"FuxiCTR: preparing {folder} ...", file=sys.stderr, flush=True)
    fx.run_worker(
        [
            "prepare",
            *("--train", str(files[0]), "--valid", str(files[1]), "--test", str(files[2])),
            *("--out", str(root), "--dataset-id", dataset_id, "--label", label),
            *("--categorical", ",".join(fields)),
        ],
        threads=threads,
    )
    stamp.write_text(key)
    return root, dataset_id


def model_spec(cfg) -> dict:
    """The settings both tools get, from ge4rec's composed model config."""
    m = cfg.model
    spec = {
        "hidden_units": list(m.get("hidden_units", []) or []),
        "dropout": float(m.get("dropout", 0.0) or 0.0),
        "batch_norm": bool(m.get("batch_norm", False)),
    }
    if "num_cross_layers" in m:
        spec["num_cross_layers"] = int(m.num_cross_layers)
        if str(m.get("variant", "stock")) != "stock":
            raise SystemExit("only the stock cross network (biased crosses, linear head) has a FuxiCTR twin")
    if "cin_layer_units" in m:
        spec["cin_layer_units"] = list(m.cin_layer_units)
        if bool(m.get("split_half", False)) or str(m.get("cin_activation", "identity")) != "identity":
            raise SystemExit("FuxiCTR's CIN has no split_half and no activation: keep ge4rec's defaults")
    return spec


def ratio(a: list[float], b: list[float]) -> float:
    return statistics.median(x / y for x, y in zip(a, b))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="*", default=list(fx.MODELS), choices=fx.MODELS)
    parser.add_argument("--data", type=Path, help="a BARS folder of CSV files (default: Frappe-shaped data)")
    parser.add_argument(
        "--train-rows", type=int, default=FRAPPE_TRAIN_ROWS, help="generated data: train rows"
    )
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=1, help="epochs per loop/steps measurement")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=4096)
    parser.add_argument("--embedding-dim", type=int, default=10)
    parser.add_argument("--write-docs", action="store_true", help="replace this benchmark's section of docs")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    warm_up_torch()
    fx.ensure_venv()
    if args.data:
        folder = args.data
    else:
        folder = make_frappe_like(fx.BENCH_DIR / "data" / "frappe_like", args.train_rows, args.seed)
    fx_root, dataset_id = fuxictr_prepare(folder, args.threads)

    from ge4rec.data import load_dataset

    common = [
        "dataset=csv",
        f"dataset.path={folder.resolve()}",
        f"embedding_dim={args.embedding_dim}",
        f"trainer.batch_size={args.batch_size}",
        "trainer.progress=false",
        f"cache_dir={fx.BENCH_DIR / 'ge4rec-cache'}",
        f"seed={args.seed}",
    ]
    base = compose("fm", "disc", common)
    data = load_dataset(base.dataset, base.cache_dir)
    rows = len(data.splits["train"])
    header = (
        f"data {folder.name}: {rows:,} train rows, {data.schema.num_fields} fields, d={args.embedding_dim}, "
        f"batch {args.batch_size}; {machine_line(args.threads)}; FuxiCTR {fx.FUXICTR_VERSION}"
    )
    print(header, flush=True)

    results: dict[str, dict[str, list[float]]] = {}
    flops: dict[str, dict[str, int]] = {}
    parameters: dict[str, tuple[int, int]] = {}  # model -> (FuxiCTR, ge4rec DIS)
    for name in args.models:
        cfg_dis = compose(name, "disc", common)
        cfg_sfg = compose(name, "sfg", common)
        spec = model_spec(cfg_dis)
        r: dict[str, list[float]] = {}
        for round_index in range(args.rounds):
            order = ("fuxictr", "ge4rec") if round_index % 2 == 0 else ("ge4rec", "fuxictr")
            for tool in order:
                if tool == "fuxictr":
                    out = fx.run_worker(
                        [
                            "train",
                            *("--data-dir", str(fx_root), "--dataset-id", dataset_id, "--model", name),
                            *("--spec", json.dumps(spec), "--embedding-dim", str(args.embedding_dim)),
                            *("--batch-size", str(args.batch_size), "--threads", str(args.threads)),
                            *("--epochs", str(args.epochs), "--seed", str(args.seed)),
                        ],
                        threads=args.threads,
                    )
                    got = fx.parse_tagged(out, "FUXICTR_RESULT")
                    for key in ("fit", "loop", "steps"):
                        r.setdefault(f"fx_{key}", []).append(got[key])
                    parameters[name] = (got["parameters"], parameters.get(name, (0, 0))[1])
                else:
                    r.setdefault("dis_fit", []).append(time_fit(cfg_dis, data))
                    r.setdefault("dis_loop", []).append(time_epoch_loop(cfg_dis, data, args.epochs))
                    r.setdefault("dis_steps", []).append(time_steps_only(cfg_dis, data, args.epochs))
                    r.setdefault("sfg_loop", []).append(time_epoch_loop(cfg_sfg, data, args.epochs))
                    r.setdefault("sfg_steps", []).append(time_steps_only(cfg_sfg, data, args.epochs))
        results[name] = r
        ge4rec_model, _ = build(cfg_dis, data)
        parameters[name] = (parameters[name][0], sum(p.numel() for p in ge4rec_model.parameters()))
        flops[name] = {"dis": step_flops(cfg_dis, data), "sfg": step_flops(cfg_sfg, data)}
        med = {k: statistics.median(v) for k, v in r.items()}
        print(
            f"{name}: FuxiCTR fit/loop/steps {med['fx_fit']:,.0f} / {med['fx_loop']:,.0f} / "
            f"{med['fx_steps']:,.0f}; ge4rec DIS {med['dis_fit']:,.0f} / {med['dis_loop']:,.0f} / "
            f"{med['dis_steps']:,.0f}, SFG loop {med['sfg_loop']:,.0f} samples/s",
            flush=True,
        )

    width = data.schema.num_fields * args.embedding_dim
    sizes = sorted(
        {(args.batch_size, width, 400), (args.batch_size, 400, 400), (args.batch_size, width, width)}
    )
    peaks = matmul_peak(args.threads, sizes)
    peak = max(peaks.values())

    def f0(x: float) -> str:
        return f"{x:,.0f}"

    speed_rows, ratio_rows, compute_rows = [], [], []
    for name, r in results.items():
        med = {k: statistics.median(v) for k, v in r.items()}
        speed_rows.append(
            [name]
            + [f0(med[k]) for k in ("fx_fit", "fx_loop", "fx_steps", "dis_fit", "dis_loop", "dis_steps")]
            + [f0(med["sfg_loop"]), f0(med["sfg_steps"])]
            + [f"{parameters[name][0]:,} / {parameters[name][1]:,}"]
        )
        ratio_rows.append(
            [
                name,
                f"{ratio(r['dis_fit'], r['fx_fit']):.2f}",
                f"{ratio(r['dis_loop'], r['fx_loop']):.2f}",
                f"{ratio(r['dis_steps'], r['fx_steps']):.2f}",
                f"{ratio(r['sfg_loop'], r['fx_loop']):.2f}",
                f"{ratio(r['sfg_steps'], r['fx_steps']):.2f}",
            ]
        )
        cells = [name]
        for paradigm in ("dis", "sfg"):
            per_step = flops[name][paradigm]
            achieved = per_step / args.batch_size * med[f"{paradigm}_steps"] / 1e9
            cells += [f"{per_step / 1e6:,.0f}", f"{achieved:.1f}", f"{100 * achieved / peak:.0f}%"]
        compute_rows.append(cells)
    speed = markdown_table(
        [
            "model",
            "FuxiCTR fit",
            "FuxiCTR loop",
            "FuxiCTR steps",
            "ge4rec DIS fit",
            "ge4rec DIS loop",
            "ge4rec DIS steps",
            "ge4rec SFG loop",
            "ge4rec SFG steps",
            "parameters (FuxiCTR / ge4rec DIS)",
        ],
        speed_rows,
    )
    ratios = markdown_table(
        [
            "model",
            "DIS fit / FuxiCTR fit",
            "DIS loop / FuxiCTR loop",
            "DIS steps / FuxiCTR steps",
            "SFG loop / FuxiCTR loop",
            "SFG steps / FuxiCTR steps",
        ],
        ratio_rows,
    )
    compute = markdown_table(
        [
            "model",
            "DIS MFLOP/step",
            "DIS GFLOP/s",
            "DIS share of peak",
            "SFG MFLOP/step",
            "SFG GFLOP/s",
            "SFG share of peak",
        ],
        compute_rows,
    )
    peak_text = ", ".join(f"{m}x{k} @ {k}x{n}: {g:.1f}" for (m, k, n), g in peaks.items())
    body = "\n".join(
        [
            f"    {_command()}",
            "",
            header + f"; {args.rounds} rounds, {args.epochs} epoch(s) per measurement, "
            f"{time.strftime('%Y-%m-%d')}",
            "",
            "Training samples/s (median over rounds):",
            "",
            speed,
            "",
            "ge4rec / FuxiCTR (median of the per-round ratios; above 1: ge4rec is faster):",
            "",
            ratios,
            "",
            f"float32 matmul on {args.threads} threads, GFLOP/s: {peak_text}. A ge4rec training step "
            "(matrix-product FLOPs of a whole step, counted by ge4rec.analysis.flops: matrix "
            "products and convolutions; `steps` speed):",
            "",
            compute,
        ]
    )
    print()
    print(body)
    if args.write_docs:
        write_docs_section(DOCS_TITLE, body)


def _command() -> str:
    from _bench_common import command_line

    return command_line()


if __name__ == "__main__":
    main()
