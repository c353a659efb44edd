"""Windowed, calibrated Fourier coefficients of a station run, one set per decimation level.

For each decimation level the run's good segments (:meth:`amt.record.StationRun.good_segments`) are cut into
tapered windows that never span a gap, each window is demeaned and detrended, tapered and transformed. The
coefficients are scaled to amplitude spectral density (units per sqrt(Hz), ``sqrt(2 / (fs sum w^2))``),
recoloured if prewhitened, and calibrated: channels whose units are ``"counts"`` are divided by their
``ChannelMeta.response`` evaluated at each bin (``amt.calibration.instrument``), giving mV/km and nT.

Every window keeps its UTC start time and a weight (1 by default). Callers choose which windows take part through
:meth:`Spectra.with_window_weights` (weights per window, e.g. from sferic detections) or
:meth:`Spectra.select` (a boolean time mask); a weight of 0 removes a window from every estimate.

Time dependence is e^{+i omega t} (numpy's forward FFT with kernel e^{-i omega t}).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
from threadpoolctl import threadpool_limits

from amt.record import RecordError, Station, StationRun
from amt.spectra.decimation import decimate_segments
from amt.spectra.prewhiten import apply_filter_slice, filter_response, fit_prediction_error_filter
from amt.spectra.windows import bin_correlation, taper, window_starts


class SpectraError(RecordError):
    """Spectra cannot be computed from a record; the message names the record and the problem."""


@dataclass(frozen=True)
class SpectraConfig:
    """How windows and decimation levels are made.

    Parameters
    ----------
    window_length
        Samples per window at every level (default 128, as EMTF).
    overlap
        Samples shared by consecutive windows (default 32, a quarter, as EMTF).
    taper
        Taper name for :func:`amt.spectra.windows.taper` (default ``"hann"``).
    decimation_factor
        Factor between consecutive levels (default 4).
    max_levels
        Most decimation levels computed (levels stop earlier once fewer than ``min_windows`` windows fit).
    min_windows
        Fewest windows a level must hold to be computed (default 4).
    prewhiten_order
        Order of the autoregressive prewhitening filter (default 1: natural spectra are red, and a first-order
        filter keeps their power from leaking into the lowest bins of a window); 0 disables prewhitening.
    """

    window_length: int = 128
    overlap: int = 32
    taper: str = "hann"
    decimation_factor: int = 4
    max_levels: int = 12
    min_windows: int = 4
    prewhiten_order: int = 1


@dataclass
class Spectra:
    """Fourier coefficients of one decimation level.

    Attributes
    ----------
    station, run
        Identifiers of the record (``run`` joins run ids when several runs were stacked).
    channels
        Channel names, the second axis of ``coefficients``.
    sample_rate_hz
        Sample rate of this level in Hz.
    level
        Decimation level (0 = original rate).
    window_length
        Samples per window at this level.
    freqs_hz
        Bin frequencies in Hz, ``(n_freq,)`` (DC excluded).
    coefficients
        ``(n_windows, n_channels, n_freq)`` complex64 (single precision: seven significant digits, far finer than
        any MT estimate resolves), in mV/km/sqrt(Hz) and nT/sqrt(Hz).
    window_start_s
        UTC POSIX time (s) of each window's first sample, ``(n_windows,)``.
    window_weight
        Weight of each window in ``[0, inf)``; 0 removes the window.
    bin_correlation
        Squared correlation of coefficients ``l`` bins apart (:func:`amt.spectra.windows.bin_correlation`);
        neighbouring bins of a tapered window are not independent.
    """

    station: str
    run: str
    channels: tuple[str, ...]
    sample_rate_hz: float
    level: int
    window_length: int
    freqs_hz: np.ndarray
    coefficients: np.ndarray
    window_start_s: np.ndarray
    window_weight: np.ndarray = field(default=None)  # type: ignore[assignment]
    bin_correlation: np.ndarray = field(default_factory=lambda: np.ones(1))

    def __post_init__(self) -> None:
        if self.window_weight is None:
            self.window_weight = np.ones(len(self.window_start_s))
        self.window_weight = np.asarray(self.window_weight, dtype=float)
        if self.window_weight.shape != (self.n_windows,):
            raise SpectraError(
                f"{self.station}: {self.window_weight.shape} window weights for {self.n_windows} windows"
            )
        if np.any(~np.isfinite(self.window_weight)) or np.any(self.window_weight < 0):
            raise SpectraError(f"{self.station}: window weights must be finite and non-negative")

    @property
    def n_windows(self) -> int:
        return int(self.coefficients.shape[0])

    @property
    def window_duration_s(self) -> float:
        """Duration of one window in s."""
        return self.window_length / self.sample_rate_hz

    @property
    def window_end_s(self) -> np.ndarray:
        """UTC POSIX time (s) just after each window's last sample."""
        return self.window_start_s + self.window_duration_s

    def variance_inflation(self, n_bins: int) -> float:
        """Factor by which correlation between ``n_bins`` adjacent bins inflates the variance of a band sum."""
        lags = np.arange(1, min(n_bins, len(self.bin_correlation)))
        return float(1.0 + 2.0 * np.sum((n_bins - lags) / n_bins * self.bin_correlation[lags]))

    def channel(self, name: str) -> np.ndarray:
        """Coefficients of one channel, ``(n_windows, n_freq)``."""
        if name not in self.channels:
            raise SpectraError(f"{self.station}: no channel {name!r} (have {', '.join(self.channels)})")
        return self.coefficients[:, self.channels.index(name), :]

    def with_window_weights(self, weights: np.ndarray) -> Spectra:
        """A copy whose window weights are ``weights`` (one per window, >= 0) times the present ones."""
        w = np.asarray(weights, dtype=float)
        if w.shape != (self.n_windows,):
            raise SpectraError(f"{self.station}: got {w.shape} weights for {self.n_windows} windows")
        return replace(self, window_weight=self.window_weight * w)

    def select(self, keep: np.ndarray) -> Spectra:
        """A copy in which windows where ``keep`` is False get weight 0 (a time mask)."""
        keep = np.asarray(keep, dtype=bool)
        return self.with_window_weights(keep.astype(float))


def _calibration(run: StationRun, name: str, freqs_hz: np.ndarray) -> np.ndarray:
    meta = run.meta[name]
    if meta.units == "counts":
        if meta.response is None:
            raise SpectraError(
                f"{run.source or run.station}: channel {name} is in counts and has no response; "
                "calibrate it or give ChannelMeta.response"
            )
        resp = np.asarray(meta.response.evaluate(freqs_hz), dtype=complex)
        if np.any(resp == 0) or np.any(~np.isfinite(resp)):
            raise SpectraError(f"{run.source or run.station}: response of {name} is zero or not finite")
        return resp
    return np.ones(len(freqs_hz), dtype=complex)


#: Windows transformed at a time: the float64 blocks of a chunk stay near 40 MiB however long the record.
_CHUNK_WINDOWS = 8192


def _detrend_linear(blocks: np.ndarray) -> np.ndarray:
    """``blocks`` minus each block's least-squares line along the last axis (closed form, no BLAS solve).

    Equal to ``scipy.signal.detrend(blocks, type="linear")``; the closed form avoids a least-squares solve per
    call, whose threaded BLAS costs more than the arithmetic on small blocks.
    """
    t = np.arange(blocks.shape[-1]) - (blocks.shape[-1] - 1) / 2.0
    slope = np.sum(blocks * t, axis=-1) / np.sum(t * t)
    return blocks - blocks.mean(axis=-1, keepdims=True) - slope[..., None] * t


def compute_spectra(
    run: StationRun,
    config: SpectraConfig = SpectraConfig(),
    channels: Sequence[str] | None = None,
    min_windows: int | None = None,
) -> list[Spectra]:
    """Fourier coefficients of one run at every decimation level that holds ``config.min_windows`` windows.

    Parameters
    ----------
    run
        A station run (E in mV/km, H in nT, or counts with a response).
    config
        Window and decimation settings.
    channels
        Channels to transform (default: all present).
    min_windows
        Overrides ``config.min_windows`` (a burst may hold one window of a level that all bursts fill).

    Returns
    -------
    list of Spectra
        Level 0 first; may be empty if even level 0 holds too few windows.
    """
    with threadpool_limits(limits=1, user_api="blas"):  # thin products: threads do not pay, and spin under load
        return _compute_spectra(run, config, channels, min_windows)


def _compute_spectra(
    run: StationRun, config: SpectraConfig, channels: Sequence[str] | None, min_windows: int | None
) -> list[Spectra]:
    names = tuple(channels) if channels is not None else run.channels
    where = run.source or f"station {run.station} run {run.run}"
    missing = [c for c in names if c not in run.data]
    if missing:
        raise SpectraError(f"{where}: missing channel(s) {missing}")
    length, overlap = config.window_length, config.overlap
    w = taper(config.taper, length)
    scale = np.sqrt(2.0 / np.sum(w**2))
    correlation = bin_correlation(w)
    data = [np.asarray(run.data[c], dtype=float) for c in names]  # the record's own arrays: no stacked copy
    segments = run.good_segments(min_samples=length, channels=names)
    rate = run.sample_rate_hz
    start_s = run.start.timestamp
    levels: list[Spectra] = []
    for level in range(config.max_levels):
        if level > 0:
            data, segments = decimate_segments(data, segments, config.decimation_factor)
            rate /= config.decimation_factor
        filters = None
        used = segments
        if config.prewhiten_order > 0:
            p = config.prewhiten_order
            filters = [fit_prediction_error_filter(x, segments, p) for x in data]
            used = [(i0 + p, i1) for i0, i1 in segments if i1 - i0 > p]
        starts = window_starts(used, length, overlap)
        if len(starts) < (config.min_windows if min_windows is None else min_windows):
            break
        coef = np.empty((len(starts), len(names), length // 2), np.complex64)
        for i0 in range(0, len(starts), _CHUNK_WINDOWS):  # bounded memory for hour-long 24 kHz records
            chunk = starts[i0 : i0 + _CHUNK_WINDOWS]
            lo, hi = int(chunk[0]), int(chunk[-1]) + length
            if filters is None:
                part = np.vstack([x[lo:hi] for x in data])
            else:  # prewhiten only the samples this chunk's windows span
                part = np.vstack([apply_filter_slice(x, lo, hi, f) for x, f in zip(data, filters, strict=True)])
            idx = (chunk - lo)[:, None] + np.arange(length)[None, :]
            blocks = _detrend_linear(part[:, idx].transpose(1, 0, 2))  # windows, channels, samples
            coef[i0 : i0 + _CHUNK_WINDOWS] = np.fft.rfft(blocks * w, axis=-1)[:, :, 1:] * (scale / np.sqrt(rate))
        freqs = np.fft.rfftfreq(length, 1.0 / rate)[1:]
        for c, name in enumerate(names):
            divisor = _calibration(run, name, freqs)
            if filters is not None:
                divisor = divisor * filter_response(filters[c], freqs, rate)
            coef[:, c, :] /= divisor
        levels.append(
            Spectra(
                station=run.station,
                run=run.run,
                channels=names,
                sample_rate_hz=rate,
                level=level,
                window_length=length,
                freqs_hz=freqs,
                coefficients=coef,
                window_start_s=start_s + starts / rate,
                bin_correlation=correlation,
            )
        )
    return levels


def _stack(parts: list[Spectra]) -> Spectra:
    first = parts[0]
    return replace(
        first,
        run="+".join(dict.fromkeys(p.run for p in parts)),
        coefficients=np.concatenate([p.coefficients for p in parts]),
        window_start_s=np.concatenate([p.window_start_s for p in parts]),
        window_weight=np.concatenate([p.window_weight for p in parts]),
    )


def compute_station_spectra(
    station: Station, config: SpectraConfig = SpectraConfig(), channels: Sequence[str] | None = None
) -> dict[float, list[Spectra]]:
    """Spectra of every run, stacked per sample rate (e.g. all 24 kHz bursts together).

    Returns
    -------
    dict
        Original sample rate (Hz) -> levels (level 0 first). Runs at one rate must share channels.
    """
    out: dict[float, list[Spectra]] = {}
    for rate in station.sample_rates_hz:
        per_run = [compute_spectra(r, config, channels, min_windows=1) for r in station.runs_at(rate)]
        n_levels = max((len(p) for p in per_run), default=0)
        levels = []
        for lev in range(n_levels):
            parts = [p[lev] for p in per_run if len(p) > lev]
            if sum(p.n_windows for p in parts) >= config.min_windows:
                levels.append(_stack(parts))
        if levels:
            out[rate] = levels
    return out
