"""`ge4rec data prepare` and `ge4rec data info`: the cache built without training, and what it holds;
`ge4rec --help` names the data command."""

from __future__ import annotations

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
    assert "train 3,000, valid 1,000, test 1,000 rows" in result.stdout
    match = re.search(r"cache: (\S+) \(([\d.]+ [kMG]?B)\), built now", result.stdout)
    assert match, result.stdout
    entry = tmp_path / "cache" / match.group(1).rsplit("/", 1)[-1]
    assert (entry / "meta.json").is_file()

    again = run_cli(["data", "prepare", *SMALL], tmp_path)
    assert again.returncode == 0, again.stderr
    assert f"cache: {match.group(1)} " in again.stdout and "reused" in again.stdout


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
    assert "built now" in out

    data_command(["info", *overrides])
    assert "reused" in capsys.readouterr().out


def test_bad_overrides_are_errors_like_train():  # the command line: tests/test_errors_download.py
    with pytest.raises(Ge4recError, match="unknown config key 'dataset.nosuchkey'"):
        data_command(["info", "dataset.nosuchkey=1"])
    with pytest.raises(Ge4recError, match="unknown subcommand 'fetch'"):
        data_command(["fetch"])


def test_help_lists_the_data_command_and_its_subcommands(capsys):
    main(["--help"])
    text = capsys.readouterr().out
    line = next(ln for ln in text.splitlines() if ln.strip().startswith("data "))
    assert "data download" in text and "data prepare" in text and "data info" in text, line
    data_command(["--help"])
    usage = capsys.readouterr().out
    for sub in ("download NAME", "download --url URL", "prepare", "info"):
        assert sub in usage
