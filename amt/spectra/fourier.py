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

import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
from threadpoolctl import threadpool_limits

from amt.io.chunked import ChunkedRun
from amt.record import RecordError, Station, StationRun
from amt.spectra.decimation import decimate_part, decimated_segments
from amt.spectra.prewhiten import apply_filter_slice, filter_response, fit_prediction_error_filter_read
from amt.spectra.store import allocate, release, take_bins
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
        any MT estimate resolves), in mV/km/sqrt(Hz) and nT/sqrt(Hz); a long record's are a view of a temporary
        file (:mod:`amt.spectra.store`), whose resident pages readers drop with :func:`amt.spectra.store.release`.
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

    def bin_numbers(self) -> np.ndarray:
        """Index of each kept bin among all the bins of a window (DC excluded): ``f / df - 1``, ``df`` the bin width."""
        return np.rint(self.freqs_hz * self.window_length / self.sample_rate_hz).astype(int) - 1

    def with_bins(self, bins: np.ndarray) -> Spectra:
        """A copy holding only the bins whose :meth:`bin_numbers` are in ``bins`` (the same object if all are)."""
        keep = np.flatnonzero(np.isin(self.bin_numbers(), np.asarray(bins, dtype=int)))
        if len(keep) == len(self.freqs_hz):
            return self
        return replace(self, freqs_hz=self.freqs_hz[keep], coefficients=take_bins(self.coefficients, keep))

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


#: Window samples transformed at a time (2048 windows of 128 samples, 512 of 512): the float64 blocks of a part stay
#: near 10 MiB however long the record and the windows.
_CHUNK_SAMPLES = 2048 * 128


def _detrended_spectra(
    part: np.ndarray, starts: np.ndarray, w: np.ndarray, keep: np.ndarray, gain: np.ndarray, out: np.ndarray
) -> None:
    """``gain * rfft(w * detrend(x))`` at the bins ``keep`` (into the bins without DC) of the windows of ``part``
    ``(channels, samples)`` that start at the samples ``starts``, written into ``out`` ``(windows, channels, bins)``
    (single precision: rounded once); ``gain`` ``(channels, bins)`` scales and calibrates each channel's bins.

    ``detrend`` removes each window's least-squares line (``scipy.signal.detrend(type="linear")``). The transform is
    linear, so the line is taken out of the spectrum instead of the samples: ``F(w x) - m F(w) - s F(w t)`` with
    ``m`` and ``s`` the window's mean and slope. Where few bins are kept (at most ``14 log2 n`` of a window of
    ``n``: any of a 128-sample window's, 126 of a 512-sample one's) the whole map from samples to kept
    coefficients is one ``n x bins`` matrix (the tapered Fourier kernel less the line's part, times the channel's
    gain) and each channel's windows go through it in one matrix product, which costs less than half the
    transform, taper and bin selection it replaces at 128 samples (the two cost the same at 130 bins of 512
    samples, measured); else the transform is taken and the line's part subtracted. The two routes agree to
    rounding (``tests/amt/transfer/test_spectra_kernels.py``).
    """
    n = len(w)
    windows = np.lib.stride_tricks.sliding_window_view(np.asarray(part, dtype=np.float64), n, axis=-1)[:, starts]
    t = np.arange(n) - (n - 1) / 2.0
    basis = np.stack([np.full(n, 1.0 / n), t / np.sum(t * t)], axis=1)  # mean and slope of each window
    bins = np.asarray(keep) + 1
    shapes = np.fft.rfft(np.stack([w, w * t]), axis=-1)[:, bins]  # the taper's and the tapered ramp's spectra
    if len(bins) <= 14 * np.log2(n):
        kernel = w[:, None] * np.exp(-2j * np.pi * (np.outer(np.arange(n), bins) % n) / n)
        kernel -= basis[:, :1] * shapes[0] + basis[:, 1:] * shapes[1]
        real = np.empty((n, 2 * len(bins)))
        for c in range(len(windows)):
            channel = kernel * gain[c]
            real[:, 0::2], real[:, 1::2] = channel.real, channel.imag
            out[:, c, :] = (windows[c] @ real).view(np.complex128)
    else:  # in place where it can be: the windows are this function's own copy
        line = windows @ basis
        windows *= w
        spectrum = np.fft.rfft(windows, axis=-1)
        consecutive = np.all(np.diff(bins) == 1)
        spectrum = spectrum[..., bins[0] : bins[-1] + 1] if consecutive else spectrum[..., bins]
        spectrum -= line @ shapes
        spectrum *= gain[:, None, :]
        out[:] = spectrum.transpose(1, 0, 2)


def compute_spectra(
    run: StationRun | ChunkedRun,
    config: SpectraConfig = SpectraConfig(),
    channels: Sequence[str] | None = None,
    min_windows: int | None = None,
    bins: Sequence[np.ndarray | None] | None = None,
) -> list[Spectra]:
    """Fourier coefficients of one run at every decimation level that holds ``config.min_windows`` windows.

    The run is read, decimated and transformed a part at a time (:class:`~amt.io.chunked.ChunkedRun`,
    :func:`amt.spectra.decimation.decimate_part`; decimated levels wait in temporary files), so the memory it takes
    beyond the coefficients kept does not grow with the record; the windows and their coefficients are those of
    a whole-record pass (the prewhitening fit sums its products in another order when a segment spans several
    parts: ~1e-16 relative).

    Parameters
    ----------
    run
        A station run (E in mV/km, H in nT, or counts with a response), in memory or read on demand.
    config
        Window and decimation settings.
    channels
        Channels to transform (default: all present).
    min_windows
        Overrides ``config.min_windows`` (a burst may hold one window of a level that all bursts fill).
    bins
        Per level, the indices of the bins to keep (into the bins without DC, ascending), or None for all; levels
        past the end of ``bins`` keep all. Default: every bin of every level.

    Returns
    -------
    list of Spectra
        Level 0 first; may be empty if even level 0 holds too few windows.
    """
    src = run if isinstance(run, ChunkedRun) else ChunkedRun.of(run)
    names = tuple(channels) if channels is not None else src.channels
    with threadpool_limits(limits=1, user_api="blas"):  # thin products: threads do not pay, and spin under load
        layout = _layout(src, names, config, config.min_windows if min_windows is None else min_windows)
        return _compute_spectra(src, names, config, layout, bins)


def _layout(src: ChunkedRun, names: tuple[str, ...], config: SpectraConfig, min_windows: int) -> list[list]:
    """Good segments of every level that holds ``min_windows`` windows (from the segments alone, no samples)."""
    missing = [c for c in names if c not in src.channels]
    if missing:
        raise SpectraError(f"{src.source or f'station {src.station} run {src.run}'}: missing channel(s) {missing}")
    segments = src.good_segments(min_samples=config.window_length, channels=names)
    levels = []
    for level in range(config.max_levels):
        if level > 0:
            segments = [(d.j0, d.j0 + d.n) for d in decimated_segments(segments, config.decimation_factor)]
        if len(window_starts(_used(segments, config), config.window_length, config.overlap)) < min_windows:
            break
        levels.append(segments)
    return levels


def _used(segments: list[tuple[int, int]], config: SpectraConfig) -> list[tuple[int, int]]:
    """Where windows may start: a prewhitened segment loses its first ``prewhiten_order`` samples."""
    p = config.prewhiten_order
    return [(i0 + p, i1) for i0, i1 in segments if i1 - i0 > p] if p > 0 else list(segments)


class _LevelFile:
    """A decimated level's channels in an anonymous temporary file (float64), read and written by sample range."""

    def __init__(self, names: tuple[str, ...], n: int) -> None:
        self._file = tempfile.TemporaryFile()
        self._index = {c: i for i, c in enumerate(names)}
        self._n = n

    def _offset(self, channel: str, i: int) -> int:
        return (self._index[channel] * self._n + i) * 8

    def write(self, channel: str, i: int, x: np.ndarray) -> None:
        os.pwrite(self._file.fileno(), np.ascontiguousarray(x, dtype=np.float64).tobytes(), self._offset(channel, i))

    def read(self, channel: str, lo: int, hi: int) -> np.ndarray:
        raw = os.pread(self._file.fileno(), (hi - lo) * 8, self._offset(channel, lo))
        out = np.zeros(hi - lo)  # never-written samples (gaps between segments) read as zeros; no window uses them
        out[: len(raw) // 8] = np.frombuffer(raw, dtype=np.float64)
        return out

    def close(self) -> None:
        self._file.close()


def _decimate_level(
    read: Callable[[str, int, int], np.ndarray],
    names: tuple[str, ...],
    segments: list[tuple[int, int]],
    n_samples: int,
    factor: int,
    chunk: int,
) -> _LevelFile:
    """The next level of the cascade, written ``chunk`` output samples at a time."""
    out = _LevelFile(names, n_samples // factor + 1)
    for seg in decimated_segments(segments, factor):
        for a in range(0, seg.n, chunk):
            b = min(a + chunk, seg.n)
            for c in names:
                out.write(c, seg.j0 + a, decimate_part(lambda lo, hi, c=c: read(c, lo, hi), seg, a, b, factor))
    return out


def _compute_spectra(
    src: ChunkedRun,
    names: tuple[str, ...],
    config: SpectraConfig,
    layout: list[list],
    bins: Sequence[np.ndarray | None] | None,
) -> list[Spectra]:
    length, factor = config.window_length, config.decimation_factor
    chunk = src.chunk_samples
    rate = src.sample_rate_hz
    read: Callable[[str, int, int], np.ndarray] = src.read
    n_samples = src.n_samples
    level_file: _LevelFile | None = None
    levels: list[Spectra] = []
    try:
        for level, segments in enumerate(layout):
            if level > 0:
                previous = level_file
                level_file = _decimate_level(read, names, layout[level - 1], n_samples, factor, chunk)
                if previous is not None:
                    previous.close()
                read, n_samples, rate = level_file.read, n_samples // factor + 1, rate / factor
            keep = np.arange(length // 2) if bins is None or level >= len(bins) or bins[level] is None else bins[level]
            levels.append(_level_spectra(src, names, config, level, rate, read, segments, keep, chunk))
    finally:
        if level_file is not None:
            level_file.close()
    return levels


def _level_spectra(
    src: ChunkedRun,
    names: tuple[str, ...],
    config: SpectraConfig,
    level: int,
    rate: float,
    read: Callable[[str, int, int], np.ndarray],
    segments: list[tuple[int, int]],
    keep: np.ndarray,
    chunk: int,
) -> Spectra:
    """One level's windows, ``_CHUNK_SAMPLES`` window samples at a time, spanning at most ``chunk`` samples."""
    length = config.window_length
    w = taper(config.taper, length)
    scale = np.sqrt(2.0 / np.sum(w**2)) / np.sqrt(rate)
    p = config.prewhiten_order
    filters = None
    if p > 0:
        filters = [
            fit_prediction_error_filter_read(lambda lo, hi, c=c: read(c, lo, hi), segments, p, chunk) for c in names
        ]
    starts = window_starts(_used(segments, config), length, config.overlap)
    keep = np.asarray(keep, dtype=int)
    coef = allocate(len(starts), len(names), len(keep))  # in a temporary file when large (amt.spectra.store)
    freqs = np.fft.rfftfreq(length, 1.0 / rate)[1:][keep]
    divisors = [_calibration(src, name, freqs) for name in names]
    if filters is not None:
        divisors = [d * filter_response(f, freqs, rate) for d, f in zip(divisors, filters, strict=True)]
    gain = scale / np.stack(divisors)  # per channel and bin: amplitude spectral density, calibrated
    per_part = max(1, _CHUNK_SAMPLES // length)
    i0 = 0
    while i0 < len(starts):  # bounded memory for hour-long 24 kHz records
        i1 = min(i0 + per_part, int(np.searchsorted(starts, starts[i0] + max(chunk - length, 1), "right")))
        part_starts = starts[i0:i1]
        lo, hi = int(part_starts[0]), int(part_starts[-1]) + length
        if filters is None:
            part = np.vstack([read(c, lo, hi) for c in names])
        else:  # prewhiten only the samples this part's windows span (and the p before them)
            part = np.vstack(
                [
                    apply_filter_slice(read(c, lo - p, hi), p, hi - lo + p, f)
                    for c, f in zip(names, filters, strict=True)
                ]
            )
        _detrended_spectra(part, part_starts - lo, w, keep, gain, coef[i0:i1])
        release(coef)
        i0 = i1
    return Spectra(
        station=src.station,
        run=src.run,
        channels=names,
        sample_rate_hz=rate,
        level=level,
        window_length=length,
        freqs_hz=freqs,
        coefficients=coef,
        window_start_s=src.start.timestamp + starts / rate,
        bin_correlation=bin_correlation(w),
    )


def _stack(parts: list[Spectra]) -> Spectra:
    """One level of several runs, windows in run order; a single run's level is returned as it is (no copy)."""
    first = parts[0]
    if len(parts) == 1:
        return first
    coef = allocate(sum(p.n_windows for p in parts), *first.coefficients.shape[1:])
    i = 0
    for p in parts:  # filled part by part: each run's coefficients can go as soon as they are copied
        coef[i : i + p.n_windows] = p.coefficients
        release(coef)
        i += p.n_windows
    return replace(
        first,
        run="+".join(dict.fromkeys(p.run for p in parts)),
        coefficients=coef,
        window_start_s=np.concatenate([p.window_start_s for p in parts]),
        window_weight=np.concatenate([p.window_weight for p in parts]),
    )


def _stream_layout(
    station: Station, rate: float, config: SpectraConfig, channels: Sequence[str] | None
) -> tuple[list[ChunkedRun], list[tuple[str, ...]], list[list[list]], list[int]]:
    """One stream's runs, their channels and layouts, and the levels that hold ``config.min_windows`` windows in all
    (from the segments alone, no samples read)."""
    runs = [r if isinstance(r, ChunkedRun) else ChunkedRun.of(r) for r in station.runs_at(rate)]
    names = [tuple(channels) if channels is not None else r.channels for r in runs]
    layouts = [_layout(r, n, config, 1) for r, n in zip(runs, names, strict=True)]
    counts = [
        [len(window_starts(_used(seg, config), config.window_length, config.overlap)) for seg in lay] for lay in layouts
    ]
    kept = [
        lev
        for lev in range(max(map(len, layouts), default=0))
        if sum(c[lev] for c in counts if len(c) > lev) >= config.min_windows
    ]
    return runs, names, layouts, kept


def station_levels(
    station: Station, config: SpectraConfig = SpectraConfig(), channels: Sequence[str] | None = None
) -> dict[float, list[Spectra]]:
    """The levels :func:`compute_station_spectra` would compute, with their bin frequencies and no windows.

    Read from the runs' segments alone (no samples): for planning which bins to keep before any are computed.

    Returns
    -------
    dict
        Original sample rate (Hz) -> levels (level 0 first), each with ``freqs_hz`` of every bin and no windows.
    """
    out: dict[float, list[Spectra]] = {}
    for rate in station.sample_rates_hz:
        _, names, _, kept = _stream_layout(station, rate, config, channels)
        if kept:
            out[rate] = [_empty_level(station.station, names[0], rate, lev, config) for lev in kept]
    return out


def compute_station_spectra(
    station: Station,
    config: SpectraConfig = SpectraConfig(),
    channels: Sequence[str] | None = None,
    select_bins: Callable[[list[Spectra]], Sequence[np.ndarray | None]] | None = None,
    transform: Sequence[str] | None = None,
) -> dict[float, list[Spectra]]:
    """Spectra of every run, stacked per sample rate (e.g. all 24 kHz bursts together).

    Parameters
    ----------
    station
        The record; its runs may be :class:`~amt.record.StationRun` or :class:`~amt.io.chunked.ChunkedRun`.
    config, channels
        As :func:`compute_spectra`.
    select_bins
        Given the levels of one stream with no windows yet (rates, window lengths and bin frequencies only,
        as :func:`station_levels`), the indices of the bins to keep at each level (e.g. those a band plan uses;
        None: all); default: all.
    transform
        Of those channels, the ones transformed and kept (default: all); the windows are laid out on all of them
        (a gap in any removes the windows it touches), so the windows are those of the spectra of every channel.

    Returns
    -------
    dict
        Original sample rate (Hz) -> levels (level 0 first). Runs at one rate must share channels.
    """
    out: dict[float, list[Spectra]] = {}
    with threadpool_limits(limits=1, user_api="blas"):
        for rate in station.sample_rates_hz:
            runs, names, layouts, kept = _stream_layout(station, rate, config, channels)
            if transform is not None:
                names = [tuple(c for c in n if c in transform) for n in names]
            bins = None
            if select_bins is not None and kept:
                chosen = select_bins([_empty_level(station.station, names[0], rate, lev, config) for lev in kept])
                bins = [None] * (kept[-1] + 1)
                for lev, b in zip(kept, chosen, strict=True):
                    bins[lev] = None if b is None else np.asarray(b, dtype=int)
            top = kept[-1] + 1 if kept else 0  # levels past the last one stacked are not computed
            per_run = [
                _compute_spectra(r, n, config, lay[:top], bins) for r, n, lay in zip(runs, names, layouts, strict=True)
            ]
            levels = [_stack([p[lev] for p in per_run if len(p) > lev]) for lev in kept]
            if levels:
                out[rate] = levels
    return out


def _empty_level(station: str, names: tuple[str, ...], rate: float, level: int, config: SpectraConfig) -> Spectra:
    """A level of a stream with its bin frequencies and no windows (for planning which bins to keep)."""
    length = config.window_length
    rate_level = rate / config.decimation_factor**level
    freqs = np.fft.rfftfreq(length, 1.0 / rate_level)[1:]
    return Spectra(
        station,
        "",
        names,
        rate_level,
        level,
        length,
        freqs,
        np.zeros((0, len(names), len(freqs)), np.complex64),
        np.zeros(0),
    )
