"""Redundancy between the two operands of an interaction: their Pearson cross-correlation matrix.

R = Â^T B̂ / (n - 1) for the column-standardised operands A [n, Da] and B [n, Db]. R_ij is the
correlation of dimension i of A with dimension j of B. Strong correlations off the diagonal mean
the interaction multiplies copies of the same information.
"""

from __future__ import annotations

import torch


def standardize(x: torch.Tensor) -> torch.Tensor:
    """Columns of x [n, D] to zero mean and unit (sample) standard deviation, in float64.

    A constant column has no defined correlation: it becomes NaN (a dead ReLU unit, a field with a
    single value), so that it is left out of the summaries instead of counting as 0.
    """
    x = x.to(torch.float64)
    std = x.std(dim=0)
    constant = constant_columns(x)
    out = (x - x.mean(dim=0)) / torch.where(constant, torch.ones_like(std), std)
    return out.masked_fill(constant, torch.nan)


def constant_columns(x: torch.Tensor) -> torch.Tensor:
    """Mask [D] of the columns of x [n, D] that hold one value."""
    x = x.to(torch.float64)
    # float64 rounding leaves a constant column a std of about 1e-16 * |value|, not 0
    return x.std(dim=0) <= 1e-12 * x.abs().amax(dim=0)


def cross_correlation(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Pearson correlation of every column of a [n, Da] with every column of b [n, Db]: [Da, Db]."""
    if a.shape[0] != b.shape[0]:
        raise ValueError(f"operands have {a.shape[0]} and {b.shape[0]} rows")
    n = a.shape[0]
    r = standardize(a).T @ standardize(b) / (n - 1)
    return r.clamp(-1.0, 1.0)  # NaN (constant columns) stays NaN


def redundancy_summary(r: torch.Tensor) -> dict[str, float]:
    """Scalars of a cross-correlation matrix [Da, Db] over its defined (non-NaN) entries.

    - mean_abs: mean |R_ij| over i != j (0: the operands' dimensions are uncorrelated);
    - mean_sq: mean R_ij^2 over i != j (the Barlow-Twins redundancy term, per entry);
    - diagonal_mean: mean R_ii (1 when the operands are the same embedding).
    """
    off = ~torch.eye(r.shape[0], r.shape[1], dtype=torch.bool, device=r.device)
    values = r[off]
    values = values[~torch.isnan(values)]
    diagonal = torch.diagonal(r)
    diagonal = diagonal[~torch.isnan(diagonal)]
    return {
        "mean_abs": float(values.abs().mean()) if values.numel() else float("nan"),
        "mean_sq": float(values.square().mean()) if values.numel() else float("nan"),
        "diagonal_mean": float(diagonal.mean()) if diagonal.numel() else float("nan"),
    }
