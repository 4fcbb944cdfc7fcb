"""`ge4rec table`: numbers checked against numpy/scipy, pairing checks, selection, formats.

Stores are built row by row with write_row (no training), with configs shaped like the composed
train config, so the tables see exactly what `ge4rec train` records."""

from __future__ import annotations

import itertools
import json
import shutil
import subprocess
import sys

import numpy as np
import polars as pl
import pytest
from omegaconf import OmegaConf
from scipy.stats import ttest_rel

from ge4rec.cli import main
from ge4rec.config import group_option
from ge4rec.results import write_row
from ge4rec.results.runs import IGNORED_CONFIG_KEYS
from ge4rec.results.tables import build_main_table, load_runs

from conftest import markdown_cells

SEEDS = (2026, 2027, 2028)
_IDS = itertools.count()

# the shipped SFG defaults, as a composed config carries them
PARADIGM_SFG = OmegaConf.to_container(group_option("paradigm", "sfg"))


def make_config(dataset: str, model: str, paradigm: str, seed: int, settings: dict | None = None) -> dict:
    """A composed train config as run.py stores it (JSON in the `config` column)."""
    cfg = {
        "dataset": {
            "name": dataset,
            "kind": "synthetic",
            "embedding_dim": 16,
            "min_count": 2,
            "synthetic": {"seed": 2026, "train_rows": 200000, "cardinalities": [10, 20, 40]},
        },
        "model": {"name": model, "hidden_units": [400, 400, 400], "dropout": 0.2, "embedding_init_std": 1e-4},
        "paradigm": dict(
            PARADIGM_SFG, **({"name": "disc", "generator": "identity"} if paradigm == "disc" else {})
        ),
        "trainer": {
            "name": "default",
            "lr": 1e-3,
            "batch_size": 4096,
            "embedding_regularizer": 0.0,
            "net_regularizer": 0.0,
            "max_epochs": 100,
            "monitor": "auc",
            "patience": 2,
            "progress": True,
            "track_collapse": False,
        },
        "seed": seed,
        "embedding_dim": 16,
        "device": "auto",
        "threads": None,
        "results_dir": "results",
        "cache_dir": "~/.cache/ge4rec",
        "save_checkpoint": True,
        "analysis": {"enabled": True, "split": "valid", "rows": 50000},
    }
    for key, value in (settings or {}).items():
        node = cfg
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return cfg


def add_run(
    folder,
    dataset: str,
    model: str,
    paradigm: str,
    seed: int,
    auc: float | None,
    logloss: float | None,
    valid_auc: float | None = None,
    settings: dict | None = None,
    status: str = "completed",
    created_at: str = "2026-01-01T00:00:00",
    **columns,
) -> str:
    run_id = f"r{next(_IDS):04d}-{dataset}-{model}-{paradigm}-s{seed}"
    overrides = [f"dataset={dataset}", f"model={model}", f"paradigm={paradigm}", f"seed={seed}"]
    overrides += [f"{k}={v}" for k, v in (settings or {}).items()]
    write_row(
        folder,
        {
            "run_id": run_id,
            "created_at": created_at,
            "dataset": dataset,
            "model": model,
            "paradigm": paradigm,
            "seed": seed,
            "status": status,
            "error": None if status == "completed" else "loss became nan",
            "valid_auc": valid_auc if valid_auc is not None else (None if auc is None else auc - 0.001),
            "valid_logloss": None if logloss is None else logloss + 0.001,
            "test_auc": auc if status == "completed" else None,
            "test_logloss": logloss if status == "completed" else None,
            "device": "cpu",
            "run_dir": f"outputs/{run_id}",
            "overrides": " ".join(overrides),
            "config": json.dumps(make_config(dataset, model, paradigm, seed, settings), sort_keys=True),
            **columns,
        },
    )
    return run_id


def table(args: list[str], capsys) -> tuple[str, str]:
    main(["table", *args])
    captured = capsys.readouterr()
    return captured.out, captured.err


def table_exit(args: list[str], capsys) -> tuple[int, str]:
    with pytest.raises(SystemExit) as info:
        main(["table", *args])
    return info.value.code, capsys.readouterr().err


def numbers(rng, base_auc: float, base_ll: float, shift_auc: float, shift_ll: float, spread: float = 0.002):
    """(DIS, SFG) test AUC and LogLoss per seed, with seed-to-seed noise."""
    out = {}
    for seed in SEEDS:
        a = base_auc + rng.normal(0, spread)
        ll = base_ll + rng.normal(0, spread)
        out[seed] = {
            "disc": (a, ll),
            "sfg": (a + shift_auc + rng.normal(0, spread / 3), ll + shift_ll + rng.normal(0, spread / 3)),
        }
    return out


@pytest.fixture
def store(tmp_path):
    """Two data sets x three models x two paradigms x three seeds, plus the metrics written."""
    rng = np.random.default_rng(0)
    folder = tmp_path / "results"
    truth = {}
    setups = {
        ("avazu_x4", "fm"): (0.785, 0.380, 0.004, -0.003),
        ("avazu_x4", "deepfm"): (0.790, 0.375, 0.0005, -0.0004),
        ("avazu_x4", "lr2"): (0.770, 0.390, -0.001, 0.001),
        ("criteo_x1", "fm"): (0.802, 0.450, 0.008, -0.006),
        ("criteo_x1", "deepfm"): (0.813, 0.440, 0.0002, 0.0001),
        ("criteo_x1", "lr2"): (0.790, 0.460, 0.001, -0.001),
    }
    for (dataset, model), setup in setups.items():
        values = numbers(rng, *setup)
        truth[(dataset, model)] = values
        for seed, by_paradigm in values.items():
            for paradigm, (auc, ll) in by_paradigm.items():
                add_run(folder, dataset, model, paradigm, seed, auc, ll)
    return folder, truth


def expected(truth, dataset, model, metric):
    i = 0 if metric == "auc" else 1
    dis = np.array([truth[(dataset, model)][s]["disc"][i] for s in SEEDS])
    sfg = np.array([truth[(dataset, model)][s]["sfg"][i] for s in SEEDS])
    return dis, sfg


def expected_change(truth, dataset, model, metric) -> float:
    """The relative change of SFG's mean over DIS's, in %."""
    dis, sfg = expected(truth, dataset, model, metric)
    return (sfg.mean() - dis.mean()) / dis.mean() * 100


# the columns of one data set in the main table
MAIN_COLUMNS = [
    "DIS AUC",
    "SFG AUC",
    "ΔAUC %",
    "p AUC",
    "DIS LogLoss",
    "SFG LogLoss",
    "ΔLogLoss %",
    "p LogLoss",
]
STORE_MODELS = ("fm", "deepfm", "lr2")


def test_main_table_reproduces_means_stds_changes_and_paired_tests(store, capsys, tmp_path):
    folder, truth = store
    out, err = table(
        ["main", "--results", str(folder), "--format", "csv", "--out", str(tmp_path / "t.csv")], capsys
    )
    assert err == ""  # a complete, consistent store: no warning
    assert out.strip() == f"wrote {tmp_path / 't.csv'} (csv)"
    data = pl.read_csv(tmp_path / "t.csv")
    changes = {"auc": {}, "logloss": {}}
    for (dataset, model), metric in itertools.product(truth, ("auc", "logloss")):
        dis, sfg = expected(truth, dataset, model, metric)
        rows = data.filter(
            (pl.col("dataset") == dataset) & (pl.col("model") == model) & (pl.col("metric") == metric)
        )
        got = {r["paradigm"]: r for r in rows.to_dicts()}
        for paradigm, values in (("disc", dis), ("sfg", sfg)):
            assert got[paradigm]["mean"] == pytest.approx(values.mean(), abs=1e-12)
            assert got[paradigm]["std"] == pytest.approx(values.std(ddof=1), abs=1e-12)
            assert got[paradigm]["n"] == 3
        change = (sfg.mean() - dis.mean()) / dis.mean() * 100
        p = ttest_rel(sfg, dis).pvalue
        assert got["sfg"]["relative_change"] == pytest.approx(change, rel=1e-9)
        assert got["sfg"]["p_value"] == pytest.approx(p, rel=1e-9)
        assert got["sfg"]["significant"] == (p < 0.05)
        assert got["sfg"]["n_pairs"] == 3
        changes[metric].setdefault(dataset, []).append(change)
    averages = data.filter(pl.col("model") == "average")
    for r in averages.to_dicts():
        assert r["relative_change"] == pytest.approx(np.mean(changes[r["metric"]][r["dataset"]]), rel=1e-9)
    # provenance rides along in the tidy rows
    assert set(data["devices"].drop_nulls().unique()) == {"cpu"}
    assert data["ge4rec_version"].drop_nulls().str.contains("current environment").all()


def test_main_table_markdown_bold_significance_and_average_row(store, capsys):
    folder, truth = store
    out, _ = table(["main", "--results", str(folder)], capsys)
    lines = out.splitlines()
    datasets = ("avazu_x4", "criteo_x1")
    assert markdown_cells(out, "| model") == ["model"] + [f"{d} {c}" for d in datasets for c in MAIN_COLUMNS]
    cells = markdown_cells(out, "| fm ")
    dis, sfg = expected(truth, "avazu_x4", "fm", "auc")
    assert cells[1] == f"{dis.mean():.4f} ± {dis.std(ddof=1):.4f} (n=3)"
    assert cells[2] == f"**{sfg.mean():.4f} ± {sfg.std(ddof=1):.4f} (n=3)**"  # SFG better: bold
    p = ttest_rel(sfg, dis).pvalue
    change = (sfg.mean() - dis.mean()) / dis.mean() * 100
    assert cells[3] == f"{change:+.3f}" + ("†" if p < 0.05 else "")
    assert p < 0.05 and cells[3].endswith("†")  # a clear, consistent gain is significant
    # the average row: each data set's mean change over the models, nothing in the other columns
    average = markdown_cells(out, "| average ")
    for column, name in enumerate([f"{d} {c}" for d in datasets for c in MAIN_COLUMNS], start=1):
        dataset, kind = name.split(" ", 1)
        metric = {"ΔAUC %": "auc", "ΔLogLoss %": "logloss"}.get(kind)
        if metric is None:
            assert average[column] == "", name
        else:
            mean = np.mean([expected_change(truth, dataset, m, metric) for m in STORE_MODELS])
            assert average[column] == f"{mean:+.3f}", name
    assert "- seeds: 2026, 2027, 2028" in lines and "- devices: cpu (36 runs)" in lines
    assert next(line for line in lines if line.startswith("- runs per cell: ")).split(": ", 1)[1].split(
        "; "
    ) == [f"{d}/{m}/{p} 3" for m in STORE_MODELS for d in datasets for p in ("disc", "sfg")]
    # the model order follows the README (fm before deepfm), unknown models after
    assert out.index("| fm ") < out.index("| deepfm ") < out.index("| lr2 ")


def test_relaimpr_and_reference_columns(store, capsys, tmp_path):
    folder, truth = store
    table(
        [
            "main",
            "--results",
            str(folder),
            "--metric-change",
            "relaimpr",
            "--reference",
            "--out",
            str(tmp_path / "t.csv"),
        ],
        capsys,
    )
    data = pl.read_csv(tmp_path / "t.csv")
    dis, sfg = expected(truth, "criteo_x1", "fm", "auc")
    row = data.filter(
        (pl.col("dataset") == "criteo_x1") & (pl.col("model") == "fm") & (pl.col("metric") == "auc")
        & (pl.col("paradigm") == "sfg")
    ).row(0, named=True)  # fmt: skip
    assert row["relative_change"] == pytest.approx(
        ((sfg.mean() - 0.5) / (dis.mean() - 0.5) - 1) * 100, rel=1e-9
    )
    assert row["change_kind"] == "relaimpr" and row["reference_auc"] == 0.81108
    out, _ = table(["main", "--results", str(folder), "--reference", "--dataset", "avazu_x4"], capsys)
    lines = out.splitlines()
    assert markdown_cells(out, "| model")[1:5] == ["DIS AUC", "SFG AUC", "paper DIS AUC", "paper SFG AUC"]
    assert markdown_cells(out, "| fm ")[3:5] == ["0.788225", "0.792494"]
    assert markdown_cells(out, "| lr2 ")[3:5] == ["", ""]  # no reference value: blank
    assert "criteo_x1" not in out.split("Notes:")[0]  # --dataset keeps one data set
    auc, logloss = (
        np.mean([expected_change(truth, "avazu_x4", m, k) for m in STORE_MODELS]) for k in ("auc", "logloss")
    )
    assert (
        f"- Average change of SFG over DIS over all 3 (data set, model) pairs: AUC {auc:+.3f}%, "
        f"LogLoss {logloss:+.3f}% (the paper: +0.272% AUC, -0.435% LogLoss)."
    ) in lines


def test_ignored_keys_do_not_break_pairing(tmp_path, capsys):
    folder = tmp_path / "results"
    assert {"results_dir", "device", "trainer.progress", "analysis", "hydra"} <= set(IGNORED_CONFIG_KEYS)
    for seed in SEEDS:
        add_run(folder, "synthetic", "fm", "disc", seed, 0.70 + seed / 1e5, 0.5, settings={"threads": 1})
        add_run(
            folder, "synthetic", "fm", "sfg", seed, 0.71 + seed / 1e5, 0.49,
            settings={"results_dir": "elsewhere", "device": "cuda", "trainer.progress": False, "analysis.rows": 10,
                      "paradigm.gamma": 6.0},
        )  # fmt: skip
    out, err = table(["main", "--results", str(folder), "--strict"], capsys)
    assert err == ""
    # the two paradigms are paired: both cells filled, and SFG's change over DIS
    dis, sfg = (np.array([base + seed / 1e5 for seed in SEEDS]) for base in (0.70, 0.71))
    fm = markdown_cells(out, "| fm ")
    assert fm[1:3] == [f"{dis.mean():.4f} ± 0.0000 (n=3)", f"**{sfg.mean():.4f} ± 0.0000 (n=3)**"]
    assert fm[3].startswith(f"{(sfg.mean() - dis.mean()) / dis.mean() * 100:+.3f}")


def test_config_mismatch_is_a_warning_naming_the_runs_and_strict_exits_2(tmp_path, capsys):
    folder = tmp_path / "results"
    ids = []
    for seed in SEEDS:
        add_run(folder, "synthetic", "fm", "disc", seed, 0.70, 0.5)
        ids.append(add_run(folder, "synthetic", "fm", "sfg", seed, 0.71, 0.49, settings={"trainer.lr": 3e-4}))
        add_run(folder, "synthetic", "deepfm", "disc", seed, 0.72, 0.48)
        add_run(folder, "synthetic", "deepfm", "sfg", seed, 0.73, 0.47)
    out, err = table(["main", "--results", str(folder)], capsys)
    mismatch = [line for line in err.splitlines() if "config mismatch" in line]
    assert len(mismatch) == 1 and "trainer.lr" in mismatch[0] and "synthetic/fm" in mismatch[0]
    assert ids[0] in mismatch[0] and f"outputs/{ids[0]}" in mismatch[0]
    # the odd runs (the other models share lr 1e-3) are left out, never averaged: the SFG cell is missing
    missing = next(line for line in err.splitlines() if "missing cell" in line)
    assert "synthetic/fm/sfg" in missing and "trainer.lr" not in missing.split("train with:")[1]
    fm = [c.strip() for c in next(line for line in out.splitlines() if line.startswith("| fm ")).split("|")]
    assert fm[2] == "0.7000 ± 0.0000 (n=3)" and fm[3] == "missing"
    code, err = table_exit(["main", "--results", str(folder), "--strict"], capsys)
    assert code == 2 and err.strip().splitlines()[-1].startswith("ge4rec: --strict")


def test_missing_cell_and_missing_seed_are_reported_with_the_command_that_trains_them(tmp_path, capsys):
    folder = tmp_path / "results"
    for seed in SEEDS:
        add_run(folder, "synthetic", "fm", "disc", seed, 0.70, 0.5, settings={"trainer.lr": 3e-4})
        if seed != 2028:
            add_run(folder, "synthetic", "fm", "sfg", seed, 0.71, 0.49, settings={"trainer.lr": 3e-4})
        add_run(folder, "synthetic", "deepfm", "disc", seed, 0.72, 0.48)
    out, err = table(["main", "--results", str(folder)], capsys)
    warnings = [line for line in err.splitlines() if line.startswith("ge4rec: warning:")]
    assert len(warnings) == 2
    cell = next(w for w in warnings if "missing cell" in w)
    assert "synthetic/deepfm/sfg" in cell
    assert (
        f"ge4rec train -m dataset=synthetic model=deepfm paradigm=sfg results_dir={folder} seed=2026,2027,2028"
        in cell
    )
    seed = next(w for w in warnings if "missing run" in w)
    assert "seed 2028" in seed and "paradigm=sfg trainer.lr=0.0003" in seed and "seed=2028" in seed
    assert "to fill a missing cell: `ge4rec train" in out  # the provenance says it too
    code, _ = table_exit(["main", "--results", str(folder), "--strict"], capsys)
    assert code == 2


def test_duplicates_latest_wins_and_failed_runs_are_counted_not_averaged(tmp_path, capsys):
    folder = tmp_path / "results"
    for seed in SEEDS:
        add_run(folder, "synthetic", "fm", "disc", seed, 0.70 + seed / 1e4 - 0.2, 0.5)
        add_run(folder, "synthetic", "fm", "sfg", seed, 0.71 + seed / 1e4 - 0.2, 0.49)
    old = add_run(folder, "synthetic", "fm", "sfg", 2026, 0.10, 0.9, created_at="2025-01-01T00:00:00")
    new = add_run(folder, "synthetic", "fm", "disc", 2027, 0.95, 0.1, created_at="2026-06-01T00:00:00")
    add_run(folder, "synthetic", "fm", "sfg", 2029, None, None, status="failed")
    out, err = table(["main", "--results", str(folder), "--format", "csv"], capsys)
    data = pl.read_csv(out.encode())
    dup = [line for line in err.splitlines() if "duplicate" in line]
    assert len(dup) == 2 and any(old in d and "left out" in d.split(old)[0] for d in dup)
    assert any(f"kept {new}" in d for d in dup)
    disc = data.filter(
        (pl.col("paradigm") == "disc") & (pl.col("metric") == "auc") & (pl.col("model") == "fm")
    )
    values = [0.70 + 2026 / 1e4 - 0.2, 0.95, 0.70 + 2028 / 1e4 - 0.2]
    assert disc["mean"][0] == pytest.approx(np.mean(values)) and disc["n"][0] == 3
    sfg = data.filter((pl.col("paradigm") == "sfg") & (pl.col("metric") == "auc") & (pl.col("model") == "fm"))
    assert sfg["n"][0] == 3 and "2029" not in sfg["seeds"][0]  # the failed seed is never averaged
    md, _ = table(["main", "--results", str(folder)], capsys)
    assert "1 failed" in md and "not completed (counted, never averaged): 1 run(s)" in md
    code, _ = table_exit(["main", "--results", str(folder), "--strict"], capsys)
    assert code == 2


def test_single_seed_cell_has_no_std_and_says_so(tmp_path, capsys):
    folder = tmp_path / "results"
    add_run(folder, "synthetic", "fm", "disc", 1, 0.70, 0.5)
    add_run(folder, "synthetic", "fm", "sfg", 1, 0.71, 0.49)
    out, err = table(["main", "--results", str(folder)], capsys)
    assert err == ""
    fm = next(line for line in out.splitlines() if line.startswith("| fm "))
    assert "| 0.7000 (n=1) | **0.7100 (n=1)** |" in fm and "±" not in fm
    assert "n=1: a single seed" in out


def test_select_best_valid_picks_the_hand_computed_setting(tmp_path, capsys):
    folder = tmp_path / "results"
    # DIS: lr 1e-3 (valid 0.700, 0.704 ...) vs lr 3e-4 (valid higher); SFG: gamma 1 vs gamma 6 x lr
    valid = {
        ("disc", 1e-3, 1.0): [0.700, 0.702, 0.704],
        ("disc", 3e-4, 1.0): [0.703, 0.706, 0.702],
        ("sfg", 1e-3, 1.0): [0.710, 0.711, 0.709],
        ("sfg", 1e-3, 6.0): [0.715, 0.709, 0.716],
        ("sfg", 3e-4, 6.0): [0.712, 0.713, 0.711],
    }
    test = {}
    rng = np.random.default_rng(1)
    for (paradigm, lr, gamma), values in valid.items():
        for seed, v in zip(SEEDS, values):
            auc, ll = v + rng.normal(0, 0.003), 0.5 - v / 10 + rng.normal(0, 0.003)
            test[(paradigm, lr, gamma, seed)] = (auc, ll)
            settings = {"trainer.lr": lr, "paradigm.gamma": gamma}
            add_run(folder, "synthetic", "dcnv2", paradigm, seed, auc, ll, valid_auc=v, settings=settings)
    best = {
        p: max((k for k in valid if k[0] == p), key=lambda k: np.mean(valid[k])) for p in ("disc", "sfg")
    }  # by hand: DIS lr=3e-4 (0.7037 > 0.7020); SFG lr=1e-3 gamma=6 (0.7133 > 0.7120 > 0.7100)
    assert best == {"disc": ("disc", 3e-4, 1.0), "sfg": ("sfg", 1e-3, 6.0)}
    out, err = table(["main", "--results", str(folder), "--select", "best-valid", "--format", "csv"], capsys)
    assert "config mismatch" not in err
    data = pl.read_csv(out.encode()).filter(pl.col("model") == "dcnv2")
    for paradigm in ("disc", "sfg"):
        _, lr, gamma = best[paradigm]
        for i, metric in enumerate(("auc", "logloss")):
            values = [test[(paradigm, lr, gamma, s)][i] for s in SEEDS]
            row = data.filter((pl.col("paradigm") == paradigm) & (pl.col("metric") == metric)).row(
                0, named=True
            )
            assert row["mean"] == pytest.approx(np.mean(values)) and row["std"] == pytest.approx(
                np.std(values, ddof=1)
            )
    dis_auc = [test[(*best["disc"], s)][0] for s in SEEDS]
    sfg_auc = [test[(*best["sfg"], s)][0] for s in SEEDS]
    row = data.filter((pl.col("paradigm") == "sfg") & (pl.col("metric") == "auc")).row(0, named=True)
    assert row["p_value"] == pytest.approx(ttest_rel(sfg_auc, dis_auc).pvalue)
    assert row["settings"] == "paradigm.gamma=6, trainer.lr=0.001"
    md, _ = table(["main", "--results", str(folder), "--select", "best-valid"], capsys)
    assert "chosen setting, synthetic/dcnv2 DIS: trainer.lr=0.0003" in md
    assert "chosen setting, synthetic/dcnv2 SFG: paradigm.gamma=6, trainer.lr=0.001" in md
    # without --select the differing learning rates are a mismatch
    _, err = table(["main", "--results", str(folder)], capsys)
    assert "config mismatch" in err and "trainer.lr" in err


def _ablation_store(folder):
    rng = np.random.default_rng(2)
    truth = {}
    for seed in SEEDS:
        truth[("DIS", seed)] = add_run(
            folder, "synthetic", "dcnv2", "disc", seed, 0.70 + rng.normal(0, 0.001), 0.5
        )
    variants = {
        "relu": {},
        "identity": {"paradigm.activation": "identity"},
        "tanh": {"paradigm.activation": "tanh"},
        "sigmoid": {"paradigm.activation": "sigmoid"},
        "mlp2": {"paradigm.generator": "mlp2"},
        "x0": {"paradigm.source": "x0"},
        "high": {"paradigm.targets": "high_cardinality", "paradigm.num_targets": 0.5},
    }
    values = {}
    for name, settings in variants.items():
        for seed in SEEDS:
            auc, ll = 0.71 + rng.normal(0, 0.002), 0.49 + rng.normal(0, 0.002)
            values.setdefault(name, []).append((auc, ll))
            add_run(folder, "synthetic", "dcnv2", "sfg", seed, auc, ll, settings=settings)
    return values


def test_ablation_tables_in_the_papers_order_with_differences(tmp_path, capsys):
    folder = tmp_path / "results"
    values = _ablation_store(folder)
    dis = pl.read_parquet(str(folder) + "/*.parquet").filter(pl.col("paradigm") == "disc")
    out, err = table(["ablation", "--results", str(folder), "--format", "csv"], capsys)
    data = pl.read_csv(out.encode())
    assert set(data["family"].unique()) == {"activation", "generator", "source", "target"}
    act = data.filter((pl.col("family") == "activation") & (pl.col("metric") == "auc"))
    assert act["variant"].to_list() == ["relu (full SFG)", "identity", "sigmoid", "tanh", "DIS"]
    full = np.mean([v[0] for v in values["relu"]])
    for name in ("identity", "sigmoid", "tanh"):
        row = act.filter(pl.col("variant") == name).row(0, named=True)
        mean = np.mean([v[0] for v in values[name]])
        assert row["mean"] == pytest.approx(mean)
        assert row["std"] == pytest.approx(np.std([v[0] for v in values[name]], ddof=1))
        assert row["diff_vs_dis"] == pytest.approx(mean - dis["test_auc"].mean())
        assert row["diff_vs_sfg"] == pytest.approx(mean - full)
    target = data.filter((pl.col("family") == "target") & (pl.col("metric") == "auc"))
    assert target["variant"].to_list()[:2] == [
        "all (full SFG)",
        "high_cardinality (paradigm.num_targets=0.5)",
    ]
    # the missing variants of the families present are warned about with their commands
    assert (
        "paradigm.activation=silu has no run" in err
        and "paradigm.activation=silu" in err.split("silu has no run")[1]
    )
    assert "paradigm.targets=random" in err and "paradigm.num_targets=0.5" in err
    md, _ = table(["ablation", "--results", str(folder)], capsys)
    assert "*synthetic / dcnv2: activation (paradigm.activation)*" in md.splitlines()
    assert md.index("| identity ") < md.index("| sigmoid ") < md.index("| tanh ")
    identity = markdown_cells(md, "| identity ")
    aucs = [v[0] for v in values["identity"]]
    assert identity[1].strip("*") == f"{np.mean(aucs):.4f} ± {np.std(aucs, ddof=1):.4f} (n=3)"
    assert identity[3] == f"{np.mean(aucs) - dis['test_auc'].mean():+.4f}"  # ΔAUC vs DIS
    code, _ = table_exit(["ablation", "--results", str(folder), "--strict"], capsys)
    assert code == 2
    # the main table takes the full SFG and says the variants are elsewhere, no warning
    main_out, main_err = table(["main", "--results", str(folder), "--format", "csv"], capsys)
    assert main_err == ""
    sfg = pl.read_csv(main_out.encode()).filter((pl.col("paradigm") == "sfg") & (pl.col("metric") == "auc"))
    assert sfg.filter(pl.col("model") == "dcnv2")["mean"][0] == pytest.approx(full)


def test_collapse_table_means_and_missing_columns(tmp_path, capsys):
    folder = tmp_path / "results"
    ia = {"disc": [3.0, 3.5, 4.0], "sfg": [9.0, 10.0, 12.5]}
    for paradigm, values in ia.items():
        for seed, v in zip(SEEDS, values):
            add_run(
                folder, "synthetic", "fm", paradigm, seed, 0.7, 0.5,
                information_abundance_operand=v, redundancy_interacting_mean_abs=v / 100,
            )  # fmt: skip
    out, err = table(["collapse", "--results", str(folder), "--format", "csv"], capsys)
    data = pl.read_csv(out.encode())
    for paradigm, values in ia.items():
        row = data.filter(
            (pl.col("paradigm") == paradigm) & (pl.col("metric") == "information_abundance_operand")
        ).row(0, named=True)
        assert row["mean"] == pytest.approx(np.mean(values)) and row["std"] == pytest.approx(
            np.std(values, ddof=1)
        )
    missing = data.filter(pl.col("metric") == "effective_rank_operand")
    assert missing["mean"].is_null().all() and (missing["n"] == 0).all()
    md, _ = table(["collapse", "--results", str(folder)], capsys)
    sfg = markdown_cells(md, "| synthetic | fm | SFG ")
    redundancy = np.array(ia["sfg"]) / 100
    assert sfg == [
        "synthetic", "fm", "SFG", f"{np.mean(ia['sfg']):.2f} ± {np.std(ia['sfg'], ddof=1):.2f} (n=3)", "-", "-",
        f"{redundancy.mean():.4f} ± {redundancy.std(ddof=1):.4f} (n=3)", "-", "-", "-",
    ]  # fmt: skip


def test_every_format_and_latex_compiles(store, capsys, tmp_path):
    folder, truth = store
    dis, _ = expected(truth, "avazu_x4", "fm", "auc")
    cell = f"{dis.mean():.4f} ± {dis.std(ddof=1):.4f} (n=3)"  # FM's DIS AUC on avazu_x4
    by_format = {}
    for fmt in ("md", "latex", "csv"):
        by_format[fmt], _ = table(["main", "--results", str(folder), "--format", fmt, "--reference"], capsys)
    assert markdown_cells(by_format["md"], "| fm ")[1] == cell
    fm_latex = next(line for line in by_format["latex"].splitlines() if line.startswith("fm & "))
    assert fm_latex.split(" & ")[1] == cell.replace("±", "$\\pm$")
    data = pl.read_csv(by_format["csv"].encode())
    assert data.height == 2 * 3 * 2 * 2 + 2 * 2  # data set x model x paradigm x metric, + averages
    row = data.filter(
        (pl.col("dataset") == "avazu_x4") & (pl.col("model") == "fm") & (pl.col("paradigm") == "disc")
        & (pl.col("metric") == "auc")
    ).row(0, named=True)  # fmt: skip
    assert row["mean"] == pytest.approx(dis.mean(), abs=1e-12) and row["reference_auc"] == 0.788225
    latex, _ = table(["main", "--results", str(folder), "--format", "latex"], capsys)
    for rule in (
        r"\toprule",
        r"\midrule",
        r"\bottomrule",
        r"\begin{tabular}",
        r"\end{tabular}",
        r"\cmidrule",
    ):
        assert rule in latex
    assert r"avazu\_x4" in latex and r"\%" in latex and r"$\pm$" in latex and r"\textbf{" in latex
    body = latex.replace(r"\%", "").replace(r"\_", "")
    assert "_" not in body.split(r"\end{tabular}")[0] and all(ord(c) < 128 for c in latex)
    # --out picks the format from the suffix
    table(["main", "--results", str(folder), "--out", str(tmp_path / "t.tex")], capsys)
    assert (tmp_path / "t.tex").read_text().count(r"\toprule") == 1
    if shutil.which("pdflatex") is None:
        pytest.skip("pdflatex not on PATH")
    for kind, extra in (("main", ["--reference"]), ("collapse", [])):
        table([kind, "--results", str(folder), "--out", str(tmp_path / f"{kind}.tex"), *extra], capsys)
        doc = tmp_path / f"doc_{kind}.tex"
        doc.write_text(
            "\\documentclass{article}\n\\usepackage{booktabs}\n\\begin{document}\n"
            f"\\input{{{kind}.tex}}\n\\end{{document}}\n"
        )
        done = subprocess.run(
            ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", doc.name],
            cwd=tmp_path, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout[-2000:]


def test_ablation_latex_compiles(tmp_path, capsys):
    folder = tmp_path / "results"
    _ablation_store(folder)
    latex, _ = table(["ablation", "--results", str(folder), "--format", "latex"], capsys)
    assert latex.count(r"\begin{tabular}") == 1 and r"\textit{synthetic / dcnv2: activation" in latex
    if shutil.which("pdflatex") is None:
        pytest.skip("pdflatex not on PATH")
    (tmp_path / "ablation.tex").write_text(latex)
    (tmp_path / "doc.tex").write_text(
        "\\documentclass{article}\n\\usepackage{booktabs}\n\\begin{document}\n\\input{ablation.tex}\n\\end{document}\n"
    )
    done = subprocess.run(
        ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "doc.tex"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:]


def test_bad_input_is_one_line_exit_2(store, capsys, tmp_path):
    folder, _ = store
    code, err = table_exit(
        ["main", "--results", str(folder), "--out", str(tmp_path / "nope" / "t.md")], capsys
    )
    assert code == 2 and len(err.strip().splitlines()) == 1 and "does not exist" in err
    code, err = table_exit(["main", "--results", str(tmp_path / "absent")], capsys)
    assert code == 2 and "does not exist" in err
    code, err = table_exit(["main", "--results", str(folder), "--format", "pdf"], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "--format" in err
    code, err = table_exit(["pivot", "--results", str(folder)], capsys)
    assert code == 2 and "main, ablation, collapse" in err
    assert not (tmp_path / "nope").exists()


def test_python_api_and_module_entry_point(store, tmp_path):
    folder, truth = store
    result = build_main_table(load_runs([folder]), datasets=["criteo_x1"])
    row = result.data.filter(
        (pl.col("model") == "fm") & (pl.col("paradigm") == "disc") & (pl.col("metric") == "logloss")
    ).row(0, named=True)
    dis, _ = expected(truth, "criteo_x1", "fm", "logloss")
    assert row["mean"] == pytest.approx(dis.mean()) and result.warnings == []
    assert result.kind == "main" and result.provenance
    done = subprocess.run(
        [sys.executable, "-m", "ge4rec", "table", "main", "--results", str(folder), "--dataset", "avazu_x4"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0 and done.stderr == ""
    dis, _ = expected(truth, "avazu_x4", "fm", "auc")
    fm = markdown_cells(done.stdout, "| fm ")
    assert fm[1] == f"{dis.mean():.4f} ± {dis.std(ddof=1):.4f} (n=3)"


def test_two_results_folders_are_read_together(tmp_path, capsys):
    a, b = tmp_path / "a", tmp_path / "b"
    for seed in SEEDS:
        add_run(a, "synthetic", "fm", "disc", seed, 0.70, 0.5)
        add_run(b, "synthetic", "fm", "sfg", seed, 0.71, 0.49)
    out, err = table(["main", "--results", str(a), "--results", str(b), "--format", "csv"], capsys)
    assert err == ""
    data = pl.read_csv(out.encode())
    assert data.filter((pl.col("model") == "fm") & (pl.col("metric") == "auc"))["n"].to_list() == [3, 3]
