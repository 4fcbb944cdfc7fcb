"""docs/errors.md and the tests agree: every catalogue row has a test and every test has a row."""

from __future__ import annotations

import re

from conftest import ROOT

ROW = re.compile(r"^\|\s*`([a-z0-9-]+)`\s*\|", re.MULTILINE)
MARK = re.compile(r"errors_row\(\s*\"([a-z0-9-]+)\"\s*\)")


def catalogue_ids() -> list[str]:
    return ROW.findall((ROOT / "docs" / "errors.md").read_text())


def marked_ids() -> list[str]:
    found: list[str] = []
    for path in sorted((ROOT / "tests").glob("test_errors_*.py")):
        found += MARK.findall(path.read_text())
    return found


def test_every_row_is_tested_and_every_test_has_a_row():
    rows, tests = catalogue_ids(), marked_ids()
    assert len(rows) == len(set(rows)), "a catalogue id is listed twice"
    assert sorted(set(rows) - set(tests)) == [], "catalogue rows without a test"
    assert sorted(set(tests) - set(rows)) == [], "tests without a catalogue row"


def test_catalogue_has_at_least_forty_rows():
    assert len(catalogue_ids()) >= 40
