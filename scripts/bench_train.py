"""Training throughput (train samples/s) of every model in both paradigms on the built-in data.

The timed loop is ge4rec's own training step (Trainer.train_step) over batches sliced from the
in-memory split, batch preparation included, evaluation excluded, as Trainer.fit runs it: the
splits placed by trainer.data_on_device, batches brought to the device one ahead, the forward
pass in trainer.precision and compiled with trainer.compile. DIS and SFG of one model are measured
alternately, several rounds, so machine noise hits both alike; the SFG/DIS time ratio is the
median of the per-round ratios.

    python scripts/bench_train.py                      # all models, batch 4096
    python scripts/bench_train.py --models fm dcnv2 --rounds 5 --out docs/benchmarks_train.md
    python scripts/bench_train.py --device cuda --precision bf16 --compile --models dcnv2
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from pathlib import Path

import torch
from hydra import compose, initialize_config_dir

from ge4rec.cli import config_dir, group_options
from ge4rec.data import load_dataset
from ge4rec.data.batches import SplitTensors
from ge4rec.io import write_text
from ge4rec.models import get_model_class
from ge4rec.run import build_run
from ge4rec.train.device import device_batches, place_splits, shuffle_generator
from ge4rec.train.loop import resolve_device


def compose_for(model: str, paradigm: str, overrides: list[str]):
    with initialize_config_dir(version_base="1.3", config_dir=config_dir()):
        return compose("train", overrides=[f"model={model}", f"paradigm={paradigm}", *overrides])


def time_steps(cfg, data, device, steps: int, warmup: int, train: SplitTensors | None = None) -> float:
    """Samples per second over `steps` training steps after `warmup` untimed ones (a compiled
    forward pass compiles in the first), on the run `ge4rec train` would build from `cfg` (its
    data set already loaded as `data`). `train`: the training split where it was placed for
    `device` (default: the data set's, where it is)."""
    run = build_run(cfg, device=str(device), data=data)
    model, trainer = run.model.to(device), run.trainer
    optimizer = trainer.optimizer(model)
    forward = trainer.compiled(model)
    params = [p for p in model.parameters() if p.requires_grad]
    split = train if train is not None else data.splits["train"]
    batch_size = int(cfg.trainer.batch_size)
    generator = shuffle_generator(device, 0)

    def epoch():
        return device_batches(split.batches(batch_size, shuffle=True, generator=generator), device)

    batches = epoch()

    def next_batch():
        nonlocal batches
        try:
            return next(batches)
        except StopIteration:
            batches = epoch()
            return next(batches)

    model.train()
    for _ in range(warmup):
        trainer.train_step(model, next_batch(), optimizer, params, forward)
    if device.type == "cuda":
        torch.cuda.synchronize()
    rows, start = 0, time.perf_counter()
    for _ in range(steps):
        batch = next_batch()
        trainer.train_step(model, batch, optimizer, params, forward).item()
        rows += len(batch)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return rows / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="*", help="model names (default: every model with a config)")
    parser.add_argument("--batch-size", type=int, default=4096)
    parser.add_argument("--steps", type=int, default=8, help="timed steps per measurement")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3, help="alternating DIS/SFG measurements per model")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--precision", choices=("fp32", "bf16"), default="fp32", help="trainer.precision")
    parser.add_argument("--compile", action="store_true", help="trainer.compile=true")
    parser.add_argument(
        "--data-on-device", choices=("auto", "true", "false"), default="auto", help="trainer.data_on_device"
    )
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    parser.add_argument("--out", type=Path, help="also write the Markdown table to this file")
    parser.add_argument("overrides", nargs="*", help="extra config overrides, e.g. dataset=movielens100k")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    models = args.models or group_options("model")
    common = [
        f"trainer.batch_size={args.batch_size}",
        f"trainer.precision={args.precision}",
        f"trainer.compile={str(args.compile).lower()}",
        *args.overrides,
    ]
    base = compose_for("fm", "disc", common)
    data = load_dataset(base.dataset, base.cache_dir)
    placed = place_splits({"train": data.splits["train"]}, device, args.data_on_device)
    train = placed.splits["train"]
    where = "on the GPU" if device.type == "cuda" and placed.on_device["train"] else "in host memory"
    header = (
        f"batch {args.batch_size}, data set {data.name} ({len(data.splits['train']):,} train rows {where}, "
        f"{data.schema.num_fields} fields, d={base.embedding_dim}), device {device}, "
        f"precision {args.precision}{', compiled' if args.compile else ''}, "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, {platform.processor() or platform.machine()}"
    )
    lines = [
        f"<!-- {' '.join(sys.argv[1:])} -->",
        header,
        "",
        "| model | DIS samples/s | SFG samples/s | SFG/DIS time ratio |",
        "|---|---:|---:|---:|",
    ]
    print(header, flush=True)
    for name in models:
        cfg_disc = compose_for(name, "disc", common)
        cls = get_model_class(str(cfg_disc.model.name))
        disc_rates, sfg_rates = [], []
        for _ in range(args.rounds):
            disc_rates.append(time_steps(cfg_disc, data, device, args.steps, args.warmup, train))
            if cls.has_interaction:
                sfg_rates.append(
                    time_steps(compose_for(name, "sfg", common), data, device, args.steps, args.warmup, train)
                )
        disc = statistics.median(disc_rates)
        if sfg_rates:
            sfg = statistics.median(sfg_rates)
            ratio = statistics.median(d / s for d, s in zip(disc_rates, sfg_rates))
            line = f"| {name} | {disc:,.0f} | {sfg:,.0f} | {ratio:.2f} |"
        else:
            line = f"| {name} | {disc:,.0f} | - (no interaction) | - |"
        lines.append(line)
        print(line, flush=True)
    if args.out:
        write_text(args.out, "\n".join(lines) + "\n")
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
