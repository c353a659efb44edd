"""Input scaling of the sferic CNN against numpy's own median and hypot."""

import numpy as np
import pytest

from amt.sferic.preprocess import horizontal_magnitude, robust_scale


@pytest.mark.parametrize("n", [1, 2, 3, 10, 999, 1000])
def test_robust_scale_is_the_median_horizontal_magnitude(n):
    hp = np.random.default_rng(n).standard_normal((3, n))
    expected = float(np.median(np.hypot(hp[0], hp[1])))
    assert robust_scale(hp) == pytest.approx(expected, rel=1e-14)
    np.testing.assert_allclose(horizontal_magnitude(hp), np.hypot(hp[0], hp[1]), rtol=1e-15)


def test_robust_scale_falls_back_to_one_when_undefined():
    assert robust_scale(np.zeros((2, 0))) == 1.0
    assert robust_scale(np.zeros((2, 50))) == 1.0
    hp = np.ones((2, 5))
    hp[1, 2] = np.nan
    assert robust_scale(hp) == 1.0
    assert robust_scale(hp[:, :2]) == pytest.approx(np.sqrt(2.0))
