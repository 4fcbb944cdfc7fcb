"""`ge4rec train resume=RUN_DIR`: continue an interrupted run after its last finished epoch.

The run folder keeps a resumable state (RUN_DIR/state.pt, ge4rec.train.state) while its run
trains. Resuming trains with the config saved in RUN_DIR/config.yaml, into RUN_DIR, under the
run's own run_id (its results row is replaced), and ends with the numbers the uninterrupted run
would have had. Overrides given with `resume` may change only keys that cannot change the numbers
(ge4rec.results.runs.IGNORED_CONFIG_KEYS: device, threads, trainer.progress, results_dir, ...);
any other change is refused.

Two spellings: `resume=RUN_DIR`, or the run's own command line again with `hydra.run.dir=RUN_DIR
resume=true`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, cast

from omegaconf import DictConfig, OmegaConf

from ge4rec.errors import Ge4recError
from ge4rec.io import read_json
from ge4rec.train.state import STATE_FILE


def _key(override: str) -> str:
    return override.split("=", 1)[0].lstrip("+~")


def resume_target(flags: list[str], overrides: list[str]) -> Path | None:
    """The run folder `resume` names on a `ge4rec train` command line, or None for a new run."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    try:
        parsed = OverridesParser.create().parse_overrides(overrides)
    except Exception:  # reported by the override validation
        return None
    found = {o.key_or_group: o for o in parsed if o.key_or_group in ("resume", "hydra.run.dir")}
    if "resume" not in found:
        return None
    resume = found["resume"]
    if resume.is_sweep_override():
        raise Ge4recError("resume: one run folder (expected resume=RUN_DIR, not a list or sweep)")
    value = resume.value()
    if value is None or value is False:
        return None
    if any(f in ("-m", "--multirun") for f in flags):
        raise Ge4recError("resume: resumes one run, not a sweep (drop -m and give resume=JOB_DIR)")
    run_dir = None if "hydra.run.dir" not in found else str(found["hydra.run.dir"].value())
    if value is True:
        if run_dir is None or "${" in run_dir:
            raise Ge4recError(
                "resume=true: needs hydra.run.dir=RUN_DIR naming the run folder (or use resume=RUN_DIR)"
            )
        return Path(run_dir)
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        raise Ge4recError(f"resume: {value!r} (expected null, true or a run folder)")
    target = Path(os.path.expanduser(str(value)))
    if run_dir is not None and Path(run_dir).resolve() != target.resolve():
        raise Ge4recError(f"resume={value} and hydra.run.dir={run_dir} name two different folders")
    return target


def read_metrics(run_dir: Path) -> dict[str, Any] | None:
    """RUN_DIR/metrics.json, or None when the run folder has no readable one."""
    metrics = read_json(run_dir / "metrics.json")
    return metrics if isinstance(metrics, dict) else None


def check_resumable(run_dir: Path) -> str | None:
    """None when `run_dir` can be resumed; a line saying so when its run has completed already;
    Ge4recError (naming the folder and why) for anything else."""
    if not run_dir.is_dir():
        raise Ge4recError(f"resume: '{run_dir}' is not a folder (expected the folder of an interrupted run)")
    if not (run_dir / "config.yaml").is_file():
        raise Ge4recError(f"resume: '{run_dir}' is not a run folder (no config.yaml)")
    metrics = read_metrics(run_dir) or {}
    status = metrics.get("status")
    if status == "completed":
        auc = (metrics.get("test") or {}).get("auc")
        detail = f", test AUC {auc:.4f}" if isinstance(auc, float) else ""
        return f"'{run_dir}' is a completed run ({metrics.get('epochs')} epochs{detail}): nothing to resume"
    if status == "failed":
        raise Ge4recError(
            f"resume: '{run_dir}' is a failed run ({metrics.get('error')}); it cannot be resumed (start a new run)"
        )
    if not (run_dir / STATE_FILE).is_file():
        raise Ge4recError(
            f"resume: '{run_dir}' has no {STATE_FILE} to resume from (its run stopped before training started)"
        )
    return None


def _flat(cfg: DictConfig) -> dict[str, Any]:
    from ge4rec.results.runs import flatten_config

    return flatten_config(cast("dict[str, Any]", OmegaConf.to_container(cfg, resolve=True)))


def resume_config(run_dir: Path, task_overrides: list[str]) -> DictConfig:
    """The config a resumed run trains with: RUN_DIR/config.yaml, with the values of the ignored
    keys (device, threads, ...) that `task_overrides` set. An override that would give a key that
    changes the numbers another value than the run was trained with raises Ge4recError.

    Each override is applied the way Hydra applies it, on top of the run's own overrides
    (RUN_DIR/.hydra/overrides.yaml), so group choices (model=..., experiment=...) are checked
    too. Needs Hydra initialised on the train configs (it runs inside the `ge4rec train` job)."""
    from hydra import compose

    from ge4rec.results.runs import is_ignored, show_value

    config_file = run_dir / "config.yaml"
    try:
        saved = OmegaConf.load(config_file)
    except Exception as exc:  # noqa: BLE001 - not YAML, unreadable
        raise Ge4recError(f"resume: '{config_file}' is not readable YAML: {exc}") from None
    if not isinstance(saved, DictConfig) or any(k not in saved for k in ("seed", "model", "trainer")):
        raise Ge4recError(f"resume: '{config_file}' is not a ge4rec run config")
    try:
        original = [str(o) for o in OmegaConf.load(run_dir / ".hydra" / "overrides.yaml")]
    except Exception:  # noqa: BLE001 - a run folder made without Hydra: compare with the defaults
        original = []

    def keep(override: str) -> bool:
        key = _key(override)
        return key != "resume" and not key.startswith("hydra.") and key != "hydra"

    original = [o for o in original if keep(o)]
    new = [o for o in task_overrides if keep(o)]
    new_keys = {_key(o) for o in new}
    merged = [o for o in original if _key(o) not in new_keys] + new
    try:
        base, requested = compose("train", overrides=original), compose("train", overrides=merged)
    except Exception as exc:  # noqa: BLE001 - Hydra's composition errors
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise Ge4recError(f"resume: cannot apply the overrides to the run in '{run_dir}': {first}") from None
    flat_saved, flat_base, flat_requested = _flat(saved), _flat(base), _flat(requested)
    missing = object()
    changed = {
        key: (flat_saved.get(key, missing), value)
        for key, value in flat_requested.items()
        if not is_ignored(key)
        and value != flat_base.get(key, missing)
        and value != flat_saved.get(key, missing)
    }
    for key in flat_base.keys() - flat_requested.keys():  # deleted by a ~key override
        if not is_ignored(key) and key in flat_saved:
            changed[key] = (flat_saved[key], missing)
    if changed:

        def show(value: Any) -> str:
            return "(none)" if value is missing else show_value(value)

        shown = ", ".join(
            f"{key}={show(new_value)} (the run has {show(was)})"
            for key, (was, new_value) in list(changed.items())[:3]
        )
        more = f" and {len(changed) - 3} more" if len(changed) > 3 else ""
        raise Ge4recError(
            f"resume: {shown}{more} would change the run in '{run_dir}' (another config_hash); "
            "resume without them, or start a new run"
        )
    effective = cast(DictConfig, OmegaConf.create(OmegaConf.to_container(saved)))  # from a mapping
    for key in flat_requested:
        if is_ignored(key) and key != "resume" and flat_requested[key] != flat_base.get(key, missing):
            OmegaConf.update(effective, key, OmegaConf.select(requested, key), force_add=True)
    effective.resume = str(run_dir)
    return effective
