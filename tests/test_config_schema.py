"""The typed configs: one default per key (dataclass = YAML = model constructor), and a wrong type,
an unknown key or a bad value rejected with one line that names the key."""

from __future__ import annotations

import dataclasses
import inspect

import pytest
from hydra import compose
from hydra.errors import HydraException
from omegaconf import OmegaConf

from ge4rec.cli import group_options, main
from ge4rec.config import (
    MODEL_SCHEMAS,
    ParadigmConfig,
    TrainerConfig,
    check_train_config,
    error_message,
    group_option,
    typed,
)
from ge4rec.errors import ConfigError
from ge4rec.models import get_model_class, model_names

NOT_OPTIONS = ("self", "schema", "embedding_dim", "paradigm")


def defaults_of(schema: type) -> dict:
    return OmegaConf.to_container(OmegaConf.structured(schema))


def own_keys(group: str, name: str) -> dict:
    """What configs/GROUP/NAME.yaml sets itself (its defaults list left out)."""
    from pathlib import Path

    from ge4rec.cli import config_dir

    raw = OmegaConf.to_container(OmegaConf.load(Path(config_dir()) / group / f"{name}.yaml"))
    raw.pop("defaults", None)
    return raw


# ------------------------------------------------------------------------ one default per key


def test_every_model_has_a_schema_a_class_and_a_config():
    assert set(MODEL_SCHEMAS) == set(model_names()) == set(group_options("model"))


@pytest.mark.parametrize("name", sorted(MODEL_SCHEMAS))
def test_a_model_config_composes_to_its_dataclass_defaults(name, hydra_configs):
    composed = OmegaConf.to_container(compose(config_name="train", overrides=[f"model={name}"]).model)
    assert composed == defaults_of(MODEL_SCHEMAS[name])
    assert own_keys("model", name) == {}, "a model's YAML repeats what its dataclass says"


@pytest.mark.parametrize("name", sorted(MODEL_SCHEMAS))
def test_constructor_keyword_defaults_equal_the_dataclass_defaults(name):
    parameters = inspect.signature(get_model_class(name).__init__).parameters
    keywords = {k: p.default for k, p in parameters.items() if k not in NOT_OPTIONS}
    schema = {k: v for k, v in defaults_of(MODEL_SCHEMAS[name]).items() if k != "name"}
    assert set(keywords) == set(schema)
    for key, default in keywords.items():
        assert inspect.Parameter.empty is not default, f"{name}.{key} has no default"
        plain = list(default) if isinstance(default, tuple) else default
        assert plain == schema[key] and type(plain) is type(schema[key]), (name, key, default, schema[key])


def test_trainer_and_paradigm_yamls_set_only_what_differs(hydra_configs):
    cfg = compose(config_name="train", overrides=["paradigm=disc"])
    assert OmegaConf.to_container(cfg.trainer) == defaults_of(TrainerConfig)
    assert own_keys("trainer", "default") == {}
    sfg = {**defaults_of(ParadigmConfig), "name": "sfg"}
    assert OmegaConf.to_container(group_option("paradigm", "sfg")) == sfg
    assert OmegaConf.to_container(cfg.paradigm) == {**sfg, "name": "disc", "generator": "identity"}
    for name in group_options("paradigm"):
        schema = defaults_of(ParadigmConfig)
        assert all(schema[k] != v for k, v in own_keys("paradigm", name).items()), name


def test_composed_values_are_plain_and_typed(hydra_configs):
    cfg = compose(config_name="train", overrides=["paradigm.gamma=6", "trainer.lr=1e-2"])
    assert cfg.paradigm.gamma == 6.0 and isinstance(cfg.paradigm.gamma, float)
    assert type(cfg.trainer.monitor) is str and type(cfg.seed) is int
    assert OmegaConf.to_yaml(cfg.trainer).count("monitor: auc\n") == 1


# --------------------------------------------------------------- wrong types and unknown keys


@pytest.mark.parametrize(
    "overrides,message",
    [
        (["trainer.lr=abc"], "trainer.lr: 'abc' (expected a number)"),
        (["threads=abc"], "threads: 'abc' (expected an integer or null)"),
        (["model=dcnv2", "model.num_cross_layers=2.5"], "model.num_cross_layers: 2.5 (expected an integer)"),
        (["trainer.lr=[1,2]"], "trainer.lr: [1, 2] (expected a number)"),
        (["model.hidden_units=[a]"], "model.hidden_units[0]: 'a' (expected an integer)"),
        (["model.hidden_units=5"], "model.hidden_units: 5 (expected a list of integers)"),
        (["trainer.progress=maybe"], "trainer.progress: 'maybe' (expected true or false)"),
        (["seed=null"], "seed: null (expected an integer)"),
        (["trainer.lrr=1"], "unknown config key 'trainer.lrr' (keys of trainer: name, lr, batch_size"),
        (["dataset=csv", "dataset.synthetic.seed=1"], "unknown config key 'dataset.synthetic'"),
    ],
)
def test_hydra_rejects_a_wrong_type_or_an_unknown_key_while_composing(overrides, message, hydra_configs):
    with pytest.raises(HydraException) as info:
        compose(config_name="train", overrides=overrides)
    assert message in error_message(info.value)


def test_a_key_added_with_plus_is_still_unknown_to_its_block(hydra_configs):
    cfg = compose(config_name="train", overrides=["+trainer.lrr=1"])  # Hydra lets `+` add it ...
    with pytest.raises(ConfigError, match=r"unknown config key 'trainer\.lrr'"):
        check_train_config(cfg)  # ... the check of the block does not


@pytest.mark.parametrize(
    "overrides,message",
    [
        (["trainer.batch_size=0"], "trainer.batch_size: 0 (expected a positive integer)"),
        (["trainer.lr=-1"], "trainer.lr: -1 (expected a number > 0)"),
        (["trainer.lr=inf"], "trainer.lr: inf (expected a number > 0)"),
        (["trainer.net_regularizer=-1e-5"], "trainer.net_regularizer: -1e-05 (expected a number >= 0)"),
        (["trainer.monitor=acc"], "trainer.monitor: 'acc' (expected one of auc, logloss, auc-logloss)"),
        (["trainer.precision=fp16x"], "trainer.precision: 'fp16x' (expected one of fp32, bf16)"),
        (["trainer.precision=FP32"], "trainer.precision: 'FP32' (expected one of fp32, bf16)"),
        (["trainer.data_on_device=1"], "trainer.data_on_device: '1' (expected one of auto, true, false)"),
        (["model.dropout=1.5"], "model.dropout: 1.5 (expected a number in [0, 1))"),
        (["paradigm.generator=nope"], "paradigm.generator: 'nope' (expected one of identity, dense"),
        (["paradigm.targets=random"], "paradigm.num_targets: required with paradigm.targets=random"),
        (["analysis.split=foo"], "analysis.split: 'foo' (expected one of train, valid, test)"),
        (["dataset.synthetic.cardinalities=[1,2]"], "dataset.synthetic.cardinalities: [1, 2] (expected a"),
        (["model=finalmlp", "model.num_heads=7"], "model.num_heads: 7 must divide both stream widths"),
        (["model=xdeepfm", "model.split_half=true", "model.cin_layer_units=[3,4]"], "must be even"),
        (["model.name=fm"], "model.name: 'fm' (this block configures model 'deepfm'"),
        (["experiment=equal_budget", "equal_budget.trial=3"], "equal_budget.trial: 3 (expected an index"),
        (["paradigm=sfg", "model=lr"], "model 'lr' has no feature interaction"),
        (["device=tpu"], "device: 'tpu' (expected auto, cpu, cuda or cuda:N)"),
    ],
)
def test_values_a_type_cannot_rule_out_fail_the_check(overrides, message, hydra_configs):
    cfg = compose(config_name="train", overrides=overrides)
    with pytest.raises(ConfigError) as info:
        check_train_config(cfg)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_every_value_rule_reads_the_dataclass_field():
    # a rule lives on the field: a block checked on its own fails the same way
    with pytest.raises(ConfigError, match=r"^trainer\.batch_size: 0 \(expected a positive integer\)$"):
        typed(TrainerConfig, {"batch_size": 0}, "trainer")
    with pytest.raises(ConfigError, match=r"^trainer\.lr: 'fast' \(expected a number\)$"):
        typed(TrainerConfig, {"lr": "fast"}, "trainer")
    assert typed(TrainerConfig, {"lr": "1e-2"}, "trainer").lr == 0.01  # a string that is a number


def test_every_field_of_every_block_is_typed():
    from ge4rec.config.schema import (
        AnalysisConfig,
        DatasetConfig,
        EqualBudget,
        KnobGrid,
        SyntheticDatasetConfig,
        SyntheticOptions,
        TrainConfig,
    )

    blocks = [TrainConfig, TrainerConfig, ParadigmConfig, AnalysisConfig, DatasetConfig, SyntheticOptions]
    blocks += [SyntheticDatasetConfig, EqualBudget, KnobGrid, *MODEL_SCHEMAS.values()]
    # Any is for the blocks chosen by a group and data set options a user writes freely
    free = {"dataset", "model", "paradigm", "trainer", "fields", "field_options", "derive", "resume"}
    for block in blocks:
        for spec in dataclasses.fields(block):
            assert "Any" not in str(spec.type) or spec.name in free, (block.__name__, spec.name)


def test_the_cli_prints_one_line_naming_the_key_and_the_type(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "model=dcnv2", "model.num_cross_layers=2.5"])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err == "ge4rec: model.num_cross_layers: 2.5 (expected an integer)\n"
