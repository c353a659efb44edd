"""The lightning return stroke as a radiating source: Heidler channel-base current, MTLE channel.

Channel-base current (Heidler, 1985; IEC 62305-1:2010 Annex B, first negative stroke):

    i(t) = (I0 / eta) (t / tau1)^n / (1 + (t / tau1)^n) exp(-t / tau2),
    I0 = 100 kA, tau1 = 1.82 us, tau2 = 285 us, n = 10, eta = 0.986 (peak of i is I0).

The far (radiation) magnetic field of a vertical channel on a perfectly conducting ground follows the
modified transmission-line model with exponential current decay, MTLE (Nucci et al., 1988, Proc. 8th
Int. Conf. Atmos. Electricity; Rachidi & Nucci, 1990, JGR 95, 20389): with return-stroke speed v and
decay height lambda, the current moment derivative is ``v I(f) F(f)``, ``F = i w / (i w + v / lambda)``,
and at range r along the ground

    B(f, r) = A(f) exp(-i k r) / r,  A(f) = mu0 v I(f) F(f) / (2 pi c)    (T m s).

The MTLE factor puts the spectral peak of the radiated field at 5-10 kHz as measured (Serhan et al.,
1980, Radio Sci. 15, 1089). Peak currents of first negative strokes are log-normal with median 31 kA
and sigma(ln I) = 0.48 (Berger et al., 1975, Electra 41; Anderson & Eriksson, 1980, Electra 69).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import scipy.fft

from amt.synth.earth import MU0

#: Speed of light in vacuum, m/s.
C_LIGHT = 299_792_458.0
#: Heidler parameters of the IEC 62305-1 first negative stroke: tau1 (s), tau2 (s), n, eta.
HEIDLER_FIRST_NEGATIVE = (1.82e-6, 285e-6, 10, 0.986)
#: MTLE return-stroke speed (m/s) and current decay height (m) (Nucci et al., 1988).
RETURN_STROKE_SPEED_M_S = 1.5e8
DECAY_HEIGHT_M = 2000.0
#: Log-normal peak current of first negative strokes: median (A) and sigma of ln I.
PEAK_CURRENT_MEDIAN_A = 31e3
PEAK_CURRENT_SIGMA_LN = 0.48

_TABLE_DT_S = 0.5e-6
_TABLE_N = 2**20  # 0.52 s of time axis: frequency spacing 1.9 Hz
_TABLE_FMAX_HZ = 200e3


def heidler_current(t_s: np.ndarray, peak_a: float = 1.0) -> np.ndarray:
    """Heidler channel-base current in A at times ``t_s`` (s; zero before t = 0), peak ``peak_a``."""
    tau1, tau2, n, eta = HEIDLER_FIRST_NEGATIVE
    t = np.clip(np.asarray(t_s, dtype=float), 0.0, None)
    x = (t / tau1) ** n
    return peak_a / eta * x / (1.0 + x) * np.exp(-t / tau2)


@lru_cache(maxsize=1)
def _current_table() -> tuple[np.ndarray, np.ndarray]:
    t = np.arange(_TABLE_N) * _TABLE_DT_S
    spec = scipy.fft.rfft(heidler_current(t)) * _TABLE_DT_S
    f = scipy.fft.rfftfreq(_TABLE_N, _TABLE_DT_S)
    keep = f <= _TABLE_FMAX_HZ
    return f[keep], spec[keep]


def current_spectrum(freq_hz: np.ndarray) -> np.ndarray:
    """Fourier transform ``I(f) = int i(t) exp(-2 pi i f t) dt`` of a 1 A-peak Heidler current, A s.

    Computed once by FFT on a 0.5 us grid over 0.52 s (1.9 Hz spacing) and interpolated.
    """
    f_tab, s_tab = _current_table()
    f = np.abs(np.asarray(freq_hz, dtype=float))
    out = np.interp(f, f_tab, s_tab.real) + 1j * np.interp(f, f_tab, s_tab.imag)
    return np.where(np.asarray(freq_hz) < 0, np.conj(out), out)


def source_spectrum(freq_hz: np.ndarray) -> np.ndarray:
    """Radiation-field source factor ``A(f)`` for a 1 A-peak stroke, in nT m s.

    ``B(f, r) = A(f) exp(-i k r) / r`` is the ground-wave far field over a flat perfect conductor;
    :mod:`amt.synth.waveguide` replaces ``exp(-i k r) / r`` with the Earth-ionosphere mode sum.
    """
    f = np.asarray(freq_hz, dtype=float)
    iw = 2j * np.pi * f
    mtle = iw / (iw + RETURN_STROKE_SPEED_M_S / DECAY_HEIGHT_M)
    return 1e9 * MU0 * RETURN_STROKE_SPEED_M_S * current_spectrum(f) * mtle / (2 * np.pi * C_LIGHT)


def draw_peak_currents(n: int, rng: np.random.Generator) -> np.ndarray:
    """Peak currents in A of ``n`` first strokes: log-normal (Anderson & Eriksson, 1980)."""
    return PEAK_CURRENT_MEDIAN_A * np.exp(PEAK_CURRENT_SIGMA_LN * rng.standard_normal(n))
