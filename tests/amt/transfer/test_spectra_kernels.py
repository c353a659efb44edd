"""The spectra's chunked kernels equal their whole-record textbook forms (second implementations from scipy/numpy)."""

from __future__ import annotations

import numpy as np
import scipy.linalg
import scipy.signal

from amt.spectra.fourier import _detrend_linear
from amt.spectra.prewhiten import apply_filter_slice, fit_prediction_error_filter


def test_closed_form_detrend_equals_scipy() -> None:
    rng = np.random.default_rng(4)
    t = np.arange(257)
    blocks = rng.normal(size=(7, 3, 257)) + 2.5 * t + rng.normal(size=(7, 3, 1)) * 40.0
    np.testing.assert_allclose(
        _detrend_linear(blocks), scipy.signal.detrend(blocks, axis=-1, type="linear"), rtol=0, atol=1e-9
    )


def test_prediction_error_filter_equals_yule_walker_from_the_full_autocorrelation() -> None:
    rng = np.random.default_rng(5)
    x = scipy.signal.lfilter([1.0], [1.0, -0.9, 0.2], rng.normal(size=5000))
    segments = [(0, 2000), (2100, 5000)]
    acf = np.zeros(4)
    for i0, i1 in segments:
        seg = x[i0:i1] - x[i0:i1].mean()
        full = np.correlate(seg, seg, mode="full")
        acf += full[len(seg) - 1 : len(seg) + 3]
    expected = np.concatenate(([1.0], -scipy.linalg.solve_toeplitz(acf[:3], acf[1:4])))
    np.testing.assert_allclose(fit_prediction_error_filter(x, segments, 3), expected, rtol=1e-10)


def test_filtering_a_slice_equals_filtering_the_whole_segment() -> None:
    rng = np.random.default_rng(6)
    x = rng.normal(size=3000)
    pef = np.array([1.0, -0.7, 0.1])
    whole = scipy.signal.lfilter(pef, [1.0], x[1000:3000])  # one good segment starting at sample 1000
    np.testing.assert_allclose(apply_filter_slice(x, 1002, 2500, pef), whole[2:1500], rtol=0, atol=1e-12)
