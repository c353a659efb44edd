"""From magnetic channels in nT to the CNN's input: high-pass, then one robust scale for all channels.

* High-pass: 4th-order Butterworth at 500 Hz, run causally (``sosfilt``) from the steady state of the first
  sample, so a segment filtered in one pass gives the same samples whatever window the CNN later reads,
  and drift and 50/60 Hz powerline (which would dominate any scale) are gone below the sferic band.
* Scale: the median of the horizontal magnitude ``sqrt(hx^2 + hy^2)`` (robust to the few per cent of
  samples that sferics occupy; one scalar for all channels, so polarisation and rotation are kept).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import scipy.signal

#: High-pass corner, Hz, and Butterworth order.
HIGHPASS_HZ, HIGHPASS_ORDER = 500.0, 4


@lru_cache(maxsize=8)
def _sos(rate_hz: float) -> tuple[np.ndarray, np.ndarray]:
    sos = scipy.signal.butter(HIGHPASS_ORDER, HIGHPASS_HZ, btype="highpass", fs=rate_hz, output="sos")
    return sos, scipy.signal.sosfilt_zi(sos)


def highpass(h: np.ndarray, rate_hz: float) -> np.ndarray:
    """Causal high-pass of each row of ``h`` (``(channels, n)``, any unit), started in steady state."""
    sos, zi = _sos(float(rate_hz))
    h = np.asarray(h, dtype=np.float64)
    z0 = zi[None, :, :] * h[:, 0][:, None, None]  # (channels, sections, 2)
    out, _ = scipy.signal.sosfilt(sos, h, axis=-1, zi=np.moveaxis(z0, 0, 1))
    return out


def horizontal_power(hp: np.ndarray) -> np.ndarray:
    """``hx^2 + hy^2`` of rows 0 and 1 of ``hp``, float64 (a new array)."""
    m2 = np.square(hp[0], dtype=np.float64)
    m2 += np.square(hp[1], dtype=np.float64)
    return m2


def horizontal_magnitude(hp: np.ndarray) -> np.ndarray:
    """``sqrt(hx^2 + hy^2)`` of rows 0 and 1 of ``hp`` (float64; ``np.hypot``'s overflow guard costs twice as much)."""
    m = horizontal_power(hp)
    return np.sqrt(m, out=m)


def robust_scale(hp: np.ndarray) -> float:
    """Median horizontal magnitude of high-passed channels (rows 0 and 1 are Hx and Hy); 1 if zero or undefined.

    The median is taken of the squared magnitudes (the same order statistics, one square root per middle value).
    """
    n = hp.shape[1] if hp.ndim == 2 else 0
    if n == 0:
        return 1.0
    m2 = horizontal_power(hp)
    if np.isnan(m2).any():
        return 1.0
    k = n // 2
    m2.partition([k - 1, k] if n % 2 == 0 else k)  # in place: m2 is ours
    s = float(np.sqrt(m2[k])) if n % 2 else 0.5 * (float(np.sqrt(m2[k - 1])) + float(np.sqrt(m2[k])))
    return s if s > 0 and np.isfinite(s) else 1.0


def normalise(h: np.ndarray, rate_hz: float) -> tuple[np.ndarray, float]:
    """High-pass ``h`` and divide by :func:`robust_scale`; return float32 input and the scale (in h's unit)."""
    hp = highpass(h, rate_hz)
    s = robust_scale(hp)
    return (hp / s).astype(np.float32), s
