"""The runs of one or more results stores, prepared for tables: parsed configs, duplicates resolved,
failed runs counted, and the choice of which runs make up each (dataset, model, paradigm) cell,
with a check that a discriminative and an SFG cell differ in the paradigm and nothing else.

Everything that makes a table less than exact (a config mismatch, a missing cell or seed, a
duplicate) is recorded in a `Report` as a one-line warning naming the runs; the caller decides
whether that is fatal (`ge4rec table --strict`).
"""

from __future__ import annotations

import json
import math
import shlex
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, cast

import polars as pl

from ge4rec.errors import Ge4recError
from ge4rec.results.store import read_results

# config keys that do not change a run's results: left out whenever two configs are compared
# (a key matches itself and everything below it, e.g. "analysis" covers analysis.rows)
IGNORED_CONFIG_KEYS: tuple[str, ...] = (
    "results_dir",
    "cache_dir",
    "device",
    "threads",
    "save_checkpoint",
    "trainer.progress",
    "trainer.data_on_device",  # where the splits live on a GPU, not what is computed
    "analysis",
    "skip_done",
    "resume",
    "hydra",
    "dataset.download",  # where `ge4rec data download` fetches the files from
    "dataset.listing",  # rows, fields and source shown by `ge4rec list`
    "dataset.fingerprint",  # how the cache notices changed files, not what the data is
)

# keys added to the configs after runs were first recorded, with the value every earlier run had
# implicitly: at that value a key is left out of comparisons and of the config hash, so a store
# written before the key existed still matches (skip_done, pairing in tables)
NEUTRAL_CONFIG_VALUES: dict[str, Any] = {
    "dataset.header": True,
    "dataset.columns": None,
    "dataset.numeric_missing": "error",
    "trainer.shuffle": "full",
    "trainer.shuffle_block_rows": 65536,
    "trainer.shuffle_window": 16,
    "trainer.precision": "fp32",
    "trainer.compile": False,
    "trainer.optimizer_kernel": "loop",  # earlier runs' Adam; the fused default rounds differently
}

PARADIGMS = ("disc", "sfg")  # the two sides of every comparison: DIS and SFG
PARADIGM_LABEL = {"disc": "DIS", "sfg": "SFG"}
STORE_COLUMN = "_store"  # added by load_runs: the results folder a row was read from

# the SFG ablation families (the paper's order), each with the paradigm keys that define it and
# the values of its primary key in the order the paper lists them
ABLATION_FAMILIES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "source": (("paradigm.source",), ("xl", "x0")),
    "generator": (
        ("paradigm.generator",),
        ("dense", "field_shared", "own_field", "mlp2", "attention", "exclude_self"),
    ),
    "target": (
        ("paradigm.targets", "paradigm.num_targets", "paradigm.target_seed"),
        ("all", "high_cardinality", "low_cardinality", "random"),
    ),
    "activation": (("paradigm.activation",), ("relu", "identity", "sigmoid", "tanh", "silu")),
}
FAMILY_KEYS: frozenset[str] = frozenset(k for keys, _ in ABLATION_FAMILIES.values() for k in keys)

# base models in the order tables list them (the README's order); others follow alphabetically
MODEL_ORDER = (
    "fm", "fwfm", "fmfm", "deepfm", "ipnn", "xdeepfm", "cin", "crossnet", "dcn", "dcnv2", "gdcn",
    "autoint", "autoint_plus", "fibinet", "finalmlp", "lr", "dnn", "widedeep",
)  # fmt: skip

_MISSING = object()


def is_ignored(key: str) -> bool:
    return any(key == k or key.startswith(k + ".") for k in IGNORED_CONFIG_KEYS)


def canonical_value(value: Any) -> Any:
    """A whole-number float as the integer it equals (6.0 -> 6), inside tuples too: a typed config
    stores `paradigm.gamma=6` as 6.0 where an untyped one kept 6; both are the same experiment."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, tuple):
        return tuple(canonical_value(v) for v in value)
    return value


def comparable_config(config: dict[str, Any]) -> dict[str, Any]:
    """The flattened keys of a stored or composed config that can change a run's numbers, values
    in canonical form."""
    return {
        k: canonical_value(v)
        for k, v in flatten_config(config).items()
        if not is_ignored(k) and not (k in NEUTRAL_CONFIG_VALUES and NEUTRAL_CONFIG_VALUES[k] == v)
    }


def _hashable(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_hashable(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((str(k), _hashable(v)) for k, v in value.items()))
    return value


def flatten_config(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"trainer": {"lr": 1e-3}} -> {"trainer.lr": 0.001}; lists become tuples (comparable)."""
    flat: dict[str, Any] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(flatten_config(value, name + "."))
        else:
            flat[name] = _hashable(value)
    return flat


def show_value(value: Any) -> str:
    """A config value as one would write it in an override."""
    if value is _MISSING:
        return "(absent)"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return "[" + ",".join(show_value(v) for v in value) + "]"
    return str(value)


def config_diff(a: dict[str, Any], b: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """Keys whose values differ: {key: (value in a, value in b)}."""
    return {
        k: (a.get(k, _MISSING), b.get(k, _MISSING))
        for k in sorted(set(a) | set(b))
        if a.get(k, _MISSING) != b.get(k, _MISSING)
    }


def show_diff(diff: dict[str, tuple[Any, Any]], limit: int = 4) -> str:
    parts = [f"{k}={show_value(x)} vs {show_value(y)}" for k, (x, y) in diff.items()]
    more = f" and {len(parts) - limit} more" if len(parts) > limit else ""
    return ", ".join(parts[:limit]) + more


# ------------------------------------------------------------------------------------------- runs


@dataclass
class Run:
    """One results row with its config split into the paradigm part and the rest."""

    row: dict[str, Any]
    config: dict[str, Any]  # flattened, ignored keys and the seed left out

    def __getattr__(self, name: str) -> Any:  # row columns: run.run_id, run.test_auc, ...
        try:
            return self.__dict__["row"][name]
        except KeyError:
            raise AttributeError(name) from None

    @property
    def base(self) -> tuple:
        """Everything but the paradigm and the seed."""
        return tuple(sorted((k, v) for k, v in self.config.items() if not k.startswith("paradigm.")))

    @property
    def para(self) -> tuple:
        return tuple(sorted((k, v) for k, v in self.config.items() if k.startswith("paradigm.")))

    @property
    def setting(self) -> tuple:
        """The whole config minus the seed (and the ignored keys)."""
        return tuple(sorted(self.config.items()))

    @property
    def label(self) -> str:
        return f"{self.run_id} ({self.run_dir})" if self.row.get("run_dir") else str(self.run_id)

    @property
    def order(self) -> tuple[str, str]:
        return (str(self.row.get("created_at") or ""), str(self.run_id))

    @property
    def where(self) -> str:
        return f"{self.dataset}/{self.model}/{self.paradigm}"


def names(runs: Sequence[Run], limit: int = 3) -> str:
    """'id (dir), id (dir) and 4 more' for a warning line."""
    shown = ", ".join(r.label for r in runs[:limit])
    return shown + (f" and {len(runs) - limit} more" if len(runs) > limit else "")


@dataclass
class Report:
    """Warnings (a table that is not exact; fatal under --strict) and notes (said in the table)."""

    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)  # train commands for missing cells and runs

    def warn(self, message: str) -> None:
        if message not in self.warnings:
            self.warnings.append(message)

    def note(self, message: str) -> None:
        if message not in self.notes:
            self.notes.append(message)

    def command(self, command: str) -> None:
        if command not in self.commands:
            self.commands.append(command)


@dataclass
class Store:
    runs: list[Run]  # completed, with a config, one per (dataset, model, paradigm, setting, seed)
    not_completed: list[Run]  # failed (or otherwise unfinished) runs: counted, never averaged
    duplicates: list[tuple[Run, list[Run]]]  # (kept, dropped)
    rows: int
    dirs: list[str]
    report: Report

    @property
    def datasets(self) -> list[str]:
        return sorted({r.dataset for r in self.runs + self.not_completed})


def load_runs(results_dirs: Iterable[str | Path]) -> pl.DataFrame:
    """All rows of one or more results folders as one frame, each with the folder it came from."""
    frames, dirs = [], [str(d) for d in results_dirs]
    for d in dirs:
        if not Path(d).is_dir():
            raise Ge4recError(f"results folder '{d}' does not exist")
        frame = read_results(d)
        if frame.height:
            frames.append(frame.with_columns(pl.lit(d).alias(STORE_COLUMN)))
    if not frames:
        raise Ge4recError(f"no runs in {', '.join(dirs)} (a results folder holds one .parquet file per run)")
    try:
        return pl.concat(frames, how="diagonal_relaxed")
    except Exception as exc:  # columns of incompatible types across folders
        raise Ge4recError(f"cannot combine the results folders {', '.join(dirs)}: {exc}") from None


def prepare(frame: pl.DataFrame, datasets: Sequence[str] | None = None) -> Store:
    """Parse configs, keep the requested data sets, set failed runs aside, resolve duplicates."""
    report = Report()
    dirs = sorted(set(frame[STORE_COLUMN].to_list())) if STORE_COLUMN in frame.columns else []
    rows = frame.to_dicts()
    if datasets:
        known = {r.get("dataset") for r in rows}
        for name in datasets:
            if name not in known:
                shown = ", ".join(sorted(str(d) for d in known if d is not None))
                report.warn(f"no runs of data set '{name}' in the results (data sets there: {shown})")
        rows = [r for r in rows if r.get("dataset") in set(datasets)]
    completed, not_completed = [], []
    for row in rows:
        if (
            not row.get("dataset")
            or not row.get("model")
            or not row.get("paradigm")
            or row.get("seed") is None
        ):
            report.warn(
                f"run {row.get('run_id')} ({row.get('run_dir')}) lacks dataset/model/paradigm/seed; left out"
            )
            continue
        try:
            config = json.loads(row["config"]) if row.get("config") else None
        except (TypeError, ValueError):
            config = None
        if row.get("status") != "completed":
            not_completed.append(Run(row, {}))
            continue
        if not isinstance(config, dict):
            report.warn(
                f"run {row.get('run_id')} ({row.get('run_dir')}) has no readable stored config, so its "
                "pairing cannot be checked; left out"
            )
            continue
        flat = {k: v for k, v in comparable_config(config).items() if k != "seed"}
        completed.append(Run(row, flat))

    groups: dict[tuple, list[Run]] = defaultdict(list)
    for run in completed:
        groups[(run.dataset, run.model, run.paradigm, run.setting, run.seed)].append(run)
    kept, duplicates = [], []
    for group in groups.values():
        group.sort(key=lambda r: r.order)
        kept.append(group[-1])
        if len(group) > 1:
            duplicates.append((group[-1], group[:-1]))
            report.warn(
                f"duplicate runs of {group[-1].where} seed {group[-1].seed} with the same config: kept "
                f"{group[-1].label}, created {group[-1].created_at}; left out {names(group[:-1])} "
                "(the latest created_at wins)"
            )
    kept.sort(key=lambda r: (r.dataset, r.model, r.paradigm, r.seed, r.order))
    return Store(kept, not_completed, duplicates, len(rows), dirs, report)


# ------------------------------------------------------------------------------------- defaults


def paradigm_defaults(name: str) -> dict[str, Any]:
    """The shipped `configs/paradigm/NAME.yaml` (its defaults list applied), flattened with the
    `paradigm.` prefix; {} for a paradigm without a shipped config."""
    return dict(_paradigm_defaults(name))


@lru_cache(maxsize=8)
def _paradigm_defaults(name: str) -> dict[str, Any]:
    from omegaconf import OmegaConf

    from ge4rec.config import group_option

    block = cast("dict[str, Any]", OmegaConf.to_container(group_option("paradigm", name), resolve=False))
    return {f"paradigm.{k}": _hashable(v) for k, v in block.items()} if "name" in block else {}


def family_diff(run: Run, defaults: dict[str, Any]) -> dict[str, Any]:
    """The ablation-family keys in which an SFG run differs from the default SFG ({} = full SFG).
    A key an older run does not carry counts as its default."""
    diff = {}
    for key in sorted(FAMILY_KEYS):
        default = defaults.get(key)
        value = run.config.get(key, default)
        if value != default:
            diff[key] = value
    return diff


def family_of(diff: dict[str, Any]) -> str:
    families = {name for name, (keys, _) in ABLATION_FAMILIES.items() if set(diff) & set(keys)}
    return families.pop() if len(families) == 1 else "combined"


def model_order(models: Iterable[str]) -> list[str]:
    rank = {m: i for i, m in enumerate(MODEL_ORDER)}
    return sorted(set(models), key=lambda m: (rank.get(m, len(rank)), m))


def supports_sfg(model: str) -> bool:
    """False for models without an interaction (lr, dnn, widedeep): they have no SFG cell."""
    try:
        from ge4rec.models import get_model_class

        return bool(get_model_class(model).has_interaction)
    except Exception:
        return True


# ---------------------------------------------------------------------------------- train command


def split_overrides(text: str | None) -> list[str]:
    """The `overrides` column back into its items (brackets and quotes may hold spaces)."""
    items: list[str] = []
    current: list[str] = []
    depth, quote = 0, ""
    for ch in text or "":
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "[{(":
            depth += 1
        elif ch in "]})":
            depth = max(0, depth - 1)
        elif ch.isspace() and depth == 0:
            if current:
                items.append("".join(current))
                current = []
            continue
        current.append(ch)
    if current:
        items.append("".join(current))
    return items


def train_command(
    dataset: str,
    model: str,
    paradigms: Sequence[str],
    seeds: Iterable[Any],
    partner: Run | None = None,
    settings: dict[str, Any] | None = None,
    keep_paradigm_keys: bool = True,
    store: str | None = None,
) -> str:
    """The `ge4rec train` line that trains a missing cell: the partner run's overrides (what makes
    its config differ from the defaults) with this cell's model, paradigm, settings and seeds."""
    settings = dict(settings or {})
    seeds = sorted(set(seeds))
    args: list[str] = []
    dataset_item = f"dataset={dataset}"
    for item in split_overrides(partner.row.get("overrides") if partner else None):
        key = item.split("=", 1)[0].lstrip("+~")
        if key in ("model", "paradigm", "seed", "results_dir") or key.split(".")[0] == "hydra":
            continue
        if key in settings or (key.startswith("paradigm.") and not keep_paradigm_keys):
            continue
        if key == "dataset":  # the partner's data set config (its name may differ from dataset.name)
            dataset_item = item
            continue
        args.append(item)
    head = [dataset_item, f"model={model}", "paradigm=" + ",".join(paradigms)]
    tail = [f"{k}={show_value(v)}" for k, v in settings.items()]
    store = store or (partner.row.get(STORE_COLUMN) if partner else None)
    if store:
        tail.append(f"results_dir={store}")
    if seeds:
        tail.append("seed=" + ",".join(str(s) for s in seeds))
    multirun = len(paradigms) > 1 or len(seeds) > 1
    return (
        "ge4rec train " + ("-m " if multirun else "") + " ".join(shlex.quote(a) for a in head + args + tail)
    )


# ------------------------------------------------------------------------------------------ cells


@dataclass
class Cell:
    """The runs behind one (dataset, model, paradigm) cell: one configuration, one run per seed."""

    dataset: str
    model: str
    paradigm: str
    runs: list[Run]
    settings: dict[str, Any] = field(default_factory=dict)  # --select: the chosen varying keys
    valid_auc: float | None = None  # --select: the chosen configuration's mean validation AUC
    alternatives: int = 1  # --select: how many configurations were compared

    @property
    def seeds(self) -> list[Any]:
        return sorted(r.seed for r in self.runs)

    def by_seed(self) -> dict[Any, Run]:
        return {r.seed: r for r in self.runs}


@dataclass
class Pair:
    dataset: str
    model: str
    dis: Cell | None
    sfg: Cell | None

    def cell(self, paradigm: str) -> Cell | None:
        return self.dis if paradigm == "disc" else self.sfg


def _score(runs: Sequence[Run]) -> tuple:
    return (len({r.seed for r in runs}), len(runs), max(r.order for r in runs))


def _group(runs: Iterable[Run], key) -> dict[Any, list[Run]]:
    groups: dict[Any, list[Run]] = defaultdict(list)
    for run in runs:
        groups[key(run)].append(run)
    return groups


def choose_paradigm_setting(runs: list[Run], paradigm: str, report: Report) -> list[Run]:
    """Runs of one cell that share everything but paradigm.* may still hold several paradigm
    settings (ablation variants, a gamma sweep): take the one with the default ablation-family
    values (the full model); when that does not decide, the one with most seeds, and warn."""
    groups = _group(runs, lambda r: r.para)
    if len(groups) <= 1:
        return runs
    defaults = paradigm_defaults(paradigm)
    candidates = [k for k, g in groups.items() if not family_diff(g[0], defaults)]
    if len(candidates) == 1:
        chosen = candidates[0]
        others = [r for k, g in groups.items() if k != chosen for r in g]
        report.note(
            f"{others[0].where}: {len(others)} run(s) with other paradigm.{{source, generator, targets, "
            "activation}} settings are ablation variants, not in this table (see `ge4rec table ablation`)"
        )
        return groups[chosen]
    pool = candidates or list(groups)
    chosen = max(pool, key=lambda k: _score(groups[k]))
    first = groups[chosen][0]
    for key, group in groups.items():
        if key == chosen:
            continue
        diff = config_diff(group[0].config, first.config)
        report.warn(
            f"several {PARADIGM_LABEL.get(paradigm, paradigm)} settings in {first.where}: {names(group)} "
            f"differ from the runs used ({names(groups[chosen], 2)}) in {show_diff(diff)}; left out "
            "(--select best-valid chooses by validation AUC)"
        )
    return groups[chosen]


def _select_best_valid(runs: list[Run], paradigm: str, report: Report) -> Cell:
    groups = _group(runs, lambda r: r.setting)

    def valid(group: list[Run]) -> float:
        values = [r.valid_auc for r in group if r.row.get("valid_auc") is not None]
        values = [v for v in values if not math.isnan(v)]
        return sum(values) / len(values) if values else float("-inf")

    chosen = max(groups, key=lambda k: (valid(groups[k]), *_score(groups[k])))
    runs_chosen = groups[chosen]
    varying = sorted({k for g in groups.values() for k in config_diff(g[0].config, runs_chosen[0].config)})
    settings = {k: runs_chosen[0].config.get(k, _MISSING) for k in varying}
    mean_valid = valid(runs_chosen)
    first = runs_chosen[0]
    return Cell(
        first.dataset,
        first.model,
        paradigm,
        sorted(runs_chosen, key=lambda r: r.seed),
        settings,
        None if mean_valid == float("-inf") else mean_valid,
        len(groups),
    )


def resolve_pairs(
    store: Store, datasets: Sequence[str] | None = None, select: str | None = None
) -> list[Pair]:
    """One Pair of DIS/SFG cells per (dataset, model), checked; problems go to store.report."""
    report = store.report
    datasets = list(datasets) if datasets else store.datasets
    everything = store.runs + store.not_completed
    models = model_order(r.model for r in everything if r.paradigm in PARADIGMS)
    models = [
        m for m in models if any(r.model == m and r.paradigm == "sfg" for r in everything) or supports_sfg(m)
    ]
    for m in {r.model for r in everything} - set(models):
        if any(r.model == m and r.paradigm == "disc" for r in everything):
            report.note(f"{m}: discriminative only (no feature interaction for SFG), not compared")
    for name in sorted({r.paradigm for r in everything} - set(PARADIGMS)):
        report.note(f"runs of paradigm '{name}' are not part of these tables")
    pairs = []
    for dataset in datasets:
        for model in models:
            runs = [
                r for r in store.runs if r.dataset == dataset and r.model == model and r.paradigm in PARADIGMS
            ]
            failed = [r for r in store.not_completed if r.dataset == dataset and r.model == model]
            cells: dict[str, Cell | None] = {"disc": None, "sfg": None}
            if select == "best-valid":
                for paradigm in PARADIGMS:
                    mine = [r for r in runs if r.paradigm == paradigm]
                    if mine:
                        cells[paradigm] = _select_best_valid(mine, paradigm, report)
                if cells["disc"] and cells["sfg"]:
                    _check_selected(cells["disc"], cells["sfg"], report)
            elif runs:
                bases = _group(runs, lambda r: r.base)
                # prefer: both paradigms, most paired seeds, the settings most other models of this data
                # set share (so one odd cell is the one left out), most seeds, the newest
                shared = Counter(_shared_setting(r) for r in store.runs if r.dataset == dataset)
                chosen = max(
                    bases,
                    key=lambda b: (
                        len({r.paradigm for r in bases[b]}) == 2,
                        _paired(bases[b]),
                        shared[_shared_setting(bases[b][0])],
                        *_score(bases[b]),
                    ),
                )
                for key, group in bases.items():
                    if key == chosen:
                        continue
                    reference = bases[chosen][0]
                    diff = config_diff(group[0].config, reference.config)
                    diff = {k: v for k, v in diff.items() if not k.startswith("paradigm.")}
                    report.warn(
                        f"config mismatch in {dataset}/{model}: {names(group)} differ(s) from the compared "
                        f"runs ({names(bases[chosen], 2)}) in {show_diff(diff)}, not only in paradigm.* and "
                        "the seed; left out (--select best-valid chooses among settings by validation AUC)"
                    )
                for paradigm in PARADIGMS:
                    mine = [r for r in bases[chosen] if r.paradigm == paradigm]
                    if mine:
                        mine = choose_paradigm_setting(mine, paradigm, report)
                        cells[paradigm] = Cell(dataset, model, paradigm, sorted(mine, key=lambda r: r.seed))
            _check_missing(dataset, model, cells, failed, everything, store, report)
            if cells["disc"] or cells["sfg"] or failed or any(r.dataset == dataset for r in everything):
                pairs.append(Pair(dataset, model, cells["disc"], cells["sfg"]))
    return pairs


def _shared_setting(run: Run) -> tuple:
    """A run's settings that models have in common: everything but model.* and paradigm.*."""
    return tuple((k, v) for k, v in run.base if not k.startswith("model."))


def _paired(runs: Sequence[Run]) -> int:
    return len({r.seed for r in runs if r.paradigm == "disc"} & {r.seed for r in runs if r.paradigm == "sfg"})


def _check_selected(dis: Cell, sfg: Cell, report: Report) -> None:
    """Under --select the chosen DIS and SFG settings may differ in paradigm.* and in the keys that
    were tuned (vary within a cell), nothing else."""
    tuned = set(dis.settings) | set(sfg.settings)
    diff = config_diff(dis.runs[0].config, sfg.runs[0].config)
    diff = {k: v for k, v in diff.items() if not k.startswith("paradigm.") and k not in tuned}
    if diff:
        report.warn(
            f"config mismatch in {dis.dataset}/{dis.model}: the chosen DIS runs ({names(dis.runs, 2)}) and SFG "
            f"runs ({names(sfg.runs, 2)}) differ in {show_diff(diff)}, which is not a tuned setting"
        )


def _check_missing(
    dataset: str,
    model: str,
    cells: dict[str, Cell | None],
    failed: list[Run],
    everything: list[Run],
    store: Store,
    report: Report,
) -> None:
    """A missing cell or seed: a warning with the command that trains it."""
    failed_note = f" ({len(failed)} failed: {names(failed, 2)})" if failed else ""
    if not cells["disc"] and not cells["sfg"]:
        seeds = {r.seed for r in everything if r.model == model} or {r.seed for r in everything}
        command = train_command(dataset, model, PARADIGMS, seeds, store=store.dirs[0] if store.dirs else None)
        if not any(r.dataset == dataset for r in everything):
            return  # a requested data set without runs: warned once in prepare()
        report.warn(
            f"missing cells: {dataset}/{model} has no completed DIS or SFG run{failed_note}; train with: {command}"
        )
        report.command(command)
        return
    for paradigm, other in (("disc", "sfg"), ("sfg", "disc")):
        partner = cells[other]
        label = PARADIGM_LABEL[paradigm]
        if partner is None:
            continue
        mine = cells[paradigm]
        seeds = set(partner.seeds) - set(mine.seeds if mine else [])
        if not seeds:
            continue
        command = train_command(
            dataset,
            model,
            [paradigm],
            seeds,
            partner.runs[0],
            settings={
                k: v
                for k, v in partner.settings.items()
                if not k.startswith("paradigm.") and v is not _MISSING
            },
            keep_paradigm_keys=paradigm == "sfg",
        )
        mine_failed = [r for r in failed if r.paradigm == paradigm]
        also = f" ({len(mine_failed)} failed: {names(mine_failed, 2)})" if mine_failed else ""
        if mine is None:
            report.warn(
                f"missing cell: {dataset}/{model}/{paradigm} has no completed {label} run to compare with "
                f"{names(partner.runs, 2)}{also}; train with: {command}"
            )
        else:
            report.warn(
                f"missing run(s): {dataset}/{model}/{paradigm} has no seed {', '.join(str(s) for s in sorted(seeds))} "
                f"to pair with {names([r for r in partner.runs if r.seed in seeds], 2)}{also}; train with: {command}"
            )
        report.command(command)
