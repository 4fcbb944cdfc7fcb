"""Hydra configs shipped with ge4rec (dataset/, model/, paradigm/, trainer/, experiment/)."""
