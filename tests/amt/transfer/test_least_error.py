"""The least rho_a error the data allow (amt.transfer.uncertainty.least_rho_error) against least squares on
simulated data: with noise on E alone, the spread of the estimates equals the bound."""

from __future__ import annotations

import numpy as np
import pytest

from amt.transfer.uncertainty import least_rho_error


@pytest.mark.parametrize("gamma2", [0.3, 0.8])
def test_least_squares_spread_equals_the_bound_when_the_noise_is_on_e(gamma2: float) -> None:
    rng = np.random.default_rng(11)
    n, trials, z = 400, 2000, 2.0 - 1.0j
    noise = np.sqrt(abs(z) ** 2 * (1 - gamma2) / gamma2)  # unit-power H: coherence^2 = |Z|^2 / (|Z|^2 + noise^2)
    rho = np.empty(trials)
    coherence = np.empty(trials)
    for k in range(trials):
        h = (rng.normal(size=(n, 2)) + 1j * rng.normal(size=(n, 2))) / np.sqrt(2)
        e = z * h[:, 1] + noise * (rng.normal(size=n) + 1j * rng.normal(size=n)) / np.sqrt(2)  # a 1-D earth: Zxy
        coef = np.linalg.lstsq(h, e, rcond=None)[0]
        fit = h @ coef
        rho[k] = abs(coef[1]) ** 2
        coherence[k] = np.sqrt(abs(np.vdot(e, fit)) ** 2 / (np.vdot(e, e).real * np.vdot(fit, fit).real))
    spread = np.std(rho) / abs(z) ** 2
    bound = float(least_rho_error(np.array(np.sqrt(gamma2)), np.array(n)))
    assert spread == pytest.approx(bound, rel=0.1)
    assert float(least_rho_error(np.array(np.median(coherence)), np.array(n))) == pytest.approx(bound, rel=0.1)
    assert least_rho_error(np.array([0.0, np.nan]), np.array([10, 10])).tolist() == [np.inf, np.inf]
