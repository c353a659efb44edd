"""The spectra's chunked kernels equal their whole-record textbook forms (second implementations from scipy/numpy)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import scipy.signal

from amt.spectra.fourier import _detrended_spectra
from amt.spectra.prewhiten import apply_filter_slice, fit_prediction_error_filter
from amt.spectra.windows import taper


@pytest.mark.parametrize("n_bins", [5, 60], ids=["matrix", "transform"])
def test_spectra_of_detrended_windows_equal_scipy_detrend_then_numpy_rfft(n_bins) -> None:
    rng = np.random.default_rng(4)
    t = np.arange(1000)
    part = rng.normal(size=(3, 1000)) + 2.5 * t + rng.normal(size=(3, 1)) * 4e4  # a large offset and trend
    starts = np.array([0, 96, 192, 500, 872])
    w = taper("hann", 128)
    keep = np.sort(rng.choice(63, n_bins, replace=False))  # 5 bins go through the matrix, 60 the transform
    blocks = np.stack([part[:, s : s + 128] for s in starts])  # windows, channels, samples
    reference = np.fft.rfft(scipy.signal.detrend(blocks, axis=-1, type="linear") * w, axis=-1)[..., keep + 1]
    got = _detrended_spectra(part, starts, w, keep)
    assert got.shape == (5, 3, n_bins)
    # rounding of the offset (4e4 x 128 samples x 1e-16), far below the complex64 the coefficients are kept in
    assert np.max(np.abs(got - reference)) / np.max(np.abs(reference)) < 1e-9


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
