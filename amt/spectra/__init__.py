"""Fourier spectra of station runs: windows, cascade decimation, calibration, bands.

The public surface: :class:`SpectraConfig`, :func:`compute_spectra` (one :class:`Spectra` per decimation level),
:func:`compute_station_spectra` (every run of a station, stacked per rate, optionally keeping only the bins
:func:`plan_bins` names), :func:`station_levels` (the levels it would compute, no samples read, for choosing bins),
:func:`target_frequencies` and :func:`plan_bands`. Runs are read a part at a time
(:class:`amt.io.chunked.ChunkedRun`), so memory beyond the coefficients kept does not grow with the record.
"""

from amt.spectra.bands import Band, plan_bands, plan_bins, target_frequencies
from amt.spectra.fourier import (
    Spectra,
    SpectraConfig,
    SpectraError,
    compute_spectra,
    compute_station_spectra,
    station_levels,
)

__all__ = [
    "Band",
    "Spectra",
    "SpectraConfig",
    "SpectraError",
    "compute_spectra",
    "compute_station_spectra",
    "plan_bands",
    "plan_bins",
    "station_levels",
    "target_frequencies",
]
