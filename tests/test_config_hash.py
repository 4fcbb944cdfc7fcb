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


def test_a_row_recorded_before_configs_were_typed_is_still_found(tmp_path, hydra_configs):
    """An earlier ge4rec stored `paradigm.gamma=6` as the integer 6 and hashed it so; the typed
    config holds 6.0. skip_done must still recognise the run: completed_run recomputes the hash
    from the stored config."""
    import polars as pl
    from omegaconf import OmegaConf

    from ge4rec.results.store import write_row
    from ge4rec.run import completed_run

    cfg = compose(config_name="train", overrides=["paradigm.gamma=6"])
    assert cfg.paradigm.gamma == 6.0 and isinstance(cfg.paradigm.gamma, float)
    stored = OmegaConf.to_container(cfg, resolve=True)
    stored["paradigm"]["gamma"] = 6  # as the untyped config kept it
    row = {"run_id": "old", "created_at": "2026-01-01T00:00:00", "status": "completed"}
    write_row(tmp_path, {**row, "config": json.dumps(stored), "config_hash": "an-old-style-hash"})
    found = completed_run(tmp_path, config_hash(cfg))
    assert found is not None and found["run_id"] == "old"
    assert (
        completed_run(tmp_path, config_hash(compose(config_name="train", overrides=["paradigm.gamma=7"])))
        is None
    )
    assert pl.read_parquet(next(tmp_path.glob("*.parquet")))["config_hash"][0] == "an-old-style-hash"


def test_precision_and_compile_are_part_of_the_hash_and_data_placement_is_not(hydra_configs):
    """A store written before trainer.precision, trainer.compile and trainer.data_on_device existed
    still matches at their defaults; bf16 or compile change a GPU run's numbers and so its hash;
    where the splits live does not."""
    cfg = compose(config_name="train")
    assert (cfg.trainer.precision, cfg.trainer.compile, cfg.trainer.data_on_device) == ("fp32", False, "auto")
    container = json.loads(json.dumps(cfg_container(cfg)))
    before = config_hash(container)
    for key in ("precision", "compile", "data_on_device"):
        container["trainer"].pop(key)
    assert config_hash(container) == before

    def hash_of(*overrides: str) -> str:
        return config_hash(compose(config_name="train", overrides=list(overrides)))

    assert hash_of("trainer.precision=bf16") != before
    assert hash_of("trainer.compile=true") != before
    assert hash_of("trainer.precision=bf16", "trainer.compile=true") not in (
        before,
        hash_of("trainer.precision=bf16"),
    )
    for placement in ("true", "false", "auto"):
        assert hash_of(f"trainer.data_on_device={placement}") == before


def test_optimizer_kernel_is_part_of_the_hash_and_loop_matches_earlier_stores(hydra_configs):
    """Runs recorded before trainer.optimizer_kernel existed used torch's plain Adam: `loop`
    matches them; the fused default rounds differently, so its runs have a hash of their own."""
    cfg = compose(config_name="train")
    assert cfg.trainer.optimizer_kernel == "fused"
    earlier = json.loads(json.dumps(cfg_container(cfg)))
    earlier["trainer"].pop("optimizer_kernel")

    def hash_of(*overrides: str) -> str:
        return config_hash(compose(config_name="train", overrides=list(overrides)))

    assert hash_of("trainer.optimizer_kernel=loop") == config_hash(earlier)
    assert len({hash_of(), hash_of("trainer.optimizer_kernel=foreach"), config_hash(earlier)}) == 3
