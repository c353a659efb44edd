"""The spectra's chunked kernels equal their whole-record textbook forms (second implementations from scipy/numpy)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import scipy.signal

from amt.spectra.fourier import _detrended_spectra
from amt.spectra.prewhiten import apply_filter_slice, fit_prediction_error_filter
from amt.spectra.windows import taper


@pytest.mark.parametrize(
    ("length", "n_bins"), [(128, 60), (512, 200), (512, 254)], ids=["matrix", "transform", "transform_consecutive"]
)
def test_spectra_of_detrended_windows_equal_scipy_detrend_then_numpy_rfft(length, n_bins) -> None:
    rng = np.random.default_rng(4)
    t = np.arange(2000)
    part = rng.normal(size=(3, 2000)) + 2.5 * t + rng.normal(size=(3, 1)) * 4e4  # a large offset and trend
    starts = np.array([0, 96, 192, 500, 1400])
    w = taper("hann", length)
    keep = np.sort(rng.choice(length // 2 - 1, n_bins, replace=False))  # through the matrix, through the transform
    if n_bins == 254:
        keep = np.arange(1, 255)  # consecutive: taken as a slice
    blocks = np.stack([part[:, s : s + length] for s in starts])  # windows, channels, samples
    gain = rng.normal(size=(3, n_bins)) + 1j * rng.normal(size=(3, n_bins))  # per channel and bin
    detrended = scipy.signal.detrend(blocks, axis=-1, type="linear")
    reference = np.fft.rfft(detrended * w, axis=-1)[..., keep + 1] * gain
    got = np.zeros((5, 3, n_bins), np.complex64)
    _detrended_spectra(part, starts, w, keep, gain, got)
    # single precision (the offset's rounding, 4e4 x 128 samples x 1e-16, is far below it)
    assert np.max(np.abs(got - reference) / np.abs(reference)) < 1e-6


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
