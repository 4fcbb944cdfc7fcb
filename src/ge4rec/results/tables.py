"""Paper-style tables from results stores: `ge4rec table main|ablation|collapse`.

The builders take the store as a polars frame (`load_runs`) and return a `TableResult`: the numbers
as a tidy frame (`.data`), the display layout, notes, warnings and provenance. The renderers in
`ge4rec.results.render` turn it into GitHub markdown, a LaTeX (booktabs) tabular or CSV:

    from ge4rec.results.tables import build_main_table, load_runs
    from ge4rec.results.render import render

    result = build_main_table(load_runs(["results"]))
    page = render(result, "md")
"""

from __future__ import annotations

import argparse
import importlib.metadata
import math
import shlex
import subprocess
import sys
import warnings
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import polars as pl

from ge4rec.errors import CommandParser, Ge4recError
from ge4rec.io import write_text
from ge4rec.results.runs import (
    ABLATION_FAMILIES,
    PARADIGM_LABEL,
    Cell,
    Pair,
    Report,
    Run,
    Store,
    choose_paradigm_setting,
    config_diff,
    family_diff,
    family_of,
    load_runs,
    model_order,
    names,
    paradigm_defaults,
    prepare,
    resolve_pairs,
    show_diff,
    show_value,
    train_command,
)

__all__ = [
    "ALPHA",
    "COLLAPSE_COLUMNS",
    "PAPER_AVERAGE_CHANGE",
    "REFERENCE_AUC",
    "Block",
    "TableResult",
    "Text",
    "build_ablation_table",
    "build_collapse_table",
    "build_main_table",
    "load_runs",
    "table_command",
]

ALPHA = 0.05  # a paired test below this marks the change as significant (†)

# the paper's reference test AUCs, DIS -> SFG (the SFG paper's plotting scripts)
REFERENCE_AUC: dict[tuple[str, str], tuple[float, float]] = {
    ("avazu_x4", "fm"): (0.788225, 0.792494),
    ("criteo_x1", "fm"): (0.80236, 0.81108),
    ("avazu_x4", "deepfm"): (0.792790, 0.793334),
    ("criteo_x1", "deepfm"): (0.81380, 0.81396),
    ("avazu_x4", "crossnet"): (0.788106, 0.79236),
    ("criteo_x1", "crossnet"): (0.81177, 0.813687),
    ("avazu_x4", "dcnv2"): (0.792587, 0.793512),
    ("criteo_x1", "dcnv2"): (0.813575, 0.814115),
}
PAPER_AVERAGE_CHANGE = {"auc": 0.272, "logloss": -0.435}  # % over the base models, SFG vs DIS

METRICS = (("auc", "test_auc", "AUC"), ("logloss", "test_logloss", "LogLoss"))

# collapse/redundancy row columns: (column, label, decimals)
COLLAPSE_COLUMNS: tuple[tuple[str, str, int], ...] = (
    ("information_abundance_operand", "IA", 2),
    ("effective_rank_operand", "eff. rank", 2),
    ("collapse_cliff_operand", "cliff", 2),
    ("redundancy_interacting_mean_abs", "red. interacting", 4),
    ("redundancy_within_field_mean_abs", "red. within field", 4),
    ("redundancy_cross_field_mean_abs", "red. cross field", 4),
    ("redundancy_offdiagonal_mean_abs", "red. off-diagonal", 4),
)


# ----------------------------------------------------------------------------------------- result


@dataclass
class Text:
    """One displayed table cell (plain text; ±, † and Δ are mapped by the LaTeX renderer)."""

    text: str
    bold: bool = False


@dataclass
class Block:
    """Rows under one optional title (a family of the ablation table); `rule_before` lists row
    indices preceded by a rule (the average row)."""

    title: str
    rows: list[list[Text]]
    rule_before: list[int] = field(default_factory=list)


@dataclass
class TableResult:
    kind: str  # main | ablation | collapse
    title: str
    columns: list[str]
    groups: list[tuple[str, int]]  # header labels spanning columns (left to right); [] for none
    blocks: list[Block]
    data: pl.DataFrame  # the numbers, tidy: one row per cell and metric
    notes: list[str] = field(default_factory=list)
    provenance: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


# ------------------------------------------------------------------------------------- statistics


@dataclass
class Stat:
    mean: float | None
    std: float | None  # sample std (ddof=1); None with fewer than two values
    n: int
    seeds: list[Any]


def summarize(runs: Sequence[Run], column: str) -> Stat:
    recorded = [(r.seed, r.row.get(column)) for r in runs]
    pairs = [(s, float(v)) for s, v in recorded if v is not None and not math.isnan(float(v))]
    values = [v for _, v in pairs]
    n = len(values)
    if n == 0:
        return Stat(None, None, 0, [])
    mean = sum(values) / n
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else None
    return Stat(mean, std, n, sorted(s for s, _ in pairs))


def relative_change(dis: float, sfg: float) -> float:
    """Relative change of SFG over DIS, in %."""
    return (sfg - dis) / dis * 100.0


def rela_impr(dis_auc: float, sfg_auc: float) -> float:
    """RelaImpr of SFG over DIS in %: the AUC gain above a random guess (0.5)."""
    return ((sfg_auc - 0.5) / (dis_auc - 0.5) - 1.0) * 100.0


def paired_test(dis: Cell, sfg: Cell, column: str) -> tuple[float | None, int]:
    """Paired t-test over the seeds both cells have (scipy.stats.ttest_rel): (p-value, pairs)."""
    from scipy.stats import ttest_rel

    a, b = dis.by_seed(), sfg.by_seed()
    seeds = sorted(
        s for s in set(a) & set(b) if a[s].row.get(column) is not None and b[s].row.get(column) is not None
    )
    if len(seeds) < 2:
        return None, len(seeds)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = ttest_rel([b[s].row[column] for s in seeds], [a[s].row[column] for s in seeds])
    p = float(result.pvalue)
    return (None if math.isnan(p) else p), len(seeds)


# ------------------------------------------------------------------------------------- formatting


def fmt_stat(stat: Stat | None, digits: int = 4) -> str:
    if stat is None or stat.mean is None:
        return "missing"
    if stat.std is None:
        return f"{stat.mean:.{digits}f} (n={stat.n})"
    return f"{stat.mean:.{digits}f} ± {stat.std:.{digits}f} (n={stat.n})"


def fmt_p(p: float | None) -> str:
    if p is None:
        return "-"
    return f"{p:.1e}" if p < 0.001 else f"{p:.3g}"


def fmt_settings(settings: dict[str, Any]) -> str:
    return ", ".join(f"{k}={show_value(v)}" for k, v in settings.items()) or "the only setting"


@lru_cache(maxsize=1)
def current_environment() -> dict[str, str]:
    """ge4rec version, git commit and torch version of the running code (no torch import)."""
    import ge4rec

    try:
        torch_version = importlib.metadata.version("torch")
    except importlib.metadata.PackageNotFoundError:
        torch_version = "not installed"
    commit = "unknown (not a git checkout)"
    root = Path(ge4rec.__file__).resolve().parents[2]
    if (root / ".git").exists():
        try:
            git = ["git", "-C", str(root)]
            head = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
            dirty = subprocess.run(
                [*git, "status", "--porcelain", "--untracked-files=no"],
                capture_output=True,
                text=True,
                timeout=10,
            )
            if head.returncode == 0 and head.stdout.strip():
                commit = head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
        except (OSError, subprocess.SubprocessError):
            pass
    return {"ge4rec_version": ge4rec.__version__, "git_commit": commit, "torch_version": torch_version}


_VERSION_COLUMNS = (("ge4rec_version", "ge4rec"), ("git_commit", "git commit"), ("torch_version", "torch"))


def _joined(runs: Sequence[Run], column: str) -> str | None:
    values = sorted({str(r.row[column]) for r in runs if r.row.get(column)})
    return ";".join(values) if values else None


def _version_fields(runs: Sequence[Run]) -> dict[str, str | None]:
    """Per tidy row: the recorded versions, or the current environment's marked as such."""
    env = current_environment()
    out: dict[str, str | None] = {}
    for column, _ in _VERSION_COLUMNS:
        recorded = _joined(runs, column)
        missing = any(not r.row.get(column) for r in runs)
        if not runs:
            out[column] = None
        elif recorded and not missing:
            out[column] = recorded
        else:
            out[column] = ";".join(filter(None, [recorded, f"{env[column]} (current environment)"]))
    out["devices"] = _joined(runs, "device")
    return out


def provenance(
    store: Store, cells: Sequence[tuple[str, int]], used: Sequence[Run], report: Report
) -> list[str]:
    """The provenance lines every table ends with."""
    env = current_environment()
    lines = []
    statuses = Counter(str(r.row.get("status")) for r in store.not_completed)
    status_text = "".join(f", {c} {s}" for s, c in sorted(statuses.items()))
    lines.append(
        f"results: {', '.join(store.dirs) or '(frame)'}: {store.rows} rows, {len(store.runs)} completed "
        f"runs after duplicates{status_text}"
    )
    for column, label in _VERSION_COLUMNS:
        counts = Counter(str(r.row[column]) for r in used if r.row.get(column))
        missing = sum(1 for r in used if not r.row.get(column))
        parts = [f"{v} ({c} runs)" if len(counts) > 1 else v for v, c in sorted(counts.items())]
        if missing:
            parts.append(f"not recorded in {missing} run(s); current environment: {env[column]}")
        lines.append(f"{label}: " + ("; ".join(parts) if parts else "no runs"))
    devices = Counter(str(r.row.get("device")) for r in used)
    lines.append("devices: " + (", ".join(f"{d} ({c} runs)" for d, c in sorted(devices.items())) or "none"))
    seeds = sorted({r.seed for r in used})
    lines.append("seeds: " + (", ".join(str(s) for s in seeds) or "none"))
    lines.append("runs per cell: " + "; ".join(f"{label} {n}" for label, n in cells))
    if store.not_completed:
        shown = [
            f"{r.label} [{r.where} seed {r.seed}{': ' + str(r.error) if r.row.get('error') else ''}]"
            for r in store.not_completed[:5]
        ]
        more = f" and {len(store.not_completed) - 5} more" if len(store.not_completed) > 5 else ""
        lines.append(
            f"not completed (counted, never averaged): {len(store.not_completed)} run(s): "
            + "; ".join(shown)
            + more
        )
    if store.duplicates:
        dropped = sum(len(d) for _, d in store.duplicates)
        lines.append(f"duplicates: {dropped} run(s) superseded by a later run of the same config and seed")
    for command in report.commands:
        lines.append(f"to fill a missing cell: `{command}`")
    return lines


def _finish(
    result: TableResult, store: Store, cells: Sequence[tuple[str, int]], used: Sequence[Run]
) -> TableResult:
    """Every table's ending: the checks' notes before the table's own, their warnings, and the
    provenance lines."""
    report = store.report
    result.notes = list(report.notes) + result.notes
    result.warnings = list(report.warnings)
    result.provenance = provenance(store, cells, used, report)
    return result


def _cell_runs(cell: Cell | None) -> list[Run]:
    return list(cell.runs) if cell else []


# ------------------------------------------------------------------------------------- main table


def build_main_table(
    frame: pl.DataFrame,
    datasets: Sequence[str] | None = None,
    metric_change: str = "relative",
    reference: bool = False,
    select: str | None = None,
) -> TableResult:
    """SFG against DIS per base model and data set: test AUC and LogLoss (mean ± std over seeds),
    the change of SFG over DIS, a paired t-test over seeds, and the average change over models."""
    if metric_change not in ("relative", "relaimpr"):
        raise Ge4recError(f"--metric-change {metric_change!r} (choose from: relative, relaimpr)")
    if select not in (None, "best-valid"):
        raise Ge4recError(f"--select {select!r} (choose from: best-valid)")
    store = prepare(frame, datasets)
    pairs = resolve_pairs(store, datasets, select)
    if not any(p.dis or p.sfg for p in pairs):
        raise Ge4recError(
            "no completed DIS or SFG runs to tabulate" + (f" for {', '.join(datasets)}" if datasets else "")
        )
    dataset_list = list(datasets) if datasets else sorted({p.dataset for p in pairs})
    models = model_order(p.model for p in pairs)
    by_key = {(p.dataset, p.model): p for p in pairs}
    change_label = {
        "auc": "RelaImpr AUC %" if metric_change == "relaimpr" else "ΔAUC %",
        "logloss": "ΔLogLoss %",
    }

    per_dataset = ["DIS AUC", "SFG AUC"]
    if reference:
        per_dataset += ["paper DIS AUC", "paper SFG AUC"]
    per_dataset += [
        change_label["auc"],
        "p AUC",
        "DIS LogLoss",
        "SFG LogLoss",
        change_label["logloss"],
        "p LogLoss",
    ]
    columns = ["model"] + per_dataset * len(dataset_list)
    groups = [("", 1)] + [(d, len(per_dataset)) for d in dataset_list] if len(dataset_list) > 1 else []

    records: list[dict[str, Any]] = []
    changes: dict[tuple[str, str], list[float]] = {}
    rows: list[list[Text]] = []
    single_seed = False
    cells_count: list[tuple[str, int]] = []
    used: list[Run] = []
    for model in models:
        row = [Text(model)]
        for dataset in dataset_list:
            pair = by_key.get((dataset, model)) or Pair(dataset, model, None, None)
            for paradigm in ("disc", "sfg"):
                cell = pair.cell(paradigm)
                cells_count.append((f"{dataset}/{model}/{paradigm}", len(cell.runs) if cell else 0))
                used += _cell_runs(cell)
            metric_cells: dict[str, list[Text]] = {}
            for metric, column, _ in METRICS:
                dis = summarize(_cell_runs(pair.dis), column) if pair.dis else None
                sfg = summarize(_cell_runs(pair.sfg), column) if pair.sfg else None
                single_seed |= any(s is not None and s.n == 1 for s in (dis, sfg))
                dis_mean = dis.mean if dis else None
                sfg_mean = sfg.mean if sfg else None
                change: float | None = None
                p: float | None = None
                n_pairs = 0
                better = None
                if pair.dis and pair.sfg and dis_mean is not None and sfg_mean is not None:
                    if metric == "auc" and metric_change == "relaimpr":
                        change = rela_impr(dis_mean, sfg_mean)
                    else:
                        change = relative_change(dis_mean, sfg_mean)
                    changes.setdefault((dataset, metric), []).append(change)
                    p, n_pairs = paired_test(pair.dis, pair.sfg, column)
                    if dis_mean != sfg_mean:
                        higher_is_better = metric == "auc"
                        better = "sfg" if (sfg_mean > dis_mean) == higher_is_better else "disc"
                significant = p is not None and p < ALPHA
                texts = [
                    Text(fmt_stat(dis), better == "disc"),
                    Text(fmt_stat(sfg), better == "sfg"),
                ]
                if metric == "auc" and reference:
                    ref = REFERENCE_AUC.get((dataset, model))
                    texts += [Text(f"{ref[0]:.6f}" if ref else ""), Text(f"{ref[1]:.6f}" if ref else "")]
                texts += [
                    Text("-" if change is None else f"{change:+.3f}" + ("†" if significant else "")),
                    Text(fmt_p(p)),
                ]
                metric_cells[metric] = texts
                for paradigm, stat in (("disc", dis), ("sfg", sfg)):
                    cell = pair.cell(paradigm)
                    is_sfg = paradigm == "sfg"
                    records.append(
                        {
                            "dataset": dataset,
                            "model": model,
                            "paradigm": paradigm,
                            "metric": metric,
                            "mean": stat.mean if stat else None,
                            "std": stat.std if stat else None,
                            "n": stat.n if stat else 0,
                            "seeds": ";".join(str(s) for s in stat.seeds) if stat else None,
                            "relative_change": change if is_sfg else None,
                            "change_kind": (
                                (
                                    "relaimpr"
                                    if metric == "auc" and metric_change == "relaimpr"
                                    else "relative"
                                )
                                if is_sfg and change is not None
                                else None
                            ),
                            "p_value": p if is_sfg else None,
                            "significant": significant if is_sfg and p is not None else None,
                            "n_pairs": n_pairs if is_sfg else None,
                            "reference_auc": (
                                REFERENCE_AUC.get((dataset, model), (None, None))[int(is_sfg)]
                                if metric == "auc"
                                else None
                            ),
                            "settings": fmt_settings(cell.settings) if cell and select else None,
                            "runs": ";".join(str(r.run_id) for r in cell.runs) if cell else None,
                            **_version_fields(_cell_runs(cell)),
                            "note": None if cell else "missing",
                        }
                    )
            row += metric_cells["auc"] + metric_cells["logloss"]
        rows.append(row)

    # the average change over models, per data set
    average = [Text("average")]
    for dataset in dataset_list:
        for metric, _, _ in METRICS:
            values = changes.get((dataset, metric), [])
            mean = sum(values) / len(values) if values else None
            n_ref = 2 if reference and metric == "auc" else 0
            average += [Text(""), Text("")] + [Text("")] * n_ref
            average += [Text("-" if mean is None else f"{mean:+.3f}"), Text("")]
            records.append(
                {
                    "dataset": dataset,
                    "model": "average",
                    "paradigm": "sfg",
                    "metric": metric,
                    "n": len(values),
                    "relative_change": mean,
                    "change_kind": "relaimpr"
                    if metric == "auc" and metric_change == "relaimpr"
                    else "relative",
                    "note": f"mean change over {len(values)} model(s)",
                }
            )
    rows.append(average)

    notes = []
    kind = "RelaImpr ((AUC_sfg-0.5)/(AUC_dis-0.5)-1)" if metric_change == "relaimpr" else "relative change"
    notes.append(
        f"Cells: test metric mean ± sample std over seeds (n = seeds); {change_label['auc']}: {kind} of SFG "
        f"over DIS x 100 (LogLoss: relative change); p: paired t-test over seeds (scipy.stats.ttest_rel), "
        f"† p < {ALPHA}; bold: the better paradigm."
    )
    if single_seed:
        notes.append("n=1: a single seed, shown without a std and without a paired test.")
    all_changes = {m: [c for (d, mm), v in changes.items() if mm == m for c in v] for m, _, _ in METRICS}
    if all_changes["auc"] or all_changes["logloss"]:
        text = ", ".join(
            f"{label} {sum(v) / len(v):+.3f}%" for (m, _, label) in METRICS if (v := all_changes[m])
        )
        pairs_n = max(len(v) for v in all_changes.values())
        paper = (
            f" (the paper: {PAPER_AVERAGE_CHANGE['auc']:+.3f}% AUC, {PAPER_AVERAGE_CHANGE['logloss']:+.3f}% LogLoss)"
            if reference
            else ""
        )
        notes.append(
            f"Average change of SFG over DIS over all {pairs_n} (data set, model) pairs: {text}{paper}."
        )
    if reference:
        notes.append(
            "paper DIS/SFG AUC: the SFG paper's reference test AUCs (Avazu_x4, Criteo_x1); blank: none."
        )
    if select:
        for pair in pairs:
            for paradigm in ("disc", "sfg"):
                cell = pair.cell(paradigm)
                if cell is None:
                    continue
                valid = "-" if cell.valid_auc is None else f"{cell.valid_auc:.4f}"
                notes.append(
                    f"chosen setting, {pair.dataset}/{pair.model} {PARADIGM_LABEL[paradigm]}: "
                    f"{fmt_settings(cell.settings)} (best mean validation AUC {valid} over {len(cell.runs)} seed(s), "
                    f"of {cell.alternatives} setting(s))"
                )

    title = "SFG vs DIS: test AUC and LogLoss, mean ± std over seeds"
    if len(dataset_list) == 1:
        title += f" ({dataset_list[0]})"
    result = TableResult(
        "main",
        title,
        columns,
        groups,
        [Block("", rows, [len(rows) - 1])],
        _tidy(records, _MAIN_SCHEMA),
        notes,
    )
    return _finish(result, store, cells_count, used)


_PROVENANCE_SCHEMA = {
    "devices": pl.String,
    "ge4rec_version": pl.String,
    "git_commit": pl.String,
    "torch_version": pl.String,
}
# the columns of one summarized metric (a Stat) in every tidy table
_STAT_SCHEMA = {
    "metric": pl.String,
    "mean": pl.Float64,
    "std": pl.Float64,
    "n": pl.Int64,
    "seeds": pl.String,
}
_MAIN_SCHEMA = {
    "dataset": pl.String,
    "model": pl.String,
    "paradigm": pl.String,
    **_STAT_SCHEMA,
    "relative_change": pl.Float64,
    "change_kind": pl.String,
    "p_value": pl.Float64,
    "significant": pl.Boolean,
    "n_pairs": pl.Int64,
    "reference_auc": pl.Float64,
    "settings": pl.String,
    "runs": pl.String,
    **_PROVENANCE_SCHEMA,
    "note": pl.String,
}


def _tidy(
    records: list[dict[str, Any]], schema: Mapping[str, pl.DataType | type[pl.DataType]]
) -> pl.DataFrame:
    return pl.DataFrame([{k: r.get(k) for k in schema} for r in records], schema=schema, orient="row")


# --------------------------------------------------------------------------------- ablation table


@dataclass
class _Variant:
    label: str
    family: str
    diff: dict[str, Any]
    runs: list[Run]
    rank: tuple


def build_ablation_table(frame: pl.DataFrame, datasets: Sequence[str] | None = None) -> TableResult:
    """One block per ablation family (source, generator, target, activation): each SFG variant's
    test AUC/LogLoss (mean ± std over seeds) and its difference to DIS and to the full SFG."""
    store = prepare(frame, datasets)
    report = store.report
    defaults = paradigm_defaults("sfg")
    blocks: list[Block] = []
    records: list[dict[str, Any]] = []
    cells_count: list[tuple[str, int]] = []
    used: list[Run] = []
    trained = {(r.dataset, r.model) for r in store.runs if r.paradigm == "sfg"}
    model_rank = {m: i for i, m in enumerate(model_order(m for _, m in trained))}
    combos = sorted(trained, key=lambda c: (c[0], model_rank[c[1]]))
    for dataset, model in combos:
        sfg_runs = [r for r in store.runs if (r.dataset, r.model, r.paradigm) == (dataset, model, "sfg")]
        dis_runs = [r for r in store.runs if (r.dataset, r.model, r.paradigm) == (dataset, model, "disc")]
        contexts: dict[tuple, list[Run]] = {}
        for run in sfg_runs:
            key = (run.base, tuple((k, v) for k, v in run.para if k not in _FAMILY_KEY_SET))
            contexts.setdefault(key, []).append(run)
        contexts = {k: v for k, v in contexts.items() if any(family_diff(r, defaults) for r in v)}
        for (base, para), runs in contexts.items():
            context_diff = {k: v for k, v in para if defaults.get(k, v) != v and k != "paradigm.name"}
            context = fmt_settings(context_diff) if context_diff else ""
            where = f"{dataset}/{model}" + (f" [{context}]" if context else "")
            full = [r for r in runs if not family_diff(r, defaults)]
            variants: dict[tuple[tuple[str, Any], ...], list[Run]] = {}
            for run in runs:
                diff = family_diff(run, defaults)
                if diff:
                    variants.setdefault(tuple(sorted(diff.items())), []).append(run)
            dis = _ablation_dis(dis_runs, base, where, report)
            all_seeds = sorted({r.seed for r in runs} | {r.seed for r in dis})
            full_stat = {m: summarize(full, c) for m, c, _ in METRICS}
            dis_stat = {m: summarize(dis, c) for m, c, _ in METRICS}
            partner = (full or runs)[0]
            if not dis:
                command = train_command(
                    dataset, model, ["disc"], all_seeds, partner, keep_paradigm_keys=False
                )
                report.warn(
                    f"missing cell: {where} has no completed DIS run to compare the ablation with; train with: {command}"
                )
                report.command(command)
            if not full:
                command = train_command(
                    dataset, model, ["sfg"], all_seeds, partner, settings=_reset_family(partner, defaults)
                )
                report.warn(
                    f"missing cell: {where} has no full SFG run (default generator settings); train with: {command}"
                )
                report.command(command)
            by_family: dict[str, list[_Variant]] = {}
            for variant_key, group in variants.items():
                diff = dict(variant_key)
                family = family_of(diff)
                primary_keys, order = ABLATION_FAMILIES.get(family, ((), ()))
                primary = diff.get(primary_keys[0], defaults.get(primary_keys[0])) if primary_keys else None
                extra = {k: v for k, v in diff.items() if not primary_keys or k != primary_keys[0]}
                label = str(primary) if primary_keys else fmt_settings(diff)
                if extra and primary_keys:
                    label += f" ({fmt_settings(extra)})"
                rank = (order.index(primary) if primary in order else len(order), 1, label)
                by_family.setdefault(family, []).append(_Variant(label, family, diff, group, rank))
            for family in [f for f in ABLATION_FAMILIES if f in by_family] + (
                ["combined"] if "combined" in by_family else []
            ):
                items = by_family[family]
                primary_keys, order = ABLATION_FAMILIES.get(family, ((), ()))
                if primary_keys:
                    default_value = defaults.get(primary_keys[0])
                    rank = (order.index(default_value) if default_value in order else -1, 0, "")
                    items.append(_Variant(f"{default_value} (full SFG)", family, {}, full, rank))
                    present = {v.diff.get(primary_keys[0], default_value) for v in items}
                    sibling = next(v for v in items if v.diff)
                    for value in order:
                        if value in present:
                            continue
                        settings = {**sibling.diff, primary_keys[0]: value}
                        command = train_command(
                            dataset, model, ["sfg"], all_seeds, sibling.runs[0], settings=settings
                        )
                        report.warn(
                            f"missing cell: ablation {where} {primary_keys[0]}={value} has no run; train with: {command}"
                        )
                        report.command(command)
                items.sort(key=lambda v: v.rank)
                rows = [_ablation_row("DIS", dis_stat, dis_stat, full_stat)]
                for variant in items:
                    stat = {m: summarize(variant.runs, c) for m, c, _ in METRICS}
                    rows.append(_ablation_row(variant.label, stat, dis_stat, full_stat))
                    missing = sorted(set(all_seeds) - {r.seed for r in variant.runs})
                    if variant.runs and missing:
                        command = train_command(
                            dataset, model, ["sfg"], missing, variant.runs[0], settings=dict(variant.diff)
                        )
                        report.warn(
                            f"missing run(s): ablation {where} {variant.label} has no seed "
                            f"{', '.join(str(s) for s in missing)}; train with: {command}"
                        )
                        report.command(command)
                    cells_count.append((f"{where} {family}={variant.label}", len(variant.runs)))
                    used += variant.runs
                    for metric, _, _ in METRICS:
                        records.append(
                            _ablation_record(dataset, model, context, family, variant.label, "sfg", stat[metric],
                                             dis_stat[metric], full_stat[metric], variant.runs, metric)
                        )  # fmt: skip
                for metric, _, _ in METRICS:
                    records.append(
                        _ablation_record(dataset, model, context, family, "DIS", "disc", dis_stat[metric],
                                         dis_stat[metric], full_stat[metric], dis, metric)
                    )  # fmt: skip
                _bold_best(rows)
                key_text = (
                    ", ".join(f"paradigm.{k.split('.', 1)[1]}" for k in primary_keys) or "several families"
                )
                title = f"{dataset} / {model}: {family} ({key_text})"
                if context:
                    title += f", {context}"
                blocks.append(Block(title, rows))
            cells_count.append((f"{where} DIS", len(dis)))
            used += dis
    if not blocks:
        raise Ge4recError(
            "no ablation runs: no completed SFG run differs from the default SFG in paradigm.source, "
            "generator, targets/num_targets or activation (train them with `ge4rec train -m experiment=ablation_activation`)"
        )
    columns = [
        "variant",
        "test AUC",
        "test LogLoss",
        "ΔAUC vs DIS",
        "ΔLogLoss vs DIS",
        "ΔAUC vs SFG",
        "ΔLogLoss vs SFG",
    ]
    notes = [
        "Cells: test metric mean ± sample std over seeds (n = seeds); Δ: difference of the means (variant - DIS, "
        "variant - full SFG); full SFG: the default generator settings; bold: the best in the block."
    ]
    if any(r["n"] == 1 for r in records):
        notes.append("n=1: a single seed, shown without a std.")
    used = list({id(r): r for r in used}.values())
    result = TableResult(
        "ablation",
        "SFG ablations: test AUC and LogLoss, mean ± std over seeds",
        columns,
        [],
        blocks,
        _tidy(records, _ABLATION_SCHEMA),
        notes,
    )
    return _finish(result, store, cells_count, used)


_FAMILY_KEY_SET = frozenset(k for keys, _ in ABLATION_FAMILIES.values() for k in keys)
_ABLATION_SCHEMA = {
    "dataset": pl.String,
    "model": pl.String,
    "context": pl.String,
    "family": pl.String,
    "variant": pl.String,
    "paradigm": pl.String,
    **_STAT_SCHEMA,
    "diff_vs_dis": pl.Float64,
    "diff_vs_sfg": pl.Float64,
    "runs": pl.String,
    **_PROVENANCE_SCHEMA,
}


def _reset_family(run: Run, defaults: dict[str, Any]) -> dict[str, Any]:
    return {k: defaults[k] for k in family_diff(run, defaults)}


def _ablation_dis(dis_runs: list[Run], base: tuple, where: str, report: Report) -> list[Run]:
    """The DIS runs an ablation context is compared with: the same config but for paradigm.*."""
    mine = [r for r in dis_runs if r.base == base]
    others = [r for r in dis_runs if r.base != base]
    if others and not mine:
        diff = {
            k: v
            for k, v in config_diff(others[0].config, dict(base)).items()
            if not k.startswith("paradigm.")
        }
        report.warn(
            f"config mismatch in {where}: the DIS runs {names(others)} differ from the ablation runs in "
            f"{show_diff(diff)}, not only in paradigm.* and the seed; left out"
        )
    if mine:
        mine = choose_paradigm_setting(mine, "disc", report)
    return sorted(mine, key=lambda r: r.seed)


def _diff_text(stat: Stat, other: Stat) -> str:
    if stat.mean is None or other.mean is None:
        return "-"
    return f"{stat.mean - other.mean:+.4f}"


def _ablation_row(
    label: str, stat: dict[str, Stat], dis: dict[str, Stat], full: dict[str, Stat]
) -> list[Text]:
    return [
        Text(label),
        Text(fmt_stat(stat["auc"])),
        Text(fmt_stat(stat["logloss"])),
        Text(_diff_text(stat["auc"], dis["auc"])),
        Text(_diff_text(stat["logloss"], dis["logloss"])),
        Text(_diff_text(stat["auc"], full["auc"])),
        Text(_diff_text(stat["logloss"], full["logloss"])),
    ]


def _bold_best(rows: list[list[Text]]) -> None:
    """Bold the best mean AUC (highest) and LogLoss (lowest) of a block."""
    for col, best in ((1, max), (2, min)):
        values = [(float(r[col].text.split()[0]), i) for i, r in enumerate(rows) if r[col].text != "missing"]
        if len(values) > 1:
            target = best(v for v, _ in values)
            for v, i in values:
                rows[i][col].bold = v == target


def _ablation_record(dataset, model, context, family, variant, paradigm, stat, dis, full, runs, metric):
    return {
        "dataset": dataset,
        "model": model,
        "context": context or None,
        "family": family,
        "variant": variant,
        "paradigm": paradigm,
        "metric": metric,
        "mean": stat.mean,
        "std": stat.std,
        "n": stat.n,
        "seeds": ";".join(str(s) for s in stat.seeds) or None,
        "diff_vs_dis": None if stat.mean is None or dis.mean is None else stat.mean - dis.mean,
        "diff_vs_sfg": None if stat.mean is None or full.mean is None else stat.mean - full.mean,
        "runs": ";".join(str(r.run_id) for r in runs) or None,
        **_version_fields(runs),
    }


# --------------------------------------------------------------------------------- collapse table


def build_collapse_table(
    frame: pl.DataFrame, datasets: Sequence[str] | None = None, select: str | None = None
) -> TableResult:
    """Per (dataset, model, paradigm): collapse and redundancy of the interaction operand, mean ±
    std over seeds (the same cells, checks and pairing as the main table)."""
    store = prepare(frame, datasets)
    pairs = resolve_pairs(store, datasets, select)
    if not any(p.dis or p.sfg for p in pairs):
        raise Ge4recError("no completed DIS or SFG runs to tabulate")
    absent = [c for c, _, _ in COLLAPSE_COLUMNS if c not in frame.columns]
    rows: list[list[Text]] = []
    records: list[dict[str, Any]] = []
    cells_count: list[tuple[str, int]] = []
    used: list[Run] = []
    single = False
    rank = {m: i for i, m in enumerate(model_order(p.model for p in pairs))}
    for pair in sorted(pairs, key=lambda p: (p.dataset, rank[p.model])):
        for paradigm in ("disc", "sfg"):
            cell = pair.cell(paradigm)
            runs = _cell_runs(cell)
            cells_count.append((f"{pair.dataset}/{pair.model}/{paradigm}", len(runs)))
            used += runs
            row = [Text(pair.dataset), Text(pair.model), Text(PARADIGM_LABEL[paradigm])]
            for column, _, digits in COLLAPSE_COLUMNS:
                stat = summarize(runs, column)
                single |= stat.n == 1
                row.append(
                    Text("missing" if cell is None else "-" if stat.mean is None else fmt_stat(stat, digits))
                )
                records.append(
                    {
                        "dataset": pair.dataset,
                        "model": pair.model,
                        "paradigm": paradigm,
                        "metric": column,
                        "mean": stat.mean,
                        "std": stat.std,
                        "n": stat.n,
                        "seeds": ";".join(str(s) for s in stat.seeds) or None,
                        "settings": fmt_settings(cell.settings) if cell and select else None,
                        "runs": ";".join(str(r.run_id) for r in runs) or None,
                        **_version_fields(runs),
                    }
                )
            rows.append(row)
    notes = [
        "Cells: mean ± sample std over seeds (n = seeds with a value) of the interaction operand's information "
        "abundance (IA), effective rank, collapse cliff, and the mean |cross-correlation| between the two "
        "operands: the interacting entries, within-field blocks, cross-field blocks, off-diagonal; '-': not recorded."
    ]
    if absent:
        notes.append(f"not in these results (older runs): {', '.join(absent)}")
    if single:
        notes.append("n=1: a single seed, shown without a std.")
    result = TableResult(
        "collapse",
        "Collapse and redundancy of the interaction operand, mean ± std over seeds",
        ["dataset", "model", "paradigm"] + [label for _, label, _ in COLLAPSE_COLUMNS],
        [],
        [Block("", rows)],
        _tidy(records, _COLLAPSE_SCHEMA),
        notes,
    )
    return _finish(result, store, cells_count, used)


_COLLAPSE_SCHEMA = {
    "dataset": pl.String,
    "model": pl.String,
    "paradigm": pl.String,
    **_STAT_SCHEMA,
    "settings": pl.String,
    "runs": pl.String,
    **_PROVENANCE_SCHEMA,
}


# ------------------------------------------------------------------------------------------ command

TABLE_HELP = """usage: ge4rec table main|ablation|collapse --results DIR [--results DIR ...] [options]

  main      SFG vs DIS per base model and data set: test AUC/LogLoss mean ± std over seeds, the
            change of SFG over DIS, a paired t-test over seeds, the average change over models
  ablation  one table per SFG ablation family (source, generator, target, activation): each
            variant against DIS and the full SFG
  collapse  collapse and redundancy of the interaction operand per (dataset, model, paradigm)

options:
  --results DIR          a results folder (repeatable; default: results)
  --dataset NAME ...     only these data sets, in this order
  --format md|latex|csv  GitHub markdown (default), a LaTeX booktabs tabular, tidy CSV
                         (default from the --out suffix: .tex, .csv, .md)
  --out FILE             write the table to FILE (its folder must exist) instead of stdout
  --metric-change relative|relaimpr   main: how the AUC change is given (default relative)
  --reference            main: the SFG paper's reference AUCs beside ours
  --select best-valid    main, collapse: per cell, the setting with the best mean validation AUC
  --strict               warnings (config mismatch, missing cell, duplicate) are errors, exit 2

examples:
  ge4rec table main --results results --reference
  ge4rec table main --results results --select best-valid --format latex --out table.tex
  ge4rec table ablation --results results --format csv --out ablation.csv
"""

_SUFFIX_FORMAT = {".md": "md", ".markdown": "md", ".tex": "latex", ".csv": "csv"}


def _parser(kind: str) -> argparse.ArgumentParser:
    parser = CommandParser(prog=f"ge4rec table {kind}", add_help=False, hint="see `ge4rec table --help`")
    parser.add_argument("-h", "--help", action="store_true")
    parser.add_argument("--results", action="extend", nargs="+", default=[])
    parser.add_argument("--dataset", action="extend", nargs="+", default=[])
    parser.add_argument("--format", choices=("md", "latex", "csv"))
    parser.add_argument("--out")
    parser.add_argument("--strict", action="store_true")
    if kind in ("main", "collapse"):
        parser.add_argument("--select", choices=("best-valid",))
    if kind == "main":
        parser.add_argument("--metric-change", choices=("relative", "relaimpr"), default="relative")
        parser.add_argument("--reference", action="store_true")
    return parser


def table_command(args: list[str]) -> None:
    """`ge4rec table KIND ...`: build, report warnings on stderr, render, print or write."""
    from ge4rec.results.render import render

    if not args or args[0] in ("-h", "--help", "help"):
        print(TABLE_HELP)
        return
    kind, rest = args[0], args[1:]
    if kind not in ("main", "ablation", "collapse"):
        raise Ge4recError(f"unknown table '{kind}' (choose from: main, ablation, collapse)")
    opts = _parser(kind).parse_args(rest)
    if opts.help:
        print(TABLE_HELP)
        return
    fmt = opts.format or (_SUFFIX_FORMAT.get(Path(opts.out).suffix.lower()) if opts.out else None) or "md"
    if opts.out:
        out = Path(opts.out)
        if out.is_dir():
            raise Ge4recError(f"--out {opts.out}: is a folder, expected a file")
        if not out.parent.is_dir():
            raise Ge4recError(f"--out {opts.out}: folder '{out.parent}' does not exist")
    frame = load_runs(opts.results or ["results"])
    datasets = list(dict.fromkeys(opts.dataset)) or None
    if kind == "main":
        result = build_main_table(frame, datasets, opts.metric_change, opts.reference, opts.select)
    elif kind == "ablation":
        result = build_ablation_table(frame, datasets)
    else:
        result = build_collapse_table(frame, datasets, opts.select)
    result.provenance.append(
        "command: `" + " ".join(shlex.quote(a) for a in ["ge4rec", "table", *args]) + "`"
    )
    for warning in result.warnings:
        print(f"ge4rec: warning: {warning}", file=sys.stderr)
    if opts.strict and result.warnings:
        raise Ge4recError(f"--strict: {len(result.warnings)} warning(s) above; no table written")
    text = render(result, fmt)
    if opts.out:
        write_text(opts.out, text)
        print(f"wrote {opts.out} ({fmt})")
    else:
        sys.stdout.write(text)
