"""The cost floor of SFG: floating-point operations per sample of the discriminative (DIS) and the
SFG version of the seven paper models, beside the SFG/DIS training-time ratio measured on ge4rec's
own training step.

    python scripts/bench_sfg_cost.py                               # built-in data (18 fields, d = 16)
    python scripts/bench_sfg_cost.py --criteo-rows 200000          # Criteo-shaped data (39 fields, d = 10)
    python scripts/bench_sfg_cost.py --models fm dcnv2 --rounds 3 --steps 4
    python scripts/bench_sfg_cost.py --write-docs                  # also replace the section in docs

FLOPs: torch.utils.flop_counter.FlopCounterMode over one training step's forward and backward
pass (loss and L2 terms included) on one batch, divided by the batch size. It counts matrix
products (mm, addmm, bmm, baddbmm), convolutions and attention, 2 FLOPs per multiply-add;
element-wise work (activations, Hadamard products, sums), embedding lookups, dropout and the Adam
update are not counted. The SFG generator of width W = F*d is one W x W product per generator, so
it adds 6*W^2 FLOPs per sample and generator (forward; backward to its weight and its input), the
"analytic" column. If time followed counted FLOPs, the time ratio would equal the FLOP ratio: that
ratio is the floor an implementation can reach once its matrix products dominate, and the gap
between the two shows how much of a step goes to work the counter does not see (lookups,
element-wise kernels, the optimizer, framework overhead).

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
    build,
    command_line,
    compose,
    machine_line,
    markdown_table,
    step_flops,
    time_steps_only,
    warm_up_torch,
    write_docs_section,
)

NOTE = (
    "FLOPs per sample of one training step, forward + backward, as FlopCounterMode counts them "
    "(matrix products, convolutions; not element-wise work, lookups or the optimizer); `generator "
    "kFLOP, analytic` = 6 x the generator's weights. `SFG/DIS time`: median of the per-round ratios "
    "of DIS to SFG samples/s; above the FLOP ratio, SFG costs more than its arithmetic. A model whose "
    "own interaction is element-wise (FM: sums and products of embeddings) has almost no counted "
    "FLOPs under DIS, so its FLOP ratio is no floor: its time ratio weighs the generator's matrix "
    "product against the lookups, element-wise work and optimizer update DIS consists of."
)
PAPER_MODELS = ("fm", "fmfm", "crossnet", "deepfm", "ipnn", "xdeepfm", "dcnv2")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="*", default=list(PAPER_MODELS))
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
    header = (
        f"data {data.name} ({len(data.splits['train']):,} train rows, {fields} fields, d={d}, "
        f"generator width F*d = {fields * d}), batch {args.batch_size}; {machine_line(args.threads)}"
    )
    print(header, flush=True)
    shape = "Criteo-shaped" if args.criteo_rows else data.name
    title = f"SFG cost floor: FLOPs and time, SFG vs DIS ({shape} data)"

    rows = []
    for name in args.models:
        cfg = {p: compose(name, p, common) for p in ("disc", "sfg")}
        per_sample = {p: step_flops(cfg[p], data) / args.batch_size for p in cfg}
        sfg_model, _ = build(cfg["sfg"], data)
        generator_params = int(sfg_model.generator_parameters())
        analytic = 6.0 * generator_params
        rates: dict[str, list[float]] = {"disc": [], "sfg": []}
        for round_index in range(args.rounds):
            order = ("disc", "sfg") if round_index % 2 == 0 else ("sfg", "disc")
            for p in order:
                rates[p].append(time_steps_only(cfg[p], data, warmup=args.warmup, max_steps=args.steps))
        flop_ratio = per_sample["sfg"] / per_sample["disc"]
        time_ratio = statistics.median(d_ / s_ for d_, s_ in zip(rates["disc"], rates["sfg"]))
        row = [
            name,
            f"{per_sample['disc'] / 1e3:,.1f}",
            f"{per_sample['sfg'] / 1e3:,.1f}",
            f"{analytic / 1e3:,.1f}",
            f"{flop_ratio:,.2f}",
            f"{time_ratio:.2f}",
            f"{statistics.median(rates['disc']):,.0f}",
            f"{statistics.median(rates['sfg']):,.0f}",
        ]
        rows.append(row)
        print(" | ".join(row), flush=True)
    table = markdown_table(
        [
            "model",
            "DIS kFLOP/sample",
            "SFG kFLOP/sample",
            "generator kFLOP, analytic",
            "SFG/DIS FLOPs",
            "SFG/DIS time",
            "DIS samples/s",
            "SFG samples/s",
        ],
        rows,
    )
    body = "\n".join(
        [
            f"    {command_line()}",
            "",
            header + f"; {args.rounds} rounds of {args.steps} steps, {time.strftime('%Y-%m-%d')}",
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
