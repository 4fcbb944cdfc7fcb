"""Paradigms decide what feeds the generated side of a model's interaction.

`disc` feeds the raw embeddings (the generator is the identity); `sfg` feeds embeddings generated
from all fields at once (Supervised Feature Generation). A model asks its paradigm for a
generator and never checks which paradigm it has, so DIS and SFG differ in the generator only.
The SFG design space (generator kind, activation, gamma, bias, residual, target fields) lives in
the generators; see generators.py for the kinds and base.py for the options.
"""

from ge4rec.paradigms.base import PARADIGMS, TARGETS, Paradigm, build_paradigm, register_paradigm
from ge4rec.paradigms.generators import (
    ACTIVATIONS,
    GENERATORS,
    Generator,
    IdentityGenerator,
    LearnedGenerator,
    register_generator,
)

__all__ = [
    "PARADIGMS",
    "TARGETS",
    "Paradigm",
    "build_paradigm",
    "register_paradigm",
    "ACTIVATIONS",
    "GENERATORS",
    "Generator",
    "IdentityGenerator",
    "LearnedGenerator",
    "register_generator",
]
