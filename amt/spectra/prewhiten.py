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
        full = scipy.signal.correlate(seg, seg, mode="full", method="fft")
        mid = len(seg) - 1
        acf += full[mid : mid + order + 1]
        count += len(seg)
    if count == 0 or acf[0] <= 0:
        return np.array([1.0])
    coeffs = scipy.linalg.solve_toeplitz(acf[:order], acf[1 : order + 1])
    return np.concatenate(([1.0], -coeffs))


def apply_filter(x: np.ndarray, segments: Sequence[tuple[int, int]], pef: np.ndarray) -> np.ndarray:
    """Filter each segment with ``pef`` (causal FIR); samples outside segments stay as they are."""
    out = x.copy()
    for i0, i1 in segments:
        out[i0:i1] = scipy.signal.lfilter(pef, [1.0], x[i0:i1])
    return out


def filter_response(pef: np.ndarray, freq_hz: np.ndarray, sample_rate_hz: float) -> np.ndarray:
    """Complex response of the FIR filter ``pef`` at ``freq_hz`` (time dependence e^{+i omega t})."""
    _, h = scipy.signal.freqz(pef, [1.0], worN=np.asarray(freq_hz, dtype=float), fs=sample_rate_hz)
    return h
