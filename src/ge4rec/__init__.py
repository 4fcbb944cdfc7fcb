"""ge4rec: benchmark CTR models in the discriminative and the Supervised Feature Generation paradigm."""

__version__ = "0.1.0"
