"""The closed-form linear detrend of the spectra equals scipy's least-squares detrend (a second implementation)."""

from __future__ import annotations

import numpy as np
import scipy.signal

from amt.spectra.fourier import _detrend_linear


def test_closed_form_detrend_equals_scipy() -> None:
    rng = np.random.default_rng(4)
    t = np.arange(257)
    blocks = rng.normal(size=(7, 3, 257)) + 2.5 * t + rng.normal(size=(7, 3, 1)) * 40.0
    np.testing.assert_allclose(
        _detrend_linear(blocks), scipy.signal.detrend(blocks, axis=-1, type="linear"), rtol=0, atol=1e-9
    )
