"""Spectra of embedding matrices and the dimensional-collapse measures read from them.

For a matrix X [n, D] (n samples of a D-dimensional embedding) let Xc = X - mean be the centred
matrix. Two spectra describe it, and each measure says which one it uses:

- the covariance eigenvalues lambda_1 >= ... >= lambda_D >= 0 of C = Xc^T Xc / n. The SFG paper
  plots these, normalised: log(lambda_k / lambda_1) against k (`covariance_spectrum`);
- the singular values sigma_k of Xc, sigma_k = sqrt(n * lambda_k) (`singular_values`).
  Information abundance (Guo et al., ICML 2024), the effective rank (RankMe) and the 98%
  component count are defined on these.

Both come from one float64 eigendecomposition of C (cheaper than an SVD of the tall n x D matrix,
and batched over fields). Its rounding leaves eigenvalues of up to ~1e-15 * lambda_1 where the
true value is 0 (negative ones are clipped to 0); in singular values that is a few 1e-8 * sigma_1
per direction, so information abundance is exact to about D * 1e-8.

A collapsed embedding concentrates its variance in few directions: the spectrum falls off a cliff
and the measures drop.
"""

from __future__ import annotations

import torch

# share of the singular-value mass that `components_98` counts components up to
MASS = 0.98
# the operands are float32: the collapse cliff counts normalised eigenvalues above
# (D * FLOAT32_EPS)^2, the rounding-noise floor of a float32 matrix of width D (`cliff_floor`)
FLOAT32_EPS = float(torch.finfo(torch.float32).eps)
MEASURES = ("information_abundance", "effective_rank", "components_98", "collapse_cliff")
INTEGER_MEASURES = ("components_98", "collapse_cliff")


def covariance(x: torch.Tensor) -> torch.Tensor:
    """Covariance of the rows of x [..., n, D] in float64: [..., D, D] (leading dims are a batch)."""
    x = x.to(torch.float64)
    centered = x - x.mean(dim=-2, keepdim=True)
    return centered.transpose(-1, -2) @ centered / x.shape[-2]


def covariance_spectrum(x: torch.Tensor) -> torch.Tensor:
    """Eigenvalues lambda_k of the covariance of x [..., n, D], largest first, clipped at 0:
    [..., D] (float64). This is the spectrum the SFG paper plots (normalised by lambda_1)."""
    values = torch.linalg.eigvalsh(covariance(x)).clamp_min(0.0)
    return torch.sort(values, dim=-1, descending=True).values


def singular_values_from_eigenvalues(eigenvalues: torch.Tensor, samples: int) -> torch.Tensor:
    """sigma_k = sqrt(n * lambda_k): the singular values of the centred n x D matrix whose
    covariance (divided by n) has eigenvalues `eigenvalues` [..., D]."""
    return torch.sqrt(int(samples) * eigenvalues.to(torch.float64).clamp_min(0.0))


def singular_values(x: torch.Tensor) -> torch.Tensor:
    """Singular values of the centred x [..., n, D], largest first: [..., D] (float64)."""
    return singular_values_from_eigenvalues(covariance_spectrum(x), x.shape[-2])


def field_spectra(embeddings: torch.Tensor) -> torch.Tensor:
    """Per-field covariance eigenvalues of E [n, F, d]: each field's [n, d] block, [F, d]."""
    return covariance_spectrum(embeddings.transpose(0, 1))


def cliff_floor(width: int) -> float:
    """The numerical floor of a normalised eigenvalue lambda_k / lambda_1 of a float32 operand of
    width D: (D * eps_float32)^2, i.e. a singular-value ratio sigma_k / sigma_1 of D * eps_float32.

    Rounding a float32 matrix moves each singular value by about eps_float32 * sigma_1 (a few
    times that after the float32 arithmetic that produced it); D * eps leaves room for D such
    roundings, so a direction below the floor cannot be told from rounding noise, and one above it
    (even by a factor of 100 on lambda) is signal. D = 390 (Criteo, d = 10): 2.2e-9 on
    lambda_k / lambda_1 (the paper's DIS DCNv2 cliff falls by ~1e10); D = 16: 3.6e-12.
    """
    return (int(width) * FLOAT32_EPS) ** 2


def collapse_cliff(eigenvalues: torch.Tensor) -> torch.Tensor:
    """How many leading normalised eigenvalues lambda_k / lambda_1 of spectra [..., D] (largest
    first) lie above `cliff_floor(D)`: D when the spectrum has no cliff, the position of the cliff
    when it has one, 0 for an all-zero (constant) embedding. Shape [...] (int64)."""
    lam = eigenvalues.to(torch.float64)
    top = lam[..., :1]
    alive = top[..., 0] > 0
    relative = lam / torch.where(top > 0, top, torch.ones_like(top))
    count = (relative > cliff_floor(lam.shape[-1])).sum(dim=-1)
    return torch.where(alive, count, torch.zeros_like(count))


def spectrum_measures(eigenvalues: torch.Tensor, mass: float = MASS) -> dict[str, torch.Tensor]:
    """Collapse measures of covariance spectra [..., D] (eigenvalues, largest first), each [...].

    On the singular values sigma_k = sqrt(n * lambda_k) (the factor n cancels in every ratio):
    - information_abundance: sum_k sigma_k / sigma_1 (Guo et al., ICML 2024); D for an isotropic
      embedding, 1 when one direction holds everything.
    - effective_rank: RankMe, exp(-sum p_k log p_k) with p_k = sigma_k / sum sigma.
    - components_98: how many leading components hold `mass` of sum sigma.
    On the normalised eigenvalues:
    - collapse_cliff: leading lambda_k / lambda_1 above the float32 floor (`cliff_floor`).
    An all-zero spectrum (a constant embedding) scores 0 on everything.
    """
    lam = eigenvalues.to(torch.float64).clamp_min(0.0)
    sigma = torch.sqrt(lam)  # proportional to the singular values; every measure is a ratio
    top, total = sigma[..., 0], sigma.sum(dim=-1)
    alive = top > 0
    one = torch.ones_like(top)
    abundance = torch.where(alive, total / torch.where(alive, top, one), 0.0)
    share = sigma / torch.where(alive, total, one).unsqueeze(-1)
    entropy = -(share * torch.log(share.clamp_min(torch.finfo(torch.float64).tiny))).sum(dim=-1)
    effective_rank = torch.where(alive, torch.exp(entropy), 0.0)
    cumulative = torch.cumsum(share, dim=-1)
    components = (cumulative < mass - 1e-12).sum(dim=-1) + 1
    return {
        "information_abundance": abundance,
        "effective_rank": effective_rank,
        "components_98": torch.where(alive, components, 0),
        "collapse_cliff": collapse_cliff(lam),
    }


def information_abundance(x: torch.Tensor) -> float:
    """Information abundance of the flattened embedding x [n, ...] (one number, for tracking)."""
    return float(spectrum_measures(covariance_spectrum(x.reshape(x.shape[0], -1)))["information_abundance"])
