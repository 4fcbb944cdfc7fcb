"""Training steps per second under each `trainer.optimizer_kernel` (fused, foreach, loop), side by
side, on a Criteo-shaped data set: the larger the embedding table, the larger the share of a step
that Adam's update of the whole table takes (every row of it, every step, as torch's Adam does).

    python scripts/bench_optimizer.py                          # the 45M-row cache of bench_scale.py
    python scripts/bench_optimizer.py --rows 5000000 --models fm dcnv2 --rounds 3
    python scripts/bench_optimizer.py --write-docs             # also replace the section in docs/benchmarks.md

The data set is the one scripts/bench_scale.py builds (`criteo_kaggle` over
.bench/data/kaggle_N, its cache in .bench/scale/N/cache): run that first for the same N. Batches
come from the training split by block shuffling (trainer.shuffle=blocks), so the whole split is
never gathered, and are sliced before the clock starts: the timed part is Trainer.train_step
alone (_bench_common.time_steps_only). Each round times every kernel once per model and
paradigm, in turn, from the same freshly built model and the same batches; a ratio is the median
over rounds of the per-round ratios to `loop`, so machine noise hits the kernels alike.
"""

from __future__ import annotations

import argparse
import statistics

from _bench_common import (
    command_line,
    compose,
    machine_line,
    markdown_table,
    time_steps_only,
    write_docs_section,
)
from bench_scale import data_folder, work_folder

from ge4rec.data import load_dataset
from ge4rec.run import build_run

KERNELS = ("loop", "foreach", "fused")
TITLE = "Adam kernels on a large embedding table"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--rows", type=int, default=45_000_000, help="the data set of bench_scale.py --rows N"
    )
    parser.add_argument(
        "--models", nargs="*", default=["fm:disc", "fm:sfg", "dcnv2:disc"], help="MODEL:PARADIGM"
    )
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--write-docs", action="store_true")
    args = parser.parse_args()

    source, cache = data_folder(args.rows), work_folder(args.rows) / "cache"
    if not (source / "train.txt").is_file():
        raise SystemExit(
            f"{source}/train.txt is missing: run scripts/bench_scale.py --rows {args.rows} first"
        )
    # block shuffling: a batch is cut from one window of blocks, the split is never gathered whole
    common = [
        "dataset=criteo_kaggle",
        f"dataset.path={source}",
        f"cache_dir={cache}",
        "trainer.shuffle=blocks",
    ]
    data = None
    speed: dict[tuple[str, str], list[float]] = {}
    parameters: dict[str, int] = {}
    for r in range(args.rounds):
        for spec in args.models:
            model, paradigm = spec.split(":")
            for kernel in KERNELS:
                cfg = compose(model, paradigm, [*common, f"trainer.optimizer_kernel={kernel}"])
                if data is None:
                    data = load_dataset(cfg.dataset, cfg.cache_dir)
                if spec not in parameters:
                    parameters[spec] = sum(
                        p.numel() for p in build_run(cfg, device="cpu", data=data).model.parameters()
                    )
                rate = time_steps_only(cfg, data, warmup=args.warmup, max_steps=args.steps)
                speed.setdefault((spec, kernel), []).append(rate)
                print(f"round {r + 1} {spec} {kernel}: {speed[spec, kernel][-1]:,.0f} samples/s", flush=True)

    rows = []
    for spec in args.models:
        loop = speed[spec, "loop"]
        cells = [spec.replace(":", " "), f"{parameters[spec]:,}"]
        for kernel in KERNELS:
            cells.append(f"{statistics.median(speed[spec, kernel]):,.0f}")
        for kernel in KERNELS[1:]:
            ratios = [k / base for k, base in zip(speed[spec, kernel], loop)]
            cells.append(f"{statistics.median(ratios):.2f}x")
        rows.append(cells)
    table = markdown_table(
        [
            "model",
            "parameters",
            "loop samples/s",
            "foreach samples/s",
            "fused samples/s",
            "foreach / loop",
            "fused / loop",
        ],
        rows,
    )
    assert data is not None
    train_rows = len(data.splits["train"])
    body = (
        f"{command_line()}\n\n"
        f"{machine_line(None)}. `criteo_kaggle` on the {args.rows:,}-row Criteo-shaped file of "
        f"bench_scale.py ({train_rows:,} train rows), batch 4096, {args.steps} timed steps after "
        f"{args.warmup}, {args.rounds} round(s), median samples/s.\n\n{table}\n\n"
        "Adam reads and writes every weight at every step, the rows of the embedding table that no "
        "sample of the batch touched included; `fused` does it in one pass per tensor. `fused` is "
        "the default of `trainer.optimizer_kernel`; `foreach` gives the same bits as `loop`.\n"
    )
    print(body)
    if args.write_docs:
        write_docs_section(TITLE, body)


if __name__ == "__main__":
    main()
