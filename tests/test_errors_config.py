"""docs/errors.md, "Configs and overrides": a bad override ends with one line naming the key and
what it takes, exit code 2, before anything is trained or written."""

from __future__ import annotations

import pytest

from conftest import TINY, assert_clean_failure, run_cli


def row(mark, overrides: list[str], *mentions: str):
    """One catalogue row: its mark, the overrides and what the message must name."""
    return pytest.param(overrides, mentions, marks=mark, id=mark.args[0])


errors_row = pytest.mark.errors_row

CASES = [
    row(errors_row("override-not-a-number"), ["trainer.lr=abc"], "trainer.lr: 'abc' (expected a number)"),
    row(
        errors_row("override-not-an-integer"), ["threads=abc"], "threads: 'abc' (expected an integer or null)"
    ),
    row(
        errors_row("float-for-integer-key"),
        ["model=dcnv2", "model.num_cross_layers=2.5"],
        "model.num_cross_layers: 2.5 (expected an integer)",
    ),
    row(errors_row("list-for-number-key"), ["trainer.lr=[1,2]"], "trainer.lr: [1, 2] (expected a number)"),
    row(
        errors_row("not-a-boolean"),
        ["trainer.progress=maybe"],
        "trainer.progress: 'maybe' (expected true or false)",
    ),
    row(errors_row("null-for-required-key"), ["seed=null"], "seed: null (expected an integer)"),
    row(
        errors_row("unknown-config-key"),
        ["trainer.lrr=1"],
        "unknown config key 'trainer.lrr'",
        "keys of trainer: name, lr",
    ),
    row(errors_row("unknown-key-added-with-plus"), ["+trainer.lrr=1"], "unknown config key 'trainer.lrr'"),
    row(
        errors_row("key-of-another-model"),
        ["model=fm", "model.hidden_units=[8]"],
        "unknown config key 'model.hidden_units'",
        "keys of model: name, embedding_init_std",
    ),
    row(errors_row("removed-config-key"), ["~trainer.lr"], "trainer.lr: cannot be removed"),
    row(errors_row("unknown-group-option"), ["model=nope"], "unknown model 'nope' (choose from: autoint"),
    row(
        errors_row("learning-rate-not-positive"), ["trainer.lr=-1"], "trainer.lr: -1 (expected a number > 0)"
    ),
    row(
        errors_row("batch-size-zero"),
        ["trainer.batch_size=0"],
        "trainer.batch_size: 0 (expected a positive integer)",
    ),
    row(
        errors_row("regularizer-negative"),
        ["trainer.embedding_regularizer=-1e-5"],
        "trainer.embedding_regularizer: -1e-05 (expected a number >= 0)",
    ),
    row(
        errors_row("dropout-out-of-range"),
        ["model.dropout=1.5"],
        "model.dropout: 1.5 (expected a number in [0, 1))",
    ),
    row(
        errors_row("unknown-monitor"),
        ["trainer.monitor=acc"],
        "trainer.monitor: 'acc' (expected one of auc, logloss, auc-logloss)",
    ),
    row(
        errors_row("unknown-generator"),
        ["paradigm=disc", "paradigm.generator=nope"],
        "paradigm.generator: 'nope' (expected one of identity, dense",
    ),
    row(
        errors_row("num-targets-missing"),
        ["paradigm.targets=random"],
        "paradigm.num_targets: required with paradigm.targets=random",
    ),
    row(
        errors_row("sfg-without-interaction"),
        ["paradigm=sfg", "model=lr"],
        "model 'lr' has no feature interaction",
        "paradigm=disc",
    ),
    row(
        errors_row("unknown-precision"),
        ["trainer.precision=fp16x"],
        "trainer.precision: 'fp16x' (expected one of fp32, bf16)",
    ),
    row(
        errors_row("unknown-data-placement"),
        ["trainer.data_on_device=maybe"],
        "trainer.data_on_device: 'maybe' (expected one of auto, true, false)",
    ),
    row(errors_row("unknown-device"), ["device=tpu"], "device: 'tpu' (expected auto, cpu, cuda or cuda:N)"),
    row(errors_row("model-name-changed"), ["model.name=fm"], "model.name: 'fm'", "model=fm"),
    row(
        errors_row("bad-interpolation"),
        ["trainer.lr=${oops}"],
        "trainer.lr: Interpolation key 'oops' not found",
    ),
]


@pytest.mark.parametrize("overrides,mentions", CASES)
def test_a_bad_override_fails_before_anything_runs(overrides, mentions, tmp_path):
    result = run_cli(["train", *TINY, *overrides], tmp_path)
    assert_clean_failure(result, tmp_path, *mentions)


@pytest.mark.errors_row("bad-sweep-value")
def test_a_bad_value_in_a_sweep_fails_before_the_first_job(tmp_path):
    result = run_cli(["train", "-m", *TINY, "trainer.lr=1e-3,abc"], tmp_path)
    assert_clean_failure(result, tmp_path, "trainer.lr: 'abc' (expected a number)")
    assert not (tmp_path / "multirun").exists()
