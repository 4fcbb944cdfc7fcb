"""Collapse and redundancy measures on inputs with known answers, and the analysis of real runs."""

import json
import math
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import torch

from ge4rec.analysis import (
    covariance,
    covariance_spectrum,
    cross_correlation,
    field_spectra,
    redundancy_summary,
    spectrum_measures,
)
from ge4rec.analysis.run_analysis import analyze_run_dir, sample_split
from ge4rec.cli import main
from ge4rec.data.batches import SplitTensors
from ge4rec.errors import Ge4recError
from ge4rec.results import read_results
from ge4rec.run import train_run

from conftest import TINY, compose_config


def gaussian(n: int, dim: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(n, dim, generator=torch.Generator().manual_seed(seed))


def measures_of(x: torch.Tensor) -> dict[str, float]:
    return {k: float(v) for k, v in spectrum_measures(covariance_spectrum(x), samples=x.shape[0]).items()}


# ------------------------------------------------------------------------------------ spectrum


def test_covariance_and_its_spectrum_match_numpy():
    x = gaussian(500, 6) @ gaussian(6, 6, seed=1)
    expected = np.cov(x.numpy().astype(np.float64), rowvar=False, bias=True)
    assert torch.allclose(covariance(x), torch.from_numpy(expected), atol=1e-10)
    spectrum = covariance_spectrum(x)
    assert spectrum.dtype == torch.float64
    assert torch.all(spectrum[:-1] >= spectrum[1:]) and torch.all(spectrum >= 0)
    assert np.allclose(spectrum.numpy(), np.linalg.svd(expected, compute_uv=False), rtol=1e-9)


def test_isotropic_matrix_has_information_abundance_near_its_dimension():
    m = measures_of(gaussian(40000, 16))
    assert 14.0 < m["information_abundance"] <= 16.0
    assert m["effective_rank"] > 15.9
    assert m["components_98"] >= 15 and m["rank"] == 16
    assert m["condition_number"] < 1.2


@pytest.mark.parametrize("rank", [1, 3, 8])
def test_rank_k_matrix_has_information_abundance_about_k(rank):
    # k independent unit-variance directions, embedded orthonormally in 32 dimensions
    basis = torch.linalg.qr(gaussian(32, rank, seed=2)).Q.T  # [k, 32], orthonormal rows
    m = measures_of(gaussian(40000, rank) @ basis)
    assert 0.85 * rank <= m["information_abundance"] <= rank + 1e-9
    assert m["rank"] == rank and m["components_98"] <= rank
    assert m["effective_rank"] == pytest.approx(rank, rel=0.02)
    assert math.isinf(m["condition_number"])  # singular covariance


def test_a_field_with_two_values_has_rank_one_despite_rounding():
    # 50,000 rows of two embedding vectors with a large common offset: the covariance sum carries
    # rounding far above D * eps, which must not count as extra dimensions
    vectors = 0.5 + 0.01 * gaussian(2, 10, seed=9)
    rows = vectors[torch.randint(0, 2, (50000,), generator=torch.Generator().manual_seed(0))]
    m = measures_of(rows)
    assert m["rank"] == 1 and m["information_abundance"] == pytest.approx(1.0, abs=1e-9)
    assert math.isinf(m["condition_number"])


@pytest.mark.parametrize("k", [1, 2, 5, 50])
def test_rankme_of_k_equal_singular_values_is_k(k):
    spectrum = torch.cat(
        [torch.full((k,), 3.0, dtype=torch.float64), torch.zeros(64 - k, dtype=torch.float64)]
    )
    m = spectrum_measures(spectrum)
    assert float(m["effective_rank"]) == pytest.approx(k, rel=1e-12)
    assert float(m["information_abundance"]) == pytest.approx(k, rel=1e-12)
    assert int(m["rank"]) == k
    assert int(m["components_98"]) == math.ceil(0.98 * k - 1e-9)  # 50 equal values: 49 hold exactly 98%


def test_a_collapsed_embedding_scores_below_an_isotropic_one():
    isotropic = gaussian(20000, 16)
    decay = torch.exp(-torch.arange(16, dtype=torch.float32))  # variance falls by e^2 per dimension
    collapsed = gaussian(20000, 16, seed=3) * decay
    iso, col = measures_of(isotropic), measures_of(collapsed)
    assert col["information_abundance"] < 0.2 * iso["information_abundance"]
    assert col["effective_rank"] < 0.2 * iso["effective_rank"]
    assert col["components_98"] < iso["components_98"]
    assert col["condition_number"] > 1e6 * iso["condition_number"]


def test_field_spectra_are_each_fields_own_spectrum_batched():
    e = torch.stack([gaussian(3000, 4, seed=s) * (s + 1) for s in range(5)], dim=1)  # [n, F=5, d=4]
    e[:, 2] = 0.0  # a constant field
    batched = field_spectra(e)
    assert batched.shape == (5, 4)
    for f in range(5):
        assert torch.allclose(batched[f], covariance_spectrum(e[:, f]))
    per_field = spectrum_measures(batched)
    assert per_field["information_abundance"][2] == 0 and per_field["effective_rank"][2] == 0
    assert torch.all(per_field["information_abundance"][[0, 1, 3, 4]] > 3.5)


# ---------------------------------------------------------------------------------- redundancy


def test_independent_operands_have_redundancy_near_zero():
    r = cross_correlation(gaussian(40000, 8), gaussian(40000, 8, seed=5))
    summary = redundancy_summary(r)
    assert summary["mean_abs"] < 0.01 and summary["mean_sq"] < 1e-4 and abs(summary["diagonal_mean"]) < 0.01


def test_duplicated_operands_correlate_one_on_matching_entries():
    a = gaussian(20000, 8)
    perm = torch.randperm(8, generator=torch.Generator().manual_seed(1))
    b = 3.0 * a[:, perm] - 2.0  # the same information, reordered, scaled and shifted
    r = cross_correlation(a, b)
    assert torch.allclose(r[perm, torch.arange(8)], torch.ones(8, dtype=torch.float64), atol=1e-9)
    same = cross_correlation(a, a)
    assert torch.allclose(torch.diagonal(same), torch.ones(8, dtype=torch.float64), atol=1e-9)
    assert torch.allclose(same, same.T)
    assert redundancy_summary(same)["diagonal_mean"] == pytest.approx(1.0)
    assert redundancy_summary(same)["mean_abs"] < 0.02


def test_correlated_operands_have_the_expected_redundancy():
    a = gaussian(20000, 8)
    # every column of b is a's row mean (variance 1/8) plus independent noise (variance 0.09)
    b = a.mean(dim=1, keepdim=True).expand(-1, 8) + 0.3 * gaussian(20000, 8, seed=7)
    expected_ab = (1 / 8) / math.sqrt(1 / 8 + 0.09)  # corr(a_i, b_j) for every i, j
    expected_bb = (1 / 8) / (1 / 8 + 0.09)  # corr(b_i, b_j), i != j
    assert redundancy_summary(cross_correlation(a, b))["mean_abs"] == pytest.approx(expected_ab, abs=0.01)
    assert redundancy_summary(cross_correlation(b, b))["mean_sq"] == pytest.approx(expected_bb**2, abs=0.01)


def test_constant_columns_have_no_correlation_and_are_left_out():
    a = gaussian(5000, 4)
    b = a.clone()
    b[:, 1] = 0.0
    b[:, 3] = 7.25
    r = cross_correlation(a, b)
    assert torch.isnan(r[:, 1]).all() and torch.isnan(r[:, 3]).all()
    summary = redundancy_summary(r)
    assert summary["diagonal_mean"] == pytest.approx(1.0) and math.isfinite(summary["mean_abs"])


def test_sample_is_seeded_and_capped_by_the_split():
    split = SplitTensors(
        torch.arange(100).view(100, 1), torch.zeros(100, 0), torch.zeros(100, 0), torch.zeros(100)
    )
    a, b = sample_split(split, 10, seed=3), sample_split(split, 10, seed=3)
    assert torch.equal(a.cat, b.cat) and len(a) == 10 and len(a.cat.unique()) == 10
    assert not torch.equal(a.cat, sample_split(split, 10, seed=4).cat)
    assert len(sample_split(split, 50000, seed=3)) == 100 and len(sample_split(split, 0, seed=3)) == 100


# ------------------------------------------------------------------------------- runs end to end


def train(tmp_path: Path, name: str, *overrides: str) -> tuple[Path, dict]:
    cfg = compose_config([*TINY, *overrides], tmp_path)
    run_dir = tmp_path / name
    return run_dir, train_run(cfg, run_dir, list(overrides))


@pytest.fixture(scope="module")
def sfg_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sfg")
    overrides = ["model=dcnv2", "model.hidden_units=[32]", "paradigm=sfg", "trainer.track_collapse=true"]
    run_dir, metrics = train(tmp, "dcnv2_sfg", *overrides, "analysis.rows=600")
    return tmp, run_dir, metrics


def test_a_run_stores_its_analysis(sfg_run):
    tmp, run_dir, metrics = sfg_run
    saved = json.loads((run_dir / "metrics.json").read_text())
    analysis = saved["analysis"]
    assert analysis["rows"] == 600 and analysis["split"] == "valid"
    assert set(analysis["embeddings"]) == {"raw", "generated.0", "generated.1", "generated.2"}
    assert analysis["primary_generated"] == "generated.0"
    dim, fields = analysis["embedding_dim"], analysis["num_fields"]
    scalars = analysis["scalars"]
    assert 1 <= scalars["ia_raw"] <= dim * fields and 1 <= scalars["ia_generated"] <= dim * fields
    assert scalars["ia_generated"] == analysis["embeddings"]["generated.0"]["whole"]["information_abundance"]
    assert 0 < scalars["redundancy_mean_abs"] < 1 and 0 < scalars["redundancy_mean_sq"] < 1
    # per-epoch tracking
    assert len(saved["history"]) == 2 and all("ia_raw" in h and "ia_generated" in h for h in saved["history"])

    folder = run_dir / "analysis"
    spectra = pl.read_parquet(folder / "spectra.parquet")
    whole = spectra.filter((pl.col("embedding") == "raw") & (pl.col("scope") == "all"))
    assert whole.height == dim * fields and whole["singular_value"].is_sorted(descending=True)
    assert spectra.filter(pl.col("embedding") == "raw")["scope"].n_unique() == fields + 1
    measures = pl.read_parquet(folder / "measures.parquet")
    assert measures.height == 4 * (fields + 1)
    redundancy = pl.read_parquet(folder / "redundancy.parquet")
    assert redundancy.height == (dim * fields) ** 2

    row = read_results(tmp / "results").row(0, named=True)
    for column in (
        "ia_raw",
        "ia_generated",
        "erank_raw",
        "erank_generated",
        "redundancy_mean_abs",
        "redundancy_mean_sq",
        "analysis_seconds",
    ):
        assert row[column] == pytest.approx(scalars[column])


def test_the_analysis_of_a_run_is_deterministic(sfg_run):
    _, run_dir, _ = sfg_run
    trained = pl.read_parquet(run_dir / "analysis" / "spectra.parquet")
    first = analyze_run_dir(run_dir)  # from checkpoint.pt, same rows and seed
    second = analyze_run_dir(run_dir)
    assert torch.equal(first.tensors["spectrum/raw"], second.tensors["spectrum/raw"])
    assert torch.allclose(
        first.tensors["redundancy"], second.tensors["redundancy"], rtol=0, atol=0, equal_nan=True
    )
    assert first.spectra.equals(second.spectra)
    again = pl.read_parquet(run_dir / "analysis" / "spectra.parquet")
    assert np.allclose(
        again["singular_value"].to_numpy(), trained["singular_value"].to_numpy(), rtol=1e-6, atol=1e-12
    )


def test_analyze_and_plot_commands(sfg_run, tmp_path, capsys):
    _, run_dir, _ = sfg_run
    main(["analyze", str(run_dir), "--rows", "300", "--split", "test"])
    analysis = json.loads((run_dir / "metrics.json").read_text())["analysis"]
    assert (analysis["rows"], analysis["split"]) == (300, "test")
    capsys.readouterr()
    outputs = {
        "spectrum": tmp_path / "s.png",
        "redundancy": tmp_path / "r.svg",
        "collapse": tmp_path / "c.png",
    }
    for kind, out in outputs.items():
        main(["plot", kind, str(run_dir), "--out", str(out)])
        assert capsys.readouterr().out.strip() == str(out)
    assert outputs["spectrum"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert outputs["collapse"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "<svg" in outputs["redundancy"].read_text()[:1000]


@pytest.mark.parametrize(
    "args, message",
    [
        (["plot", "histogram", "RUN", "--out", "x.png"], "unknown plot 'histogram'"),
        (["plot", "spectrum", "MISSING", "--out", "x.png"], "does not exist"),
        (["plot", "spectrum", "RUN", "--out", "x.pdf"], "unknown figure format"),
        (["plot", "collapse", "DISC"], "track_collapse"),
        (["analyze", "MISSING"], "does not exist"),
        (["analyze", "NOCKPT"], "no checkpoint.pt"),
        (["analyze", "RUN", "--split", "nope"], "invalid choice"),
    ],
)
def test_bad_input_is_one_line_and_exit_code_2(sfg_run, tmp_path, capsys, args, message):
    _, run_dir, _ = sfg_run
    no_checkpoint = tmp_path / "nockpt"
    no_checkpoint.mkdir()
    (no_checkpoint / "config.yaml").write_text("seed: 1\n")
    disc = tmp_path / "disc"
    disc.mkdir()
    (disc / "metrics.json").write_text(
        json.dumps({"model": "fm", "paradigm": "disc", "history": [{"epoch": 1}]})
    )
    names = {
        "RUN": str(run_dir),
        "MISSING": str(tmp_path / "missing"),
        "NOCKPT": str(no_checkpoint),
        "DISC": str(disc),
    }
    with pytest.raises(SystemExit) as exit_info:
        main([names.get(a, a) for a in args])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("ge4rec: ") and message in err and "\n" not in err


def test_discriminative_fm_has_no_generated_embedding_and_self_correlated_operands(tmp_path):
    run_dir, metrics = train(tmp_path, "fm_disc", "model=fm", "paradigm=disc", "trainer.max_epochs=1")
    scalars = metrics["analysis"]["scalars"]
    assert set(metrics["analysis"]["embeddings"]) == {"raw"}
    assert scalars["ia_generated"] is None and scalars["ia_raw"] > 1
    # FM pairs e_i with e_j: both operands are the raw embedding, so R is its own correlation
    assert scalars["redundancy_diagonal_mean"] == pytest.approx(1.0)
    assert "ia_raw" not in metrics["history"][0]


def test_analysis_can_be_switched_off(tmp_path):
    run_dir, metrics = train(
        tmp_path, "off", "model=fm", "paradigm=sfg", "trainer.max_epochs=1", "analysis.enabled=false"
    )
    assert "analysis" not in metrics and not (run_dir / "analysis").exists()
    assert read_results(tmp_path / "results").row(0, named=True).get("ia_raw") is None


def test_a_bad_analysis_setting_fails_before_training(tmp_path):
    with pytest.raises(Ge4recError, match="analysis.split"):
        train(tmp_path, "bad", "model=fm", "analysis.split=tset")
    assert not (tmp_path / "results").exists()


def test_tracking_collapse_does_not_change_training(tmp_path):
    _, tracked = train(tmp_path, "tracked", "model=fm", "paradigm=sfg", "trainer.track_collapse=true")
    _, plain = train(tmp_path, "plain", "model=fm", "paradigm=sfg")
    assert tracked["valid"] == plain["valid"] and tracked["test"] == plain["test"]
    assert [h["train_loss"] for h in tracked["history"]] == [h["train_loss"] for h in plain["history"]]
    assert all(h["ia_generated"] > 0 for h in tracked["history"])
