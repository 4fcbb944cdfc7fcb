"""The `ge4rec` command: train (Hydra), list."""

from __future__ import annotations

import importlib.resources
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, cast

import ge4rec.config  # noqa: F401  (registers the config schemas with Hydra before anything composes)
from ge4rec.errors import Ge4recError, RunInterrupted, TrainingFailed

if TYPE_CHECKING:
    from omegaconf import DictConfig

GROUPS = ("dataset", "model", "paradigm", "trainer", "experiment")
HELP = """usage: ge4rec COMMAND [ARGS]

commands:
  train   train a model in a paradigm on a data set (Hydra overrides; -m for sweeps; --help)
  list    the data sets, models and paradigms available
  data    data sets on disk (data --help): data download NAME|--url URL [--sha256 HEX] [--dir DIR] |
          data prepare [dataset=NAME] [overrides] (build the cache) | data info [dataset=NAME] [overrides]
  analyze recompute a run's collapse/redundancy analysis: analyze RUN_DIR [--rows N] [--split valid|test]
  plot    figures of analysed runs: plot spectrum|redundancy|collapse RUN_DIR... --out PATH(.png|.svg)
  table   tables from results stores: table main|ablation|collapse --results DIR [--format md|latex|csv]
          [--out FILE] [--select best-valid] [--reference] [--strict] (table --help)
  reproduce  the paper's experiments and tables: reproduce small (built-in + MovieLens 100K) |
          reproduce paper --data DIR (Criteo_x1 + Avazu_x4) [--seeds N] [--jobs N] [--dry-run]

examples:
  ge4rec train
  ge4rec train model=dcnv2 paradigm=sfg dataset=movielens100k
  ge4rec train -m model=fm,deepfm,dcnv2 paradigm=disc,sfg seed=1,2,3
  ge4rec plot spectrum RUN_DIR_DISC RUN_DIR_SFG --out spectrum.png
  ge4rec table main --results results --reference --format latex --out table.tex
"""
_FLAGS_WITH_VALUE = {
    "--cfg",
    "-c",
    "--package",
    "-p",
    "--config-name",
    "-cn",
    "--config-dir",
    "-cd",
    "--experimental-rerun",
    "--info",
}
_NO_VALIDATION = {"--help", "-h", "--hydra-help", "--info", "--shell-completion", "-sc", "--version"}


def config_dir() -> str:
    """The shipped configs folder (inside the wheel, or configs/ of an editable checkout)."""
    return str(Path(str(importlib.resources.files("ge4rec.configs"))).resolve())


def group_options(group: str) -> list[str]:
    folder = Path(config_dir()) / group
    if not folder.is_dir():
        return []
    # nested options are spelled with slashes (experiment=paper/criteo_x1/dcnv2)
    return sorted(
        p.relative_to(folder).with_suffix("").as_posix()
        for p in folder.rglob("*.yaml")
        if not any(part.startswith("_") for part in p.relative_to(folder).parts)
    )


@contextmanager
def shipped_configs(job_name: str) -> Iterator[None]:
    """Hydra set up on the shipped configs, for `compose` outside a Hydra run (and cleared after)."""
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(version_base="1.3", config_dir=config_dir(), job_name=job_name):
            yield
    finally:
        GlobalHydra.instance().clear()


def fail(message: str, code: int = 2) -> None:
    print(f"ge4rec: {message}", file=sys.stderr)
    sys.exit(code)


def main(argv: list[str] | None = None) -> None:
    """The `ge4rec` command. A reader that stops early (`ge4rec list | head -1`) ends it quietly with
    exit code 141, as a shell reports a command stopped by SIGPIPE."""
    from rich.console import Console

    # rich's own handler exits 1, the code of a failed run (patched on the class, for every Console)
    Console.on_broken_pipe = _stdout_closed  # type: ignore[method-assign,assignment]
    try:
        try:
            _main(argv)
        finally:
            sys.stdout.flush()
    except BrokenPipeError:
        _stdout_closed()


def _stdout_closed(*_: object) -> None:
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # nothing left to flush at exit
    sys.exit(141)


# each command's handler, "module:function" (imported when the command runs)
COMMANDS = {
    "train": "ge4rec.cli:train_command",
    "list": "ge4rec.cli:list_command",
    "data": "ge4rec.data_commands:data_command",
    "analyze": "ge4rec.analysis.commands:analyze_command",
    "plot": "ge4rec.analysis.commands:plot_command",
    "table": "ge4rec.results.tables:table_command",
    "reproduce": "ge4rec.reproduce:reproduce_command",
}


def dispatch(commands: dict[str, str], args: list[str], unknown: str) -> None:
    """Run the handler of the command args[0] with the arguments after it. Another name raises
    Ge4recError with `unknown`, formatted with the {name} given and the {names} known."""
    import importlib

    name, rest = args[0], args[1:]
    if name not in commands:
        raise Ge4recError(unknown.format(name=name, names=", ".join(commands)))
    module, _, function = commands[name].partition(":")
    getattr(importlib.import_module(module), function)(rest)


def _main(argv: list[str] | None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(HELP)
        return
    try:
        dispatch(COMMANDS, argv, "unknown command '{name}' (commands: {names})")
    except Ge4recError as exc:
        fail(str(exc))


# ----------------------------------------------------------------------------------------- train


def split_args(args: list[str]) -> tuple[list[str], list[str]]:
    """Separate Hydra's flags from the overrides."""
    flags, overrides, i = [], [], 0
    while i < len(args):
        arg = args[i]
        if arg.startswith("-") and "=" not in arg:
            flags.append(arg)
            if arg in _FLAGS_WITH_VALUE and i + 1 < len(args) and not args[i + 1].startswith("-"):
                if "=" not in args[i + 1] or arg in ("--cfg", "-c", "--package", "-p", "--info"):
                    flags.append(args[i + 1])
                    i += 1
        else:
            overrides.append(arg)
        i += 1
    return flags, overrides


def train_command(args: list[str]) -> None:
    flags, overrides = split_args(args)
    if not any(f in _NO_VALIDATION for f in flags):
        validate_overrides(overrides)
        resumed = resume_args(flags, overrides, args)
        if resumed is None:
            return
        args = resumed
    run_hydra(args)


def resume_args(flags: list[str], overrides: list[str], args: list[str]) -> list[str] | None:
    """With `resume`: check the run folder before Hydra touches it, and train into it without
    rewriting its .hydra/ folder. None when there is nothing to do (the run has completed)."""
    from ge4rec.resume import check_resumable, resume_target

    target = resume_target(flags, overrides)
    if target is None:
        return args
    done = check_resumable(target)
    if done is not None:
        print(f"ge4rec: {done}")
        return None
    extra = ["hydra.output_subdir=null"]
    if not any(o.split("=", 1)[0] == "hydra.run.dir" for o in overrides):
        text = str(target)
        if any(c in text for c in "'\\$"):
            raise Ge4recError(f"resume: '{text}': give the folder as hydra.run.dir=... resume=true")
        extra.append(f"hydra.run.dir='{text}'")
    return [*args, *extra]


def _choices(override) -> list[str]:
    if override.is_sweep_override():
        try:
            return [str(v) for v in override.sweep_string_iterator()]
        except Exception:
            return []
    return [override.get_value_element_as_str()] if override.value() is not None else []


def validate_overrides(
    overrides: list[str], validate: Callable[[DictConfig], None] | None = None
) -> DictConfig | None:
    """Compose every value each override can take, and reject what would fail inside a job, so a
    typo costs a one-line message instead of a traceback or a half-run sweep. The schemas
    (ge4rec.config) reject wrong types and unknown keys while composing; validate() the values.

    Returns the config composed from `overrides` exactly as given, when one of the checks composed
    it (no sweep and no hydra.* override), so a caller need not compose it again; else None."""
    from hydra import compose
    from hydra.core.override_parser.overrides_parser import OverridesParser

    from ge4rec.config import check_train_config, error_message

    validate = validate or check_train_config

    try:
        parsed = OverridesParser.create().parse_overrides(overrides)
    except Exception as exc:
        raise Ge4recError(f"cannot parse overrides: {_one_line(exc)}") from None
    options = []  # the override text of each choice
    for override, text in zip(parsed, overrides):
        key = override.key_or_group
        if key.startswith("hydra"):
            continue
        choices = _choices(override)
        if key in GROUPS and not override.is_delete():
            valid = group_options(key)
            for choice in choices:
                if choice not in valid:
                    raise Ge4recError(f"unknown {key} '{choice}' (choose from: {', '.join(valid)})")
        prefix = text.split(key, 1)[0]  # '', '+', '++' or '~'
        if override.is_sweep_override():
            options.append([f"{prefix}{key}={c}" for c in choices] or [text])
        else:  # one value: the override as written
            options.append([text])

    # every choice of every override, each with the first choice of the others
    combos = [[o[0] for o in options]]
    for i, choices in enumerate(options):
        for alternative in choices[1:]:
            combos.append([c if j != i else alternative for j, c in enumerate(combos[0])])
    composed = []
    try:
        with shipped_configs("validate"):
            for combo in combos:
                composed.append(compose(config_name="train", overrides=combo))
                validate(composed[-1])
    except Ge4recError:
        raise
    except Exception as exc:
        raise Ge4recError(error_message(exc) or _one_line(exc)) from None
    return composed[0] if len(combos) == 1 and combos[0] == list(overrides) else None


def _one_line(exc: BaseException) -> str:
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    keep = [
        ln
        for ln in lines
        if not ln.startswith(("full_key", "object_type", "reference_type", "Config search"))
    ]
    return "; ".join(keep[:3]) if keep else type(exc).__name__


_FAILED: list[str] = []


def _train_task(cfg) -> float | None:
    """The Hydra task: one run. Returns the monitored validation metric (AUC, LogLoss or
    AUC - LogLoss as trainer.monitor says), which a tuning sweeper such as Optuna optimises."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    from ge4rec.resume import resume_config
    from ge4rec.run import discard_run_folder, train_run
    from ge4rec.sweeps import monitored_value

    hc = HydraConfig.get()
    if hc.mode == RunMode.MULTIRUN:  # a job of a sweep fails alone, whatever the launcher
        from ge4rec.sweeps import run_sweep_job

        return run_sweep_job(
            cfg, cast("DictConfig", hc)
        )  # HydraConfig.get(): a DictConfig typed as HydraConf
    run_dir = Path(hc.runtime.output_dir)
    overrides = list(hc.overrides.task)
    resume = cfg.get("resume") not in (None, False)
    try:
        if resume:
            cfg = resume_config(run_dir, overrides)
        metrics = train_run(cfg, run_dir, overrides, resume=resume)
    except TrainingFailed as exc:
        print(f"ge4rec: run failed: {exc} (recorded with status 'failed')", file=sys.stderr)
        _FAILED.append(str(exc))
        return None
    except Ge4recError as exc:  # stopped before training: the folder Hydra made holds nothing of it
        discard_run_folder(run_dir, f"{hc.job.name}.log")
        fail(str(exc))
    except RunInterrupted as exc:  # SIGINT/SIGTERM: the run (and a sweep) stops here
        fail(interrupted_message(exc, run_dir, f"{hc.job.name}.log"), exc.exit_code)
    valid = metrics.get("valid") or {}
    return monitored_value(str(cfg.trainer.get("monitor", "auc")), valid.get("auc"), valid.get("logloss"))


def interrupted_message(exc: RunInterrupted, run_dir: Path, log_name: str) -> str:
    """The line that ends an interrupted run: what was kept, and how to go on."""
    from ge4rec.resume import read_metrics
    from ge4rec.run import discard_run_folder
    from ge4rec.train.state import STATE_FILE

    where = os.path.relpath(run_dir)
    if (run_dir / STATE_FILE).is_file():
        if exc.epoch is None:  # stopped while a resumed run was being set up
            return f"run interrupted by {exc.signal_name} before it resumed; resume with: ge4rec train resume={where}"
        return (
            f"run interrupted by {exc.signal_name} {exc.progress} (recorded with status "
            f"'interrupted'); resume with: ge4rec train resume={where}"
        )
    status = (read_metrics(run_dir) or {}).get("status")
    if status == "completed":
        return f"stopped by {exc.signal_name}; the run had completed ({where})"
    if status == "interrupted":
        return (
            f"run interrupted by {exc.signal_name} {exc.progress} (recorded with status 'interrupted'); "
            "no epoch state to resume from: start it again"
        )
    discard_run_folder(run_dir, log_name)
    return f"run interrupted by {exc.signal_name} before training started; nothing recorded"


def run_hydra(args: list[str]) -> None:
    import hydra

    from ge4rec import sweeps

    sweeps.check_hydra_overrides(args)
    _FAILED.clear()
    sweeps.LAST_SUMMARY = None
    task = hydra.main(version_base="1.3", config_path=config_dir(), config_name="train")(_train_task)
    saved = sys.argv
    sys.argv = ["ge4rec train", *args]
    try:
        task()
    finally:
        sys.argv = saved
    # a multirun's outcome is read from the results store and the jobs' outcome files by the sweep
    # summary (so failures in any launcher's worker processes count); a single run's from this process
    summary = sweeps.LAST_SUMMARY
    if _FAILED or (summary is not None and summary.get("status") != "ok"):
        sys.exit(1)


# ------------------------------------------------------------------------------------------ list


def _listing(listing) -> tuple[str, str, str]:
    """A data set's rows, fields and source from its `listing` block ('-' where it has none)."""
    listing = listing or {}
    rows = listing.get("rows") or {}
    if all(rows.get(s) is not None for s in ("train", "valid", "test")):
        shown = " / ".join(f"{int(rows[s]):,}" for s in ("train", "valid", "test"))
    elif rows.get("total") is not None:
        shown = f"{int(rows['total']):,} in one file"
    else:
        shown = "-"
    fields = listing.get("fields")
    return shown, str(fields) if fields is not None else "-", str(listing.get("source") or "-")


def list_command(args: list[str]) -> None:
    from omegaconf import OmegaConf
    from rich.console import Console
    from rich.table import Table

    from ge4rec.config import group_option
    from ge4rec.models import get_model_class
    from ge4rec.paradigms import PARADIGMS

    console = Console()
    datasets = Table(title="data sets (dataset=NAME)")
    datasets.add_column("name")
    datasets.add_column("rows (train/valid/test)")
    datasets.add_column("fields", justify="right")
    datasets.add_column("source", overflow="fold")
    datasets.add_column("description")
    for name in group_options("dataset"):
        cfg = cast("DictConfig", OmegaConf.load(Path(config_dir()) / "dataset" / f"{name}.yaml"))
        datasets.add_row(name, *_listing(cfg.get("listing")), str(cfg.get("description", "")))
    models = Table(title="models (model=NAME)")
    models.add_column("name")
    models.add_column("paradigms")
    models.add_column("description")
    for name in group_options("model"):
        cls = get_model_class(str(group_option("model", name).name))
        usable = ", ".join(p for p, pc in PARADIGMS.items() if cls.has_interaction or not pc.generative)
        title = sys.modules[cls.__module__].__doc__ or cls.__doc__ or ""
        models.add_row(name, usable, title.strip().splitlines()[0])
    paradigms = Table(title="paradigms (paradigm=NAME)")
    paradigms.add_column("name")
    paradigms.add_column("description")
    for name in group_options("paradigm"):
        paradigms.add_row(name, (PARADIGMS[name].__doc__ or "").strip().splitlines()[0])
    for table in (datasets, models, paradigms):
        console.print(table)
    experiments = group_options("experiment")
    if experiments:
        console.print("experiments (-m experiment=NAME): " + ", ".join(experiments))
