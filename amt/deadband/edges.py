"""Dead-band edges from the data: where the natural H power drops below that of its neighbours.

In the AMT dead band (about 1-5 kHz) the quasi-TEM mode of the Earth-ionosphere waveguide is strongly attenuated
near the first-mode cutoff, so the natural magnetic power has a notch between the stronger signals below (TEM)
and above (TM_1 and beyond) (Garcia & Jones, 2002, Geophysics 67, 448-458; Garcia & Jones, 2008, Geophysics 73,
F223-F234). Per band of the planned frequency grid the mean horizontal H power over all windows,
``P(f) = <|Hx|^2 + |Hy|^2>`` (nT^2/Hz), is compared with the lower of the highest powers found on either side:

    deficit(f) = 10 log10( min(max_{f' < f} P(f'), max_{f' > f} P(f')) / P(f) )  (dB).

A monotone spectrum has no deficit anywhere; a notch has a positive one. The dead band is the contiguous run of
bands around the deepest deficit whose deficit reaches ``min_depth_db``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from amt.deadband.difference import bin_power
from amt.spectra import Spectra, plan_bands


def band_power(levels: Sequence[Spectra], per_decade: int = 7, min_bin: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """Band target frequencies (Hz, descending) and the mean horizontal H power in each band (nT^2/Hz).

    Windows of weight 0 are left out; every other window counts once.
    """
    bands = plan_bands(levels, None, per_decade, min_bin)
    freqs, power = [], []
    for band in bands:
        s = levels[band.level]
        use = s.window_weight > 0
        h = bin_power(s, band.bins)[use]
        freqs.append(band.target_hz)
        power.append(float(np.mean(h)) if h.size else np.nan)
    return np.asarray(freqs), np.asarray(power)


def notch_deficit_db(power: np.ndarray) -> np.ndarray:
    """Deficit (dB) of each entry of ``power`` below the lower of the highest values on either side (0 at ends)."""
    p = np.asarray(power, dtype=float)
    left = np.maximum.accumulate(np.r_[-np.inf, p[:-1]])
    right = np.maximum.accumulate(np.r_[-np.inf, p[::-1][:-1]])[::-1]
    level = np.minimum(left, right)
    with np.errstate(divide="ignore", invalid="ignore"):
        d = 10 * np.log10(level / p)
    return np.where(np.isfinite(d), np.maximum(d, 0.0), 0.0)


def find_dead_band(
    levels: Sequence[Spectra],
    search_hz: tuple[float, float] = (500.0, 10_000.0),
    min_depth_db: float = 6.0,
    per_decade: int = 7,
    min_bin: int = 5,
) -> tuple[float, float] | None:
    """The dead band's edges (Hz) found from the natural H power of a record, or None if there is no notch.

    Parameters
    ----------
    levels
        Spectra of one stream (level 0 first) with hx and hy.
    search_hz
        Frequencies (Hz) searched; Garcia & Jones (2002) place the dead band at 1-5 kHz.
    min_depth_db
        Smallest deficit (dB below the weaker neighbouring maximum) of a band inside the dead band.
    per_decade, min_bin
        Band grid (as :func:`amt.spectra.plan_bands`).

    Returns
    -------
    (low_hz, high_hz) or None
        The lowest and highest band target frequencies of the dead band (inclusive).
    """
    freqs, power = band_power(levels, per_decade, min_bin)
    inside = (freqs >= search_hz[0]) & (freqs <= search_hz[1]) & np.isfinite(power) & (power > 0)
    if np.count_nonzero(inside) < 3:
        return None
    f, d = freqs[inside], notch_deficit_db(power[inside])
    k = int(np.argmax(d))
    if d[k] < min_depth_db:
        return None
    i0 = k
    while i0 > 0 and d[i0 - 1] >= min_depth_db:
        i0 -= 1
    i1 = k
    while i1 < len(d) - 1 and d[i1 + 1] >= min_depth_db:
        i1 += 1
    return float(min(f[i0], f[i1])), float(max(f[i0], f[i1]))
