"""Shared helpers: tiny configs composed the way `ge4rec train` composes them, tiny schemas,
batches and models, and the CLI. torch is imported inside the helpers that need it, so test files
without a model do not pay for it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf

from ge4rec.cli import config_dir

if TYPE_CHECKING:
    from ge4rec.data.batches import Batch
    from ge4rec.data.spec import Schema
    from ge4rec.models.base import CTRModel

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = (ROOT.parent / "shared" / "data").resolve()
MOVIELENS = SHARED_DATA / "movielens100k_ctr"

# a small built-in data set: trains in a second or two
TINY = [
    "dataset.synthetic.train_rows=3000",
    "dataset.synthetic.valid_rows=1000",
    "dataset.synthetic.test_rows=1000",
    "dataset.synthetic.cardinalities=[5,10,20,50,100,300]",
    "dataset.synthetic.interaction_max_cardinality=100",
    "trainer.max_epochs=2",
    "trainer.batch_size=512",
    "trainer.progress=false",
    "embedding_dim=8",
]

needs_movielens = pytest.mark.skipif(
    not MOVIELENS.is_dir(), reason="../shared/data/movielens100k_ctr not present"
)

# the embedding size of the tiny models built without a config (tiny_model)
DIM = 3
# paradigm configs as the shipped paradigm files spell them out
SFG: dict[str, Any] = {
    "name": "sfg",
    "generator": "dense",
    "activation": "relu",
    "gamma": 1.0,
    "bias": False,
    "residual": None,
    "pairs": "i<j",
    "source": "xl",
    "symmetric": False,
    "share_generator": False,
}
DISC: dict[str, Any] = {**SFG, "name": "disc", "generator": "identity"}


@pytest.fixture(scope="module")
def one_thread():
    """Tiny tensors: one thread is fastest, and does not spin against other work on the machine."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def hydra_configs():
    """Hydra initialised on the shipped configs, for tests that call `compose` themselves."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(version_base="1.3", config_dir=config_dir(), job_name="test"):
        yield
    GlobalHydra.instance().clear()


def compose_config(overrides: list[str], tmp_path: Path):
    """The composed train config with cache and results inside tmp_path."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(version_base="1.3", config_dir=config_dir()):
        return compose(
            config_name="train",
            overrides=[f"cache_dir={tmp_path / 'cache'}", f"results_dir={tmp_path / 'results'}", *overrides],
        )


def train_tiny(tmp_path: Path, name: str, *overrides: str) -> dict:
    """One run on the tiny built-in data (one thread) into tmp_path/NAME; its metrics.json."""
    from ge4rec.run import train_run

    cfg = compose_config([*TINY, "threads=1", *overrides], tmp_path)
    return train_run(cfg, tmp_path / name, list(overrides))


def load_csv_folder(tmp_path: Path, *overrides: str):
    """The `csv` data set read from tmp_path/data (see write_csv_folder), cache in tmp_path."""
    from ge4rec.data import load_dataset

    cfg = compose_config(["dataset=csv", f"dataset.path={tmp_path / 'data'}", *overrides], tmp_path)
    return load_dataset(cfg.dataset, cfg.cache_dir)


def shipped_config(name: str) -> dict:
    """The model's config as a user gets it: configs/model/NAME.yaml over its schema's defaults."""
    from ge4rec.config import group_option

    return OmegaConf.to_container(group_option("model", name), resolve=True)


def tiny_schema() -> Schema:
    """Every field type: three categorical fields, a numeric one and a sequence of up to 3 ids."""
    from ge4rec.data.spec import CATEGORICAL, NUMERIC, SEQUENCE, Schema

    return Schema.build(
        [
            ("a", CATEGORICAL, 7, 1),
            ("b", CATEGORICAL, 5, 1),
            ("c", NUMERIC, 1, 1),
            ("d", SEQUENCE, 6, 3),
            ("e", CATEGORICAL, 9, 1),
        ]
    )


def categorical_schema(sizes: dict[str, int]) -> Schema:
    """Categorical fields only, name -> vocabulary size, in table order."""
    from ge4rec.data.spec import CATEGORICAL, Schema

    return Schema.build([(name, CATEGORICAL, size, 1) for name, size in sizes.items()])


def tiny_batch(schema: Schema, n: int = 17, seed: int = 0) -> Batch:
    """n random rows of a schema with one sequence field; half the rows pad the sequence's last
    slot, and an odd n keeps the labels unbalanced."""
    import torch

    from ge4rec.data.batches import Batch
    from ge4rec.data.spec import CATEGORICAL, SEQUENCE

    g = torch.Generator().manual_seed(seed)
    cats = [f for f in schema.fields if f.type == CATEGORICAL]
    cat = torch.stack([f.offset + torch.randint(0, f.vocab_size, (n,), generator=g) for f in cats], 1).int()
    field = next(f for f in schema.fields if f.type == SEQUENCE)
    seq = field.offset + torch.randint(0, field.vocab_size, (n, field.max_len), generator=g)
    seq[: n // 2, -1] = 0
    return Batch(cat, torch.randn(n, 1, generator=g), seq.int(), (torch.rand(n, generator=g) < 0.5).float())


def tiny_model(cfg: dict, paradigm: dict, seed: int = 0, dim: int = DIM) -> CTRModel:
    """A model config built on tiny_schema() in a paradigm, torch's global seed set first."""
    import torch

    from ge4rec.models import build_model
    from ge4rec.paradigms import build_paradigm

    torch.manual_seed(seed)
    return build_model(cfg, tiny_schema(), dim, build_paradigm(paradigm))


def markdown_cells(text: str, start: str) -> list[str]:
    """The cells of the first markdown table row in `text` that starts with `start`."""
    line = next(line for line in text.splitlines() if line.startswith(start))
    return [c.strip() for c in line.strip().strip("|").split("|")]


def run_cli(args: list[str], cwd: Path, timeout: int = 300) -> subprocess.CompletedProcess:
    env = dict(os.environ, GE4REC_CACHE_DIR=str(cwd / "cache"), PYTHONUNBUFFERED="1", COLUMNS="200")
    return subprocess.run(
        [sys.executable, "-m", "ge4rec", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def run_main(args: list[str], workdir: Path, capsys, monkeypatch) -> subprocess.CompletedProcess:
    """`ge4rec ARGS` in `workdir` (cache in workdir/cache), as the shell would see it, run by
    `ge4rec.cli.main` in this process (Hydra included): the program `ge4rec` runs, seconds
    faster than run_cli's new interpreter."""
    from ge4rec.cli import main

    monkeypatch.chdir(workdir)
    monkeypatch.setenv("GE4REC_CACHE_DIR", str(workdir / "cache"))
    capsys.readouterr()
    try:
        main(args)
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    out = capsys.readouterr()
    return subprocess.CompletedProcess(["ge4rec", *args], code, out.out, out.err)


def write_csv_folder(folder: Path, rows: dict[str, str]) -> Path:
    """Write train/valid/test CSV files from literal text."""
    folder.mkdir(parents=True, exist_ok=True)
    for split, text in rows.items():
        (folder / f"{split}.csv").write_text(text)
    return folder


def assert_clean_failure(result: subprocess.CompletedProcess, workdir: Path, *mentions: str) -> str:
    """The bad-input contract of docs/errors.md: exit code 2, one line `ge4rec: ...` on stderr that
    names each of `mentions`, no traceback, and nothing half-written under `workdir`: no results
    row, no temporary or partial cache entry, no run folder. Returns the message."""
    output = result.stdout + result.stderr
    assert "Traceback" not in output, output
    assert result.returncode == 2, output
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, result.stderr
    message = lines[0]
    assert message.startswith("ge4rec: "), message
    for text in mentions:
        assert text in message, f"{text!r} not in {message!r}"
    assert_nothing_written(workdir)
    return message


def assert_nothing_written(workdir: Path) -> None:
    """No results row, no half-built cache entry and no run folder under `workdir`."""
    rows = list(workdir.rglob("*.parquet"))
    assert rows == [], f"results rows written: {rows}"
    cache = workdir / "cache"
    if cache.is_dir():
        partial = [p for p in cache.iterdir() if p.name.startswith(".") and p.is_dir()]
        assert partial == [], f"partial cache entries: {partial}"
    for runs in ("outputs", "multirun"):
        folder = workdir / runs
        if folder.is_dir():  # Hydra makes a run folder before the job starts: it must be gone
            made = [p.parent for p in folder.rglob(".hydra")] + [p for p in folder.rglob("*.json")]
            assert made == [], f"run folders left in {folder}: {made}"
