"""Typed configs: one dataclass per config block (schema.py, models.py), registered in Hydra's
ConfigStore on import (store.py), so composing rejects a wrong type or an unknown key; the value
rules and cross-block checks live in checks.py."""

from ge4rec.config.checks import check_block, check_train_config, error_message, typed
from ge4rec.config.models import MODEL_SCHEMAS
from ge4rec.config.schema import (
    AnalysisConfig,
    DatasetConfig,
    ParadigmConfig,
    SyntheticDatasetConfig,
    SyntheticOptions,
    TrainConfig,
    TrainerConfig,
)
from ge4rec.config.store import SCHEMAS, group_option, register

register()

__all__ = [
    "MODEL_SCHEMAS",
    "SCHEMAS",
    "AnalysisConfig",
    "DatasetConfig",
    "ParadigmConfig",
    "SyntheticDatasetConfig",
    "SyntheticOptions",
    "TrainConfig",
    "TrainerConfig",
    "check_block",
    "check_train_config",
    "error_message",
    "group_option",
    "register",
    "typed",
]
