import numpy as np
import pytest
import torch

from ge4rec.train.metrics import EPS, auc, logloss


def reference_auc(y: np.ndarray, s: np.ndarray) -> float:
    """P(score of a positive > score of a negative) + 1/2 P(tie), over all pairs."""
    pos, neg = s[y == 1], s[y == 0]
    greater = (pos[:, None] > neg[None, :]).sum()
    ties = (pos[:, None] == neg[None, :]).sum()
    return (greater + 0.5 * ties) / (len(pos) * len(neg))


@pytest.mark.parametrize("levels", [None, 7, 2])
def test_auc_matches_pairwise_reference_with_ties(levels):
    rng = np.random.default_rng(0)
    y = (rng.random(1500) < 0.3).astype(np.float64)
    s = rng.random(1500) + 0.3 * y
    if levels:  # heavy ties
        s = np.round(s * levels) / levels
    assert auc(torch.tensor(y), torch.tensor(s)) == pytest.approx(reference_auc(y, s), abs=1e-12)


def test_auc_extremes():
    y = torch.tensor([0, 0, 1, 1.0])
    assert auc(y, torch.tensor([0.1, 0.2, 0.3, 0.4])) == 1.0
    assert auc(y, torch.tensor([0.4, 0.3, 0.2, 0.1])) == 0.0
    assert auc(y, torch.tensor([0.5, 0.5, 0.5, 0.5])) == 0.5
    assert np.isnan(auc(torch.tensor([1.0, 1.0]), torch.tensor([0.2, 0.3])))


def test_logloss_matches_reference_and_clips():
    rng = np.random.default_rng(1)
    y = (rng.random(1000) < 0.4).astype(np.float64)
    p = rng.random(1000)
    expected = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
    assert logloss(torch.tensor(y), torch.tensor(p)) == pytest.approx(expected, rel=1e-12)
    # a confident wrong prediction is clipped to EPS, not infinite
    assert logloss(torch.tensor([1.0]), torch.tensor([0.0])) == pytest.approx(-np.log(EPS), rel=1e-12)
    assert logloss(torch.tensor([0.0]), torch.tensor([1.0])) == pytest.approx(-np.log(EPS), rel=1e-9)
