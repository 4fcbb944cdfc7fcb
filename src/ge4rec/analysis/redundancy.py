"""Redundancy between the two operands of an interaction: their Pearson cross-correlation matrix,
read by blocks (as in the SFG paper).

R = Â^T B̂ / (n - 1) for the column-standardised operands A [n, Da] and B [n, Db]; R[c, c'] is the
correlation of dimension c of A with dimension c' of B. With both operands laid out by field
(D = F * d, dimension c = (field i, coordinate k) = i * d + k), R splits into:

- the interacting entries, those the model's interaction multiplies (`operand_pairing`):
  "fields_distinct"  R[(i,k),(j,k)] for fields i != j (FM family, IPNN, FwFM, FmFM, ...: <a_i, b_j>);
  "fields_all"       R[(i,k),(j,k)] for all fields i, j, i = j included (CIN / xDeepFM);
  "hadamard"         the diagonal R[c, c] (cross networks: a ⊙ b);
  "outer"            every entry (DCN's rank-one cross x_0 x_l^T w multiplies every pair);
- the within-field d x d blocks (field_i == field_j) without the main diagonal R[c, c] (under
  DIS both operands are E, so these show E's own collapse rather than redundancy);
- the cross-field blocks (field_i != field_j);
- the whole off-diagonal (every c != c').
"""

from __future__ import annotations

import torch

PAIRINGS = ("fields_distinct", "fields_all", "hadamard", "outer")
DEFAULT_PAIRING = "fields_distinct"
BLOCKS = ("interacting", "within_field", "cross_field", "offdiagonal")


def constant_columns(x: torch.Tensor) -> torch.Tensor:
    """Mask [D] of the columns of x [n, D] that hold one value."""
    x = x.to(torch.float64)
    # float64 rounding leaves a constant column a std of about 1e-16 * |value|, not 0
    return x.std(dim=0) <= 1e-12 * x.abs().amax(dim=0)


def standardize(x: torch.Tensor) -> torch.Tensor:
    """Columns of x [n, D] to zero mean and unit (sample) standard deviation, in float64.

    A constant column (a dead ReLU unit, a field with a single value) has no defined correlation;
    as in the reference code it counts as uncorrelated: it becomes all zeros.
    """
    x = x.to(torch.float64)
    std = x.std(dim=0)
    constant = constant_columns(x)
    out = (x - x.mean(dim=0)) / torch.where(constant, torch.ones_like(std), std)
    return out.masked_fill(constant, 0.0)


def cross_correlation(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Pearson correlation of every column of a [n, Da] with every column of b [n, Db]: [Da, Db]
    (float64). A constant column correlates 0 with everything."""
    if a.shape[0] != b.shape[0]:
        raise ValueError(f"operands have {a.shape[0]} and {b.shape[0]} rows")
    n = a.shape[0]
    r = standardize(a).T @ standardize(b) / (n - 1)
    return torch.nan_to_num(r, nan=0.0).clamp(-1.0, 1.0)


def block_masks(num_fields: int, dim: int, pairing: str) -> dict[str, torch.Tensor]:
    """Boolean masks [F*d, F*d] of the blocks of R (see the module docstring), keyed by BLOCKS."""
    if pairing not in PAIRINGS:
        raise ValueError(f"operand pairing '{pairing}' (expected one of {', '.join(PAIRINGS)})")
    width = num_fields * dim
    index = torch.arange(width)
    field, coordinate = index // dim, index % dim
    same_field = field[:, None] == field[None, :]
    same_coordinate = coordinate[:, None] == coordinate[None, :]
    diagonal = index[:, None] == index[None, :]
    if pairing == "fields_distinct":
        interacting = same_coordinate & ~same_field
    elif pairing == "fields_all":
        interacting = same_coordinate
    elif pairing == "hadamard":
        interacting = diagonal
    else:  # outer
        interacting = torch.ones_like(diagonal)
    return {
        "interacting": interacting,
        "within_field": same_field & ~diagonal,
        "cross_field": ~same_field,
        "offdiagonal": ~diagonal,
    }


def redundancy_decomposition(
    r: torch.Tensor, num_fields: int, dim: int, pairing: str = DEFAULT_PAIRING
) -> dict[str, float | None]:
    """Mean |R| over each block of a cross-correlation matrix r [F*d, F*d]: keys
    "<block>_mean_abs" for every block in BLOCKS. NaN entries count as 0 (no correlation).

    When r is not F*d square (operands of another width) only the off-diagonal mean (over c != c')
    is defined; the field blocks are None. An empty block (e.g. within-field for d = 1) is None.
    """
    values = torch.nan_to_num(r.to(torch.float64), nan=0.0).abs()
    width = num_fields * dim
    if tuple(values.shape) == (width, width):
        masks = block_masks(num_fields, dim, pairing)
    else:
        if pairing not in PAIRINGS:
            raise ValueError(f"operand pairing '{pairing}' (expected one of {', '.join(PAIRINGS)})")
        rows, cols = values.shape
        off = torch.arange(rows)[:, None] != torch.arange(cols)[None, :]
        masks = {"offdiagonal": off}
    out: dict[str, float | None] = {}
    for block in BLOCKS:
        mask = masks.get(block)
        if mask is None or not bool(mask.any()):
            out[f"{block}_mean_abs"] = None
        else:
            out[f"{block}_mean_abs"] = float(values[mask.to(values.device)].mean())
    return out
