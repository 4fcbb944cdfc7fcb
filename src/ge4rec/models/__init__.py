"""Base CTR models. Each file registers its models; `model=NAME` selects one."""

from ge4rec.models.base import MODELS, CTRModel, build_model, get_model_class, model_names, register_model

__all__ = ["MODELS", "CTRModel", "build_model", "get_model_class", "model_names", "register_model"]
