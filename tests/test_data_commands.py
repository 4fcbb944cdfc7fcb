"""`ge4rec data prepare` and `ge4rec data info`: the cache built without training, and what it holds;
`ge4rec --help` names the data command."""

from __future__ import annotations

import itertools
import re

import pytest

from ge4rec.cli import main
from ge4rec.data_commands import data_command
from ge4rec.errors import Ge4recError

from conftest import run_cli

# the tiny built-in data set, without the trainer keys of conftest.TINY: nothing is trained here
SMALL = [
    "dataset.synthetic.train_rows=3000",
    "dataset.synthetic.valid_rows=1000",
    "dataset.synthetic.test_rows=1000",
    "dataset.synthetic.cardinalities=[5,10,20,50,100,300]",
    "dataset.synthetic.interaction_max_cardinality=100",
]


@pytest.fixture
def wide(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # rich tables on one line each


def test_prepare_builds_the_cache_then_reuses_it(tmp_path):
    result = run_cli(["data", "prepare", *SMALL], tmp_path)
    assert result.returncode == 0, result.stderr
    assert "synthetic: train 3,000, valid 1,000, test 1,000 rows, 8 fields" in result.stdout.splitlines()
    match = re.search(r"^cache: (\S+) \(([\d.]+ [kMG]?B)\), built now", result.stdout, re.MULTILINE)
    assert match, result.stdout
    entry = tmp_path / "cache" / match.group(1).rsplit("/", 1)[-1]
    assert (entry / "meta.json").is_file()

    again = run_cli(["data", "prepare", *SMALL], tmp_path)
    assert again.returncode == 0, again.stderr
    reused = (
        rf"^cache: {re.escape(match.group(1))} \({re.escape(match.group(2))}\), reused \(already built\)$"
    )
    assert re.search(reused, again.stdout, re.MULTILINE), again.stdout


def test_info_shows_splits_fields_and_the_cache(tmp_path, capsys, wide):
    overrides = [*SMALL, f"cache_dir={tmp_path / 'cache'}"]
    data_command(["info", *overrides])
    out = capsys.readouterr().out
    split_row = r"(train|valid|test)\s+│?\s*([\d,]+)\s+│?\s*([\d.]+)"
    rows = {m.group(1): (m.group(2), float(m.group(3))) for m in re.finditer(split_row, out)}
    assert rows.keys() == {"train", "valid", "test"}
    assert rows["train"][0] == "3,000" and rows["valid"][0] == "1,000" and rows["test"][0] == "1,000"
    assert all(0.0 < rate < 1.0 for _, rate in rows.values())
    # cardinality 5 + OOV + missing ids = 7 rows; the numeric field has no vocabulary
    assert re.search(r"\bC1\s+│?\s*categorical\s+│?\s*7\b", out), out
    assert re.search(r"\bamount\s+│?\s*numeric\s+│?\s*-", out), out
    cache = re.escape(str(tmp_path / "cache"))
    built = re.search(rf"^cache: ({cache}/synthetic-\w+) \([\d.]+ [kMG]?B\), built now", out, re.MULTILINE)
    assert built, out

    data_command(["info", *overrides])
    again = capsys.readouterr().out
    assert re.search(
        rf"^cache: {re.escape(built.group(1))} .*, reused \(already built\)$", again, re.MULTILINE
    )


def test_the_checked_config_is_the_one_prepared(tmp_path, monkeypatch):
    """The data commands compose the config once, in the checks, when the overrides are taken as
    given; a hydra.* override (not part of the checks' configs) gets a compose of its own."""
    import hydra

    from ge4rec import cli

    overrides = [*SMALL, f"cache_dir={tmp_path / 'cache'}", "dataset.synthetic.seed=7"]
    checked = cli.validate_overrides(overrides)
    assert checked is not None and checked.dataset.synthetic.seed == 7
    assert checked.cache_dir == str(tmp_path / "cache")
    assert cli.validate_overrides([*overrides, "hydra.job.chdir=false"]) is None
    assert cli.validate_overrides(["seed=1,2"]) is None  # a sweep: several configs

    composed = []
    real = hydra.compose

    def counting(*args, **kwargs):
        composed.append(kwargs.get("overrides"))
        return real(*args, **kwargs)

    monkeypatch.setattr(hydra, "compose", counting)
    data_command(["prepare", *overrides])
    assert len(composed) == 1
    data_command(["prepare", *overrides, "hydra.job.chdir=false"])
    assert len(composed) == 3


def test_bad_overrides_are_errors_like_train():  # the command line: tests/test_errors_download.py
    with pytest.raises(Ge4recError, match="unknown config key 'dataset.nosuchkey'"):
        data_command(["info", "dataset.nosuchkey=1"])
    with pytest.raises(Ge4recError, match="unknown subcommand 'fetch'"):
        data_command(["fetch"])


def test_help_lists_the_data_command_and_its_subcommands(capsys):
    main(["--help"])
    lines = capsys.readouterr().out.splitlines()
    # the data command's entry: its line and the indented lines that continue it
    start = next(i for i, ln in enumerate(lines) if ln.startswith("  data "))
    entry = " ".join(
        [lines[start], *itertools.takewhile(lambda ln: ln.startswith("   "), lines[start + 1 :])]
    )
    for usage in ("data download NAME|--url URL", "data prepare [dataset=NAME]", "data info [dataset=NAME]"):
        assert usage in entry, entry
    data_command(["--help"])
    usage = capsys.readouterr().out
    for sub in ("download NAME", "download --url URL", "prepare", "info"):
        assert sub in usage
