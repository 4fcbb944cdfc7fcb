"""Dimensional collapse and redundancy of a model's embeddings (SFG_METHOD §5), and their plots."""

from ge4rec.analysis.redundancy import cross_correlation, redundancy_summary, standardize
from ge4rec.analysis.run_analysis import (
    Analysis,
    analyze_model,
    analyze_run_dir,
    collapse_tracker,
    run_analysis,
    sample_split,
)
from ge4rec.analysis.spectrum import covariance, covariance_spectrum, field_spectra, spectrum_measures

__all__ = [
    "Analysis",
    "analyze_model",
    "analyze_run_dir",
    "collapse_tracker",
    "covariance",
    "covariance_spectrum",
    "cross_correlation",
    "field_spectra",
    "redundancy_summary",
    "run_analysis",
    "sample_split",
    "spectrum_measures",
    "standardize",
]
