"""A reader that closes ge4rec's output early (`ge4rec list | head -1`): ge4rec ends quietly."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize("args", [["--help"], ["list"], ["data", "--help"]])
def test_output_closed_before_anything_is_read_ends_quietly_with_141(args, tmp_path):
    process = subprocess.Popen(
        [sys.executable, "-m", "ge4rec", *args],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    process.stdout.close()  # the reader is gone before ge4rec writes its first line
    stderr = process.stderr.read().decode()
    assert process.wait(timeout=120) == 141, stderr
    assert stderr == ""


def test_a_reader_that_takes_one_line_gets_it(tmp_path):
    process = subprocess.Popen(
        [sys.executable, "-m", "ge4rec", "--help"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    first = process.stdout.readline().decode()
    process.stdout.close()
    stderr = process.stderr.read().decode()
    assert first.startswith("usage: ge4rec COMMAND")
    assert process.wait(timeout=120) in (0, 141), stderr
    assert "Traceback" not in stderr and "Exception ignored" not in stderr
