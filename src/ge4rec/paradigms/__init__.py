"""Paradigms decide what feeds the generated side of a model's interaction.

`disc` feeds the raw embeddings (the generator is the identity); `sfg` feeds embeddings generated
from all fields at once (Supervised Feature Generation). A model asks its paradigm for a
generator and never checks which paradigm it has, so DIS and SFG differ in the generator only.
"""

from ge4rec.paradigms.base import PARADIGMS, Paradigm, build_paradigm, register_paradigm
from ge4rec.paradigms.generators import GENERATORS, Generator, IdentityGenerator

__all__ = [
    "PARADIGMS",
    "Paradigm",
    "build_paradigm",
    "register_paradigm",
    "GENERATORS",
    "Generator",
    "IdentityGenerator",
]
