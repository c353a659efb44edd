"""Sferic-based dead-band compensation of the impedance (Jiang et al., 2023).

In the AMT dead band (about 1-5 kHz; Garcia & Jones, 2002, 2008) the natural field is weak except during the
sferics of distant lightning, so an estimate from all windows is dominated by windows in which H holds sensor
noise, or by a robust estimator that treats the rare energetic sferic windows as outliers. Following Jiang et al.
(2023), the dead-band frequencies are estimated only from windows that hold detected sferics:

* a window holds an event when the event's interval ``[start, end]`` overlaps it; its probability is the highest
  detection probability among those events (0 when none: the window takes no part);
* each window is further weighted by its horizontal H energy in the band, as the estimated signal fraction
  ``s_i = max(0, 1 - N / P_i)`` with ``P_i = sum_bins |Hx|^2 + |Hy|^2`` and ``N`` the median of ``P`` over windows
  holding no event (the noise floor). The weights use H only, local (or, with a remote reference, the remote H):
  never E, the response variable, which would bias the estimate towards windows that fit it;
* the band is then estimated by :func:`amt.transfer.estimate_transfer_function` with these prior window weights,
  by default a Huber M-estimate with neither leverage control nor a redescending stage. The sferic windows are
  the leverage points wanted here, and the weights already bound them. A redescending (Thomson) stage would
  reject the strongest sferics, whose residuals grow with their amplitude (a transient cut by a window edge
  leaves part of ``E = Z * H`` outside the window), and leave the weakest windows, whose H noise biases ``|Z|``
  low: measured on the synthetic daytime record with 2 sferics/s, rho_yx 8.9 % low at 1.3 kHz with it and
  within 3.1 % without it.

Outside the dead band every frequency is the conventional estimate from all windows
(:func:`amt.transfer.process_station`). Per dead-band frequency the result reports the number of sferics used,
their polarisation-azimuth spread (axial circular standard deviation, degrees) and the condition number of the
weighted H cross-power; a frequency whose sferics share one polarisation (spread below ``min_spread_deg`` or
condition number above ``max_condition``) or that has too few sferics is flagged and left empty, not guessed.

References
----------
Jiang, E., Chen, R., Wu, X., Liu, J., Zhu, D. and Liu, W. (2023), Deep learning based sferics recognition for AMT
data processing in the dead band, Geophysics 88(3), doi:10.1190/geo2022-0254.1.
Garcia, X. and Jones, A. G. (2002), Atmospheric sources for audio-magnetotelluric (AMT) sounding, Geophysics 67,
448-458.
Garcia, X. and Jones, A. G. (2008), Robust processing of magnetotelluric data in the AMT dead band using the
continuous wavelet transform, Geophysics 73(6), F223-F234.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np

from amt.deadband.edges import find_dead_band
from amt.deadband.events import DeadBandError
from amt.mt.transfer_function import TransferFunction
from amt.record import Station
from amt.sferic.catalogue import SfericEventTable
from amt.spectra import Spectra, SpectraConfig, compute_station_spectra, plan_bands
from amt.transfer import EstimateConfig, RobustConfig, estimate_transfer_function, process_station


@dataclass(frozen=True)
class CompensationConfig:
    """Settings of the dead-band compensation.

    Parameters
    ----------
    estimate
        Estimator of the dead-band frequencies (default: Huber M-estimate without leverage control or
        redescending stage; see the module notes).
    conventional
        Estimator of every other frequency (the conventional default).
    spectra
        Window and decimation settings of the conventional estimate.
    dead_band_spectra
        Window settings of the dead-band estimate. Default 512 samples (21.3 ms at 24 kHz), a quarter overlap.
        The dead band is a notch, and the Hann main lobe (+-2 bins: +-375 Hz for 128 samples at 24 kHz, +-188 Hz
        for 256, +-94 Hz for 512) leaks the far stronger power beside the notch into its bands, pulling ``|Z|``
        towards its value there: rho_a 10 % low at 1.4 kHz with 128 samples. On eight synthetic daytime records
        (``benchmarks.amt_deadband_windows``: seeds 3-6, 2 and 20 sferics/s) the largest rho_a error in the found
        dead band, mostly at the notch bottom (2.2 kHz), is 2.6-4.8 % per record with 256 samples and 0.8-3.9 %
        with 512. A window that holds a whole dispersed sferic (7-9 ms) also makes the estimate depend less on
        where events start and end: true labels instead of CNN detections moved it by up to 2.1 jackknife bars
        with 256 samples (four records at 1 bar or more), at most 0.8 with 512.
    search_hz
        Frequencies (Hz) searched for the dead band when its edges are not given.
    min_depth_db
        Notch depth (dB) that marks a band as dead (:func:`amt.deadband.find_dead_band`).
    min_sferics
        Fewest sferics a dead-band frequency must use.
    min_spread_deg
        Smallest polarisation-azimuth spread (degrees) of the sferics used; below it they share one polarisation.
    max_condition
        Largest condition number of the weighted H cross-power.
    use_remote_h
        With a remote reference, weight windows by the remote H energy (else by the local H energy).
    """

    estimate: EstimateConfig = field(
        default_factory=lambda: EstimateConfig(robust=RobustConfig(leverage=False, redescend=False))
    )
    conventional: EstimateConfig = field(default_factory=EstimateConfig)
    spectra: SpectraConfig = field(default_factory=SpectraConfig)
    dead_band_spectra: SpectraConfig = field(default_factory=lambda: SpectraConfig(window_length=512, overlap=128))
    search_hz: tuple[float, float] = (500.0, 10_000.0)
    min_depth_db: float = 6.0
    min_sferics: int = 5
    min_spread_deg: float = 10.0
    max_condition: float = 30.0
    use_remote_h: bool = True


@dataclass
class CompensationResult:
    """Compensated and conventional transfer functions of one station.

    Attributes
    ----------
    compensated
        Dead band from sferic windows, elsewhere identical to ``conventional``. Its ``diagnostics`` add
        ``dead_band`` (bool), ``n_sferics`` (int), ``azimuth_spread_deg`` (NaN outside the dead band) and, in
        the dead band, ``condition_number`` and ``n_windows`` of the weighted sferic windows.
    conventional
        The conventional estimate from all windows.
    dead_band_hz
        Edges (Hz) used, or None if no dead band was found or given.
    events
        The sferic events used (None when no dead band was found and none were needed).
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
    prob = np.zeros(s.n_windows)
    held: list[list[int]] = [[] for _ in range(s.n_windows)]
    dur = s.window_duration_s
    lo = np.searchsorted(starts, events.start_s - dur, side="right")
    hi = np.searchsorted(starts, events.end_s, side="left")
    for k, (a, b) in enumerate(zip(lo, hi, strict=True)):
        for w in order[a:b]:
            prob[w] = max(prob[w], events.probability[k])
            held[w].append(k)
    return prob, [np.asarray(h, dtype=int) for h in held]


def sferic_weights(
    s: Spectra, bins: np.ndarray, events: SfericEventTable, h_source: Spectra | None = None
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Window weights for one band: detection probability times the H signal fraction.

    Parameters
    ----------
    s
        Local spectra of the band's level.
    bins
        The band's bins.
    events
        Sferic events.
    h_source
        Spectra whose hx, hy give the energy (the remote's, window-matched to ``s``), default ``s``.

    Returns
    -------
    weights, held
        ``(n_windows,)`` weights in [0, 1] and, per window, the indices of the events it holds.
    """
    prob, held = _event_windows(s, events)
    hs = h_source if h_source is not None else s
    p = np.sum(np.abs(hs.channel("hx")[:, bins]) ** 2 + np.abs(hs.channel("hy")[:, bins]) ** 2, axis=1)
    quiet = (prob == 0) & (s.window_weight > 0)
    floor = float(np.median(p[quiet])) if np.count_nonzero(quiet) >= 10 else float(np.median(p))
    with np.errstate(divide="ignore", invalid="ignore"):
        frac = np.where(p > 0, np.clip(1.0 - floor / p, 0.0, 1.0), 0.0)
    return prob * frac, held


def _matched_remote(local: Spectra, remote: Spectra) -> Spectra:
    """Remote spectra re-ordered onto the local windows (same start time to a tenth of a sample)."""
    tol = 0.1 / local.sample_rate_hz
    key_r = {int(k): i for i, k in enumerate(np.round(remote.window_start_s / tol).astype(np.int64))}
    idx = np.array([key_r.get(int(k), -1) for k in np.round(local.window_start_s / tol).astype(np.int64)])
    coef = np.where((idx >= 0)[:, None, None], remote.coefficients[np.maximum(idx, 0)], 0.0)
    return replace(remote, coefficients=coef, window_start_s=local.window_start_s, window_weight=(idx >= 0) * 1.0)


def _empty_row(tf: TransferFunction, i: int, flag: str) -> None:
    tf.z[i] = np.nan
    tf.z_var[i] = np.nan
    if tf.tipper is not None:
        tf.tipper[i] = np.nan
        tf.tipper_var[i] = np.nan
    tf.flags[i] = flag


def compensate(
    station: Station,
    events: SfericEventTable | Callable[[], SfericEventTable],
    remote: Station | None = None,
    dead_band_hz: tuple[float, float] | None = None,
    config: CompensationConfig = CompensationConfig(),
    conventional: TransferFunction | None = None,
) -> CompensationResult:
    """Compensated transfer function of ``station``: dead band from sferic windows, elsewhere conventional.

    Parameters
    ----------
    station
        The record (E in mV/km, H in nT, or counts with responses).
    events
        Detected sferics (:func:`amt.deadband.detect_events`, :func:`amt.sferic.catalogue.read_events_csv`), or a
        function of no arguments giving them, called only if a dead band was found or given (a record that
        does not reach the dead band needs no detector).
    remote
        Remote-reference station, or None.
    dead_band_hz
        ``(low, high)`` edges in Hz; default: found from the data (:func:`amt.deadband.find_dead_band`) in the
        highest-rate stream.
    config
        Settings.
    conventional
        The conventional estimate of the same station and remote with ``config.spectra`` and
        ``config.conventional``, if already computed (default: computed here by :func:`process_station`).

    Returns
    -------
    CompensationResult

    Raises
    ------
    DeadBandError
        If the given edges are not positive and ordered.
    """
    if dead_band_hz is not None and not (0 < dead_band_hz[0] <= dead_band_hz[1]):
        raise DeadBandError(f"dead band edges must satisfy 0 < low <= high Hz, got {dead_band_hz}")
    if conventional is None:
        conventional = process_station(station, remote, config.spectra, config.conventional)
    local = compute_station_spectra(station, config.dead_band_spectra)
    rem = compute_station_spectra(remote, config.dead_band_spectra) if remote is not None else {}
    if dead_band_hz is None and local:
        top = max(local)
        dead_band_hz = find_dead_band(local[top], config.search_hz, config.min_depth_db, config.conventional.per_decade)
    tf = replace(  # a copy: the caller's conventional estimate is never modified
        conventional,
        frequency_hz=conventional.frequency_hz.copy(),
        z=conventional.z.copy(),
        z_var=conventional.z_var.copy(),
        tipper=None if conventional.tipper is None else conventional.tipper.copy(),
        tipper_var=None if conventional.tipper_var is None else conventional.tipper_var.copy(),
        flags=conventional.flags.copy(),
        diagnostics={k: np.array(v, copy=True) for k, v in conventional.diagnostics.items()},
    )
    n = tf.n_frequencies
    in_band = np.zeros(n, dtype=bool)
    n_sferics = np.zeros(n, dtype=int)
    spread = np.full(n, np.nan)
    if dead_band_hz is not None:
        if callable(events):
            events = events()
        lo, hi = dead_band_hz
        target = tf.diagnostics["target_hz"]
        in_band = (target >= lo * (1 - 1e-9)) & (target <= hi * (1 + 1e-9))
        for i in np.flatnonzero(in_band):
            rate = float(tf.diagnostics["sample_rate_hz"][i])
            if rate not in local:
                _empty_row(tf, i, f"dead band: the {rate:g} Hz stream is too short for the dead-band windows")
                continue
            _compensate_row(tf, i, local[rate], rem.get(rate), events, config, n_sferics, spread)
    tf.diagnostics["dead_band"] = in_band
    tf.diagnostics["n_sferics"] = n_sferics
    tf.diagnostics["azimuth_spread_deg"] = spread
    return CompensationResult(tf, conventional, dead_band_hz, None if callable(events) else events)


def _compensate_row(
    tf: TransferFunction,
    i: int,
    levels: list[Spectra],
    remote: list[Spectra] | None,
    events: SfericEventTable,
    config: CompensationConfig,
    n_sferics: np.ndarray,
    spread: np.ndarray,
) -> None:
    target = float(tf.diagnostics["target_hz"][i])
    bands = plan_bands(levels, np.array([target]), config.estimate.per_decade, config.estimate.min_bin)
    if not bands:
        _empty_row(tf, i, "dead band: no band for this frequency")
        return
    band = bands[0]
    s = levels[band.level]
    rem_level = remote[band.level] if remote is not None and band.level < len(remote) else None
    h_src = _matched_remote(s, rem_level) if (rem_level is not None and config.use_remote_h) else None
    w, held = sferic_weights(s, band.bins, events, h_src)
    used = np.unique(np.concatenate([held[k] for k in np.flatnonzero(w > 0)] or [np.zeros(0, int)]))
    n_sferics[i] = len(used)
    spread[i] = axial_spread_deg(events.azimuth_deg[used])
    if len(used) < config.min_sferics:
        _empty_row(tf, i, f"dead band: {len(used)} sferics in use (< {config.min_sferics})")
        return
    if spread[i] < config.min_spread_deg:
        _empty_row(tf, i, f"dead band: sferics share one polarisation (azimuth spread {spread[i]:.1f} deg)")
        return
    weighted = list(levels)
    weighted[band.level] = s.with_window_weights(w)
    est = estimate_transfer_function(weighted, remote, config.estimate, np.array([target]))
    cond = float(est.diagnostics["condition_number"][0])
    tf.diagnostics["condition_number"][i] = cond
    tf.diagnostics["n_windows"][i] = est.diagnostics["n_windows"][0]
    tf.diagnostics["n_points"][i] = est.diagnostics["n_points"][0]
    tf.diagnostics["coherence"][i] = est.diagnostics["coherence"][0]
    if est.flags[0]:
        _empty_row(tf, i, f"dead band: {est.flags[0]}")
        return
    if not np.isfinite(cond) or cond > config.max_condition:
        _empty_row(tf, i, f"dead band: sferics share one polarisation (condition number {cond:.3g})")
        return
    tf.frequency_hz[i] = est.frequency_hz[0]
    tf.z[i], tf.z_var[i] = est.z[0], est.z_var[0]
    if tf.tipper is not None and est.tipper is not None:
        tf.tipper[i], tf.tipper_var[i] = est.tipper[0], est.tipper_var[0]
    tf.diagnostics["z_var_parametric"][i] = est.diagnostics["z_var_parametric"][0]
    tf.flags[i] = ""
