"""Figures from analysed run folders: spectra, the redundancy heatmap, per-epoch collapse curves.

Drawn on matplotlib Figure objects with the Agg canvas (no display, no pyplot state); the format
follows the extension of the output path (.png or .svg).
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from ge4rec.errors import Ge4recError
from ge4rec.io import write_bytes

FORMATS = (".png", ".svg")
PLOTS = ("spectrum", "redundancy", "collapse")
# normalised eigenvalues lambda_k / lambda_1 below this (0 up to float64 rounding) are drawn here
SPECTRUM_FLOOR = 1e-16
OPERAND = "operand"
# the blocks of the cross-correlation matrix in the redundancy titles (redundancy.BLOCKS)
REDUNDANCY_BLOCKS = (
    ("interacting", "interacting"),
    ("within_field", "within-field"),
    ("cross_field", "cross-field"),
    ("offdiagonal", "off-diag"),
)
DPI = 100


class RunOutputs:
    """What a plot needs from one run folder: its labels, metrics.json and analysis files."""

    def __init__(self, run_dir: str | Path):
        self.dir = Path(run_dir)
        if not self.dir.is_dir():
            raise Ge4recError(f"run folder '{self.dir}' does not exist")
        metrics_file = self.dir / "metrics.json"
        if not metrics_file.is_file():
            raise Ge4recError(f"'{self.dir}' is not a finished run folder (no metrics.json)")
        try:
            self.metrics: dict[str, Any] = json.loads(metrics_file.read_text())
        except json.JSONDecodeError as exc:
            raise Ge4recError(f"'{metrics_file}' is not valid JSON: {exc}") from None
        self.model = str(self.metrics.get("model", "?"))
        self.paradigm = str(self.metrics.get("paradigm", "?"))
        self.dataset = str(self.metrics.get("dataset", "?"))
        self.seed = self.metrics.get("seed")
        self.analysis: dict[str, Any] = self.metrics.get("analysis") or {}
        self.label = f"{self.model} / {self.paradigm}"

    def frame(self, name: str) -> pl.DataFrame:
        path = self.dir / "analysis" / f"{name}.parquet"
        if not path.is_file():
            if self.analysis:  # analysed, but the model records nothing for this file
                what = "interaction operands" if name == "redundancy" else "embeddings"
                raise Ge4recError(f"'{self.dir}': model '{self.model}' records no {what} for the analysis")
            raise Ge4recError(f"'{self.dir}' has no analysis (run `ge4rec analyze {self.dir}`)")
        frame = pl.read_parquet(path)
        if frame.is_empty():
            raise Ge4recError(f"'{self.dir}': model '{self.model}' records no embeddings for the analysis")
        return frame


def load_runs(run_dirs: list[str | Path]) -> list[RunOutputs]:
    if not run_dirs:
        raise Ge4recError("no run folder given")
    runs = [RunOutputs(d) for d in run_dirs]
    # labels must tell runs apart: add the data set, then the seed, then the folder name as needed
    for extra in (lambda r: r.dataset, lambda r: f"seed {r.seed}", lambda r: r.dir.name):
        labels = [r.label for r in runs]
        if len(set(labels)) == len(labels):
            break
        for run in runs:
            if labels.count(run.label) > 1:
                run.label = f"{run.label} ({extra(run)})"
    return runs


def _check_output(out: str | Path) -> Path:
    path = Path(out)
    if path.suffix.lower() not in FORMATS:
        raise Ge4recError(
            f"--out '{out}': unknown figure format (use a path ending in {' or '.join(FORMATS)})"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _save(figure, path: Path, palette: bool = False) -> Path:
    """Save by extension. palette: a PNG with at most 256 colours (a heatmap of a few hundred
    noisy cells is several times smaller that way, and looks the same)."""
    if not (palette and path.suffix.lower() == ".png"):
        buffer = io.BytesIO()
        figure.savefig(buffer, format=path.suffix.lower()[1:], dpi=DPI)
        return write_bytes(path, buffer.getvalue())
    from PIL import Image

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)
    buffer.seek(0)
    image = Image.open(buffer).convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT)
    quantized = io.BytesIO()
    image.save(quantized, format="PNG", optimize=True)
    return write_bytes(path, quantized.getvalue())


def _datasets(runs: list[RunOutputs]) -> str:
    return ", ".join(dict.fromkeys(r.dataset for r in runs))


def embedding_label(name: str, run: RunOutputs | None = None) -> str:
    """ "raw" -> raw E; "operand" -> the interaction operand (E under DIS, Z under SFG, with the
    number of stacked layers); "generated" -> generated Z; "generated.0" -> generated Z, layer 1."""
    if name == "raw":
        return "raw E"
    if name == OPERAND:
        layers = len((run.analysis.get("operand_layers") or []) if run else [])
        symbol = "" if run is None else (" E" if run.paradigm == "disc" else " Z")
        stacked = f", {layers} layers stacked" if layers > 1 else ""
        return f"operand{symbol}{stacked}"
    layer = name.removeprefix("generated").lstrip(".")
    return f"generated Z, layer {int(layer) + 1}" if layer.isdigit() else "generated Z"


def _colors(count: int) -> list:
    from matplotlib import colormaps

    palette = colormaps["tab10"]
    return [palette(i % 10) for i in range(count)]


# --------------------------------------------------------------------------------------- spectrum


def plot_spectrum(
    run_dirs: list[str | Path],
    out: str | Path,
    field: str | None = None,
    embedding: str | list[str] | None = None,
    all_layers: bool = False,
) -> Path:
    """The normalised covariance eigenvalues log10(lambda_k / lambda_1) against k, as the SFG paper
    plots them, of each run's interaction operand (default), or of the embeddings named in
    `embedding` ("operand", "raw", "generated.0", ...); all fields flattened or one field
    (`field`). all_layers adds every generator layer on its own. A dashed line marks the float32
    floor that the collapse cliff counts against."""
    path = _check_output(out)
    runs = load_runs(run_dirs)
    scope = field or "all"
    wanted = [embedding] if isinstance(embedding, str) else list(embedding or [OPERAND])
    figure = _figure(6.4, 4.2)
    ax = figure.add_subplot()
    styles = ["-", "--", ":", "-."]
    floors: dict[int, float] = {}
    for run, color in zip(runs, _colors(len(runs))):
        spectra = run.frame("spectra")
        if "eigenvalue" not in spectra.columns:
            raise Ge4recError(
                f"'{run.dir}' was analysed by an older version (run `ge4rec analyze {run.dir}`)"
            )
        spectra = spectra.filter(pl.col("scope") == scope)
        if spectra.is_empty():
            known = run.frame("spectra")["scope"].unique(maintain_order=True).to_list()
            raise Ge4recError(f"'{run.dir}': no spectrum for field '{scope}' (fields: {', '.join(known)})")
        recorded = spectra["embedding"].unique(maintain_order=True).to_list()
        layers = [e for e in recorded if e.startswith("generated")] if all_layers else []
        shown = list(dict.fromkeys([*wanted, *layers]))
        missing = [e for e in shown if e not in recorded]
        if missing:
            raise Ge4recError(
                f"'{run.dir}': no '{missing[0]}' spectrum for model '{run.model}' "
                f"(recorded: {', '.join(recorded)}; choose with --embedding)"
            )
        for index, name in enumerate(shown):
            values = spectra.filter(pl.col("embedding") == name).sort("k")
            lam = values["eigenvalue"].to_numpy()
            relative = lam / lam[0] if lam[0] > 0 else np.zeros_like(lam)
            y = np.log10(np.maximum(relative, SPECTRUM_FLOOR))
            ax.plot(
                values["k"].to_numpy(),
                y,
                styles[index % len(styles)],
                color=color,
                linewidth=1.6,
                label=f"{run.label}: {embedding_label(name, run)}",
            )
            entry = (run.analysis.get("embeddings") or {}).get(name) or {}
            if scope == "all" and entry.get("cliff_floor"):
                floors[len(lam)] = float(entry["cliff_floor"])
    for width, floor in sorted(floors.items()):
        ax.axhline(np.log10(floor), color="0.4", linestyle="--", linewidth=0.8, alpha=0.7)
        ax.annotate(
            f"float32 floor, D={width}",
            (0.99, np.log10(floor)),
            xycoords=("axes fraction", "data"),
            ha="right",
            va="bottom",
            fontsize=7,
            color="0.3",
        )
    where = "all fields flattened" if scope == "all" else f"field {scope}"
    ax.set_title(f"Normalised covariance spectrum\n{_datasets(runs)}, {where}", fontsize=11)
    ax.set_xlabel("k (eigenvalues, largest first)")
    ax.set_ylabel("log10(λ_k / λ_1)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small")
    return _save(figure, path)


# ------------------------------------------------------------------------------------- redundancy


def _matrix(frame: pl.DataFrame) -> np.ndarray:
    rows, cols = frame["i"].to_numpy().max() + 1, frame["j"].to_numpy().max() + 1
    matrix = np.full((rows, cols), np.nan)
    matrix[frame["i"].to_numpy(), frame["j"].to_numpy()] = frame["r"].to_numpy()
    return matrix


def plot_redundancy(run_dirs: list[str | Path], out: str | Path) -> Path:
    """The cross-correlation matrix of the first interaction's operands in [-1, 1], one panel per
    run, with field boundaries marked and the mean |R| of each block in the title."""
    from matplotlib import colormaps

    path = _check_output(out)
    runs = load_runs(run_dirs)
    # 40 colour steps of 0.05 across [-1, 1] (a constant dimension correlates 0)
    cmap = colormaps["RdBu_r"].resampled(40).with_extremes(bad="0.75")
    figure = _figure(4.2 * len(runs) + 0.9, 4.9)
    axes = figure.subplots(1, len(runs), squeeze=False)[0]
    image = None
    for ax, run in zip(axes, runs):
        matrix = _matrix(run.frame("redundancy"))
        image = ax.imshow(matrix, cmap=cmap, vmin=-1, vmax=1, interpolation="nearest")
        fields = run.analysis.get("fields") or []
        dim = int(run.analysis.get("embedding_dim") or 0)
        for axis_size, line, ticks in (
            (matrix.shape[0], ax.axhline, ax.set_yticks),
            (matrix.shape[1], ax.axvline, ax.set_xticks),
        ):
            if dim and fields and axis_size == dim * len(fields):
                for boundary in range(dim, axis_size, dim):
                    line(boundary - 0.5, color="black", linewidth=0.4, alpha=0.6)
                if len(fields) <= 24:
                    centres = [i * dim + (dim - 1) / 2 for i in range(len(fields))]
                    ticks(centres, labels=fields, fontsize=6)
        ax.tick_params(axis="x", labelrotation=90)
        summary = run.analysis.get("redundancy") or {}
        parts = [
            f"{label} {summary[f'{block}_mean_abs']:.3f}"
            for block, label in REDUNDANCY_BLOCKS
            if summary.get(f"{block}_mean_abs") is not None
        ]
        stats = "".join(f"\n{', '.join(parts[i : i + 2])}" for i in range(0, len(parts), 2))
        pairing = f" (pairing {summary['pairing']})" if summary.get("pairing") else ""
        stats = f"\nmean |R| by block{pairing}:{stats}" if parts else ""
        ax.set_title(f"{run.label}{stats}", fontsize=9)
        ax.set_xlabel("operand B dimension (by field)", fontsize=8)
        ax.set_ylabel("operand A dimension (by field)", fontsize=8)
    figure.colorbar(image, ax=list(axes), shrink=0.8, label="Pearson correlation")
    figure.suptitle(f"Cross-correlation of the first interaction's operands ({_datasets(runs)})", fontsize=10)
    return _save(figure, path, palette=True)


# --------------------------------------------------------------------------------------- collapse


def plot_collapse(run_dirs: list[str | Path], out: str | Path) -> Path:
    """Information abundance after every epoch (runs trained with trainer.track_collapse=true)."""
    from matplotlib.ticker import MaxNLocator

    path = _check_output(out)
    runs = load_runs(run_dirs)
    figure = _figure(6.4, 4.2)
    ax = figure.add_subplot()
    for run, color in zip(runs, _colors(len(runs))):
        history = run.metrics.get("history") or []
        if not any("information_abundance_raw" in h for h in history):
            raise Ge4recError(
                f"'{run.dir}' has no per-epoch collapse record (train with trainer.track_collapse=true)"
            )
        for key, style, kind in (
            ("information_abundance_raw", "-o", "raw E"),
            ("information_abundance_operand", "--s", embedding_label(OPERAND, run)),
        ):
            points = [(h["epoch"], h[key]) for h in history if h.get(key) is not None]
            if points:
                epochs, values = zip(*points)
                ax.plot(
                    epochs,
                    values,
                    style,
                    color=color,
                    markersize=3,
                    linewidth=1.6,
                    label=f"{run.label}: {kind}",
                )
        best = run.metrics.get("best_epoch")
        if best:
            ax.axvline(best, color=color, linewidth=0.8, alpha=0.4)
    ax.set_title(
        f"Information abundance per epoch\n{_datasets(runs)}; thin vertical lines: best epoch", fontsize=11
    )
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel("information abundance (Σ σ_k / σ_1)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small")
    return _save(figure, path)


def plot(kind: str, run_dirs: list[str | Path], out: str | Path, **options) -> Path:
    """Draw plot `kind` (spectrum, redundancy, collapse) of the runs to `out`; returns the path."""
    if kind == "spectrum":
        return plot_spectrum(run_dirs, out, **options)
    if kind == "redundancy":
        return plot_redundancy(run_dirs, out)
    if kind == "collapse":
        return plot_collapse(run_dirs, out)
    raise Ge4recError(f"unknown plot '{kind}' (choose from: {', '.join(PLOTS)})")
