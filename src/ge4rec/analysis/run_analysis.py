"""The analysis of a trained model on held-out rows: collapse of the raw (and generated) embeddings
and redundancy between the operands of its first interaction, stored with the run.

Files written to RUN_DIR/analysis/:
- spectra.parquet     embedding, scope ("all" or a field name), field (-1 for all), k, singular_value
- measures.parquet    embedding, scope, field, information_abundance, effective_rank,
                      condition_number, components_98, rank
- redundancy.parquet  i, j, field_i, field_j, r (the cross-correlation matrix, long format)
metrics.json gets an "analysis" block; the results row gets the flat scalars (`scalars`).
"""

from __future__ import annotations

import json
import math
import os
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl
import torch

from ge4rec.analysis.redundancy import constant_columns, cross_correlation, redundancy_summary
from ge4rec.analysis.spectrum import MEASURES, covariance_spectrum, field_spectra, spectrum_measures
from ge4rec.data.batches import SplitTensors
from ge4rec.errors import ConfigError, Ge4recError
from ge4rec.models.base import CTRModel

SPLITS = ("train", "valid", "test")
ANALYSIS_FOLDER = "analysis"
# short names of the measures in the flat scalars (results-row columns)
SHORT = {
    "information_abundance": "ia",
    "effective_rank": "erank",
    "condition_number": "condition",
    "components_98": "components98",
}


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


def embedding_names(model: CTRModel, captured: dict[str, torch.Tensor]) -> list[str]:
    """The embeddings to analyse: "raw", and under a generative paradigm every generator layer
    ("generated" or "generated.0", "generated.1", ... in layer order)."""
    names = ["raw"] if "raw" in captured else []
    if model.paradigm.generative:
        layers = [k for k in captured if k == "generated" or k.startswith("generated.")]
        names += sorted(layers, key=lambda k: -1 if k == "generated" else int(k.split(".", 1)[1]))
    return names


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
        out[name] = int(value) if name in ("components_98", "rank") else float(value)
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
        embedding: str, scope: str, index: int, spectrum: torch.Tensor, measures: dict[str, float]
    ) -> None:
        size = spectrum.numel()
        spectra_rows["embedding"] += [embedding] * size
        spectra_rows["scope"] += [scope] * size
        spectra_rows["field"] += [index] * size
        spectra_rows["k"] += list(range(1, size + 1))
        spectra_rows["singular_value"] += spectrum.cpu().tolist()
        for key, value in (("embedding", embedding), ("scope", scope), ("field", index), *measures.items()):
            measure_rows[key].append(value)

    analysed = embedding_names(model, captured)
    for embedding in analysed:
        tensor = captured[embedding]
        flat = tensor.reshape(tensor.shape[0], -1)
        whole_spectrum = covariance_spectrum(flat)
        whole = _measure_dict(spectrum_measures(whole_spectrum, samples=flat.shape[0]))
        tensors[f"spectrum/{embedding}"] = whole_spectrum
        add(embedding, "all", -1, whole_spectrum, whole)
        entry: dict[str, Any] = {"whole": whole}
        per_field = _fields_view(tensor, num_fields, dim)
        if per_field is not None:
            spectra = field_spectra(per_field)
            measures = spectrum_measures(spectra, samples=per_field.shape[0])
            fields = {names[i]: _measure_dict(measures, i) for i in range(num_fields)}
            for i in range(num_fields):
                add(embedding, names[i], i, spectra[i], fields[names[i]])
            entry["field_mean"] = {k: float(measures[k].to(torch.float64).mean()) for k in MEASURES}
            entry["fields"] = fields
        embeddings[embedding] = entry

    generated = [n for n in analysed if n != "raw"]
    primary = generated[0] if generated else None
    for role, embedding in (("raw", "raw" if "raw" in embeddings else None), ("generated", primary)):
        entry = embeddings.get(embedding) if embedding else None
        for measure, short in SHORT.items():
            scalars[f"{short}_{role}"] = entry["whole"][measure] if entry else None
        for measure in ("information_abundance", "effective_rank"):
            mean = entry.get("field_mean", {}).get(measure) if entry else None
            scalars[f"{SHORT[measure]}_{role}_field_mean"] = mean
    scalars["ia_generated_layer_mean"] = (
        sum(embeddings[n]["whole"]["information_abundance"] for n in generated) / len(generated)
        if generated
        else None
    )

    redundancy_frame, redundancy = None, None
    if "operand_a" in captured and "operand_b" in captured:
        a = captured["operand_a"].reshape(len(sample), -1)
        b = captured["operand_b"].reshape(len(sample), -1)
        matrix = cross_correlation(a, b)
        tensors["redundancy"] = matrix
        redundancy = redundancy_summary(matrix)
        redundancy.update(
            width_a=a.shape[1],
            width_b=b.shape[1],
            constant_a=int(constant_columns(a).sum()),
            constant_b=int(constant_columns(b).sum()),
        )
        rows_a, cols_b = matrix.shape
        i = torch.arange(rows_a).repeat_interleave(cols_b)
        j = torch.arange(cols_b).repeat(rows_a)
        redundancy_frame = pl.DataFrame(
            {
                "i": i.numpy(),
                "j": j.numpy(),
                "field_i": (i // dim).numpy(),
                "field_j": (j // dim).numpy(),
                "r": matrix.reshape(-1).cpu().numpy(),
            }
        )
    for key in ("mean_abs", "mean_sq", "diagonal_mean"):
        scalars[f"redundancy_{key}"] = redundancy[key] if redundancy else None

    summary = {
        "rows": len(sample),
        "fields": names,
        "num_fields": num_fields,
        "embedding_dim": dim,
        "embeddings": embeddings,
        "primary_generated": primary,
        "redundancy": redundancy,
    }
    spectra_frame = pl.DataFrame(
        spectra_rows,
        schema={
            "embedding": pl.String,
            "scope": pl.String,
            "field": pl.Int64,
            "k": pl.Int64,
            "singular_value": pl.Float64,
        },
    )
    measure_schema = {
        "embedding": pl.String,
        "scope": pl.String,
        "field": pl.Int64,
        **{m: (pl.Int64 if m in ("components_98", "rank") else pl.Float64) for m in MEASURES},
    }
    measures_frame = pl.DataFrame(measure_rows, schema=measure_schema)
    return Analysis(summary, scalars, spectra_frame, measures_frame, redundancy_frame, tensors)


# ---------------------------------------------------------------------------- storage and JSON


def json_safe(value: Any) -> Any:
    """Non-finite floats become null (JSON has no inf/NaN): a null condition number is infinite."""
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
            continue
        tmp = folder / f".{name}.{os.getpid()}.tmp"
        try:
            frame.write_parquet(tmp)
            os.replace(tmp, final)
        finally:
            tmp.unlink(missing_ok=True)
    return folder


def analysis_settings(cfg) -> dict[str, Any]:
    """split and rows from the config's `analysis` block (defaults: valid, 50,000)."""
    block = cfg.get("analysis") or {}
    split = str(block.get("split", "valid"))
    if split not in SPLITS:
        raise ConfigError(f"analysis.split: '{split}' (expected one of {', '.join(SPLITS)})")
    rows = block.get("rows", 50000)
    if rows is not None and int(rows) < 0:
        raise ConfigError(f"analysis.rows: {rows} (expected a positive number, or 0 for the whole split)")
    return {"split": split, "rows": None if rows is None else int(rows)}


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
    """A per-epoch callback for Trainer.fit: information abundance and effective rank of the raw
    and (first) generated embedding on a fixed sample, as history columns."""
    sample = sample_split(split, rows, seed).to(device)

    def track(model: CTRModel) -> dict[str, float]:
        captured = capture(model, sample, batch_size, device)
        names = embedding_names(model, captured)
        out: dict[str, float] = {}
        for role, name in (("raw", "raw"), ("generated", next((n for n in names if n != "raw"), None))):
            if name is None or name not in names:
                continue
            flat = captured[name].reshape(len(sample), -1)
            measures = spectrum_measures(covariance_spectrum(flat), samples=flat.shape[0])
            out[f"ia_{role}"] = float(measures["information_abundance"])
            out[f"erank_{role}"] = float(measures["effective_rank"])
        return out

    return track


# ------------------------------------------------------------------------- a finished run folder


def load_run(run_dir: Path, device: str | None = None):
    """The composed config, the data and the model of a run folder, its best checkpoint loaded."""
    from omegaconf import OmegaConf

    from ge4rec.data import load_dataset
    from ge4rec.models import build_model
    from ge4rec.paradigms import build_paradigm
    from ge4rec.train.loop import resolve_device

    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise Ge4recError(f"run folder '{run_dir}' does not exist")
    config_file, checkpoint = run_dir / "config.yaml", run_dir / "checkpoint.pt"
    if not config_file.is_file():
        raise Ge4recError(f"'{run_dir}' is not a run folder (no config.yaml)")
    if not checkpoint.is_file():
        raise Ge4recError(f"'{run_dir}' has no checkpoint.pt (trained with save_checkpoint=false, or failed)")
    cfg = OmegaConf.load(config_file)
    target = resolve_device(str(device or cfg.get("device", "auto")))
    data = load_dataset(cfg.dataset, cfg.cache_dir)
    paradigm = build_paradigm(cfg.paradigm)
    model = build_model(
        OmegaConf.to_container(cfg.model, resolve=True), data.schema, int(cfg.embedding_dim), paradigm
    )
    try:
        state = torch.load(checkpoint, map_location=target, weights_only=True)
        model.load_state_dict(state)
    except Exception as exc:  # a truncated file or one from another model
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise Ge4recError(f"cannot load '{checkpoint}': {message}") from None
    model.to(target)
    return cfg, data, model, target


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
    tmp = metrics_file.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(metrics, indent=2))
    os.replace(tmp, metrics_file)
    return analysis
