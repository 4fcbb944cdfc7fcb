"""Shared helpers: tiny configs composed the way `ge4rec train` composes them, and the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra

from ge4rec.cli import config_dir

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
