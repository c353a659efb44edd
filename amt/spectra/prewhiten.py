"""Optional autoregressive prewhitening with exact recolouring in the frequency domain.

Each channel is filtered by its own prediction-error filter ``a(z) = 1 - sum_k a_k z^-k`` (Yule-Walker fit of
order ``p``) before windowing; the Fourier coefficients are afterwards divided by ``a(e^{-i omega dt})`` so that
spectra keep their physical units. Prewhitening reduces the leakage of strong low-frequency power into the
higher bins of a short window.

Reference: Egbert, G. D. and Booker, J. R. (1986), Robust estimation of geomagnetic transfer functions,
Geophys. J. R. astr. Soc. 87, 173-194 (section on prewhitening).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.linalg
import scipy.signal


def fit_prediction_error_filter(x: np.ndarray, segments: Sequence[tuple[int, int]], order: int) -> np.ndarray:
    """Yule-Walker prediction-error filter ``[1, -a_1, ..., -a_p]`` from the good samples of ``x``."""
    acf = np.zeros(order + 1)
    count = 0
    for i0, i1 in segments:
        seg = x[i0:i1] - np.mean(x[i0:i1])
        if len(seg) <= order:
            continue
        n = len(seg)  # lags 0..order directly: O(n order), no FFT of the whole (perhaps hour-long) segment
        acf += [np.dot(seg[: n - k], seg[k:]) for k in range(order + 1)]
        count += n
    if count == 0 or acf[0] <= 0:
        return np.array([1.0])
    coeffs = scipy.linalg.solve_toeplitz(acf[:order], acf[1 : order + 1])
    return np.concatenate(([1.0], -coeffs))


def apply_filter_slice(x: np.ndarray, lo: int, hi: int, pef: np.ndarray) -> np.ndarray:
    """Causal FIR ``pef`` applied to ``x``, returned for samples ``lo..hi-1`` only (needs ``lo >= len(pef) - 1``).

    Equal to filtering each good segment as a whole wherever the ``len(pef) - 1`` samples before a returned sample
    lie in its segment (true of every window of :func:`amt.spectra.compute_spectra`, whose windows start ``p``
    samples into a segment), without filtering, or copying, the whole record.
    """
    p = len(pef) - 1
    return scipy.signal.lfilter(pef, [1.0], x[lo - p : hi])[p:]


def filter_response(pef: np.ndarray, freq_hz: np.ndarray, sample_rate_hz: float) -> np.ndarray:
    """Complex response of the FIR filter ``pef`` at ``freq_hz`` (time dependence e^{+i omega t})."""
    _, h = scipy.signal.freqz(pef, [1.0], worN=np.asarray(freq_hz, dtype=float), fs=sample_rate_hz)
    return h
