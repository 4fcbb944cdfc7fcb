"""Covariance spectra of embedding matrices and the dimensional-collapse measures read from them.

For a matrix X [n, D] (n samples of a D-dimensional embedding) the covariance is
C = (X - mean)^T (X - mean) / n and its singular values s_1 >= s_2 >= ... >= s_D >= 0 are the
*spectrum*. A collapsed embedding concentrates its variance in few directions: the spectrum falls
off a cliff and the measures below drop.
"""

from __future__ import annotations

import torch

# share of the singular-value mass that `components_98` counts components up to
MASS = 0.98
MEASURES = ("information_abundance", "effective_rank", "condition_number", "components_98", "rank")


def covariance(x: torch.Tensor) -> torch.Tensor:
    """Covariance of the rows of x [..., n, D] in float64: [..., D, D] (leading dims are a batch)."""
    x = x.to(torch.float64)
    centered = x - x.mean(dim=-2, keepdim=True)
    return centered.transpose(-1, -2) @ centered / x.shape[-2]


def covariance_spectrum(x: torch.Tensor) -> torch.Tensor:
    """Singular values of the covariance of x [..., n, D], largest first: [..., D] (float64).

    The covariance is symmetric positive semi-definite, so its singular values are the absolute
    values of its eigenvalues; `eigvalsh` gets them faster and as accurately as an SVD.
    """
    values = torch.linalg.eigvalsh(covariance(x)).abs()
    return torch.sort(values, dim=-1, descending=True).values


def field_spectra(embeddings: torch.Tensor) -> torch.Tensor:
    """Per-field spectra of E [n, F, d]: the covariance spectrum of each field's [n, d] block, [F, d]."""
    return covariance_spectrum(embeddings.transpose(0, 1))


def spectrum_measures(
    spectrum: torch.Tensor, samples: int = 0, mass: float = MASS
) -> dict[str, torch.Tensor]:
    """Collapse measures of spectra [..., D] (largest first), each of shape [...]:

    - information_abundance: sum_k s_k / s_1 (Guo et al., ICML 2024); D for an isotropic embedding,
      about k for one of rank k, 1 when one direction holds everything.
    - effective_rank: RankMe, exp(-sum p_k log p_k) with p_k = s_k / sum s.
    - condition_number: s_1 / s_D; inf when the covariance is singular (rank < D).
    - components_98: how many leading components hold `mass` of sum s.
    - rank: the numerical rank, singular values above max(D, samples) * eps(float64) * s_1 (a
      covariance summed over n samples carries rounding of about sqrt(n) * eps * s_1).
    An all-zero spectrum (a constant embedding) scores 0 on everything but the condition number.
    """
    s = spectrum.to(torch.float64)
    size = s.shape[-1]
    top, total, smallest = s[..., 0], s.sum(dim=-1), s[..., -1]
    alive = top > 0
    tolerance = top * max(size, int(samples)) * torch.finfo(torch.float64).eps
    one = torch.ones_like(top)
    abundance = torch.where(alive, total / torch.where(alive, top, one), 0.0)
    share = s / torch.where(alive, total, one).unsqueeze(-1)
    entropy = -(share * torch.log(share.clamp_min(torch.finfo(torch.float64).tiny))).sum(dim=-1)
    effective_rank = torch.where(alive, torch.exp(entropy), 0.0)
    cumulative = torch.cumsum(share, dim=-1)
    components = (cumulative < mass - 1e-12).sum(dim=-1) + 1
    numerical_rank = (s > tolerance.unsqueeze(-1)).sum(dim=-1)
    condition = torch.where(smallest > tolerance, top / torch.where(smallest > 0, smallest, one), torch.inf)
    return {
        "information_abundance": abundance,
        "effective_rank": effective_rank,
        "condition_number": condition,
        "components_98": torch.where(alive, components, 0),
        "rank": torch.where(alive, numerical_rank, 0),
    }


def information_abundance(x: torch.Tensor) -> float:
    """Information abundance of the flattened embedding x [n, ...] (one number, for tracking)."""
    measures = spectrum_measures(covariance_spectrum(x.reshape(x.shape[0], -1)), samples=x.shape[0])
    return float(measures["information_abundance"])
