"""The analysis of a trained model on held-out rows (as in the SFG paper): collapse of the raw embedding
E and of the interaction operand, and redundancy between the two operands of its first
interaction, stored with the run.

Analysed embeddings (the "embedding" column of the files below):
- "raw": E [n, F*d];
- "operand": what enters the interaction, in both paradigms: the recorded "generated" tensor, or
  for models with several interaction layers (cross networks, CIN) every layer's "generated.k"
  stacked along the sample axis, [L*n, F*d], as the paper does. Under DIS the generator is the
  identity, so this is E (repeated once per layer);
- "generated" / "generated.0", "generated.1", ...: under a generative paradigm, each layer's
  generated operand on its own.

Files written to RUN_DIR/analysis/:
- spectra.parquet     embedding, scope ("all" or a field name), field (-1 for all), k,
                      eigenvalue (lambda_k of the covariance, the spectrum the paper plots),
                      singular_value (sigma_k = sqrt(rows * lambda_k) of the centred matrix)
- measures.parquet    embedding, scope, field, rows, width, information_abundance,
                      effective_rank, components_98 (on singular values), collapse_cliff
- redundancy.parquet  i, j, field_i, field_j, r (the cross-correlation matrix, long format)
metrics.json gets an "analysis" block; the results row gets the flat scalars (SCALAR_COLUMNS).
"""

from __future__ import annotations

import json
import math
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl
import torch

from ge4rec.analysis.redundancy import (
    DEFAULT_PAIRING,
    constant_columns,
    cross_correlation,
    redundancy_decomposition,
)
from ge4rec.analysis.spectrum import (
    INTEGER_MEASURES,
    MEASURES,
    cliff_floor,
    covariance_spectrum,
    field_spectra,
    singular_values_from_eigenvalues,
    spectrum_measures,
)
from ge4rec.data.batches import SplitTensors
from ge4rec.errors import Ge4recError
from ge4rec.io import write_json, write_parquet
from ge4rec.models.base import (
    GENERATED,
    OPERAND_A,
    OPERAND_B,
    RAW,
    CTRModel,
    generated_layer_index,
)
from ge4rec.results.store import ANALYSIS_COLUMNS

if TYPE_CHECKING:
    from polars._typing import PolarsDataType

SPLITS = ("train", "valid", "test")
ANALYSIS_FOLDER = "analysis"
OPERAND = "operand"

# every flat scalar of an analysis (metrics.json -> analysis.scalars and the results-row columns),
# with a one-line description; null where a run has no such embedding or operands
SCALAR_COLUMNS: dict[str, str] = {
    "information_abundance_raw": "information abundance sum(sigma_k)/sigma_1 of the raw embedding E "
    "[n, F*d] (singular values of the centred matrix)",
    "effective_rank_raw": "effective rank (RankMe) exp(-sum p_k log p_k), p_k = sigma_k/sum(sigma), of E",
    "collapse_cliff_raw": "leading normalised eigenvalues lambda_k/lambda_1 of E's covariance above the "
    "float32 floor (D*eps32)^2; D = F*d when there is no cliff",
    "information_abundance_raw_field_mean": "information abundance of each field's [n, d] block of E, "
    "averaged over the fields",
    "information_abundance_operand": "information abundance of the interaction operand (E under DIS, "
    "generated Z under SFG; layers stacked along the samples, [L*n, F*d])",
    "effective_rank_operand": "effective rank (RankMe) of the interaction operand",
    "collapse_cliff_operand": "leading normalised eigenvalues of the interaction operand's covariance "
    "above the float32 floor (D*eps32)^2; D when there is no cliff",
    "information_abundance_operand_field_mean": "information abundance of each field's block of the "
    "interaction operand, averaged over the fields",
    "redundancy_interacting_mean_abs": "mean |R| over the entries of the operands' cross-correlation "
    "that the interaction multiplies (the model's operand_pairing)",
    "redundancy_within_field_mean_abs": "mean |R| over the within-field d x d blocks, main diagonal "
    "R[c,c] excluded",
    "redundancy_cross_field_mean_abs": "mean |R| over the cross-field blocks (field_i != field_j)",
    "redundancy_offdiagonal_mean_abs": "mean |R| over every off-diagonal entry (c != c')",
    "analysis_split": "the split the analysis sampled its rows from",
    "analysis_rows": "held-out rows n the analysis used (the stacked operand has L*n rows)",
    "analysis_seconds": "seconds the analysis took",
}


def scalar_schema() -> dict[str, PolarsDataType]:
    """The results-store type of every column in SCALAR_COLUMNS (declared with the store's columns)."""
    return {name: ANALYSIS_COLUMNS[name] for name in SCALAR_COLUMNS}


@dataclass
class Analysis:
    summary: dict[str, Any]  # metrics.json["analysis"]
    scalars: dict[str, Any]  # flat columns for the results row
    spectra: pl.DataFrame
    measures: pl.DataFrame
    redundancy: pl.DataFrame | None = None
    tensors: dict[str, torch.Tensor] = field(default_factory=dict, repr=False)


# ------------------------------------------------------------------------------- sample, capture


def sample_split(split: SplitTensors, rows: int | None, seed: int) -> SplitTensors:
    """`rows` rows drawn without replacement with `seed` (the whole split when rows is None, 0 or
    at least its size), kept in their original order."""
    n = len(split)
    if not rows or rows >= n:
        return split
    generator = torch.Generator().manual_seed(int(seed))
    index = torch.randperm(n, generator=generator)[: int(rows)].sort().values
    return split.subset(index.to(split.label.device))


def capture(
    model: CTRModel, sample: SplitTensors, batch_size: int, device: torch.device
) -> dict[str, torch.Tensor]:
    """What the model records (CTRModel.capture) over the whole sample, batch by batch, concatenated."""
    parts: dict[str, list[torch.Tensor]] = defaultdict(list)
    for batch in sample.batches(batch_size):
        for name, tensor in model.capture(batch.to(device)).items():
            parts[name].append(tensor)
    return {name: torch.cat(tensors) for name, tensors in parts.items()}


def operand_layers(captured: dict[str, torch.Tensor]) -> list[str]:
    """The recorded interaction operands in layer order: ["generated"], or ["generated.0",
    "generated.1", ...] for models with several interaction layers; [] when none is recorded."""
    if GENERATED in captured:
        return [GENERATED]
    layers = [k for k in captured if generated_layer_index(k) is not None]
    return sorted(layers, key=lambda k: generated_layer_index(k) or 0)  # every one has an index


def stacked_operand(captured: dict[str, torch.Tensor]) -> torch.Tensor | None:
    """The interaction operand of every layer, flattened and stacked along the sample axis:
    [L*n, width] (layer 0's n rows first), or None when the model records none."""
    layers = operand_layers(captured)
    if not layers:
        return None
    return torch.cat([captured[k].reshape(captured[k].shape[0], -1) for k in layers], dim=0)


def embedding_names(model: CTRModel, captured: dict[str, torch.Tensor]) -> list[str]:
    """The embeddings to analyse: "raw", "operand" (in both paradigms, when the model records an
    operand), and under a generative paradigm every generator layer on its own."""
    names = [RAW] if RAW in captured else []
    layers = operand_layers(captured)
    if layers:
        names.append(OPERAND)
        if model.paradigm.generative:
            names += layers
    return names


def analysed_tensors(model: CTRModel, captured: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """{name: [rows, width]} for every name in `embedding_names` ("operand" stacked)."""
    out: dict[str, torch.Tensor] = {}
    for name in embedding_names(model, captured):
        tensor = stacked_operand(captured) if name == OPERAND else captured[name]
        assert tensor is not None  # embedding_names lists OPERAND only when one is recorded
        out[name] = tensor.reshape(tensor.shape[0], -1)
    return out


def _fields_view(tensor: torch.Tensor, num_fields: int, dim: int) -> torch.Tensor | None:
    n = tensor.shape[0]
    return tensor.reshape(n, num_fields, dim) if tensor[0].numel() == num_fields * dim else None


# --------------------------------------------------------------------------------------- analysis


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _measure_dict(measures: dict[str, torch.Tensor], index: int | None = None) -> dict[str, float | int]:
    out: dict[str, float | int] = {}
    for name in MEASURES:
        value = measures[name] if index is None else measures[name][index]
        out[name] = int(value) if name in INTEGER_MEASURES else float(value)
    return out


def analyze_model(
    model: CTRModel,
    sample: SplitTensors,
    batch_size: int,
    device: torch.device,
    field_names: list[str] | None = None,
) -> Analysis:
    """Spectra and collapse measures of every analysed embedding, whole and per field, and the
    cross-correlation of the first interaction's operands, on `sample`."""
    captured = capture(model, sample, batch_size, device)
    num_fields, dim = model.num_fields, model.dim
    names = field_names or [f"field{i}" for i in range(num_fields)]
    spectra_rows: dict[str, list] = defaultdict(list)
    measure_rows: dict[str, list] = defaultdict(list)
    embeddings: dict[str, Any] = {}
    scalars: dict[str, Any] = {}
    tensors: dict[str, torch.Tensor] = {}

    def add(
        embedding: str, scope: str, index: int, rows: int, eigenvalues: torch.Tensor, measures: dict
    ) -> None:
        size = eigenvalues.numel()
        spectra_rows["embedding"] += [embedding] * size
        spectra_rows["scope"] += [scope] * size
        spectra_rows["field"] += [index] * size
        spectra_rows["k"] += list(range(1, size + 1))
        spectra_rows["eigenvalue"] += eigenvalues.cpu().tolist()
        spectra_rows["singular_value"] += singular_values_from_eigenvalues(eigenvalues, rows).cpu().tolist()
        row = (("embedding", embedding), ("scope", scope), ("field", index), ("rows", rows), ("width", size))
        for key, value in (*row, *measures.items()):
            measure_rows[key].append(value)

    for embedding, flat in analysed_tensors(model, captured).items():
        rows = flat.shape[0]
        eigenvalues = covariance_spectrum(flat)
        whole = _measure_dict(spectrum_measures(eigenvalues))
        tensors[f"spectrum/{embedding}"] = eigenvalues
        add(embedding, "all", -1, rows, eigenvalues, whole)
        entry: dict[str, Any] = {
            "rows": rows,
            "width": flat.shape[1],
            "cliff_floor": cliff_floor(flat.shape[1]),
            "whole": whole,
        }
        per_field = _fields_view(flat, num_fields, dim)
        if per_field is not None:
            spectra = field_spectra(per_field)
            measures = spectrum_measures(spectra)
            fields = {names[i]: _measure_dict(measures, i) for i in range(num_fields)}
            for i in range(num_fields):
                add(embedding, names[i], i, rows, spectra[i], fields[names[i]])
            entry["field_mean"] = {k: float(measures[k].to(torch.float64).mean()) for k in MEASURES}
            entry["fields"] = fields
        embeddings[embedding] = entry

    for role in (RAW, OPERAND):
        found = embeddings.get(role)
        scalars[f"information_abundance_{role}"] = found["whole"]["information_abundance"] if found else None
        scalars[f"effective_rank_{role}"] = found["whole"]["effective_rank"] if found else None
        scalars[f"collapse_cliff_{role}"] = found["whole"]["collapse_cliff"] if found else None
        mean = found.get("field_mean", {}).get("information_abundance") if found else None
        scalars[f"information_abundance_{role}_field_mean"] = mean

    redundancy_frame, redundancy = None, None
    if OPERAND_A in captured and OPERAND_B in captured:
        a = captured[OPERAND_A].reshape(len(sample), -1)
        b = captured[OPERAND_B].reshape(len(sample), -1)
        matrix = cross_correlation(a, b)
        tensors["redundancy"] = matrix
        pairing = str(getattr(model, "operand_pairing", DEFAULT_PAIRING))
        redundancy = {
            "pairing": pairing,
            **redundancy_decomposition(matrix, num_fields, dim, pairing),
            "width_a": a.shape[1],
            "width_b": b.shape[1],
            "constant_a": int(constant_columns(a).sum()),
            "constant_b": int(constant_columns(b).sum()),
        }
        rows_a, cols_b = matrix.shape
        i_index = torch.arange(rows_a).repeat_interleave(cols_b)
        j_index = torch.arange(cols_b).repeat(rows_a)
        redundancy_frame = pl.DataFrame(
            {
                "i": i_index.numpy(),
                "j": j_index.numpy(),
                "field_i": (i_index // dim).numpy(),
                "field_j": (j_index // dim).numpy(),
                "r": matrix.reshape(-1).cpu().numpy(),
            }
        )
    for block in ("interacting", "within_field", "cross_field", "offdiagonal"):
        key = f"{block}_mean_abs"
        scalars[f"redundancy_{key}"] = redundancy[key] if redundancy else None

    summary = {
        "rows": len(sample),
        "fields": names,
        "num_fields": num_fields,
        "embedding_dim": dim,
        "operand_layers": operand_layers(captured),
        "embeddings": embeddings,
        "redundancy": redundancy,
    }
    spectra_frame = pl.DataFrame(
        spectra_rows,
        schema={
            "embedding": pl.String,
            "scope": pl.String,
            "field": pl.Int64,
            "k": pl.Int64,
            "eigenvalue": pl.Float64,
            "singular_value": pl.Float64,
        },
    )
    measure_schema = {
        "embedding": pl.String,
        "scope": pl.String,
        "field": pl.Int64,
        "rows": pl.Int64,
        "width": pl.Int64,
        **{m: (pl.Int64 if m in INTEGER_MEASURES else pl.Float64) for m in MEASURES},
    }
    measures_frame = pl.DataFrame(measure_rows, schema=measure_schema)
    return Analysis(summary, scalars, spectra_frame, measures_frame, redundancy_frame, tensors)


# ---------------------------------------------------------------------------- storage and JSON


def json_safe(value: Any) -> Any:
    """Non-finite floats become null (JSON has no inf/NaN)."""
    if isinstance(value, float):
        return _finite(value)
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def write_analysis(analysis: Analysis, run_dir: Path) -> Path:
    """Write the Parquet files to RUN_DIR/analysis/ (each replaced atomically); returns the folder."""
    folder = Path(run_dir) / ANALYSIS_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    frames = {"spectra": analysis.spectra, "measures": analysis.measures, "redundancy": analysis.redundancy}
    for name, frame in frames.items():
        final = folder / f"{name}.parquet"
        if frame is None:
            final.unlink(missing_ok=True)
        else:
            write_parquet(final, frame)
    return folder


def analysis_settings(cfg) -> dict[str, Any]:
    """split and rows from the config's `analysis` block (ge4rec.config.schema.AnalysisConfig)."""
    from ge4rec.config import AnalysisConfig, typed

    block = typed(AnalysisConfig, cfg.get("analysis") or {}, "analysis")
    return {"split": block.split, "rows": block.rows}


def run_analysis(
    model: CTRModel,
    splits: dict[str, SplitTensors],
    run_dir: Path,
    *,
    split: str,
    rows: int | None,
    seed: int,
    batch_size: int,
    device: torch.device,
) -> Analysis:
    """Analyse `rows` rows of `split` (sampled with `seed`) and write the files; the summary and
    scalars carry the settings and the time the analysis took."""
    start = time.perf_counter()
    sample = sample_split(splits[split], rows, seed)
    analysis = analyze_model(model, sample, batch_size, device, field_names=model.schema.names)
    write_analysis(analysis, run_dir)
    seconds = time.perf_counter() - start
    analysis.summary = {"split": split, "seed": int(seed), "seconds": seconds, **analysis.summary}
    analysis.scalars.update(analysis_split=split, analysis_rows=len(sample), analysis_seconds=seconds)
    analysis.summary["scalars"] = dict(analysis.scalars)
    return analysis


def collapse_tracker(split: SplitTensors, rows: int | None, seed: int, batch_size: int, device: torch.device):
    """A per-epoch callback for Trainer.fit: information abundance and effective rank (on singular
    values, as in the final analysis) of the raw embedding and of the interaction operand on a
    fixed sample, as history columns information_abundance_{raw,operand}, effective_rank_{...}."""
    sample = sample_split(split, rows, seed).to(device)

    def track(model: CTRModel) -> dict[str, float]:
        captured = capture(model, sample, batch_size, device)
        out: dict[str, float] = {}
        for role in (RAW, OPERAND):
            flat = captured.get(RAW) if role == RAW else stacked_operand(captured)
            if flat is None:
                continue
            measures = spectrum_measures(covariance_spectrum(flat.reshape(flat.shape[0], -1)))
            out[f"information_abundance_{role}"] = float(measures["information_abundance"])
            out[f"effective_rank_{role}"] = float(measures["effective_rank"])
        return out

    return track


# ------------------------------------------------------------------------- a finished run folder


def load_run(run_dir: Path, device: str | None = None):
    """The composed config, the data and the model of a run folder, built as `ge4rec train` built
    them (ge4rec.run.build_run), its best checkpoint loaded; returns (cfg, data, model, device)."""
    from omegaconf import DictConfig, OmegaConf

    from ge4rec.run import build_run

    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise Ge4recError(f"run folder '{run_dir}' does not exist")
    config_file, checkpoint = run_dir / "config.yaml", run_dir / "checkpoint.pt"
    if not config_file.is_file():
        raise Ge4recError(f"'{run_dir}' is not a run folder (no config.yaml)")
    if not checkpoint.is_file():
        raise Ge4recError(f"'{run_dir}' has no checkpoint.pt (trained with save_checkpoint=false, or failed)")
    try:
        cfg = OmegaConf.load(config_file)
    except Exception as exc:
        raise Ge4recError(f"'{config_file}' is not readable YAML: {_first_line(exc)}") from None
    if not isinstance(cfg, DictConfig):  # OmegaConf.is_dict, narrowing
        raise Ge4recError(f"'{config_file}' is not a ge4rec run config (expected a mapping of settings)")
    missing = [key for key in ("seed", "dataset", "model", "paradigm", "trainer") if key not in cfg]
    if missing:
        raise Ge4recError(f"'{config_file}' is not a ge4rec run config (no {', '.join(missing)})")
    try:  # before the data set is loaded: a truncated file fails fast
        state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    except Exception as exc:
        message = _first_line(exc)
        raise Ge4recError(f"cannot load '{checkpoint}': {message} (truncated, or not a checkpoint)") from None
    run = build_run(cfg, device=device)
    try:
        run.model.load_state_dict(state)
    except Exception as exc:  # a checkpoint of another model or data set
        raise Ge4recError(f"cannot load '{checkpoint}' into the run's model: {_first_line(exc)}") from None
    run.model.to(run.device)
    return cfg, run.data, run.model, run.device


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def analyze_run_dir(
    run_dir: Path, rows: int | None = None, split: str | None = None, device: str | None = None
) -> Analysis:
    """Recompute a run's analysis from its checkpoint (`ge4rec analyze`): rewrites the files in
    RUN_DIR/analysis/ and the "analysis" block of metrics.json. The results store is left as it was."""
    cfg, data, model, target = load_run(Path(run_dir), device)
    settings = analysis_settings(cfg)
    split = split or settings["split"]
    if split not in SPLITS:
        raise Ge4recError(f"split '{split}' (expected one of {', '.join(SPLITS)})")
    rows = settings["rows"] if rows is None else int(rows)
    batch_size = int(cfg.trainer.get("eval_batch_size", 16384))
    analysis = run_analysis(
        model,
        data.splits,
        Path(run_dir),
        split=split,
        rows=rows,
        seed=int(cfg.seed),
        batch_size=batch_size,
        device=target,
    )
    metrics_file = Path(run_dir) / "metrics.json"
    metrics = json.loads(metrics_file.read_text()) if metrics_file.is_file() else {}
    metrics["analysis"] = json_safe(analysis.summary)
    metrics.pop("analysis_error", None)
    write_json(metrics_file, metrics)
    return analysis
