"""Propagation of a sferic in the Earth-ionosphere waveguide: mode sum with frequency-dependent losses.

For a vertical current moment on the ground under a reflecting ionosphere at height ``h``, the image
series summed by Poisson's formula gives the horizontal magnetic field as a sum of TM_n modes
(Wait, 1962, Electromagnetic Waves in Stratified Media, ch. 8; Budden, 1961, The Wave-Guide Mode
Theory of Wave Propagation; Cummer, 2000, IEEE Trans. Antennas Propag. 48, 1420):

    B_phi(f, r) = A(f) / (2 h) sqrt(2 pi / (k r)) sqrt((r / a) / sin(r / a))
                  x sum_n eps_n sqrt(S_n) exp(-i k S_n r - alpha_n(f) r - i pi / 4),

with ``A(f)`` the source factor of :mod:`amt.synth.stroke` (free-space ground wave ``A exp(-ikr)/r``),
``k = 2 pi f / c``, ``eps_0 = 1`` and ``eps_n = 2``, ``S_n = sqrt(1 - (n c / (2 h f))^2)`` (imaginary,
evanescent, below the cutoff ``f_n = n c / (2 h)``), and Earth curvature by the factor
``sqrt((r/a)/sin(r/a))`` (Wait, 1962; Porrat, Bannister & Fraser-Smith, 2001, Radio Sci. 36, 499). The
n = 0 term is the quasi-TEM mode; its group velocity is c, the TM_n group velocity ``c S_n`` goes to
zero at cutoff, which disperses the night-time first-mode energy into tweeks.

Losses in the ionosphere enter as attenuation rates ``alpha_n(f)`` (Np/m; 1 dB/Mm = 1.151e-7 Np/m):

* quasi-TEM: ``alpha_0 = a0 sqrt(f / 1 kHz) + a_c exp(-(ln(f / f_1) / w)^2)``. The first term is the
  imperfect-wall loss ``Re(Delta)/(2h)`` of a wall with surface impedance ``Delta ~ sqrt(i omega)``
  (Wait, 1962), about 1 dB/Mm at 100 Hz by day (Porrat et al., 2001); the second is the excess loss of
  the zero-order mode near the first cutoff f_1 in a graded, magnetised ionosphere, the cause of the
  AMT dead band (Garcia & Jones, 2002, Geophysics 67, 448; Garcia & Jones, 2008, Geophysics 73, F223),
  about 20 dB/Mm by day and much less by night (Barr, Jones & Rodger, 2000, JASTP 62, 1689).
* TM_n, n >= 1: ``alpha_n = a1 n / |S_n|``: the loss per reflection times the reflections per unit
  range of a ray at grazing angle arcsin(S_n) (Budden, 1961); ``a1`` about 2-3 dB/Mm by day and about
  1 dB/Mm by night at 10-20 kHz (Wait & Spies, 1964, NBS Tech. Note 300; Barr et al., 2000).
* TE_1: excited only through the anisotropy of the ionosphere; modelled as the TM_1 term with the
  radial field direction, a coupling factor and its own rate ``a_te / |S_1|``.

The rates are model parameters chosen inside the published ranges above, not a fit to one data set;
they are fields of :class:`Ionosphere` and can be changed. The mode sum is the far-field asymptote:
valid for ``k r >> 1`` and ``r >> h`` (here r >= 200 km and f >= 100 Hz).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from amt.synth.stroke import C_LIGHT

#: Mean Earth radius in m.
EARTH_RADIUS_M = 6_371_000.0
#: Nepers per metre in one dB per megametre.
NP_PER_M_PER_DB_MM = np.log(10.0) / 20.0 / 1e6
#: Highest TM mode order summed.
MAX_MODE = 4


@dataclass(frozen=True)
class Ionosphere:
    """Waveguide parameters for one illumination condition.

    Parameters
    ----------
    name
        ``"day"`` or ``"night"``.
    height_m
        Reflection height h in m (about 70 km by day, 85-90 km by night).
    alpha0_db_mm
        Quasi-TEM imperfect-wall attenuation at 1 kHz, dB/Mm (scales as sqrt(f)).
    alpha0_cutoff_db_mm
        Extra quasi-TEM attenuation at the first cutoff, dB/Mm.
    cutoff_width
        Width of that excess in natural-log frequency units.
    alpha1_db_mm
        TM_n attenuation far above cutoff per mode order, dB/Mm (grows as 1/|S_n| towards cutoff).
    te1_alpha_db_mm
        TE_1 attenuation far above cutoff, dB/Mm.
    te1_coupling
        TE_1 radial field relative to the TM_1 azimuthal field at excitation.
    """

    name: str
    height_m: float
    alpha0_db_mm: float
    alpha0_cutoff_db_mm: float
    cutoff_width: float
    alpha1_db_mm: float
    te1_alpha_db_mm: float
    te1_coupling: float

    @property
    def cutoff_hz(self) -> float:
        """First-mode cutoff ``c / (2 h)`` in Hz."""
        return C_LIGHT / (2.0 * self.height_m)


DAY = Ionosphere("day", 70e3, 3.5, 20.0, 0.5, 2.5, 5.0, 0.1)
NIGHT = Ionosphere("night", 87e3, 1.2, 8.0, 0.35, 1.0, 2.0, 0.2)


def ionosphere(night: bool) -> Ionosphere:
    """The night-time or day-time parameter set."""
    return NIGHT if night else DAY


@dataclass(frozen=True)
class ModeTable:
    """Per-mode factors on a frequency grid: ``term = excitation * exp(-gamma * r)``.

    ``gamma`` (1/m) excludes the common delay ``exp(-i k r)`` of the quasi-TEM arrival, so that a sferic's
    time origin is its arrival at the speed of light. ``lo`` is the first grid index where a mode is
    computed (it is negligible further below its cutoff for r >= 200 km).
    """

    freq_hz: np.ndarray
    excitation: tuple[np.ndarray, ...]
    gamma: tuple[np.ndarray, ...]
    lo: tuple[int, ...]
    radial: tuple[bool, ...]
    prefactor: np.ndarray  # (1 / 2h) sqrt(2 pi / k) exp(-i pi / 4)


def _s_n(f: np.ndarray, n: int, h: float) -> np.ndarray:
    c2 = (n * C_LIGHT / (2.0 * h * f)) ** 2
    return np.where(c2 <= 1.0, np.sqrt(np.abs(1.0 - c2)) + 0j, -1j * np.sqrt(np.abs(c2 - 1.0)))


@lru_cache(maxsize=32)
def mode_table(rate_hz: float, n_fft: int, iono: Ionosphere) -> ModeTable:
    """Mode factors on the grid ``rfftfreq(n_fft, 1 / rate_hz)`` (cached)."""
    f = np.fft.rfftfreq(n_fft, 1.0 / rate_hz)
    fpos = np.where(f > 0, f, 1.0)
    k = 2 * np.pi * fpos / C_LIGHT
    h = iono.height_m
    pref = np.where(f > 0, np.sqrt(2 * np.pi / k) / (2 * h) * np.exp(-0.25j * np.pi), 0.0)
    a = NP_PER_M_PER_DB_MM
    f1 = iono.cutoff_hz
    alpha0 = a * (
        iono.alpha0_db_mm * np.sqrt(fpos / 1e3)
        + iono.alpha0_cutoff_db_mm * np.exp(-((np.log(fpos / f1) / iono.cutoff_width) ** 2))
    )
    exc, gam, lo, radial = [np.ones_like(pref)], [alpha0 + 0j], [0], [False]
    for n in range(1, MAX_MODE + 1):
        i0 = int(np.searchsorted(f, 0.5 * n * f1))
        if i0 >= len(f):
            break
        s = _s_n(fpos[i0:], n, h)
        excess = 1j * k[i0:] * (s - 1.0)
        mag = np.maximum(np.abs(s), 1e-3)
        exc.append(2.0 * np.sqrt(s))
        gam.append(a * iono.alpha1_db_mm * n / mag + excess)
        lo.append(i0)
        radial.append(False)
        if n == 1:
            exc.append(2.0 * iono.te1_coupling * np.sqrt(s))
            gam.append(a * iono.te1_alpha_db_mm / mag + excess)
            lo.append(i0)
            radial.append(True)
    return ModeTable(f, tuple(exc), tuple(gam), tuple(lo), tuple(radial), pref)


def propagation(
    table: ModeTable, distance_m: np.ndarray, delay_s: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Waveguide factors ``G_phi, G_r`` (1/m) replacing ``exp(-ikr)/r`` of the free-space ground wave.

    Parameters
    ----------
    table
        From :func:`mode_table`.
    distance_m
        Great-circle distances in m, shape ``(n,)``; 200 km to 19,000 km.
    delay_s
        Optional extra delay of each sferic, s (a phase ramp ``exp(-2 pi i f delay)``).

    Returns
    -------
    tuple of numpy.ndarray
        ``(G_phi, G_r)``, each ``(n, n_freq)`` complex: azimuthal (TM) and radial (TE_1) field factors,
        relative to an arrival at ``r / c + delay``. A mode of order >= 2 is left out for a sferic it
        reaches at least 60 dB weaker than TM_1 at their least-attenuated frequencies
        (``(min alpha_n - min alpha_1) r > 6.9`` Np).
    """
    r = np.asarray(distance_m, dtype=float)[:, None]
    spread = np.sqrt((r / EARTH_RADIUS_M) / np.sin(r / EARTH_RADIUS_M)) / np.sqrt(r)
    f = table.freq_hz
    ramp = np.zeros((r.shape[0], len(f)), dtype=complex)
    if delay_s is not None:
        ramp.imag = -2 * np.pi * f * np.asarray(delay_s, dtype=float)[:, None]
    g_phi = np.exp(ramp - table.gamma[0] * r) * table.excitation[0]
    g_r = np.zeros_like(g_phi)
    best = np.min(table.gamma[1].real) if len(table.gamma) > 1 else 0.0
    for exc, gam, lo, radial in zip(table.excitation[1:], table.gamma[1:], table.lo[1:], table.radial[1:], strict=True):
        rows = np.flatnonzero(r[:, 0] * (np.min(gam.real) - best) < 6.9)
        if rows.size == 0:
            continue
        term = exc * np.exp(ramp[rows, lo:] - gam * r[rows])
        target = g_r if radial else g_phi
        target[rows, lo:] += term
    scale = table.prefactor * spread
    return g_phi * scale, g_r * scale
