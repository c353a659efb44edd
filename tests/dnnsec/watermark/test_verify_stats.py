"""Verification statistics against independent computations (scipy's exact binomial test, closed forms)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import binomtest

from dnnsec.watermark.verify import (
    binomial_p_value,
    calibrate,
    clopper_pearson,
    clopper_pearson_upper,
    false_claim_rate,
    significant_users,
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


def test_binomial_tail_is_the_sum_of_the_pmf() -> None:
    n, p, h = 20, 0.07, 5
    direct = sum(math.comb(n, j) * p**j * (1 - p) ** (n - j) for j in range(h, n + 1))
    assert binomial_p_value(h, n, p) == pytest.approx(direct, rel=1e-12)
    assert binomial_p_value(0, n, p) == pytest.approx(1.0)


def test_threshold_is_one_above_the_largest_null_count() -> None:
    nulls = np.array([[0, 2, 1], [3, 0, 0], [1, 1, 0]])
    cal = calibrate(nulls, n_keys=20)
    assert (cal.min_hits, cal.null_max_hits, cal.n_null_models) == (4, 3, 3)
    assert cal.null_answer_rate == pytest.approx(8 / 180)
    assert cal.null_rate_upper == pytest.approx(clopper_pearson_upper(8, 180))


def test_significance_needs_threshold_and_bonferroni() -> None:
    cal = calibrate(np.array([[0, 1, 0, 0]]), n_keys=20)  # threshold 2, p0 = upper bound of 1/80
    row = np.array([20, 2, 0, 1])
    sig = significant_users(row, cal)
    p2 = binomial_p_value(2, 20, cal.null_rate_upper) * 4
    assert sig.tolist() == [True, p2 < cal.alpha, False, False]


def test_false_claims_count_models_not_keys() -> None:
    cal = calibrate(np.zeros((4, 3), dtype=int), n_keys=20)  # threshold 1
    held = np.array([[0, 0, 0], [0, 20, 20], [0, 0, 0], [0, 0, 0]])
    fc = false_claim_rate(held, cal)
    assert (fc.k, fc.n, fc.rate) == (1, 4, 0.25)
    assert fc.upper == pytest.approx(clopper_pearson_upper(1, 4))


def test_tracing_matrix_must_be_diagonal() -> None:
    cal = calibrate(np.array([[2, 1, 0]]), n_keys=20)
    good = np.array([[19, 0, 1], [2, 20, 0], [0, 1, 18]])
    bad = good.copy()
    bad[0, 2] = 15
    assert tracing_is_diagonal(good, cal)
    assert not tracing_is_diagonal(bad, cal)
