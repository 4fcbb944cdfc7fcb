"""`ge4rec reproduce`: the job plan, a whole (tiny) reproduction with its page, and re-runs that
skip what the store already has."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

import ge4rec.reproduce as reproduce
from ge4rec.analysis.run_analysis import SCALAR_COLUMNS
from ge4rec.errors import Ge4recError

from conftest import ROOT, TINY, markdown_cells


def section(page: str, heading: str) -> str:
    """The text of the page's section whose heading starts with `heading`, up to the next one."""
    return page.split(f"\n{heading}", 1)[1].split("\n## ", 1)[0]


def test_the_small_plan_is_the_papers_sweep(tmp_path):
    plan = reproduce.small_plan(5, 3, tmp_path / "r", tmp_path / "runs", ablations=True)
    main = [j for j in plan.jobs if j.group == "main"]
    ablation = [j for j in plan.jobs if j.group == "ablation"]
    assert len(main) == 7 * 2 * 5 * len(reproduce.SMALL_DATASETS)
    variants = sum(len(v) for v in reproduce.ABLATIONS.values())
    assert variants == 1 + 5 + 3 + 4  # source, generator, target, activation
    assert len(ablation) == variants * 3
    assert len({j.name for j in plan.jobs}) == len(plan.jobs)  # run folders never collide
    # every main job is a paper cell with the data set swapped; ablations vary one family
    assert all(j.overrides[0].startswith("experiment=paper/criteo_x1/") for j in plan.jobs)
    assert {o for j in ablation for o in j.overrides if o.startswith("paradigm.generator=")} == {
        f"paradigm.generator={k}" for k in ("field_shared", "own_field", "mlp2", "attention", "exclude_self")
    }
    seeds = {o for j in main for o in j.overrides if o.startswith("seed=")}
    assert seeds == {f"seed={s}" for s in range(2021, 2026)}


def test_paper_needs_the_bars_folders(tmp_path):
    with pytest.raises(Ge4recError, match="Criteo_x1"):
        reproduce.paper_plan(tmp_path, 5, tmp_path / "r", tmp_path / "runs", ablations=True)


@pytest.mark.slow
def test_a_tiny_reproduction_writes_its_page_and_reruns_train_nothing(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(reproduce, "SMALL_DATASETS", {"synthetic": [*TINY, "trainer.max_epochs=1"]})
    monkeypatch.setattr(reproduce, "SMALL_ABLATION_DATASET", "synthetic")
    monkeypatch.setattr(reproduce, "PAPER_MODELS", ("fm", "dcnv2"))
    monkeypatch.setattr(reproduce, "ABLATIONS", {"activation": [["paradigm.activation=tanh"]]})
    monkeypatch.setenv("GE4REC_CACHE_DIR", str(tmp_path / "cache"))
    page = tmp_path / "docs" / "results" / "page.md"
    page.parent.mkdir(parents=True)
    args = ["small", "--seeds", "2", "--ablation-seeds", "2", "--jobs", "2", "--results", str(tmp_path / "store"),
            "--runs", str(tmp_path / "runs"), "--out", str(page)]  # fmt: skip
    reproduce.reproduce_command(args)
    store = pl.read_parquet(str(tmp_path / "store") + "/*.parquet")
    assert store.height == 2 * 2 * 2 + 2 and set(store["status"]) == {"completed"}
    text = page.read_text()
    for heading in (
        "## Main table",
        "## Ablations on DCNv2",
        "## Collapse and redundancy",
        "## The paper's claims",
    ):
        assert heading in text
    # the main table holds the store's numbers: FM's DIS mean test AUC over the two seeds
    fm_dis = store.filter((pl.col("model") == "fm") & (pl.col("paradigm") == "disc"))["test_auc"].mean()
    assert (
        markdown_cells(section(text, "## Main table"), "| fm ")[1].strip("*").startswith(f"{fm_dis:.4f} ± ")
    )
    assert (page.parent.parent / "figures" / "paper_small_spectrum_synthetic_fm.png").is_file()
    # the activation ablation: the tanh variant and the full SFG (relu), each the mean of its runs
    ablation = section(text, "## Ablations on DCNv2")
    dcnv2_sfg = store.filter((pl.col("model") == "dcnv2") & (pl.col("paradigm") == "sfg"))
    tanh = dcnv2_sfg.filter(pl.col("overrides").str.contains("paradigm.activation=tanh", literal=True))
    full = dcnv2_sfg.filter(~pl.col("overrides").str.contains("paradigm.activation=", literal=True))
    assert tanh.height == 2 and full.height == 2
    for label, runs in (("| tanh ", tanh), ("| relu (full SFG) ", full)):
        assert (
            markdown_cells(ablation, label)[1].strip("*").startswith(f"{runs['test_auc'].mean():.4f} ± ")
        ), label
    # a second run trains nothing: every job's config is in the store already
    reproduce.reproduce_command(args)
    assert pl.read_parquet(str(tmp_path / "store") + "/*.parquet").height == store.height
    assert "10 taken from the store" in page.read_text()


def test_the_readme_documents_every_analysis_column():
    readme = (ROOT / "README.md").read_text()
    missing = [name for name in SCALAR_COLUMNS if f"| `{name}` |" not in readme]
    assert not missing, f"README's column table lacks {missing}"


def test_out_folder_must_exist(tmp_path):
    with pytest.raises(Ge4recError, match="does not exist"):
        reproduce.reproduce_command(["small", "--dry-run", "--out", str(tmp_path / "nope" / "page.md")])
    assert not (tmp_path / "nope").exists()


def test_dry_run_lists_jobs(capsys, tmp_path):
    reproduce.reproduce_command(["small", "--dry-run", "--out", str(tmp_path / "page.md")])
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-1] == f"{len(lines) - 1} jobs"
    assert Path(tmp_path / "page.md").exists() is False
