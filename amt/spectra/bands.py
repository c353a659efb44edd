"""Target frequencies and the bands of Fourier bins that estimate them.

Target frequencies are log-spaced, ``per_decade`` to a decade (default 7), aligned to 1 Hz. The transfer function
at a target frequency ``f_c`` is estimated from every window's bins with frequencies in
``[f_c r^-1/2, f_c r^1/2)``, ``r = 10^(1/per_decade)``, taken from one decimation level: the highest-rate level at
which ``f_c`` lies at bin ``min_bin`` or above (so that the band holds several bins and is clear of the taper's
DC leakage), and at most at a quarter of that level's sample rate (inside the flat pass band of the decimation
filter, :mod:`amt.spectra.decimation`). The original rate (level 0) has no decimation filter of ours: it is used up
to ``top_fraction`` (default 0.42, 10 kHz at 24 kHz) of its rate, where the recorder's anti-alias filter acts on
E and H alike (their ratio, the impedance, is unchanged by it, and calibration divides it out of each channel).
The estimate is reported at the mean frequency of the bins used (EMTF's habit), not at the target: with few bins
per band the two differ by several per cent, which is worth a bias of that size in apparent resistivity. This
mirrors EMTF's band set-up (Egbert 1997, Geophys. J. Int. 130, 475-496).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from amt.spectra.fourier import Spectra


@dataclass(frozen=True)
class Band:
    """Bins of one decimation level that estimate one target frequency.

    Attributes
    ----------
    frequency_hz
        The band's frequency in Hz: the mean of its bins' frequencies (as EMTF reports it), which is where the
        band-averaged estimate belongs; it differs from the target when a band holds few bins.
    target_hz
        The target frequency the band was planned for.
    level
        Index into the list of :class:`~amt.spectra.Spectra` levels.
    bins
        Indices into ``Spectra.freqs_hz``.
    """

    frequency_hz: float
    target_hz: float
    level: int
    bins: np.ndarray

    @property
    def period_s(self) -> float:
        return 1.0 / self.frequency_hz


def target_frequencies(f_min_hz: float, f_max_hz: float, per_decade: int = 7) -> np.ndarray:
    """Log-spaced frequencies ``10^(k / per_decade)`` Hz within ``[f_min_hz, f_max_hz]``, descending."""
    if not (0 < f_min_hz <= f_max_hz):
        raise ValueError(f"need 0 < f_min <= f_max, got {f_min_hz}, {f_max_hz}")
    k = np.arange(np.ceil(np.log10(f_min_hz) * per_decade - 1e-9), np.floor(np.log10(f_max_hz) * per_decade + 1e-9) + 1)
    return 10.0 ** (k[::-1] / per_decade)


def plan_bands(
    levels: Sequence[Spectra],
    frequencies_hz: np.ndarray | None = None,
    per_decade: int = 7,
    min_bin: int = 5,
    max_fraction: float = 0.25,
    top_fraction: float = 0.42,
) -> list[Band]:
    """Assign each target frequency to a decimation level and its bins.

    Parameters
    ----------
    levels
        Spectra of one stream, level 0 first.
    frequencies_hz
        Target frequencies (Hz); default: every ``per_decade`` frequency the levels resolve.
    per_decade
        Targets per decade when ``frequencies_hz`` is not given.
    min_bin
        Lowest bin index (of the level's window) a band centre may use.
    max_fraction
        Highest band centre as a fraction of a decimated level's sample rate (0.25 = half the Nyquist frequency).
    top_fraction
        Highest band centre as a fraction of level 0's sample rate (0.42: 10 kHz at 24 kHz).

    Returns
    -------
    list of Band
        Descending in frequency; targets no level resolves are left out, and a target whose bins repeat those of
        the previous band is dropped.
    """
    if not levels:
        return []
    if frequencies_hz is None:
        top = levels[0].sample_rate_hz * top_fraction
        last = levels[-1]
        bottom = min_bin * last.sample_rate_hz / last.window_length
        if bottom > top:
            return []
        frequencies_hz = target_frequencies(bottom, top, per_decade)
        half = 10 ** (0.5 / per_decade)
    else:
        frequencies_hz = np.sort(np.asarray(frequencies_hz, dtype=float))[::-1]
        ratios = frequencies_hz[:-1] / frequencies_hz[1:] if len(frequencies_hz) > 1 else np.array([10 ** (1 / 7)])
        half = float(np.sqrt(np.median(ratios)))
    bands = []
    for f in frequencies_hz:
        for i, s in enumerate(levels):
            df = s.sample_rate_hz / s.window_length
            limit = top_fraction if i == 0 else max_fraction
            if f > s.sample_rate_hz * limit * (1 + 1e-9) or f / df < min_bin - 1e-9:
                continue
            bins = np.flatnonzero((s.freqs_hz >= f / half) & (s.freqs_hz < f * half))
            if len(bins) == 0:
                bins = np.array([int(np.argmin(np.abs(s.freqs_hz - f)))])
            if bands and bands[-1].level == i and np.array_equal(bands[-1].bins, bins):
                break
            centre = float(np.mean(s.freqs_hz[bins]))
            bands.append(Band(frequency_hz=centre, target_hz=float(f), level=i, bins=bins))
            break
    return bands


def plan_bins(levels: Sequence[Spectra], per_decade: int = 7, min_bin: int = 5) -> list[np.ndarray]:
    """Per level, the bins (indices into ``Spectra.freqs_hz``, ascending) that the default band plan uses.

    Spectra keeping only these bins (:func:`amt.spectra.compute_station_spectra`, ``select_bins``) plan the same
    bands at the same frequencies (:func:`plan_bands` chooses levels by rate and window length, and bins by
    frequency), so an estimate from them equals one from every bin.
    """
    used: list[set[int]] = [set() for _ in levels]
    for band in plan_bands(levels, None, per_decade, min_bin):
        used[band.level].update(band.bins.tolist())
    return [np.array(sorted(u), dtype=int) for u in used]
