"""The cost floor of SFG: floating-point operations per sample of the discriminative (DIS) and the
SFG version of each model, beside the SFG/DIS training-time ratio measured on ge4rec's own training
step.

    python scripts/bench_sfg_cost.py                               # the paper models, built-in data
    python scripts/bench_sfg_cost.py --models all                  # every model with an interaction
    python scripts/bench_sfg_cost.py --criteo-rows 200000          # Criteo-shaped data (39 fields, d = 10)
    python scripts/bench_sfg_cost.py --models fm dcnv2 --rounds 3 --steps 4
    python scripts/bench_sfg_cost.py --write-docs                  # also replace the section in docs

FLOPs: one whole training step (Trainer.train_step: forward, loss, backward, gradient clipping and
the Adam update, L2 terms when configured) on one batch, counted op by op by
ge4rec.analysis.flops.OpCounter and divided by the batch size: matrix products, convolutions and
attention with torch's formulas (2 FLOPs per multiply-add) plus element-wise work (1 FLOP per
output element of a pointwise op, 1 per input element of a reduction, the table gradient's
scatter-add). Copies, concatenations, gathers and lookups move elements and compute nothing; they
are not FLOPs. If a step's time followed its FLOPs, the time ratio would equal the FLOP ratio.
Above it, SFG pays for more than its arithmetic; below it, DIS spends time the FLOPs do not show
(memory-bound element-wise passes run at a small fraction of the matrix-product rate, and there are
lookups, copies and per-op overhead), which SFG's extra FLOPs, almost all in the generator's
matrix product, do not add in proportion.

SFG's extra cost: the extra time per sample of an SFG step beside the time its extra FLOPs take at
the machine's matrix-product rate (torch.matmul of the generator's shape, [batch, F*d] x
[F*d, F*d], best of repeated timings): the floor of what the generator can cost.

Time: Trainer.train_step over `--steps` batches prepared in advance, after `--warmup` untimed
steps, DIS and SFG alternately for `--rounds` rounds (the order flips every round); the time ratio
is the median of the per-round ratios of DIS samples/s to SFG samples/s.
"""

from __future__ import annotations

import argparse
import statistics
import time

from _bench_common import (
    REPO,
    command_line,
    compose,
    machine_line,
    markdown_table,
    matmul_peak,
    step_ops,
    time_steps_only,
    warm_up_torch,
    write_docs_section,
)

NOTE = (
    "FLOPs per sample of one whole training step (forward, backward, gradient clipping, Adam), "
    "counted op by op (ge4rec.analysis.flops): matrix products at 2 FLOPs per multiply-add plus "
    "element-wise work at 1 per output element (1 per input element of a reduction); in brackets the "
    "element-wise part. Lookups, copies and concatenations move data and are not counted. `SFG/DIS "
    "time`: median of the per-round ratios of DIS to SFG samples/s; `time/FLOPs` = SFG/DIS time over "
    "SFG/DIS FLOPs: above 1.10 SFG costs more than 10% beyond its arithmetic. Below 1, DIS spends "
    "time its FLOPs do not show (memory-bound element-wise passes, lookups, per-op overhead) while "
    "SFG's extra FLOPs are nearly all one dense matrix product per generator, which runs near the "
    "machine's matrix-product rate: `SFG extra` is the measured extra time per sample of an SFG "
    "step beside the time its extra FLOPs take at that rate (its floor)."
)
PAPER_MODELS = ("fm", "fmfm", "crossnet", "deepfm", "ipnn", "xdeepfm", "dcnv2")


def models_to_run(names: list[str]) -> list[str]:
    """The models named, or with `all` every registered model that has an interaction for SFG."""
    from ge4rec.models import get_model_class, model_names

    if names == ["all"]:
        return [n for n in model_names() if get_model_class(n).has_interaction]
    return names


def kflops(count, batch: int) -> str:
    """A step's FLOPs per sample in thousands, its element-wise part in brackets."""
    return f"{count.flops / batch / 1e3:,.1f} ({count.elementwise / batch / 1e3:,.1f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--models",
        nargs="*",
        default=list(PAPER_MODELS),
        help="model names, or `all` (every model with an interaction)",
    )
    parser.add_argument("--batch-size", type=int, default=4096)
    parser.add_argument("--steps", type=int, default=8, help="timed steps per measurement")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--criteo-rows",
        type=int,
        default=0,
        help="use Criteo-shaped data of this many rows (scripts/make_criteo_like.py, BARS layout, the "
        "criteo_x1 preset) instead of the built-in data",
    )
    parser.add_argument("--write-docs", action="store_true", help="replace this benchmark's section of docs")
    parser.add_argument("overrides", nargs="*", help="extra config overrides, e.g. dataset=movielens100k")
    args = parser.parse_args()

    import torch

    from ge4rec.data import load_dataset

    torch.set_num_threads(args.threads)
    warm_up_torch()
    common = [f"trainer.batch_size={args.batch_size}", "trainer.progress=false"]
    if args.criteo_rows:
        from make_criteo_like import CRITEO_CLICK_RATE, criteo_fields, write_dataset

        folder = REPO / ".bench" / "data" / f"criteo_like_{args.criteo_rows}"
        if not (folder / "test.csv").is_file():
            write_dataset(
                folder,
                criteo_fields(),
                args.criteo_rows,
                "bars",
                (0.8, 0.1, 0.1),
                click_rate=CRITEO_CLICK_RATE,
            )
        # the generated I columns hold raw counts: z-score them (the preset takes BARS's pre-scaled ones)
        common += [
            "dataset=criteo_x1",
            f"dataset.path={folder}",
            "dataset.numeric=normalize",
            f"cache_dir={REPO / '.bench' / 'ge4rec-cache'}",
        ]
    common += args.overrides
    base = compose(PAPER_MODELS[0], "disc", common)
    data = load_dataset(base.dataset, base.cache_dir)
    fields, d = data.schema.num_fields, int(base.embedding_dim)
    width, batch = fields * d, args.batch_size
    shape_mm = (batch, width, width)
    peak = matmul_peak(args.threads, [shape_mm])[shape_mm]
    header = (
        f"data {data.name} ({len(data.splits['train']):,} train rows, {fields} fields, d={d}, "
        f"generator width F*d = {width}), batch {batch}; {machine_line(args.threads)}"
    )
    print(header, flush=True)
    shape = "Criteo-shaped" if args.criteo_rows else data.name
    title = f"SFG cost floor: FLOPs and time, SFG vs DIS ({shape} data)"

    rows, extra_flops = [], []
    for name in models_to_run(args.models):
        cfg = {p: compose(name, p, common) for p in ("disc", "sfg")}
        ops = {p: step_ops(cfg[p], data) for p in cfg}
        rates: dict[str, list[float]] = {"disc": [], "sfg": []}
        for round_index in range(args.rounds):
            order = ("disc", "sfg") if round_index % 2 == 0 else ("sfg", "disc")
            for p in order:
                rates[p].append(time_steps_only(cfg[p], data, warmup=args.warmup, max_steps=args.steps))
        # a peak rate: the best seen, measured again beside every model
        peak = max(peak, matmul_peak(args.threads, [shape_mm])[shape_mm])
        flop_ratio = ops["sfg"].flops / ops["disc"].flops
        time_ratio = statistics.median(d_ / s_ for d_, s_ in zip(rates["disc"], rates["sfg"]))
        dis_rate, sfg_rate = statistics.median(rates["disc"]), statistics.median(rates["sfg"])
        extra_us = (1 / sfg_rate - 1 / dis_rate) * 1e6
        extra_flops.append((ops["sfg"].flops - ops["disc"].flops) / batch)
        row = [
            name,
            f"{dis_rate:,.0f}",
            f"{sfg_rate:,.0f}",
            f"{time_ratio:.2f}",
            f"{flop_ratio:,.2f}",
            f"{time_ratio / flop_ratio:.2f}",
            kflops(ops["disc"], batch),
            kflops(ops["sfg"], batch),
            f"{extra_us:.2f}",
        ]
        rows.append(row)
        print(" | ".join(row), flush=True)
    for row, flops in zip(rows, extra_flops):  # the floor at the best rate seen over the whole run
        row[-1] += f" / {flops / (peak * 1e9) * 1e6:.2f}"
    table = markdown_table(
        [
            "model",
            "DIS samples/s",
            "SFG samples/s",
            "SFG/DIS time",
            "SFG/DIS FLOPs",
            "time/FLOPs",
            "DIS kFLOP/sample (element-wise)",
            "SFG kFLOP/sample (element-wise)",
            "SFG extra µs/sample: measured / floor",
        ],
        rows,
    )
    body = "\n".join(
        [
            f"    {command_line()}",
            "",
            header + f"; {args.rounds} rounds of {args.steps} steps, {time.strftime('%Y-%m-%d')}; "
            f"matrix-product rate {peak:,.1f} GFLOP/s ([{batch}, {width}] x [{width}, {width}], best seen)",
            "",
            table,
            "",
            NOTE,
        ]
    )
    print()
    print(body)
    if args.write_docs:
        write_docs_section(title, body)


if __name__ == "__main__":
    main()
