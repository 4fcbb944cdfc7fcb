"""Exact metrics over a whole split, in torch."""

from __future__ import annotations

import torch

EPS = 1e-7


def auc(labels: torch.Tensor, scores: torch.Tensor) -> float:
    """Exact ROC AUC (Mann-Whitney U with average ranks for tied scores)."""
    labels = labels.reshape(-1).to(torch.float64)
    scores = scores.reshape(-1).to(torch.float64)
    n_pos = labels.sum().item()
    n_neg = labels.numel() - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    sorted_scores, order = torch.sort(scores)
    _, inverse, counts = torch.unique_consecutive(sorted_scores, return_inverse=True, return_counts=True)
    # average 1-based rank of each tie group: start + (count + 1) / 2
    ends = torch.cumsum(counts, dim=0).to(torch.float64)
    average_rank = ends - (counts.to(torch.float64) - 1.0) / 2.0
    ranks = average_rank[inverse]
    positive_rank_sum = (ranks * labels[order]).sum().item()
    return (positive_rank_sum - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg)


def logloss(labels: torch.Tensor, probabilities: torch.Tensor) -> float:
    """Mean binary cross-entropy, probabilities clipped to [eps, 1 - eps]."""
    y = labels.reshape(-1).to(torch.float64)
    p = probabilities.reshape(-1).to(torch.float64).clamp(EPS, 1.0 - EPS)
    return float(-(y * p.log() + (1.0 - y) * (1.0 - p).log()).mean().item())


def evaluate_scores(labels: torch.Tensor, probabilities: torch.Tensor) -> dict[str, float]:
    return {"auc": auc(labels, probabilities), "logloss": logloss(labels, probabilities)}
