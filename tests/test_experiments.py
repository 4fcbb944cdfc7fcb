"""The SFG paper's experiments as configs, the ready sweeps, and the summary every sweep ends with."""

from __future__ import annotations

import json
import re

import polars as pl
import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.types import RunMode
from omegaconf import OmegaConf

from ge4rec.cli import config_dir, group_options, validate_overrides
from ge4rec.models import build_model
from ge4rec.paradigms import build_paradigm
from ge4rec.results import read_results, write_row
from ge4rec.run import validate
from ge4rec.sweeps import SUMMARY_FILE, SweepSummary, format_summary, planned_jobs, sweep_plan

from conftest import TINY, categorical_schema, run_cli

PAPER_MODELS = ("fm", "fmfm", "crossnet", "deepfm", "ipnn", "xdeepfm", "dcnv2")  # the paper's seven
CELL_MODELS = (*PAPER_MODELS, "fwfm")

# the SFG paper (Yin et al., arXiv 2512.14041): the data set protocol ...
PROTOCOL = {
    "criteo_x1": {"embedding_dim": 10, "batch_size": 4096, "seed": 2021, "monitor": "auc"},
    "avazu_x4": {"embedding_dim": 16, "batch_size": 10000, "seed": 2019, "monitor": "auc-logloss"},
}
# ... the BARS-tuned base models (a single FM-family `regularizer` sets both L2 terms) and
# section 2's gamma; cross networks also read x_l with the residual, Criteo adds cross dropout 0.1
CELLS = {
    ("criteo_x1", "fm"): {"gamma": 0.1, "emb": 5e-6, "net": 5e-6, "model": {}},
    ("criteo_x1", "fwfm"): {"gamma": 6.0, "emb": 5e-6, "net": 5e-6, "model": {"linear_type": "felv"}},
    ("criteo_x1", "fmfm"): {"gamma": 6.0, "emb": 1e-6, "net": 1e-6, "model": {"interaction": "matrix"}},
    ("criteo_x1", "deepfm"): {
        "gamma": 0.1,
        "emb": 1e-5,
        "net": 0.0,
        "model": {"hidden_units": [400] * 3, "dropout": 0.1, "batch_norm": True},
    },
    ("criteo_x1", "ipnn"): {
        "gamma": 0.005,
        "emb": 1e-5,
        "net": 0.0,
        "model": {"hidden_units": [400] * 3, "dropout": 0.1, "batch_norm": True},
    },
    ("criteo_x1", "xdeepfm"): {
        "gamma": 0.01,
        "emb": 1e-5,
        "net": 0.0,
        "model": {"cin_layer_units": [16, 16], "hidden_units": [400] * 3, "dropout": 0.2},
    },
    ("criteo_x1", "dcnv2"): {
        "gamma": 0.01,
        "emb": 1e-5,
        "net": 0.0,
        "cross_dropout": 0.1,
        "model": {
            "structure": "parallel",
            "num_cross_layers": 3,
            "hidden_units": [500] * 3,
            "dropout": 0.1,
            "variant": "reference",
        },
    },
    ("criteo_x1", "crossnet"): {
        "gamma": 0.01,
        "emb": 1e-5,
        "net": 0.0,
        "cross_dropout": 0.1,
        "model": {"num_cross_layers": 3, "variant": "reference"},
    },
    ("avazu_x4", "fm"): {"gamma": 6.0, "emb": 1e-6, "net": 1e-6, "model": {}},
    ("avazu_x4", "fwfm"): {"gamma": 6.0, "emb": 1e-6, "net": 1e-6, "model": {"linear_type": "filv"}},
    ("avazu_x4", "fmfm"): {
        "gamma": 36.0,
        "emb": 1e-6,
        "net": 1e-6,
        "monitor": "auc",
        "model": {"interaction": "matrix"},
    },
    ("avazu_x4", "deepfm"): {
        "gamma": 6.0,
        "emb": 0.0,
        "net": 0.0,
        "model": {"hidden_units": [2000] * 4, "dropout": 0.0, "batch_norm": False},
    },
    ("avazu_x4", "ipnn"): {
        "gamma": 6.0,
        "emb": 1e-9,
        "net": 0.0,
        "model": {"hidden_units": [1000] * 3, "dropout": 0.0},
    },
    ("avazu_x4", "xdeepfm"): {
        "gamma": 6.0,
        "emb": 0.0,
        "net": 0.0,
        "model": {"cin_layer_units": [276], "hidden_units": [500] * 3, "dropout": 0.0},
    },
    ("avazu_x4", "dcnv2"): {
        "gamma": 8.0,
        "emb": 0.0,
        "net": 0.0,
        "cross_dropout": 0.0,
        "model": {
            "structure": "parallel",
            "num_cross_layers": 5,
            "hidden_units": [2000] * 4,
            "dropout": 0.0,
            "variant": "reference",
        },
    },
    ("avazu_x4", "crossnet"): {
        "gamma": 8.0,
        "emb": 0.0,
        "net": 0.0,
        "cross_dropout": 0.0,
        "model": {"num_cross_layers": 5, "variant": "reference"},
    },
}
# the the SFG paper (Yin et al., arXiv 2512.14041) training protocol, which the cells take from trainer/default.yaml
TRAINER = {
    "lr": 1e-3,
    "grad_clip_norm": 10.0,
    "lr_factor": 0.1,
    "min_lr": 1e-6,
    "patience": 2,
    "max_epochs": 100,
}


def resolved(overrides: list[str]):
    cfg = compose(config_name="train", overrides=overrides)
    OmegaConf.resolve(cfg)
    return cfg


def values(job: list[str]) -> dict[str, str]:
    """A job's overrides as key -> value."""
    return dict(item.split("=", 1) for item in job)


# --------------------------------------------------------------------------------- paper cells


@pytest.mark.parametrize("paradigm", ["disc", "sfg"])
@pytest.mark.parametrize("dataset,model", sorted(CELLS))
def test_every_paper_cell_composes_with_the_papers_values(dataset, model, paradigm, hydra_configs):
    cfg = resolved([f"experiment=paper/{dataset}/{model}", f"paradigm={paradigm}"])
    validate(cfg)
    want, protocol = CELLS[dataset, model], PROTOCOL[dataset]
    assert (cfg.dataset.name, cfg.model.name, cfg.paradigm.name) == (dataset, model, paradigm)
    assert cfg.embedding_dim == protocol["embedding_dim"] and cfg.seed == protocol["seed"]
    assert cfg.trainer.batch_size == protocol["batch_size"]
    assert cfg.trainer.monitor == want.get("monitor", protocol["monitor"])
    assert cfg.trainer.embedding_regularizer == want["emb"]
    assert cfg.trainer.net_regularizer == want["net"]
    assert {key: cfg.trainer[key] for key in TRAINER} == TRAINER
    model_cfg = OmegaConf.to_container(cfg.model)
    for key, value in want["model"].items():
        assert model_cfg[key] == value, key
    # SFG's settings (inert under disc): ReLU over all fields, the paper's gamma
    p = cfg.paradigm
    assert p.generator == ("dense" if paradigm == "sfg" else "identity")
    assert (p.activation, p.bias, p.targets, p.gamma) == ("relu", False, "all", want["gamma"])
    if model in ("dcnv2", "crossnet"):
        assert (p.source, p.residual, p.cross_dropout) == ("xl", True, want["cross_dropout"])
    # the model accepts every key the cell sets
    net = build_model(
        OmegaConf.to_container(cfg.model),
        categorical_schema({"a": 7, "b": 30, "c": 3}),
        int(cfg.embedding_dim),
        build_paradigm(cfg.paradigm),
    )
    if paradigm == "disc":
        assert net.generator_parameters() == 0


def test_dis_and_sfg_cells_differ_only_in_the_paradigm(hydra_configs):
    for dataset, model in CELLS:
        disc = OmegaConf.to_container(resolved([f"experiment=paper/{dataset}/{model}", "paradigm=disc"]))
        sfg = OmegaConf.to_container(resolved([f"experiment=paper/{dataset}/{model}", "paradigm=sfg"]))
        assert {k: v for k, v in disc.items() if k != "paradigm"} == {
            k: v for k, v in sfg.items() if k != "paradigm"
        }
        assert {k for k in disc["paradigm"] if disc["paradigm"][k] != sfg["paradigm"][k]} == {
            "name",
            "generator",
        }


def test_criteo_dcnv2_and_avazu_cells_exactly(hydra_configs):
    cfg = resolved(["experiment=paper/criteo_x1/dcnv2", "paradigm=sfg"])
    assert cfg.paradigm.gamma == 0.01 and cfg.model.num_cross_layers == 3
    assert list(cfg.model.hidden_units) == [500, 500, 500] and cfg.model.dropout == 0.1
    assert cfg.paradigm.cross_dropout == 0.1 and cfg.model.variant == "reference"
    assert (cfg.embedding_dim, cfg.trainer.batch_size, cfg.seed) == (10, 4096, 2021)
    assert cfg.dataset.embedding_dim == 10 and cfg.trainer.embedding_regularizer == 1e-5
    fmfm = resolved(["experiment=paper/avazu_x4/fmfm"])
    assert (fmfm.paradigm.gamma, fmfm.trainer.monitor, fmfm.model.interaction) == (36.0, "auc", "matrix")
    deepfm = resolved(["experiment=paper/avazu_x4/deepfm"])
    assert list(deepfm.model.hidden_units) == [2000] * 4 and deepfm.trainer.monitor == "auc-logloss"
    assert (deepfm.embedding_dim, deepfm.trainer.batch_size, deepfm.seed) == (16, 10000, 2019)
    dcnv2 = resolved(["experiment=paper/avazu_x4/dcnv2", "paradigm=sfg"])
    assert (dcnv2.paradigm.gamma, dcnv2.model.num_cross_layers, dcnv2.paradigm.cross_dropout) == (8.0, 5, 0.0)
    # the command line still wins over a cell
    assert resolved(["experiment=paper/criteo_x1/fm", "seed=7", "paradigm.gamma=2"]).paradigm.gamma == 2


def test_the_cli_knows_every_cell_and_sweep():
    cells = {f"paper/{dataset}/{model}" for dataset, model in CELLS}
    sweeps = {"paper_criteo_x1", "paper_avazu_x4", "paper_ablations", "gamma_search", "equal_budget"}
    assert cells | sweeps | {"paper_ablations/dis", "paper_ablations/sfg"} <= set(group_options("experiment"))


def test_one_cell_shows_what_it_uses_with_cfg_job(tmp_path):
    result = run_cli(["train", "experiment=paper/criteo_x1/dcnv2", "paradigm=sfg", "--cfg", "job"], tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    cfg = OmegaConf.create(result.stdout)  # the job's config, as YAML
    assert (cfg.model.name, cfg.model.variant, cfg.model.num_cross_layers) == ("dcnv2", "reference", 3)
    assert (cfg.paradigm.name, cfg.paradigm.gamma, cfg.paradigm.cross_dropout) == ("sfg", 0.01, 0.1)
    assert (cfg.trainer.batch_size, cfg.seed, cfg.embedding_dim) == (4096, 2021, 10)


# ------------------------------------------------------------------------------- paper sweeps


@pytest.mark.parametrize("dataset", ["criteo_x1", "avazu_x4"])
def test_the_paper_sweep_is_seven_models_by_two_paradigms_by_five_seeds(dataset):
    jobs = sweep_plan([f"experiment=paper_{dataset}"])
    assert len(jobs) == 7 * 2 * 5
    first_seed = PROTOCOL[dataset]["seed"]
    cell_key = f"experiment/paper/{dataset}"
    planned = {(values(job)[cell_key], values(job)["paradigm"], int(values(job)["seed"])) for job in jobs}
    seeds = range(first_seed, first_seed + 5)
    assert planned == {(m, p, s) for m in PAPER_MODELS for p in ("disc", "sfg") for s in seeds}
    with initialize_config_dir(version_base="1.3", config_dir=config_dir(), job_name="test"):
        multirun = GlobalHydra.instance().hydra.compose_config(
            "train", [f"experiment=paper_{dataset}"], run_mode=RunMode.MULTIRUN, with_log_configuration=False
        )
        assert str(multirun.hydra.sweep.dir).endswith(f"_paper_{dataset}")
        for job in jobs:
            model, paradigm, seed = values(job)[cell_key], values(job)["paradigm"], int(values(job)["seed"])
            if seed == first_seed or (model, paradigm) == ("dcnv2", "sfg"):
                cfg = resolved(job)  # a sweep job is exactly the cell it names, with its seed
                assert cfg == resolved(
                    [f"experiment=paper/{dataset}/{model}", f"paradigm={paradigm}", f"seed={seed}"]
                )
                assert (cfg.dataset.name, cfg.model.name, cfg.paradigm.name, cfg.seed) == (
                    dataset,
                    model,
                    paradigm,
                    seed,
                )


def test_the_sweep_spellings_pass_the_clis_checks():
    for name in ("paper_criteo_x1", "paper_avazu_x4", "paper_ablations", "gamma_search", "equal_budget"):
        validate_overrides([f"experiment={name}"])


def test_the_ablations_are_fifteen_arms_on_avazu_dcnv2_over_three_seeds():
    jobs = sweep_plan(["experiment=paper_ablations"])
    assert len(jobs) == 15 * 3
    arms = {}
    for job in jobs:
        arms.setdefault(values(job)["experiment/paper_ablations"], set()).add(int(values(job)["seed"]))
    with initialize_config_dir(version_base="1.3", config_dir=config_dir(), job_name="test"):
        for job in jobs:
            if values(job)["seed"] != "2019":
                continue
            cfg = resolved(job)
            validate(cfg)
            assert (cfg.dataset.name, cfg.model.name, cfg.model.num_cross_layers) == ("avazu_x4", "dcnv2", 5)
            assert cfg.model.variant == "reference" and cfg.paradigm.gamma == 8.0 and cfg.seed == 2019
            arms[values(job)["experiment/paper_ablations"] + "/paradigm"] = OmegaConf.to_container(
                cfg.paradigm
            )
    assert all(arms[arm] == {2019, 2020, 2021} for arm in arms if "/" not in arm)
    reference = arms.pop("sfg/paradigm")
    assert reference["name"] == "sfg" and reference["generator"] == "dense" and reference["source"] == "xl"
    assert arms.pop("dis/paradigm")["name"] == "disc"
    changed = {}
    for arm, paradigm in ((a, p) for a, p in arms.items() if a.endswith("/paradigm")):
        changed[arm.split("/")[0]] = {k: v for k, v in paradigm.items() if v != reference[k]}
    assert changed["source_x0"] == {"source": "x0"}
    for kind in ("field_shared", "own_field", "mlp2", "attention", "exclude_self"):
        assert changed[f"generator_{kind}"] == {"generator": kind}
    for targets in ("high_cardinality", "low_cardinality", "random"):
        assert changed[f"target_{targets}"] == {"targets": targets, "num_targets": 0.5}
    for activation in ("identity", "sigmoid", "tanh", "silu"):
        assert changed[f"activation_{activation}"] == {"activation": activation}


def test_the_existing_ablations_still_compose_on_any_data_set(hydra_configs):
    for name in ("ablation_activation", "ablation_generator", "ablation_source", "ablation_target"):
        cfg = resolved([f"experiment={name}", "dataset=movielens100k"])
        assert (cfg.model.name, cfg.paradigm.name, cfg.dataset.name) == ("dcnv2", "sfg", "movielens100k")


# ------------------------------------------------------------------------ equal budget, gamma


def test_equal_budget_gives_each_paradigm_nine_distinct_trials():
    jobs = sweep_plan(["experiment=equal_budget"])
    assert len(jobs) == 2 * 9 * 3
    assert {values(job)["seed"] for job in jobs} == {"2026", "2027", "2028"}
    with initialize_config_dir(version_base="1.3", config_dir=config_dir(), job_name="test"):
        configs = {"disc": {}, "sfg": {}}
        for job in jobs:
            if values(job)["seed"] != "2026":
                continue
            cfg = resolved(job)
            validate(cfg)
            flat = OmegaConf.to_container(cfg)
            flat.pop("seed")
            configs[cfg.paradigm.name][json.dumps(flat, sort_keys=True)] = flat
        # the same trial in both paradigms: only paradigm.* and the trial's knob differ
        disc = OmegaConf.to_container(
            resolved(["experiment=equal_budget", "paradigm=disc", "equal_budget.trial=2"])
        )
        sfg = OmegaConf.to_container(
            resolved(["experiment=equal_budget", "paradigm=sfg", "equal_budget.trial=2"])
        )
        assert disc["trainer"].pop("embedding_regularizer") == 1e-5
        assert sfg["trainer"].pop("embedding_regularizer") == 0
        assert disc.pop("paradigm") != sfg.pop("paradigm") and disc == sfg
        # the grid is overridable
        custom = resolved(
            ["experiment=equal_budget", "equal_budget.sfg.gamma=[0.5,2,4]", "equal_budget.trial=1"]
        )
        assert custom.paradigm.gamma == 2
    for paradigm, trials in configs.items():
        assert len(trials) == 9, paradigm
    knobs = {
        p: sorted(
            (c["trainer"]["lr"], c["paradigm"]["gamma"], c["trainer"]["embedding_regularizer"])
            for c in t.values()
        )
        for p, t in configs.items()
    }
    lrs = (1e-3, 3e-3, 1e-2)
    assert knobs["sfg"] == sorted((lr, g, 0.0) for lr in lrs for g in (0.01, 0.1, 6.0))
    assert knobs["disc"] == sorted((lr, 1.0, e) for lr in lrs for e in (0.0, 1e-6, 1e-5))


def test_equal_budget_resolves_on_the_command_line(tmp_path):
    result = run_cli(
        [
            "train",
            "experiment=equal_budget",
            "paradigm=disc",
            "equal_budget.trial=1",
            "--cfg",
            "job",
            "--resolve",
        ],
        tmp_path,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    cfg = OmegaConf.create(result.stdout)  # resolved: trial 1's knob in place
    assert cfg.trainer.embedding_regularizer == 1e-6
    assert (cfg.paradigm.name, cfg.paradigm.generator) == ("disc", "identity")


@pytest.mark.slow
def test_gamma_search_runs_end_to_end_and_names_the_winner(tmp_path):
    result = run_cli(
        ["train", "-m", "experiment=gamma_search", *TINY, "threads=1", "analysis.enabled=false"],
        tmp_path,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    rows = read_results(tmp_path / "results")
    assert rows.height == 4 and (rows["status"] == "completed").all()
    assert sorted(float(json.loads(c)["paradigm"]["gamma"]) for c in rows["config"]) == [0.01, 0.1, 1.0, 6.0]
    assert "4 jobs: 4 completed, 0 failed, 0 missing" in result.stdout
    winner = rows.sort("valid_auc", descending=True).row(0, named=True)
    gamma = json.loads(winner["config"])["paradigm"]["gamma"]
    line = re.search(
        r"best on valid AUC: paradigm\.gamma=(\S+) \(valid AUC ([\d.]+), test AUC ([\d.]+)\)", result.stdout
    )
    assert line, result.stdout[-2000:]
    assert float(line.group(1)) == gamma and line.group(2) == f"{winner['valid_auc']:.4f}"
    assert line.group(3) == f"{winner['test_auc']:.4f}"
    (summary_file,) = (tmp_path / "multirun").glob(f"*/*_gamma_search_synthetic_deepfm/{SUMMARY_FILE}")
    summary = json.loads(summary_file.read_text())
    assert summary["status"] == "ok" and summary["metric"] == "auc" and summary["jobs"] == 4
    assert float(summary["best"]["overrides"]["paradigm.gamma"]) == gamma
    assert summary["best"]["run_id"] == winner["run_id"]


# ----------------------------------------------------------------------------- sweep summary


def test_the_summary_reports_a_failed_run(tmp_path):
    result = run_cli(
        [
            "train",
            "-m",
            "model=fm",
            "trainer.lr=1e-3,1e30",
            "trainer.grad_clip_norm=0",
            *TINY,
            "threads=1",
            "analysis.enabled=false",
        ],
        tmp_path,
        timeout=600,
    )
    assert result.returncode == 1, result.stdout[-2000:] + result.stderr[-2000:]
    out = result.stdout
    assert "2 jobs: 1 completed, 1 failed, 0 missing" in out
    assert re.search(r"failed \(1\):\n  job 1 \[trainer\.lr=1e\+30\]: loss became nan", out), out[-2000:]
    best = re.search(r"best on valid AUC: trainer\.lr=0\.001 \(valid AUC ([\d.]+), test AUC ([\d.]+)\)", out)
    assert best, out[-2000:]
    completed = read_results(tmp_path / "results").filter(pl.col("status") == "completed").row(0, named=True)
    assert best.groups() == (f"{completed['valid_auc']:.4f}", f"{completed['test_auc']:.4f}")
    (summary_file,) = (tmp_path / "multirun").glob(f"*/*/{SUMMARY_FILE}")
    summary = json.loads(summary_file.read_text())
    assert (summary["completed"], summary["failed"], summary["missing"], summary["status"]) == (
        1,
        1,
        0,
        "failed",
    )
    failed = summary["runs"][1]
    assert failed["status"] == "failed" and "trainer.lr=1e+30" in failed["overrides"]
    assert failed["error"].startswith("loss became") and failed["run_dir"].endswith(
        "1_synthetic_fm_sfg_s2026"
    )


def multirun_config(overrides: list[str], tmp_path):
    """The config Hydra hands the callback at the end of `ge4rec train -m OVERRIDES`."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(version_base="1.3", config_dir=config_dir(), job_name="test"):
        return GlobalHydra.instance().hydra.compose_config(
            "train",
            [*overrides, f"results_dir={tmp_path / 'results'}", f"hydra.sweep.dir={tmp_path / 'sweep'}"],
            run_mode=RunMode.MULTIRUN,
            with_log_configuration=False,
        )


def record(tmp_path, job: list[str], number: int, valid_auc: float | None, status: str = "completed"):
    """A results-store row for one job, as `ge4rec train` writes it (config composed from the job)."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(version_base="1.3", config_dir=config_dir(), job_name="test"):
        cfg = resolved(job)
    row = {
        "run_id": f"run-{number}",
        "created_at": f"2026-01-01T00:00:{number:02d}",
        "model": str(cfg.model.name),
        "paradigm": str(cfg.paradigm.name),
        "seed": int(cfg.seed),
        "status": status,
        "run_dir": str(tmp_path / "sweep" / f"{number}_job"),
        "overrides": " ".join(job),
        "config": json.dumps(OmegaConf.to_container(cfg)),
    }
    if status == "completed":
        row.update(valid_auc=valid_auc, valid_logloss=0.5, test_auc=valid_auc - 0.01, test_logloss=0.5)
    else:
        row["error"] = "loss became nan at epoch 1"
    write_row(tmp_path / "results", row)


def test_the_summary_counts_missing_runs_from_the_store_alone(tmp_path, capsys):
    config = multirun_config(["model=fm,deepfm", "paradigm=disc,sfg"], tmp_path)
    jobs = planned_jobs(config)
    assert len(jobs) == 4
    record(tmp_path, jobs[0], 0, 0.70)
    record(tmp_path, jobs[1], 1, None, status="failed")
    started = tmp_path / "sweep" / "2_job" / ".hydra"  # began, then died without a row
    started.mkdir(parents=True)
    (started / "overrides.yaml").write_text(OmegaConf.to_yaml(OmegaConf.create(jobs[2])))
    write_row(
        tmp_path / "results",
        {"run_id": "elsewhere", "run_dir": str(tmp_path / "other"), "status": "completed"},
    )

    SweepSummary().on_multirun_end(config)
    out = capsys.readouterr().out
    assert "4 jobs: 1 completed, 1 failed, 2 missing" in out
    assert "job 1 [model=fm paradigm=sfg]: loss became nan at epoch 1" in out
    assert "job 2 [model=deepfm paradigm=disc]: started, but no result was recorded" in out
    assert "job 3 [model=deepfm paradigm=sfg]: not started" in out
    summary = json.loads((tmp_path / "sweep" / SUMMARY_FILE).read_text())
    assert [r["status"] for r in summary["runs"]] == ["completed", "failed", "missing", "missing"]
    assert summary["best"]["overrides"] == {"model": "fm", "paradigm": "disc"}
    assert summary["status"] == "failed" and summary["varied_keys"] == ["model", "paradigm"]


def test_equal_budget_summary_names_each_paradigms_best_trial_and_its_knob(tmp_path):
    overrides = ["experiment=equal_budget", "trainer.lr=1e-3", "seed=1,2"]
    config = multirun_config(overrides, tmp_path)
    jobs = planned_jobs(config)
    assert len(jobs) == 2 * 3 * 2
    for number, job in enumerate(jobs):  # disc's trial 1 and sfg's trial 2 win on the mean of seeds
        text = " ".join(job)
        trial = int(re.search(r"equal_budget.trial=(\d)", text).group(1))
        best = (trial == 1) if "paradigm=disc" in text else (trial == 2)
        noise = 0.002 if "seed=1" in text else -0.002
        record(tmp_path, job, number, (0.75 if best else 0.70) + noise)
    callback = SweepSummary()
    callback.on_multirun_end(config)
    summary = json.loads((tmp_path / "sweep" / SUMMARY_FILE).read_text())
    disc, sfg = summary["best_per_paradigm"]["disc"], summary["best_per_paradigm"]["sfg"]
    assert disc["overrides"] == {"equal_budget.trial": "1"} and disc["runs"] == 2
    assert disc["resolved"] == {"trainer.embedding_regularizer": 1e-6}
    assert sfg["overrides"] == {"equal_budget.trial": "2"} and sfg["resolved"] == {"paradigm.gamma": 6.0}
    assert disc["valid_auc"] == pytest.approx(0.75) and sfg["test_auc"] == pytest.approx(0.74)
    text = format_summary(summary)
    assert "best sfg on valid AUC: equal_budget.trial=2 [paradigm.gamma=6.0] (valid AUC 0.7500" in text


def test_the_callback_is_registered_for_every_run(hydra_configs):
    cfg = compose(config_name="train", return_hydra_config=True)
    assert cfg.hydra.callbacks.sweep_summary._target_ == "ge4rec.sweeps.SweepSummary"
    gamma = compose(config_name="train", overrides=["experiment=gamma_search"], return_hydra_config=True)
    assert gamma.hydra.callbacks.sweep_summary.metric == "auc"
