"""Collapse and redundancy measures on inputs with known answers, and the analysis of real runs."""

import json
import math

import numpy as np
import polars as pl
import pytest
import torch

from ge4rec.analysis import (
    SCALAR_COLUMNS,
    block_masks,
    cliff_floor,
    collapse_cliff,
    covariance,
    covariance_spectrum,
    cross_correlation,
    field_spectra,
    redundancy_decomposition,
    singular_values,
    spectrum_measures,
    stacked_operand,
)
from ge4rec.analysis.run_analysis import analyze_run_dir, operand_layers, sample_split, scalar_schema
from ge4rec.cli import main
from ge4rec.data.batches import SplitTensors
from ge4rec.errors import Ge4recError
from ge4rec.models import get_model_class
from ge4rec.results import read_results
from ge4rec.results.store import row_schema

from conftest import train_tiny


def gaussian(n: int, dim: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(n, dim, generator=torch.Generator().manual_seed(seed))


def measures_of(x: torch.Tensor) -> dict[str, float]:
    return {k: float(v) for k, v in spectrum_measures(covariance_spectrum(x)).items()}


def with_singular_values(s: torch.Tensor, n: int, width: int, seed: int = 0) -> torch.Tensor:
    """X = U diag(s) V^T [n, width] in float64: U [n, r] orthonormal with centred columns (so the
    centred X is X itself), V [width, r] orthonormal; its singular values are exactly s."""
    g = torch.Generator().manual_seed(seed)
    rank = s.numel()
    left = torch.randn(n, rank, generator=g, dtype=torch.float64)
    u = torch.linalg.qr(left - left.mean(dim=0)).Q  # columns in the span of centred vectors
    v = torch.linalg.qr(torch.randn(width, rank, generator=g, dtype=torch.float64)).Q
    return u @ torch.diag(s.to(torch.float64)) @ v.T


# ------------------------------------------------------------------------------------ spectrum


def test_covariance_and_its_eigenvalues_match_numpy():
    x = gaussian(500, 6) @ gaussian(6, 6, seed=1)
    expected = np.cov(x.numpy().astype(np.float64), rowvar=False, bias=True)
    assert torch.allclose(covariance(x), torch.from_numpy(expected), atol=1e-10)
    spectrum = covariance_spectrum(x)
    assert spectrum.dtype == torch.float64
    assert torch.all(spectrum[:-1] >= spectrum[1:]) and torch.all(spectrum >= 0)
    assert np.allclose(spectrum.numpy(), np.linalg.eigvalsh(expected)[::-1], rtol=1e-9)


def test_measures_are_on_the_singular_values_of_the_centred_matrix():
    n, width = 3000, 12
    s = torch.tensor([9.0, 7.0, 4.0, 3.5, 2.0, 1.0, 0.5, 0.25, 0.2, 0.1, 0.05, 0.01], dtype=torch.float64)
    x = with_singular_values(s, n, width) + 5.0  # a common offset: centring removes it
    assert torch.allclose(singular_values(x), s, rtol=1e-9, atol=0)
    lam = covariance_spectrum(x)
    assert torch.allclose(lam, s.square() / n, rtol=1e-9, atol=0)  # sigma_k = sqrt(n lambda_k)
    m = spectrum_measures(lam)
    assert float(m["information_abundance"]) == pytest.approx(float(s.sum() / s[0]), abs=1e-9)
    p = s / s.sum()
    assert float(m["effective_rank"]) == pytest.approx(float(torch.exp(-(p * p.log()).sum())), abs=1e-9)
    # 98% of sum(sigma) = 27.61 is 27.0578: the first 7 hold 27.0, the first 8 hold 27.25
    assert float(s[:7].sum()) < 0.98 * float(s.sum()) <= float(s[:8].sum())
    assert int(m["components_98"]) == 8
    # on eigenvalues the abundance would be the top-heavier sum(s^2) / s_1^2
    assert float(m["information_abundance"]) > float(s.square().sum() / s[0] ** 2) + 1


def test_rank_k_matrix_has_the_information_abundance_of_its_singular_values():
    s = torch.tensor([3.0, 2.0, 1.0], dtype=torch.float64)
    x = with_singular_values(s, 4000, 32, seed=2)  # rank 3 in width 32, exactly
    m = measures_of(x)
    # float64 rounding leaves the 29 zero directions at up to ~1e-15 lambda_1, i.e. ~3e-8 sigma_1
    # each (the square root amplifies it): exact up to a few 1e-6
    assert m["information_abundance"] == pytest.approx(2.0, abs=1e-6)
    p = s / s.sum()
    assert m["effective_rank"] == pytest.approx(float(torch.exp(-(p * p.log()).sum())), abs=2e-5)
    assert m["collapse_cliff"] == 3 and m["components_98"] == 3


def test_collapse_cliff_counts_normalised_eigenvalues_above_the_float32_floor():
    # rank 5 in width 20, computed in float32 like a model's operand: the rounding leaves the 15
    # null directions at ~1e-15 lambda_1, far below the floor (20 * eps32)^2 = 5.7e-12
    x = gaussian(5000, 5) @ gaussian(5, 20, seed=1)
    assert x.dtype == torch.float32
    assert int(collapse_cliff(covariance_spectrum(x))) == 5
    assert int(spectrum_measures(covariance_spectrum(x))["collapse_cliff"]) == 5
    assert int(collapse_cliff(covariance_spectrum(gaussian(5000, 20, seed=3)))) == 20  # no cliff: D
    assert int(collapse_cliff(covariance_spectrum(torch.full((100, 20), 0.3)))) == 0  # constant
    assert cliff_floor(20) == pytest.approx((20 * 2.0**-23) ** 2, rel=1e-12)
    # on hand-made spectra: strictly above the floor counts, at or below does not
    floor = cliff_floor(6)
    spectrum = torch.tensor([2.0, 1.0, 2.0 * floor * 1.01, 2.0 * floor, 1e-20, 0.0], dtype=torch.float64)
    assert int(collapse_cliff(spectrum)) == 3
    batched = torch.stack([spectrum, torch.ones(6, dtype=torch.float64)])
    assert collapse_cliff(batched).tolist() == [3, 6]


def test_a_field_with_two_values_has_one_direction_despite_rounding():
    # 50,000 rows of two embedding vectors with a large common offset: rank 1 up to float64 rounding
    vectors = 0.5 + 0.01 * gaussian(2, 10, seed=9)
    rows = vectors[torch.randint(0, 2, (50000,), generator=torch.Generator().manual_seed(0))]
    m = measures_of(rows)
    assert m["collapse_cliff"] == 1 and m["components_98"] == 1
    assert m["information_abundance"] == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize("k", [1, 2, 5, 50])
def test_k_equal_eigenvalues_score_k(k):
    spectrum = torch.cat(
        [torch.full((k,), 3.0, dtype=torch.float64), torch.zeros(64 - k, dtype=torch.float64)]
    )
    m = spectrum_measures(spectrum)
    assert float(m["effective_rank"]) == pytest.approx(k, rel=1e-12)
    assert float(m["information_abundance"]) == pytest.approx(k, rel=1e-12)
    assert int(m["collapse_cliff"]) == k
    assert int(m["components_98"]) == math.ceil(0.98 * k - 1e-9)  # 50 equal values: 49 hold exactly 98%


def test_geometric_singular_values_give_their_geometric_sum():
    # sigma_k = e^-k: IA = sum e^-k = (1 - e^-16) / (1 - e^-1); lambda_k / lambda_1 = e^-2k crosses
    # the floor (16 eps32)^2 = 3.6e-12 between k = 13 (5.1e-12) and k = 14 (6.9e-13)
    ratios = torch.exp(-torch.arange(16, dtype=torch.float64))
    m = spectrum_measures(ratios.square() * 7.0)
    assert float(m["information_abundance"]) == pytest.approx(
        (1 - math.exp(-16)) / (1 - math.exp(-1)), rel=1e-12
    )
    assert int(m["collapse_cliff"]) == 14


def test_field_spectra_are_each_fields_own_spectrum_batched():
    e = torch.stack([gaussian(3000, 4, seed=s) * (s + 1) for s in range(5)], dim=1)  # [n, F=5, d=4]
    e[:, 2] = 0.0  # a constant field
    batched = field_spectra(e)
    assert batched.shape == (5, 4)
    for f in range(5):
        assert torch.allclose(batched[f], covariance_spectrum(e[:, f]))
    per_field = spectrum_measures(batched)
    assert per_field["information_abundance"][2] == 0 and per_field["effective_rank"][2] == 0
    assert per_field["collapse_cliff"].tolist() == [4, 4, 0, 4, 4]
    for f in (0, 1, 3, 4):
        sigma = singular_values(e[:, f])
        assert float(per_field["information_abundance"][f]) == pytest.approx(
            float(sigma.sum() / sigma[0]), abs=1e-12
        )


def test_the_operand_of_several_layers_is_stacked_along_the_samples():
    n = 7
    captured = {f"generated.{k}": torch.full((n, 3, 2), float(k)) for k in (0, 1, 2, 10)}
    captured["raw"] = torch.zeros(n, 3, 2)
    assert operand_layers(captured) == ["generated.0", "generated.1", "generated.2", "generated.10"]
    stacked = stacked_operand(captured)
    assert stacked.shape == (4 * n, 6)  # [L*n, F*d]
    assert stacked[:, 0].tolist() == [0.0] * n + [1.0] * n + [2.0] * n + [10.0] * n
    single = {"raw": torch.zeros(n, 3, 2), "generated": torch.ones(n, 3, 2)}
    assert operand_layers(single) == ["generated"] and stacked_operand(single).shape == (n, 6)
    assert stacked_operand({"raw": torch.zeros(n, 3, 2)}) is None
    # identical copies (x_0 repeated per cross layer under DIS) have the spectrum of one copy
    x = gaussian(500, 6)
    repeated = stacked_operand({f"generated.{k}": x for k in range(3)})
    assert torch.allclose(covariance_spectrum(repeated), covariance_spectrum(x), rtol=1e-9, atol=1e-15)


# ---------------------------------------------------------------------------------- redundancy

# a hand-made cross-correlation of F = 2 fields of d = 2: dimension c = (field c // 2, coordinate c % 2)
HAND_R = torch.tensor(
    [
        [0.90, -0.10, 0.30, 0.02],
        [0.20, 0.80, -0.04, 0.50],
        [-0.60, 0.06, 0.70, -0.40],
        [0.08, 0.10, 0.12, 0.00],
    ],
    dtype=torch.float64,
)


@pytest.mark.parametrize(
    "pairing, interacting",
    [
        # R[(i,k),(j,k)], i != j: (c0,c2) (c2,c0) (c1,c3) (c3,c1)
        ("fields_distinct", (0.30 + 0.60 + 0.50 + 0.10) / 4),
        # the same and the main diagonal (i = j)
        ("fields_all", (0.30 + 0.60 + 0.50 + 0.10 + 0.90 + 0.80 + 0.70 + 0.00) / 8),
        # the main diagonal R[c, c]
        ("hadamard", (0.90 + 0.80 + 0.70 + 0.00) / 4),
        # every entry
        ("outer", float(HAND_R.abs().mean())),
    ],
)
def test_redundancy_decomposition_of_a_hand_made_matrix(pairing, interacting):
    got = redundancy_decomposition(HAND_R, num_fields=2, dim=2, pairing=pairing)
    assert got["interacting_mean_abs"] == pytest.approx(interacting, abs=1e-12)
    # within-field blocks without the diagonal: (c0,c1) (c1,c0) (c2,c3) (c3,c2)
    assert got["within_field_mean_abs"] == pytest.approx((0.10 + 0.20 + 0.40 + 0.12) / 4, abs=1e-12)
    cross = (0.30 + 0.02 + 0.04 + 0.50) + (0.60 + 0.06 + 0.08 + 0.10)
    assert got["cross_field_mean_abs"] == pytest.approx(cross / 8, abs=1e-12)
    assert got["offdiagonal_mean_abs"] == pytest.approx((cross + 0.10 + 0.20 + 0.40 + 0.12) / 12, abs=1e-12)


def test_redundancy_blocks_partition_the_matrix():
    for pairing in ("fields_distinct", "fields_all", "hadamard", "outer"):
        masks = block_masks(3, 4, pairing)
        diagonal = torch.eye(12, dtype=torch.bool)
        assert torch.equal(masks["within_field"] ^ masks["cross_field"], ~diagonal)
        assert torch.equal(masks["offdiagonal"], ~diagonal)
    assert int(block_masks(3, 4, "fields_distinct")["interacting"].sum()) == 3 * 2 * 4
    assert int(block_masks(3, 4, "fields_all")["interacting"].sum()) == 3 * 3 * 4
    assert torch.equal(block_masks(3, 4, "hadamard")["interacting"], torch.eye(12, dtype=torch.bool))
    assert bool(block_masks(3, 4, "outer")["interacting"].all())
    with pytest.raises(ValueError, match="operand pairing"):
        block_masks(3, 4, "diagonal")


def test_every_model_declares_a_known_operand_pairing():
    from ge4rec.analysis.redundancy import PAIRINGS
    from ge4rec.models import model_names

    for name in model_names():
        assert getattr(get_model_class(name), "operand_pairing", "fields_distinct") in PAIRINGS, name


def test_a_constant_column_counts_as_zero_correlation():
    a = gaussian(5000, 4)
    b = a.clone()
    b[:, 1] = 0.0
    b[:, 3] = 7.25
    r = cross_correlation(a, b)
    assert not torch.isnan(r).any()
    assert torch.equal(r[:, 1], torch.zeros(4, dtype=torch.float64))
    assert torch.equal(r[:, 3], torch.zeros(4, dtype=torch.float64))
    assert r[0, 0] == pytest.approx(1.0) and r[2, 2] == pytest.approx(1.0)
    # F = 2, d = 2, hadamard: the diagonal is 1, 0, 1, 0; the zeros count, they are not dropped
    got = redundancy_decomposition(r, 2, 2, "hadamard")
    assert got["interacting_mean_abs"] == pytest.approx(0.5, abs=1e-9)
    # a NaN in a hand-made matrix counts as 0 as well
    with_nan = HAND_R.clone()
    with_nan[0, 0] = torch.nan
    assert redundancy_decomposition(with_nan, 2, 2, "hadamard")["interacting_mean_abs"] == pytest.approx(
        (0.80 + 0.70) / 4, abs=1e-12
    )


def test_operands_of_another_width_only_have_an_offdiagonal_mean():
    r = torch.tensor([[0.5, -0.25, 0.125], [0.0, 1.0, -0.5]], dtype=torch.float64)
    got = redundancy_decomposition(r, 2, 1, "fields_distinct")
    assert got["offdiagonal_mean_abs"] == pytest.approx((0.25 + 0.125 + 0.0 + 0.5) / 4)
    assert got["interacting_mean_abs"] is None and got["within_field_mean_abs"] is None
    assert got["cross_field_mean_abs"] is None


def test_independent_operands_have_redundancy_near_zero():
    r = cross_correlation(gaussian(40000, 8), gaussian(40000, 8, seed=5))
    got = redundancy_decomposition(r, 4, 2, "fields_all")
    assert all(value < 0.01 for value in got.values())


def test_duplicated_operands_correlate_one_on_matching_entries():
    a = gaussian(20000, 8)
    perm = torch.randperm(8, generator=torch.Generator().manual_seed(1))
    b = 3.0 * a[:, perm] - 2.0  # the same information, reordered, scaled and shifted
    r = cross_correlation(a, b)
    assert torch.allclose(r[perm, torch.arange(8)], torch.ones(8, dtype=torch.float64), atol=1e-9)
    same = cross_correlation(a, a)
    assert torch.allclose(torch.diagonal(same), torch.ones(8, dtype=torch.float64), atol=1e-9)
    assert torch.allclose(same, same.T)
    got = redundancy_decomposition(same, 4, 2, "hadamard")
    assert got["interacting_mean_abs"] == pytest.approx(1.0) and got["offdiagonal_mean_abs"] < 0.02


def test_correlated_operands_have_the_expected_redundancy():
    a = gaussian(20000, 8)
    # every column of b is a's row mean (variance 1/8) plus independent noise (variance 0.09)
    b = a.mean(dim=1, keepdim=True).expand(-1, 8) + 0.3 * gaussian(20000, 8, seed=7)
    expected_ab = (1 / 8) / math.sqrt(1 / 8 + 0.09)  # corr(a_i, b_j) for every i, j
    expected_bb = (1 / 8) / (1 / 8 + 0.09)  # corr(b_i, b_j), i != j
    for pairing in ("fields_distinct", "fields_all", "hadamard", "outer"):
        got = redundancy_decomposition(cross_correlation(a, b), 4, 2, pairing)
        assert all(value == pytest.approx(expected_ab, abs=0.01) for value in got.values())
    got = redundancy_decomposition(cross_correlation(b, b), 4, 2, "fields_distinct")
    assert got["offdiagonal_mean_abs"] == pytest.approx(expected_bb, abs=0.01)


def test_sample_is_seeded_and_capped_by_the_split():
    split = SplitTensors(
        torch.arange(100).view(100, 1), torch.zeros(100, 0), torch.zeros(100, 0), torch.zeros(100)
    )
    a, b = sample_split(split, 10, seed=3), sample_split(split, 10, seed=3)
    assert torch.equal(a.cat, b.cat) and len(a) == 10 and len(a.cat.unique()) == 10
    assert not torch.equal(a.cat, sample_split(split, 10, seed=4).cat)
    assert len(sample_split(split, 50000, seed=3)) == 100 and len(sample_split(split, 0, seed=3)) == 100


# ------------------------------------------------------------------------------- runs end to end


@pytest.fixture(scope="module")
def sfg_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sfg")
    overrides = ["model=dcnv2", "model.hidden_units=[32]", "paradigm=sfg", "trainer.track_collapse=true"]
    metrics = train_tiny(tmp, "dcnv2_sfg", *overrides, "analysis.rows=600")
    return tmp, tmp / "dcnv2_sfg", metrics


def test_a_run_stores_its_analysis(sfg_run):
    tmp, run_dir, metrics = sfg_run
    saved = json.loads((run_dir / "metrics.json").read_text())
    analysis = saved["analysis"]
    assert analysis["rows"] == 600 and analysis["split"] == "valid"
    layers = ["generated.0", "generated.1", "generated.2"]
    assert set(analysis["embeddings"]) == {"raw", "operand", *layers}
    assert analysis["operand_layers"] == layers
    dim, fields = analysis["embedding_dim"], analysis["num_fields"]
    width = dim * fields
    operand = analysis["embeddings"]["operand"]
    assert (operand["rows"], operand["width"]) == (3 * 600, width)  # three cross layers stacked
    assert analysis["embeddings"]["raw"]["rows"] == 600
    assert operand["cliff_floor"] == pytest.approx(cliff_floor(width))
    scalars = analysis["scalars"]
    assert set(scalars) == set(SCALAR_COLUMNS)
    for role in ("raw", "operand"):
        whole = analysis["embeddings"][role]["whole"]
        assert scalars[f"information_abundance_{role}"] == whole["information_abundance"]
        assert scalars[f"effective_rank_{role}"] == whole["effective_rank"]
        assert scalars[f"collapse_cliff_{role}"] == whole["collapse_cliff"]
    redundancy = analysis["redundancy"]
    model_class = get_model_class("dcnv2")
    assert redundancy["pairing"] == getattr(model_class, "operand_pairing", "fields_distinct")
    for block in ("interacting", "within_field", "cross_field", "offdiagonal"):
        assert scalars[f"redundancy_{block}_mean_abs"] == redundancy[f"{block}_mean_abs"]
    # per-epoch tracking, with the same definitions
    history = saved["history"]
    assert len(history) == 2
    for key in ("information_abundance_raw", "effective_rank_raw", "information_abundance_operand"):
        assert all(h[key] > 0 for h in history)

    folder = run_dir / "analysis"
    spectra = pl.read_parquet(folder / "spectra.parquet")
    assert spectra.columns == ["embedding", "scope", "field", "k", "eigenvalue", "singular_value"]
    for role, rows in (("raw", 600), ("operand", 1800)):
        whole = spectra.filter((pl.col("embedding") == role) & (pl.col("scope") == "all"))
        assert whole.height == width and whole["eigenvalue"].is_sorted(descending=True)
        assert np.allclose(whole["singular_value"].to_numpy(), np.sqrt(rows * whole["eigenvalue"].to_numpy()))
        sigma = whole["singular_value"].to_numpy()
        assert scalars[f"information_abundance_{role}"] == pytest.approx(sigma.sum() / sigma[0], rel=1e-12)
        ratio = whole["eigenvalue"].to_numpy() / whole["eigenvalue"][0]
        assert scalars[f"collapse_cliff_{role}"] == int((ratio > cliff_floor(width)).sum())
    assert spectra.filter(pl.col("embedding") == "operand")["scope"].n_unique() == fields + 1
    measures = pl.read_parquet(folder / "measures.parquet")
    assert measures.height == 5 * (fields + 1)
    # E's directions, field by field: C1's 5 values span 4 once centred, the numeric `amount` 1 (one
    # vector scaled by the value), every other field all d. The fields' blocks are independent, so
    # E spans their sum. The dense generator mixes every field into every coordinate: the stacked
    # operand spans its whole width.
    cliff = {(r["embedding"], r["scope"]): r["collapse_cliff"] for r in measures.to_dicts()}
    raw_fields = {
        scope: c for (embedding, scope), c in cliff.items() if embedding == "raw" and scope != "all"
    }
    assert raw_fields == {"C1": 4, "amount": 1, **{f: dim for f in ("C2", "C3", "C4", "C5", "C6", "tags")}}
    assert cliff["raw", "all"] == sum(raw_fields.values()) == 53
    assert cliff["operand", "all"] == width
    for role in ("raw", "operand"):
        assert analysis["embeddings"][role]["whole"]["collapse_cliff"] == cliff[role, "all"]
    assert measures.filter(pl.col("embedding") == "operand")["rows"].unique().to_list() == [1800]
    redundancy_frame = pl.read_parquet(folder / "redundancy.parquet")
    assert redundancy_frame.height == width**2 and not redundancy_frame["r"].is_nan().any()

    row = read_results(tmp / "results").row(0, named=True)
    for column in SCALAR_COLUMNS:
        if isinstance(scalars[column], str):
            assert row[column] == scalars[column]
        else:
            assert row[column] == pytest.approx(scalars[column])


def test_every_scalar_is_registered_and_described():
    schema = row_schema()
    assert scalar_schema().keys() == SCALAR_COLUMNS.keys()
    for name, kind in scalar_schema().items():
        assert schema[name] == kind and SCALAR_COLUMNS[name].strip()
    for name in ("collapse_cliff_raw", "collapse_cliff_operand", "analysis_rows"):
        assert schema[name] == pl.Int64
    for name in (
        "information_abundance_operand",
        "effective_rank_operand",
        "collapse_cliff_operand",
        "redundancy_interacting_mean_abs",
        "redundancy_within_field_mean_abs",
        "redundancy_cross_field_mean_abs",
        "redundancy_offdiagonal_mean_abs",
        "information_abundance_raw",
        "effective_rank_raw",
        "collapse_cliff_raw",
    ):
        assert name in SCALAR_COLUMNS


def test_the_analysis_of_a_run_is_deterministic(sfg_run):
    _, run_dir, _ = sfg_run
    trained = pl.read_parquet(run_dir / "analysis" / "spectra.parquet")
    first = analyze_run_dir(run_dir)  # from checkpoint.pt, same rows and seed
    second = analyze_run_dir(run_dir)
    assert torch.equal(first.tensors["spectrum/raw"], second.tensors["spectrum/raw"])
    assert torch.equal(first.tensors["spectrum/operand"], second.tensors["spectrum/operand"])
    assert torch.equal(first.tensors["redundancy"], second.tensors["redundancy"])
    assert first.spectra.equals(second.spectra)
    again = pl.read_parquet(run_dir / "analysis" / "spectra.parquet")
    assert np.allclose(
        again["eigenvalue"].to_numpy(), trained["eigenvalue"].to_numpy(), rtol=1e-6, atol=1e-12
    )
    # the scalars follow from the stored spectra and correlation matrix
    measures = spectrum_measures(first.tensors["spectrum/operand"])
    assert first.scalars["information_abundance_operand"] == float(measures["information_abundance"])
    pairing = first.summary["redundancy"]["pairing"]
    summary = first.summary
    blocks = redundancy_decomposition(
        first.tensors["redundancy"], summary["num_fields"], summary["embedding_dim"], pairing
    )
    assert first.scalars["redundancy_interacting_mean_abs"] == blocks["interacting_mean_abs"]


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
    raw = tmp_path / "raw.png"
    main(
        ["plot", "spectrum", str(run_dir), "--embedding", "raw", "--embedding", "operand", "--out", str(raw)]
    )
    assert capsys.readouterr().out.strip() == str(raw)
    assert raw.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
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
        (["plot", "spectrum", "RUN", "--embedding", "nope", "--out", "x.png"], "no 'nope' spectrum"),
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


@pytest.mark.parametrize("model, layers", [("fm", 1), ("dcnv2", 3)])
def test_under_disc_the_operand_is_the_raw_embedding(tmp_path, model, layers):
    overrides = ["model.hidden_units=[16]"] if model == "dcnv2" else []
    run_dir = tmp_path / f"{model}_disc"
    metrics = train_tiny(
        tmp_path, run_dir.name, f"model={model}", *overrides, "paradigm=disc", "trainer.max_epochs=1"
    )
    analysis = metrics["analysis"]
    scalars = analysis["scalars"]
    # no per-layer generated entries under DIS, but the operand (E, or x_0 once per cross layer)
    assert set(analysis["embeddings"]) == {"raw", "operand"}
    assert analysis["embeddings"]["operand"]["rows"] == layers * analysis["rows"]
    # the same covariance up to float64 rounding, which the square root lifts to ~1e-8 sigma_1 in
    # the directions that are 0 (fields with few values span few directions)
    for measure in ("information_abundance", "effective_rank"):
        assert scalars[f"{measure}_operand"] == pytest.approx(scalars[f"{measure}_raw"], rel=1e-6)
    assert scalars["collapse_cliff_operand"] == scalars["collapse_cliff_raw"]
    assert scalars["information_abundance_operand"] > 1
    r = analyze_run_dir(run_dir).tensors["redundancy"]
    if model == "fm":  # both operands of FM's interaction are E: R is E's own correlation
        assert torch.allclose(r, r.T, atol=1e-12)
    pairing = getattr(get_model_class(model), "operand_pairing", "fields_distinct")
    assert analysis["redundancy"]["pairing"] == pairing
    blocks = redundancy_decomposition(r, analysis["num_fields"], analysis["embedding_dim"], pairing)
    for block, value in blocks.items():
        assert scalars[f"redundancy_{block}"] == pytest.approx(value, abs=1e-12)
    assert "information_abundance_raw" not in metrics["history"][0]


def test_analysis_can_be_switched_off(tmp_path):
    run_dir = tmp_path / "off"
    metrics = train_tiny(
        tmp_path, "off", "model=fm", "paradigm=sfg", "trainer.max_epochs=1", "analysis.enabled=false"
    )
    assert "analysis" not in metrics and not (run_dir / "analysis").exists()
    row = read_results(tmp_path / "results").row(0, named=True)
    assert all(row.get(column) is None for column in SCALAR_COLUMNS)


def test_a_bad_analysis_setting_fails_before_training(tmp_path):
    with pytest.raises(Ge4recError, match="analysis.split"):
        train_tiny(tmp_path, "bad", "model=fm", "analysis.split=tset")
    assert not (tmp_path / "results").exists()


def test_tracking_collapse_does_not_change_training(tmp_path):
    tracked = train_tiny(tmp_path, "tracked", "model=fm", "paradigm=sfg", "trainer.track_collapse=true")
    plain = train_tiny(tmp_path, "plain", "model=fm", "paradigm=sfg")
    assert tracked["valid"] == plain["valid"] and tracked["test"] == plain["test"]
    assert [h["train_loss"] for h in tracked["history"]] == [h["train_loss"] for h in plain["history"]]
    assert all(h["information_abundance_operand"] > 0 for h in tracked["history"])
