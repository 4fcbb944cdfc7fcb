"""`ge4rec analyze` and `ge4rec plot`: argument parsing and console output."""

from __future__ import annotations

import os
from pathlib import Path

from ge4rec.errors import CommandParser, Ge4recError
from ge4rec.io import check_writable_folder


def analyze_command(args: list[str]) -> None:
    parser = CommandParser(
        prog="ge4rec analyze",
        description="Recompute a run's collapse and redundancy analysis from its checkpoint.pt and "
        "config.yaml; rewrites RUN_DIR/analysis/*.parquet and the 'analysis' block of RUN_DIR/metrics.json.",
    )
    parser.add_argument(
        "run_dir", metavar="RUN_DIR", help="a run folder (holds config.yaml and checkpoint.pt)"
    )
    parser.add_argument(
        "--rows",
        type=int,
        default=None,
        help="held-out rows to sample with the run's seed (0: the whole split; default: the run's "
        "analysis.rows)",
    )
    parser.add_argument(
        "--split",
        choices=("valid", "test", "train"),
        default=None,
        help="the split to sample from (default: the run's analysis.split)",
    )
    parser.add_argument(
        "--device", default=None, help="auto, cpu, cuda or cuda:N (default: the run's device)"
    )
    options = parser.parse_args(args)
    if options.rows is not None and options.rows < 0:
        raise Ge4recError(f"--rows {options.rows}: expected a positive number (or 0 for the whole split)")

    from ge4rec.analysis.run_analysis import analyze_run_dir

    analysis = analyze_run_dir(options.run_dir, rows=options.rows, split=options.split, device=options.device)
    print_analysis(analysis.summary)
    folder, metrics = os.path.join(options.run_dir, "analysis"), os.path.join(options.run_dir, "metrics.json")
    print(f"written: {folder}/ and {metrics}")


def print_analysis(summary: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table(
        title=f"collapse on {summary['rows']:,} {summary['split']} rows ({summary['seconds']:.1f}s)"
    )
    for column in (
        "embedding",
        "rows",
        "width",
        "IA",
        "eff. rank",
        "comp. 98%",
        "cliff",
        "IA fields",
    ):
        table.add_column(
            column, justify="left" if column == "embedding" else "right", no_wrap=column == "embedding"
        )
    for name, entry in summary["embeddings"].items():
        whole = entry["whole"]
        table.add_row(
            name,
            f"{entry['rows']:,}",
            str(entry["width"]),
            f"{whole['information_abundance']:.2f}",
            f"{whole['effective_rank']:.2f}",
            str(whole["components_98"]),
            str(whole["collapse_cliff"]),
            f"{entry['field_mean']['information_abundance']:.2f}" if "field_mean" in entry else "-",
        )
    console.print(table)
    console.print(
        "IA: information abundance Σσ_k/σ_1; eff. rank: RankMe; comp. 98%: components holding 98% "
        "of Σσ (σ: singular values of the centred matrix); cliff: normalised eigenvalues λ_k/λ_1 above "
        "the float32 floor (D·eps32)², D when none; IA fields: mean over the fields"
    )
    redundancy = summary.get("redundancy")
    if redundancy:

        def show(key: str) -> str:
            value = redundancy.get(key)
            return "-" if value is None else f"{value:.4f}"

        console.print(
            f"redundancy of the first interaction's operands (pairing {redundancy['pairing']}), mean |R|: "
            f"interacting {show('interacting_mean_abs')}, "
            f"within-field {show('within_field_mean_abs')}, "
            f"cross-field {show('cross_field_mean_abs')}, "
            f"off-diagonal {show('offdiagonal_mean_abs')}"
        )


def plot_command(args: list[str]) -> None:
    from ge4rec.analysis.plots import PLOTS, plot

    if not args or args[0] in ("-h", "--help"):
        print(PLOT_HELP)
        return
    kind, rest = args[0], args[1:]
    if kind not in PLOTS:
        raise Ge4recError(f"unknown plot '{kind}' (choose from: {', '.join(PLOTS)})")
    parser = CommandParser(prog=f"ge4rec plot {kind}", description=PLOT_DESCRIPTIONS[kind])
    parser.add_argument("run_dirs", metavar="RUN_DIR", nargs="+", help="analysed run folder(s)")
    parser.add_argument(
        "--out", default=f"{kind}.png", help="output file, .png or .svg (default: %(default)s)"
    )
    if kind == "spectrum":
        parser.add_argument(
            "--field", default=None, help="one field's spectrum instead of all fields flattened"
        )
        parser.add_argument(
            "--embedding",
            action="append",
            default=None,
            metavar="NAME",
            help="the embedding to draw: operand (the interaction operand, layers stacked; the "
            "default), raw (E), or one layer (generated.0, ...); repeat to draw several",
        )
        parser.add_argument(
            "--all-layers",
            action="store_true",
            help="also draw every generator layer of SFG runs on its own",
        )
    options = vars(parser.parse_args(rest))
    run_dirs, out = options.pop("run_dirs"), options.pop("out")
    check_writable_folder(Path(out).parent, "--out")  # a missing folder is created
    path = plot(kind, run_dirs, out, **options)
    print(path)


PLOT_DESCRIPTIONS = {
    "spectrum": "log10(λ_k / λ_1), the normalised covariance eigenvalues of the interaction operand "
    "(or --embedding raw) against k, several runs.",
    "redundancy": "Heatmap of the cross-correlation of the first interaction's operands, a panel per run.",
    "collapse": "Information abundance after every epoch (runs trained with trainer.track_collapse=true).",
}
PLOT_HELP = """usage: ge4rec plot KIND RUN_DIR... [--out PATH]

kinds:
  spectrum     {spectrum}
  redundancy   {redundancy}
  collapse     {collapse}

The format follows the extension of --out (.png or .svg); the written path is printed.
examples:
  ge4rec plot spectrum outputs/RUN_DIS outputs/RUN_SFG --out spectrum.png
  ge4rec plot spectrum outputs/RUN_DIS --embedding raw --embedding operand --out raw.png
  ge4rec plot redundancy outputs/RUN_SFG --out redundancy.svg
""".format(**PLOT_DESCRIPTIONS)
