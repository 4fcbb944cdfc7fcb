"""Dimensional collapse and redundancy of a model's embeddings (as in the SFG paper), and their plots."""

from ge4rec.analysis.redundancy import (
    block_masks,
    cross_correlation,
    redundancy_decomposition,
    standardize,
)
from ge4rec.analysis.run_analysis import (
    SCALAR_COLUMNS,
    Analysis,
    analyze_model,
    analyze_run_dir,
    collapse_tracker,
    run_analysis,
    sample_split,
    stacked_operand,
)
from ge4rec.analysis.spectrum import (
    cliff_floor,
    collapse_cliff,
    covariance,
    covariance_spectrum,
    field_spectra,
    singular_values,
    spectrum_measures,
)

__all__ = [
    "SCALAR_COLUMNS",
    "Analysis",
    "analyze_model",
    "analyze_run_dir",
    "block_masks",
    "cliff_floor",
    "collapse_cliff",
    "collapse_tracker",
    "covariance",
    "covariance_spectrum",
    "cross_correlation",
    "field_spectra",
    "redundancy_decomposition",
    "run_analysis",
    "sample_split",
    "singular_values",
    "spectrum_measures",
    "stacked_operand",
    "standardize",
]
