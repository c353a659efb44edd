"""Dead-band compensation decided by the data, frequency by frequency, with honest flags.

In the AMT dead band (about 1-5 kHz; Garcia & Jones, 2002, 2008) the natural field is weak except during the
sferics of distant lightning, and instrument noise on H biases the conventional estimate from all windows low
(least squares divides by the noise power too). Jiang et al. (2023) estimate the dead band from the windows that
hold sferics. Here no frequency is switched by a power notch: at **every** frequency two estimates are made and
the data decide between them.

* ``conventional``: the robust estimate from all windows (:func:`amt.transfer.estimate_station`,
  ``CompensationConfig.spectra``).
* ``sferic`` (``CompensationConfig.sferic_spectra``, longer windows): the windows that hold sferics, weighted by
  their H signal fraction over two octaves around the band (:func:`amt.deadband.difference.broadband_fraction`)
  times the detection probability, with the mean cross-powers of the quiet windows between sferics subtracted
  (:func:`amt.deadband.difference.difference_estimate`): free of the bias of noise on H and of the background,
  whatever their levels. It is reported at its own power-weighted band frequency.

The criterion sees bias as well as variance. The conventional estimate is kept when its bias is shown to be small:
with a remote reference (no noise bias), when its coherence bounds the bias (single-site, the multiple coherence
``gamma`` of E with H bounds the relative bias of ``|Z|`` by ``1 - gamma^2``: noise on H lowers ``|Z|`` by the
factor ``S / (S + N_H)``, which is at least ``gamma^2``) below ``bias_tolerance``, or when the sferic estimate
verifies it (``|Z_conv - Z_sferic| + 2 sigma <= bias_tolerance |Z|`` on both off-diagonal elements, the two
compared as ``Z / sqrt(f)`` at the conventional frequency); never when the two differ by more than two standard
errors (then at least one is biased: leakage beside the dead band can make a coherent conventional estimate
wrong). Otherwise the sferic estimate is taken where it is good: at least ``min_sferics`` sferics whose windows
hold band H power ``min_snr`` times above the quiet floor (counted in sferics, not in detector events: one window
may hold several, one sferic several windows), a polarisation spread of at least ``min_spread_deg``, a condition
number of at most ``max_condition`` and a relative rho_a error bar of at most ``max_relative_error``. No
estimate is kept unflagged with a wider bar than that, the conventional one included (a remote-reference estimate
is unbiased but can be far off where the remote holds little signal).
Where neither estimate is shown good the frequency is **flagged** and left empty (estimator ``"none"``): writers
put the EDI empty value there.

The dead band (a power notch, :func:`amt.deadband.find_dead_band`, or the edges given) is a diagnostic only.

References
----------
Jiang, E., Chen, R., Wu, X., Liu, J., Zhu, D. and Liu, W. (2023), Deep learning based sferics recognition for AMT
data processing in the dead band, Geophysics 88(3), doi:10.1190/geo2022-0254.1.
Garcia, X. and Jones, A. G. (2002), Atmospheric sources for audio-magnetotelluric (AMT) sounding, Geophysics 67,
448-458.
Garcia, X. and Jones, A. G. (2008), Robust processing of magnetotelluric data in the AMT dead band using the
continuous wavelet transform, Geophysics 73(6), F223-F234.
Hausman, J. A. (1978), Specification tests in econometrics, Econometrica 46, 1251-1271 (an efficient estimate
tested against a consistent one).
"""

from __future__ import annotations

import ctypes
import functools
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np

from amt.deadband.difference import (
    INPUTS,
    OUTPUTS,
    bin_power,
    broadband_fraction,
    cross_powers,
    difference_estimate,
)
from amt.deadband.edges import find_dead_band
from amt.deadband.events import DeadBandError
from amt.mt.transfer_function import TransferFunction
from amt.record import Station
from amt.sferic.catalogue import SfericEventTable
from amt.spectra import (
    Spectra,
    SpectraConfig,
    SpectraError,
    compute_station_spectra,
    plan_bands,
    plan_bins,
    station_levels,
)
from amt.spectra.store import allocate, release
from amt.transfer import EstimateConfig, estimate_station

#: Values of ``diagnostics["estimator"]``.
ESTIMATORS = ("conventional", "sferic", "none")
_OFF = ([0, 1], [1, 0])  # the off-diagonal elements xy, yx
_MATCH_BLOCK = 8192  # windows of the remote matched onto the local ones at a time


@dataclass(frozen=True)
class CompensationConfig:
    """Settings of the per-frequency choice (module notes).

    Parameters
    ----------
    conventional
        Estimator of the conventional estimate.
    spectra
        Windows and decimation of the conventional estimate.
    sferic_spectra
        Windows of the sferic estimate at the original rate (level 0 only; below the lowest frequency it resolves,
        the sferic estimate uses the decimated levels of ``spectra``, which hold more windows). Default 512 samples
        (21.3 ms at 24 kHz), a quarter overlap: the Hann main lobe (+-2 bins: +-375 Hz for 128 samples at 24 kHz,
        +-94 Hz for 512) and side lobes leak the far stronger sferic power beside the dead band into it. Measured
        on the physical-generator record of ``tests/amt/deadband`` (20 sferics/s, labels): 128 samples 7.6 % high
        at 2.2 kHz and 7.3 % low at 1.4 kHz, 512 samples within 1.5 % at 0.75-3.8 kHz.
    search_hz, min_depth_db
        Search range (Hz) and notch depth (dB) of the diagnostic dead band (:func:`amt.deadband.find_dead_band`).
    min_sferics
        Fewest sferics with band H SNR >= ``min_snr`` the sferic estimate needs.
    min_snr
        Band H power of a sferic window over the quiet floor, less 1 (signal over noise, power ratio).
    min_spread_deg
        Smallest polarisation-azimuth spread (degrees) of those sferics.
    max_condition
        Largest condition number of the corrected H cross-power of the sferic estimate.
    max_relative_error
        Largest relative standard error of rho_a (xy and yx) of an unflagged estimate (0.03: 3 %).
    bias_tolerance
        Largest relative bias of ``|Z|`` the conventional estimate may be shown to have (0.025: about 5 % in rho_a).
    octaves
        Half-width (octaves) of the range that weights the sferic windows.
    use_remote_h
        With a remote reference, use the remote H as the sferic estimate's reference.
    """

    conventional: EstimateConfig = field(default_factory=EstimateConfig)
    spectra: SpectraConfig = field(default_factory=SpectraConfig)
    sferic_spectra: SpectraConfig = field(default_factory=lambda: SpectraConfig(window_length=512, overlap=128))
    search_hz: tuple[float, float] = (500.0, 10_000.0)
    min_depth_db: float = 6.0
    min_sferics: int = 5
    min_snr: float = 1.0
    min_spread_deg: float = 10.0
    max_condition: float = 30.0
    max_relative_error: float = 0.03
    bias_tolerance: float = 0.025
    octaves: float = 1.0
    use_remote_h: bool = True


@dataclass
class CompensationResult:
    """Compensated and conventional transfer functions of one station.

    Attributes
    ----------
    compensated
        Per frequency the estimate chosen (module notes). Its ``diagnostics`` add ``estimator`` (one of
        :data:`ESTIMATORS`), ``n_sferics`` (sferics with band SNR >= ``min_snr``), ``n_sferic_windows``,
        ``h_signal_fraction`` (mean H signal fraction of the sferic windows used), ``azimuth_spread_deg``,
        ``sferic_rho_rel_err`` (relative rho_a error of the sferic estimate, worst of xy and yx),
        ``bias_bound`` (the bound on the conventional estimate's relative ``|Z|`` bias, NaN when none) and
        ``dead_band`` (bool: inside the diagnostic dead band).
    conventional
        The conventional estimate from all windows.
    dead_band_hz
        Edges (Hz) of the diagnostic dead band given or found (None if none).
    events
        The sferic events used.
    """

    compensated: TransferFunction
    conventional: TransferFunction
    dead_band_hz: tuple[float, float] | None
    events: SfericEventTable | None


def axial_spread_deg(azimuth_deg: np.ndarray) -> float:
    """Circular standard deviation (degrees) of axial angles (``theta`` and ``theta + 180`` are the same axis).

    ``0.5 sqrt(-2 ln R)`` with ``R`` the mean resultant length of the doubled angles (Mardia & Jupp, 2000,
    Directional Statistics, sec. 2.3); 0 when all share one axis.
    """
    a = np.deg2rad(2.0 * np.asarray(azimuth_deg, dtype=float))
    if a.size == 0:
        return float("nan")
    r = min(float(np.abs(np.mean(np.exp(1j * a)))), 1.0)
    return float(np.rad2deg(0.5 * np.sqrt(-2.0 * np.log(max(r, 1e-300)))))


def _event_windows(s: Spectra, events: SfericEventTable) -> tuple[np.ndarray, list[np.ndarray]]:
    """Per window: highest probability of an overlapping event (0 if none) and the indices of those events."""
    order = np.argsort(s.window_start_s, kind="stable")
    starts = s.window_start_s[order]
    dur = s.window_duration_s
    lo = np.searchsorted(starts, events.start_s - dur, side="right")
    count = np.maximum(np.searchsorted(starts, events.end_s, side="left") - lo, 0)  # windows each event overlaps
    event = np.repeat(np.arange(len(lo)), count)  # one entry per (event, window) pair, events in order
    window = order[np.repeat(lo - np.cumsum(count) + count, count) + np.arange(count.sum())]
    prob = np.zeros(s.n_windows)
    np.maximum.at(prob, window, events.probability[event])
    by_window = np.lexsort((event, window))  # per window, its events in order
    held = np.split(event[by_window], np.searchsorted(window[by_window], np.arange(1, s.n_windows)))
    return prob, held if s.n_windows else []


def _matched_remote(local: Spectra, remote: Spectra) -> Spectra:
    """Remote spectra re-ordered onto the local windows (same start time to a tenth of a sample)."""
    tol = 0.1 / local.sample_rate_hz
    key_r = {int(k): i for i, k in enumerate(np.round(remote.window_start_s / tol).astype(np.int64))}
    idx = np.array([key_r.get(int(k), -1) for k in np.round(local.window_start_s / tol).astype(np.int64)])
    coef = allocate(len(idx), *remote.coefficients.shape[1:])  # file-backed when large, filled a block at a time
    for i in range(0, len(idx), _MATCH_BLOCK):
        part = idx[i : i + _MATCH_BLOCK]
        block = remote.coefficients[np.maximum(part, 0)]
        block[part < 0] = 0.0
        coef[i : i + len(part)] = block
        release(remote.coefficients)
        release(coef)
    return replace(remote, coefficients=coef, window_start_s=local.window_start_s, window_weight=(idx >= 0) * 1.0)


def _copy(tf: TransferFunction) -> TransferFunction:
    """A deep copy of the arrays of ``tf`` (the caller's estimate is never modified)."""
    return replace(
        tf,
        frequency_hz=tf.frequency_hz.copy(),
        z=tf.z.copy(),
        z_var=tf.z_var.copy(),
        tipper=None if tf.tipper is None else tf.tipper.copy(),
        tipper_var=None if tf.tipper_var is None else tf.tipper_var.copy(),
        flags=tf.flags.copy(),
        diagnostics={k: np.array(v, copy=True) for k, v in tf.diagnostics.items()},
    )


def compensate(
    station: Station,
    events: SfericEventTable | Callable[[], SfericEventTable],
    remote: Station | None = None,
    dead_band_hz: tuple[float, float] | None = None,
    config: CompensationConfig = CompensationConfig(),
    conventional: TransferFunction | None = None,
) -> CompensationResult:
    """Per frequency the conventional or the sferic estimate of ``station``, as the data decide (module notes).

    Parameters
    ----------
    station
        The record (E in mV/km, H in nT, or counts with responses).
    events
        Sferic events (true labels, :func:`amt.deadband.detect_events`, :func:`amt.sferic.catalogue.read_events_csv`),
        or a function of no arguments giving them, called once the conventional estimate is done (the detector's
        memory and the estimator's are then not held together); if it raises :class:`DeadBandError` (no stream the
        detector reads), no frequency has a sferic estimate.
    remote
        Remote-reference station, or None.
    dead_band_hz
        ``(low, high)`` edges in Hz of the diagnostic dead band; default: the notch found in the data
        (:func:`amt.deadband.find_dead_band`), if any.
    config
        Settings.
    conventional
        The conventional estimate of the same station and remote with ``config.spectra`` and
        ``config.conventional``, if already computed (default: computed here from the same spectra).

    Memory: the spectra keep only the bins the rows read (each band's and those within ``config.octaves`` of it,
    :func:`_sferic_bins`) besides the conventional band plan's, which go once the conventional estimate is done,
    before the long windows (E and H only) are made; the estimate equals one from every bin and channel.

    Returns
    -------
    CompensationResult

    Raises
    ------
    DeadBandError
        If the given edges are not positive and ordered.
    SpectraError
        If no stream holds enough data for one window level.
    """
    if dead_band_hz is not None and not (0 < dead_band_hz[0] <= dead_band_hz[1]):
        raise DeadBandError(f"dead band edges must satisfy 0 < low <= high Hz, got {dead_band_hz}")
    top_only = replace(config.sferic_spectra, max_levels=1)
    long_plan = station_levels(station, top_only)
    given = None if conventional is None else conventional.diagnostics
    needs: dict[float, tuple[list[np.ndarray], list[np.ndarray]]] = {}  # rate -> bins the rows read, per level
    chosen: dict[float, list[np.ndarray]] = {}

    def keep_local(levels: list[Spectra]) -> list[np.ndarray]:
        rate = levels[0].sample_rate_hz
        targets = _targets(levels, given, rate, config.conventional)
        needs[rate] = _sferic_bins(levels, long_plan.get(rate, []), targets, config)
        chosen[rate] = needs[rate][0]
        if conventional is None:  # and the bins of the conventional estimate's band plan
            plan = plan_bins(levels, config.conventional.per_decade, config.conventional.min_bin)
            chosen[rate] = [np.union1d(a, b) for a, b in zip(plan, chosen[rate], strict=True)]
        return chosen[rate]

    def keep_remote(levels: list[Spectra]) -> list[np.ndarray | None]:
        bins = chosen.get(levels[0].sample_rate_hz, [])
        return [bins[i] if i < len(bins) else None for i in range(len(levels))]

    local = compute_station_spectra(station, config.spectra, select_bins=keep_local)
    if not local:
        raise SpectraError(f"{station.source or station.station}: no stream holds enough data for one window level")
    rem = compute_station_spectra(remote, config.spectra, select_bins=keep_remote) if remote is not None else None
    if conventional is None:
        conventional = estimate_station(station, local, rem, config.conventional)
    # done with the conventional estimate: only the bins the rows read stay (and go before the long windows come)
    local = _with_bins(local, needs)
    rem = _with_bins(rem, needs) if rem is not None else None
    _return_freed_memory()
    if callable(events):  # detected now: the conventional estimate's arrays are gone, the long windows not yet made
        try:
            events = events()
        except DeadBandError:  # no stream the detector reads (e.g. a 1 Hz record): no sferic estimate anywhere
            events = _no_events()
    _return_freed_memory()

    def keep_long(levels: list[Spectra]) -> list[np.ndarray] | list[None]:
        bins = needs.get(levels[0].sample_rate_hz)
        return bins[1] if bins is not None else [None] * len(levels)

    # the long windows of the channels the rows read (E and H; the remote's H), laid out on all as before
    long = compute_station_spectra(station, top_only, select_bins=keep_long, transform=(*INPUTS, *OUTPUTS))
    long_rem = None
    if remote is not None:
        long_rem = compute_station_spectra(remote, top_only, select_bins=keep_long, transform=INPUTS)
    if dead_band_hz is None and long:
        top = max(long)
        dead_band_hz = find_dead_band(long[top], config.search_hz, config.min_depth_db, config.conventional.per_decade)
    tf = _copy(conventional)
    n = tf.n_frequencies
    d = tf.diagnostics
    d["estimator"] = np.array(["conventional"] * n, dtype=object)
    for key in ("h_signal_fraction", "azimuth_spread_deg", "sferic_rho_rel_err", "bias_bound"):
        d[key] = np.full(n, np.nan)
    d["n_sferics"] = np.zeros(n, dtype=int)
    d["n_sferic_windows"] = np.zeros(n, dtype=int)
    target = d["target_hz"]
    if dead_band_hz is None:
        d["dead_band"] = np.zeros(n, dtype=bool)
    else:
        d["dead_band"] = (target >= dead_band_hz[0] * (1 - 1e-9)) & (target <= dead_band_hz[1] * (1 + 1e-9))
    windows: dict = {}  # per spectra level: its event windows and matched remote, shared by the rows it serves
    for i in range(n):
        rate = float(d["sample_rate_hz"][i])
        if rate not in local or d["level"][i] < 0:
            continue
        spectra = (local[rate], long.get(rate, []))
        remote_spectra = None if rem is None else (rem.get(rate), long_rem.get(rate, []))
        _choose_row(tf, i, spectra, remote_spectra, events, config, windows)
        for level in (*spectra[0], *spectra[1]):  # only the rows in use stay resident (amt.spectra.store)
            release(level.coefficients)
    return CompensationResult(tf, conventional, dead_band_hz, events)


def _targets(levels: list[Spectra], given: dict | None, rate: float, config: EstimateConfig) -> np.ndarray:
    """Target frequencies (Hz) of the rows of the stream at ``rate``: those of the given conventional estimate,
    else those of its band plan on ``levels`` (as :func:`amt.transfer.estimate_station` plans them)."""
    if given is not None:
        return np.asarray(given["target_hz"], dtype=float)[np.asarray(given["sample_rate_hz"]) == rate]
    return np.array([b.target_hz for b in plan_bands(levels, None, config.per_decade, config.min_bin)])


def _sferic_bins(
    levels: list[Spectra], long_levels: list[Spectra], targets: np.ndarray, config: CompensationConfig
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Per level of the conventional and of the long windows, the bins (:meth:`Spectra.bin_numbers`) the rows at
    ``targets`` read (:func:`_choose_row`): each band's bins and every bin within ``config.octaves`` of it
    (:func:`amt.deadband.difference.broadband_fraction`); and the long windows' band plan (the dead band's search,
    :func:`amt.deadband.find_dead_band`). Spectra keeping only these give the same rows as spectra with every bin.
    """
    cfg = config.conventional
    local: list[set[int]] = [set() for _ in levels]
    long: list[set[int]] = [set(b.tolist()) for b in plan_bins(long_levels, cfg.per_decade, cfg.min_bin)]
    span = 2.0**config.octaves
    for target in targets:
        need, stream = long, long_levels
        bands = plan_bands(long_levels, np.array([target]), cfg.per_decade, cfg.min_bin)
        if not bands:
            need, stream = local, levels
            bands = plan_bands(levels, np.array([target]), cfg.per_decade, cfg.min_bin)
        if not bands:
            continue
        band = bands[0]
        s = stream[band.level]
        f = s.freqs_hz  # a margin of 1e-9: keeping more bins than are read changes nothing
        wide = (f >= band.frequency_hz / span * (1 - 1e-9)) & (f <= band.frequency_hz * span * (1 + 1e-9))
        need[band.level].update(s.bin_numbers()[band.bins].tolist())
        need[band.level].update(s.bin_numbers()[wide].tolist())
    return [np.array(sorted(u), dtype=int) for u in local], [np.array(sorted(u), dtype=int) for u in long]


def _with_bins(
    spectra: dict[float, list[Spectra]], needs: dict[float, tuple[list[np.ndarray], list[np.ndarray]]]
) -> dict[float, list[Spectra]]:
    """``spectra`` keeping at each level only the bins the rows read (``needs[rate][0]``; other levels whole)."""
    out = {}
    for rate, levels in spectra.items():
        bins = needs[rate][0] if rate in needs else []
        out[rate] = [s.with_bins(bins[i]) if i < len(bins) else s for i, s in enumerate(levels)]
    return out


def _return_freed_memory() -> None:
    """Hand the heap pages freed so far back to the system (glibc's ``malloc_trim``; nothing where there is none).

    Freed arrays smaller than glibc's mmap threshold (which rises to 32 MiB as larger ones are freed) stay in the
    process's heap, resident: on 10 minutes at 24 kHz 262 MiB after the conventional estimate and 147 MiB after the
    detection (RSS before and after), under the long windows that come next.
    """
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim`` of this process, looked up once (None where the C library has none)."""
    try:
        return ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError, TypeError):  # no C library to open, or one without malloc_trim (not glibc)
        return None


def _no_events() -> SfericEventTable:
    empty = np.zeros(0)
    return SfericEventTable(empty, empty, empty, empty, empty, source="none")


def _relative_rho_error(z: np.ndarray, z_var: np.ndarray) -> float:
    """Worst relative standard error of rho_a over xy and yx: ``2 sigma_|Z| / |Z|``, ``sigma_|Z| = sqrt(var / 2)``."""
    with np.errstate(divide="ignore", invalid="ignore"):
        r = 2 * np.sqrt(z_var[_OFF] / 2) / np.abs(z[_OFF])
    return float(np.max(r)) if np.all(np.isfinite(r)) else np.inf


def _choose_row(
    tf: TransferFunction,
    i: int,
    spectra: tuple[list[Spectra], list[Spectra]],
    remote: tuple[list[Spectra] | None, list[Spectra]] | None,
    events: SfericEventTable,
    config: CompensationConfig,
    windows: dict,
) -> None:
    """Estimate row ``i`` from the sferic windows and keep it or the conventional one (module notes).

    ``spectra`` holds the conventional levels and the long-window level 0 (``config.sferic_spectra``); the band is
    taken from the long windows where they resolve it, else from the conventional levels (more windows at low
    frequencies, where no sharp spectral edge leaks). ``remote`` holds the remote's, alike. ``windows`` caches, per
    spectra level, the matched remote and the event windows (they depend on the level only, not on the row).
    """
    d = tf.diagnostics
    target = float(d["target_hz"][i])
    cfg = config.conventional
    which = 1
    bands = plan_bands(spectra[1], np.array([target]), cfg.per_decade, cfg.min_bin)
    if not bands:
        which = 0
        bands = plan_bands(spectra[0], np.array([target]), cfg.per_decade, cfg.min_bin)
    if not bands:
        return
    band = bands[0]
    levels = spectra[which]
    s = levels[band.level]
    rem_levels = remote[which] if remote is not None else None
    rem_level = rem_levels[band.level] if rem_levels is not None and band.level < len(rem_levels) else None
    key = (id(s), id(rem_level))
    if key not in windows:  # the levels live as long as the loop in compensate, so their ids are stable keys
        ref = _matched_remote(s, rem_level) if (rem_level is not None and config.use_remote_h) else None
        windows[key] = (ref, *_event_windows(s, events))
    ref, prob, held = windows[key]
    live = (s.window_weight > 0) & (ref.window_weight > 0 if ref is not None else True)
    quiet = (prob == 0) & live
    w = prob * broadband_fraction(s, band.bins, band.frequency_hz, quiet, config.octaves) * live
    a, b = cross_powers(s, band.bins, ref)
    powers = bin_power(s, band.bins)
    est = difference_estimate(a, b, w, quiet, powers, s.freqs_hz[band.bins])
    p = powers.sum(axis=1)
    floor = float(np.median(p[quiet])) if np.any(quiet) else np.inf
    strong = (w > 0) & (p >= (1.0 + config.min_snr) * floor)
    used = np.unique(np.concatenate([held[k] for k in np.flatnonzero(strong)] or [np.zeros(0, int)]))
    d["n_sferics"][i] = len(used)
    d["n_sferic_windows"][i] = est.n_windows
    d["h_signal_fraction"][i] = est.signal_fraction
    d["azimuth_spread_deg"][i] = axial_spread_deg(events.azimuth_deg[used])
    rel = _relative_rho_error(est.z, est.z_var)
    d["sferic_rho_rel_err"][i] = rel
    problems = []
    if len(used) < config.min_sferics:
        problems.append(f"{len(used)} sferics with band SNR >= {config.min_snr:g} (< {config.min_sferics})")
    elif not d["azimuth_spread_deg"][i] >= config.min_spread_deg:
        problems.append(f"sferics share one polarisation (azimuth spread {d['azimuth_spread_deg'][i]:.1f} deg)")
    if not est.condition_number <= config.max_condition:
        problems.append(f"condition number {est.condition_number:.3g} > {config.max_condition:g}")
    if not rel <= config.max_relative_error:
        problems.append(f"rho_a error {100 * rel:.1f} % > {100 * config.max_relative_error:g} %")
    sferic_ok = not problems
    zc, vc = tf.z[i], tf.z_var[i]
    # the two estimates belong to slightly different frequencies: compared as Z / sqrt(f), smooth in frequency
    # (sqrt(rho_a), constant over a half-space), at the conventional estimate's frequency
    f_s = est.frequency_hz if np.isfinite(est.frequency_hz) else band.frequency_hz
    scale = np.sqrt(tf.frequency_hz[i] / f_s)
    zs, vs = est.z * scale, est.z_var * scale**2
    bias_ok, bound = _conventional_bias_ok(tf, i, remote is not None, zs, vs, config)
    d["bias_bound"][i] = bound
    differ = False
    if np.all(np.isfinite(zs[_OFF])) and np.all(np.isfinite(zc[_OFF])):
        differ = bool(np.any(np.abs(zc[_OFF] - zs[_OFF]) > 2 * np.sqrt(vc[_OFF] + vs[_OFF])))
    # a significant disagreement: at least one of the two is biased; and no estimate is kept with a wide bar
    rel_c = _relative_rho_error(zc, vc)
    conv_ok = bias_ok and not differ and rel_c <= config.max_relative_error
    if sferic_ok and (not conv_ok or tf.flags[i]):
        _take_sferic(tf, i, est.z, est.z_var, f_s, est.condition_number)
        return
    if conv_ok and not tf.flags[i]:
        return
    conv_why = [tf.flags[i]] if tf.flags[i] else []
    if not bias_ok:
        conv_why.append(f"bias not bounded (bound {bound:.2f} > {config.bias_tolerance:g})")
    if differ:
        conv_why.append("differs from the sferic estimate by more than 2 standard errors")
    if not rel_c <= config.max_relative_error:
        conv_why.append(f"rho_a error {100 * rel_c:.1f} % > {100 * config.max_relative_error:g} %")
    why = "; ".join(problems) if problems else "differs from the conventional estimate"
    tf.flags[i] = f"conventional: {', '.join(conv_why)}; sferic windows: {why}"
    _empty_row(tf, i, est.condition_number)


def _empty_row(tf: TransferFunction, i: int, cond: float) -> None:
    """A flagged row is empty (NaN): never a guess (writers put the EDI empty value there)."""
    tf.z[i] = np.nan
    tf.z_var[i] = np.nan
    if tf.tipper is not None:
        tf.tipper[i] = np.nan
        tf.tipper_var[i] = np.nan
    if np.isfinite(cond):
        tf.diagnostics["condition_number"][i] = cond
    tf.diagnostics["estimator"][i] = "none"


def _conventional_bias_ok(
    tf: TransferFunction, i: int, with_remote: bool, z_s: np.ndarray, var_s: np.ndarray, config: CompensationConfig
) -> tuple[bool, float]:
    """Whether the conventional estimate's relative ``|Z|`` bias is shown below ``bias_tolerance``, and the bound.

    A remote reference removes the noise bias (bound 0); single-site, the bound is ``1 - gamma^2`` of the worse
    E channel, or, if smaller, ``(|Z_conv - Z_sferic| + 2 sigma) / |Z_sferic|`` on the off-diagonal elements.
    """
    if with_remote:
        return True, 0.0
    coh = tf.diagnostics["coherence"][i]
    bound = float(1.0 - np.min(coh) ** 2) if np.all(np.isfinite(coh)) else np.inf
    zc, vc = tf.z[i], tf.z_var[i]
    if np.all(np.isfinite(z_s[_OFF])) and np.all(np.isfinite(var_s[_OFF])) and np.all(np.isfinite(zc[_OFF])):
        dev = (np.abs(zc[_OFF] - z_s[_OFF]) + 2 * np.sqrt(vc[_OFF] + var_s[_OFF])) / np.abs(z_s[_OFF])
        bound = min(bound, float(np.max(dev)))
    return bool(bound <= config.bias_tolerance), bound


def _take_sferic(tf: TransferFunction, i: int, z: np.ndarray, z_var: np.ndarray, f_hz: float, cond: float) -> None:
    tf.z[i], tf.z_var[i] = z, z_var
    tf.frequency_hz[i] = f_hz
    if tf.tipper is not None:  # the sferic estimate has no tipper: none is reported rather than a mismatched one
        tf.tipper[i] = np.nan
        tf.tipper_var[i] = np.nan
    tf.diagnostics["condition_number"][i] = cond
    tf.diagnostics["estimator"][i] = "sferic"
    tf.flags[i] = ""
