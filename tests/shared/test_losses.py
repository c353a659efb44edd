import math

import numpy as np
import pytest
import torch

from shared.data import RandomSampleDataset
from shared.errors import ConfigError
from shared.losses import FocalLoss, WeightedBCELoss, pos_weight_from_labels


def test_weighted_bce_matches_the_formula():
    z = torch.tensor([2.0, -1.0, 0.5])
    y = torch.tensor([1.0, 0.0, 1.0])
    w = 3.0
    sig = lambda v: 1 / (1 + math.exp(-v))  # noqa: E731
    expected = -(w * math.log(sig(2.0)) + math.log(1 - sig(-1.0)) + w * math.log(sig(0.5))) / 3
    assert float(WeightedBCELoss(w)(z, y)) == pytest.approx(expected, rel=1e-6)


def test_pos_weight_is_measured_from_class_balance():
    y = np.r_[np.ones(10), np.zeros(90)]
    assert pos_weight_from_labels(y) == pytest.approx(9.0)
    with pytest.raises(ConfigError, match="0 positives"):
        pos_weight_from_labels(np.zeros(5))


def test_focal_loss_reduces_to_bce_at_gamma_zero():
    z = torch.randn(20)
    y = (torch.rand(20) > 0.5).float()
    assert float(FocalLoss(gamma=0.0, alpha=None)(z, y)) == pytest.approx(float(WeightedBCELoss(1.0)(z, y)))
    # easy, confidently right examples are down-weighted
    easy = FocalLoss(gamma=2.0, alpha=None)(torch.tensor([6.0]), torch.tensor([1.0]))
    assert float(easy) < 1e-3 * float(WeightedBCELoss(1.0)(torch.tensor([6.0]), torch.tensor([1.0])))


def test_random_sample_dataset_is_reproducible_per_seed():
    src = lambda rng: (rng.normal(size=2), rng.integers(0, 2))  # noqa: E731
    a = [x for x, _ in zip(RandomSampleDataset(src, seed=5), range(4), strict=False)]
    b = [x for x, _ in zip(RandomSampleDataset(src, seed=5), range(4), strict=False)]
    c = [x for x, _ in zip(RandomSampleDataset(src, seed=6), range(4), strict=False)]
    assert all(torch.equal(p[0], q[0]) for p, q in zip(a, b, strict=True))
    assert not torch.equal(a[0][0], c[0][0])
