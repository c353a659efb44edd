"""Verification statistics against independent computations (scipy's exact binomial interval, enumeration)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from scipy.stats import binomtest
from torch import nn

from dnnsec.watermark.adapter import LinearHead
from dnnsec.watermark.verify import (
    bonferroni,
    calibrate,
    clopper_pearson,
    clopper_pearson_upper,
    false_claim_rate,
    key_scores,
    model_evidence,
    rank_p_values,
    significant,
    tracing_is_diagonal,
)


@pytest.mark.parametrize(("k", "n"), [(0, 10), (3, 10), (7, 25), (25, 25)])
def test_clopper_pearson_matches_scipy_exact_interval(k: int, n: int) -> None:
    ci = binomtest(k, n).proportion_ci(confidence_level=0.95, method="exact")
    assert clopper_pearson(k, n) == pytest.approx((ci.low, ci.high), abs=1e-12)


@pytest.mark.parametrize("n", [1, 6, 20, 100])
def test_zero_of_n_upper_bound_is_the_closed_form(n: int) -> None:
    # P[0 successes] = (1 - p)^n = 0.05  =>  p = 1 - 0.05^(1/n)
    assert clopper_pearson_upper(0, n) == pytest.approx(1 - 0.05 ** (1 / n), rel=1e-10)


def test_rank_p_value_is_the_permutation_probability_by_enumeration() -> None:
    scores = [np.array([2.5, 0.3, 1.7]), np.array([0.1, -1.0]), np.array([1.9, 0.2])]
    ranks = np.argsort(np.argsort(np.concatenate(scores))) + 1  # no ties
    observed = ranks[:3].sum()  # user 0's rank sum
    # Under exchangeability every 3 of the 7 pooled keys are equally likely to be user 0's.
    subsets = list(itertools.combinations(range(len(ranks)), 3))
    exact = sum(ranks[list(c)].sum() >= observed for c in subsets) / len(subsets)
    assert rank_p_values(scores)[0] == pytest.approx(exact, rel=1e-12)


def test_bonferroni_multiplies_by_the_number_of_users_and_caps_at_one() -> None:
    assert bonferroni(np.array([0.001, 0.2, 0.5])).tolist() == pytest.approx([0.003, 0.6, 1.0])


class _Linear(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.fc = nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x)


def test_key_score_is_the_extra_class_margin() -> None:
    model, x = _Linear(), torch.randn(6, 4)
    z = model(x).detach().double()
    expected = (z[:, 2] - z[:, :2].max(1).values).numpy()
    assert np.allclose(key_scores(model, LinearHead(), x, 2), expected)
    assert key_scores(model, LinearHead(), x, 3) is None  # no output 3: nothing to test


def test_rank_evidence_ignores_a_uniform_shift_of_the_extra_logit() -> None:
    model = _Linear()
    keys = [torch.randn(8, 4, generator=torch.Generator().manual_seed(s)) for s in range(3)]
    before = model_evidence(model, LinearHead(), keys, 2)
    with torch.no_grad():
        model.fc.bias[2] -= 50.0  # what clean fine-tuning does to the extra class: every key now answers < K
    after = model_evidence(model, LinearHead(), keys, 2)
    assert after.hits.tolist() == [0, 0, 0]
    assert np.allclose(after.p_bonferroni, before.p_bonferroni)


def test_threshold_is_the_smaller_of_alpha_and_the_smallest_null_p() -> None:
    assert calibrate(np.array([[0.5, 0.2], [0.03, 1.0]]), alpha=0.01).p_threshold == 0.01
    cal = calibrate(np.array([[0.5, 0.004], [0.03, 1.0]]), alpha=0.01)
    assert (cal.p_threshold, cal.null_min_p, cal.n_null_models) == (0.004, 0.004, 2)
    assert significant(np.array([0.0039, 0.004]), cal).tolist() == [True, False]


def test_false_claims_count_models_not_users() -> None:
    cal = calibrate(np.ones((3, 3)), alpha=0.01)
    held = np.array([[1.0, 1.0, 1.0], [1e-4, 1e-5, 1.0], [0.5, 0.02, 1.0], [1.0, 1.0, 1.0]])
    fc = false_claim_rate(held, cal)
    assert (fc.k, fc.n, fc.rate) == (1, 4, 0.25)
    assert fc.upper == pytest.approx(clopper_pearson_upper(1, 4))


def test_tracing_matrix_must_be_diagonal() -> None:
    cal = calibrate(np.ones((1, 3)), alpha=0.01)
    good = np.array([[1e-6, 1.0, 0.3], [1.0, 1e-5, 1.0], [0.2, 1.0, 1e-4]])
    bad = good.copy()
    bad[0, 2] = 1e-3
    assert tracing_is_diagonal(good, cal)
    assert not tracing_is_diagonal(bad, cal)
