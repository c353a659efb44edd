"""Optional autoregressive prewhitening with exact recolouring in the frequency domain.

Each channel is filtered by its own prediction-error filter ``a(z) = 1 - sum_k a_k z^-k`` (Yule-Walker fit of
order ``p``) before windowing; the Fourier coefficients are afterwards divided by ``a(e^{-i omega dt})`` so that
spectra keep their physical units. Prewhitening reduces the leakage of strong low-frequency power into the
higher bins of a short window.

Reference: Egbert, G. D. and Booker, J. R. (1986), Robust estimation of geomagnetic transfer functions,
Geophys. J. R. astr. Soc. 87, 173-194 (section on prewhitening).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import scipy.linalg
import scipy.signal


def fit_prediction_error_filter(x: np.ndarray, segments: Sequence[tuple[int, int]], order: int) -> np.ndarray:
    """Yule-Walker prediction-error filter ``[1, -a_1, ..., -a_p]`` from the good samples of ``x``."""
    return fit_prediction_error_filter_read(lambda lo, hi: x[lo:hi], segments, order, chunk=None)


def fit_prediction_error_filter_read(
    read: Callable[[int, int], np.ndarray], segments: Sequence[tuple[int, int]], order: int, chunk: int | None
) -> np.ndarray:
    """:func:`fit_prediction_error_filter` of samples read ``chunk`` at a time (``read(lo, hi)``; None: whole).

    Each segment is demeaned by its own mean and its autocorrelation at lags ``0..order`` summed over the parts
    (every part is read with the ``order`` samples after it): a segment read in one part gives exactly the
    whole-array result; more parts only change the order of the sums (rounding, ~1e-16 relative).
    """
    acf = np.zeros(order + 1)
    count = 0
    for i0, i1 in segments:
        n = i1 - i0
        if n <= order:
            continue
        step = n if chunk is None else max(int(chunk), order + 1)
        if step >= n:
            mean = np.mean(read(i0, i1))
        else:
            mean = sum(float(np.sum(read(lo, min(lo + step, i1)))) for lo in range(i0, i1, step)) / n
        for lo in range(i0, i1, step):  # lags 0..order directly: O(n order), no FFT of an hour-long segment
            hi = min(lo + step, i1)
            seg = read(lo, min(hi + order, i1)) - mean
            terms = [max(min(hi, i1 - k) - lo, 0) for k in range(order + 1)]  # products x[n] x[n + k], n in part
            acf += [np.dot(seg[:m], seg[k : k + m]) for k, m in enumerate(terms)]
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
