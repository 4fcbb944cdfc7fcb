"""The config hash identifies a completed run (skip_done, pairing in tables): pinned values for
representative configs, so that a change to the configs' structure cannot silently change it."""

from __future__ import annotations

import json

import pytest
from hydra import compose

from ge4rec.run import config_hash

from conftest import ROOT

PINNED = json.loads((ROOT / "tests" / "data" / "config_hashes.json").read_text())


@pytest.mark.parametrize("overrides", sorted(PINNED))
def test_config_hash_is_pinned(overrides, hydra_configs, monkeypatch):
    monkeypatch.setenv("GE4REC_DATA", "/data")  # data set paths are part of the hash
    cfg = compose(config_name="train", overrides=overrides.split())
    assert config_hash(cfg) == PINNED[overrides]


def test_keys_at_their_neutral_value_leave_the_hash_alone(hydra_configs):
    cfg = compose(config_name="train")
    container = json.loads(json.dumps(dict(cfg_container(cfg))))
    before = config_hash(container)
    for key in ("header", "columns"):
        container["dataset"].pop(key, None)
    assert config_hash(container) == before  # a store written before these keys existed matches
    container["dataset"]["header"] = False
    assert config_hash(container) != before


def cfg_container(cfg):
    from omegaconf import OmegaConf

    return OmegaConf.to_container(cfg, resolve=True)
