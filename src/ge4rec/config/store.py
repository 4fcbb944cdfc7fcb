"""The schemas in Hydra's ConfigStore, and a group option's config as composed.

Config files take a schema as the first entry of their defaults list:
    configs/train.yaml            - train_schema
    configs/trainer/*.yaml        - /schema/trainer@_here_
    configs/paradigm/*.yaml       - /schema/paradigm@_here_
    configs/dataset/_base.yaml    - /schema/dataset@_here_      (every data set: - _base)
    configs/dataset/synthetic.yaml  - /schema/synthetic_dataset@_here_
    configs/model/NAME.yaml       - /schema/model/NAME@_here_
    experiment=equal_budget       - /schema/equal_budget@_global_
"""

from pathlib import Path
from typing import cast

from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig, ListConfig, OmegaConf

from ge4rec.config.models import MODEL_SCHEMAS
from ge4rec.config.schema import (
    DatasetConfig,
    EqualBudgetTrainConfig,
    ParadigmConfig,
    SyntheticDatasetConfig,
    TrainConfig,
    TrainerConfig,
)

# schema path in the ConfigStore -> dataclass
SCHEMAS: dict[str, type] = {
    "train_schema": TrainConfig,
    "schema/trainer": TrainerConfig,
    "schema/paradigm": ParadigmConfig,
    "schema/dataset": DatasetConfig,
    "schema/synthetic_dataset": SyntheticDatasetConfig,
    "schema/equal_budget": EqualBudgetTrainConfig,
    **{f"schema/model/{name}": schema for name, schema in MODEL_SCHEMAS.items()},
}


def register() -> None:
    """Put every schema in Hydra's ConfigStore (again: storing is idempotent)."""
    store = ConfigStore.instance()
    for path, schema in SCHEMAS.items():
        group, _, name = path.rpartition("/")
        store.store(group=group or None, name=name, node=schema)


def group_option(group: str, name: str, config_dir: str | None = None) -> DictConfig:
    """configs/GROUP/NAME.yaml with its defaults list applied (schemas and sibling files), the
    block `GROUP=NAME` puts into a composed config, without a Hydra run."""
    if config_dir is None:
        from ge4rec.cli import config_dir as shipped

        config_dir = shipped()
    folder = Path(config_dir) / group

    def load(stem: str, depth: int = 0) -> DictConfig:
        path = folder / f"{stem}.yaml"
        if depth > 8 or not path.is_file():
            return OmegaConf.create({})
        raw = cast(DictConfig, OmegaConf.load(path))  # a config group option is a mapping
        entries = list(raw.pop("defaults", None) or [])
        merged: DictConfig | ListConfig = OmegaConf.create({})
        if "_self_" not in entries:
            entries.append("_self_")
        for entry in entries:
            if entry == "_self_":
                merged = OmegaConf.merge(merged, raw)
            elif isinstance(entry, str):
                target = entry.split("@", 1)[0]
                if target.lstrip("/") in SCHEMAS:
                    merged = OmegaConf.merge(merged, OmegaConf.structured(SCHEMAS[target.lstrip("/")]))
                else:
                    merged = OmegaConf.merge(merged, load(target, depth + 1))
        return cast(DictConfig, merged)  # merges of mappings

    return load(name)
