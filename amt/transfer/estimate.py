"""Band-by-band estimation of impedance and tipper from spectra, single-site or with a remote reference.

For every band (:func:`amt.spectra.plan_bands`) the data points are all (window, bin) pairs of the band's level;
window weights (:attr:`amt.spectra.Spectra.window_weight`) enter as prior weights, so a window of weight 0 takes no
part. Each output channel (Ex, Ey, and Hz for the tipper) is regressed on (Hx, Hy) separately
(:func:`amt.transfer.regression.regress`). Per frequency the estimator also reports:

* ``condition_number``: the 2-norm condition number of the prior-weighted local H cross-power ``H^H W H``;
  frequencies above ``EstimateConfig.max_condition`` (a single source polarisation) are flagged and left empty;
* ``coherence``: the weighted multiple coherence of each E channel with its prediction;
* ``n_windows`` and ``n_points``: windows and data points in use.

Coherence screening (``min_coherence`` > 0) rejects windows whose predicted coherence over the band's bins falls
below the threshold and re-estimates (Egbert & Livelybrooks 1996 use the same screen before robust estimation).

BLAS runs single-threaded here: the regressions' matrices are n x 2, too thin for threads to pay, and on a
shared machine OpenBLAS threads spin against other work (measured on test1 under load: 0.18 s with one thread,
0.50 s with two).

Errors: the jackknife variance (:func:`amt.transfer.uncertainty.jackknife_variance`) is ``z_var``, the one written to
EDI files; the parametric variance is kept as ``diagnostics["z_var_parametric"]``.

References
----------
Egbert, G. D. and Booker, J. R. (1986), Geophys. J. R. astr. Soc. 87, 173-194.
Egbert, G. D. and Livelybrooks, D. W. (1996), Single station magnetotelluric impedance estimation: coherence
weighting and the regression M-estimate, Geophysics 61, 964-970.
Gamble, T. D., Goubau, W. M. and Clarke, J. (1979), Geophysics 44, 53-68 (remote reference).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from threadpoolctl import threadpool_limits

from amt.mt.transfer_function import TransferFunction
from amt.spectra import Band, Spectra, SpectraError, plan_bands
from amt.spectra.store import release
from amt.transfer.regression import BLOCK_ROWS, RegressionError, RegressionResult, RobustConfig, regress, row_blocks
from amt.transfer.uncertainty import jackknife_variance, parametric_variance

INPUTS = ("hx", "hy")
OUTPUTS = ("ex", "ey")


@dataclass(frozen=True)
class EstimateConfig:
    """Settings of the band estimator.

    Parameters
    ----------
    robust
        Robust settings, or None for (remote-reference) least squares.
    per_decade
        Target frequencies per decade when none are given.
    min_bin
        Lowest bin index of a band centre (see :func:`amt.spectra.plan_bands`).
    max_condition
        Condition number of the H cross-power above which a frequency is flagged and left empty.
    min_coherence
        Windows whose predicted coherence is below this are rejected (0 disables screening).
    min_windows
        Fewest windows with positive weight a band needs.
    max_points
        Most data points (windows x bins) one band is estimated from, or None for all: a band holding more is
        estimated from every k-th window (the smallest k that fits), so that the estimator's memory does not grow
        with the record. An hour at 24 kHz puts 15 M points in the top bands of level 0; at 3 M points the
        statistical error of ``|Z|`` is ``sqrt((1 - gamma^2) / (2 N gamma^2))``
        (:func:`amt.transfer.uncertainty.least_rho_error`): 0.06 % at a coherence^2 of 0.5, 0.1 % at 0.3, far below
        the systematic errors, and the error bars are those of the windows used (``diagnostics["window_stride"]``
        is k). Ten minutes at 24 kHz stay below it (2.55 M points at most).
    """

    robust: RobustConfig | None = field(default_factory=RobustConfig)
    per_decade: int = 7
    min_bin: int = 5
    max_condition: float = 1e3
    min_coherence: float = 0.0
    min_windows: int = 3
    max_points: int | None = 3_000_000


def _match_remote(local: Spectra, remote: Spectra) -> tuple[np.ndarray, np.ndarray]:
    """Indices of windows present in both (same start time to a tenth of a sample)."""
    tol = 0.1 / local.sample_rate_hz
    key_l = np.round(local.window_start_s / tol).astype(np.int64)
    key_r = np.round(remote.window_start_s / tol).astype(np.int64)
    _, il, ir = np.intersect1d(key_l, key_r, return_indices=True)
    return il, ir


def _window_coherence(y: np.ndarray, yhat: np.ndarray) -> np.ndarray:
    """Per-window coherence of ``y`` and ``yhat`` (windows x bins) over the bins."""
    num = np.abs(np.sum(y.conj() * yhat, axis=1)) ** 2
    den = np.sum(np.abs(y) ** 2, axis=1) * np.sum(np.abs(yhat) ** 2, axis=1)
    return num / np.maximum(den, 1e-300)


@dataclass
class _BandResult:
    z: np.ndarray
    z_var: np.ndarray
    z_var_par: np.ndarray
    tip: np.ndarray
    tip_var: np.ndarray
    coherence: np.ndarray
    condition: float
    n_windows: int
    n_points: int
    flag: str
    frequency_hz: float = np.nan
    stride: int = 1


def _estimate_band(
    band: Band, local: Spectra, remote: Spectra | None, config: EstimateConfig, with_tipper: bool
) -> _BandResult:
    empty = _BandResult(
        np.full((2, 2), np.nan + 0j), np.full((2, 2), np.nan), np.full((2, 2), np.nan),
        np.full((1, 2), np.nan + 0j), np.full((1, 2), np.nan), np.full(2, np.nan), np.nan, 0, 0, "",
    )  # fmt: skip
    n_bins = len(band.bins)
    if remote is not None:
        il, ir = _match_remote(local, remote)
    else:
        il = ir = np.arange(local.n_windows)
    stride = 1
    if config.max_points is not None and len(il) * n_bins > config.max_points:  # every k-th window (config notes)
        stride = -(-len(il) * n_bins // config.max_points)
        il, ir = il[::stride], ir[::stride]
    ref = None if remote is None else np.stack([_rows(remote, c, ir, band.bins) for c in INPUTS], axis=-1)
    h = np.stack([_rows(local, c, il, band.bins) for c in INPUTS], axis=-1)  # win, bin, 2
    w_win = local.window_weight[il].copy()
    outputs = OUTPUTS + (("hz",) if with_tipper else ())
    empty.stride = stride

    def output(c: str) -> np.ndarray:
        """``(windows, bins)`` coefficients of one output, indexed when needed (one output at a time in memory)."""
        return _rows(local, c, il, band.bins)

    inflation = local.variance_inflation(n_bins)
    groups = np.repeat(np.arange(len(il), dtype=np.int32), n_bins)
    x = h.reshape(-1, 2)
    q = ref.reshape(-1, 2) if ref is not None else x
    for _ in range(2):  # second pass only after coherence screening
        n_win = int(np.count_nonzero(w_win > 0))
        if n_win < config.min_windows:
            empty.flag = f"{n_win} windows in use (< {config.min_windows})"
            empty.n_windows = n_win
            return empty
        prior = np.repeat(w_win, n_bins)
        cross = sum((x[s].conj() * prior[s][:, None]).T @ x[s] for s in row_blocks(len(prior)))
        sv = np.linalg.svd(cross, compute_uv=False)
        condition = float(sv[0] / sv[-1]) if sv[-1] > 0 else np.inf
        if condition > config.max_condition:
            empty.condition, empty.n_windows, empty.n_points = condition, n_win, n_win * n_bins
            empty.flag = f"H cross-power ill-conditioned (condition number {condition:.3g})"
            return empty
        final = config.min_coherence <= 0  # without screening this pass is the last: summarise and let go
        results: dict[str, RegressionResult] = {}
        summaries = {}
        try:
            for c in outputs:
                y = output(c).reshape(-1)
                res = regress(y, x, None if ref is None else q, prior, config.robust)
                if final:  # the residuals and weights of n points go as soon as the output is summarised
                    summaries[c] = _summarise(res, y, x, q, groups, inflation, c != "hz")
                else:
                    results[c] = res
                del res, y
        except RegressionError as exc:
            empty.flag = str(exc)
            return empty
        if final:
            break
        coh = np.min([_window_coherence(output(c), (h @ results[c].coef)) for c in OUTPUTS], axis=0)
        reject = (coh < config.min_coherence) & (w_win > 0)
        if not reject.any():
            break
        w_win = np.where(reject, 0.0, w_win)
    out = _BandResult(
        np.zeros((2, 2), complex), np.zeros((2, 2)), np.zeros((2, 2)), np.full((1, 2), np.nan + 0j),
        np.full((1, 2), np.nan), np.zeros(2), condition, n_win, int(np.count_nonzero(prior > 0)), "",
        stride=stride,
    )  # fmt: skip
    rows = max(1, BLOCK_ROWS // n_bins)  # windows per block
    power = sum(
        np.sum(w_win[i : i + rows, None, None] * np.abs(h[i : i + rows]) ** 2, axis=(0, 2))
        for i in range(0, len(w_win), rows)
    )
    freqs = local.freqs_hz[band.bins]
    out.frequency_hz = float(np.exp(np.sum(power * np.log(freqs)) / np.sum(power)))
    for i, c in enumerate(outputs):
        coef, jk, par, coherence = summaries.get(c) or _summarise(
            results.pop(c), output(c).reshape(-1), x, q, groups, inflation, c != "hz"
        )
        if c == "hz":
            out.tip[0], out.tip_var[0] = coef, jk
            continue
        out.z[i], out.z_var[i], out.z_var_par[i], out.coherence[i] = coef, jk, par, coherence
    if np.any(~np.isfinite(out.z_var)):
        out.flag = "too few windows for a jackknife error"
    return out


def _rows(s: Spectra, channel: str, windows: np.ndarray, bins: np.ndarray) -> np.ndarray:
    """``(windows, bins)`` coefficients of one channel, copied out; a file-backed level's pages are dropped again
    (:func:`amt.spectra.store.release`), so that only the band in use is resident."""
    out = s.channel(channel)[np.ix_(windows, bins)]
    release(s.coefficients)
    return out


def _summarise(
    res: RegressionResult,
    y: np.ndarray,
    x: np.ndarray,
    q: np.ndarray,
    groups: np.ndarray,
    inflation: float,
    with_coherence: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Coefficients, jackknife and parametric variances and weighted multiple coherence of one output.

    The coherence ``|sum w y* yhat|^2 / (sum w |y|^2 sum w |yhat|^2)`` (NaN without ``with_coherence`` or power)
    is summed a block of points at a time.
    """
    jk = jackknife_variance(y, x, q, res, groups)
    par = parametric_variance(res, q, inflation)
    if not with_coherence:
        return res.coef, jk, par, np.nan
    w = res.weights
    cross, p_y, p_yhat = 0.0, 0.0, 0.0
    for s in row_blocks(len(y)):
        yhat = x[s] @ res.coef
        cross += np.sum(w[s] * y[s].conj() * yhat)
        p_y += np.sum(w[s] * np.abs(y[s]) ** 2)
        p_yhat += np.sum(w[s] * np.abs(yhat) ** 2)
    num, den = np.abs(cross) ** 2, p_y * p_yhat
    return res.coef, jk, par, float(np.sqrt(num / den)) if den > 0 else np.nan


def _estimate_target(
    f: float,
    by_target: dict[float, Band],
    levels: Sequence[Spectra],
    remote: Sequence[Spectra] | None,
    config: EstimateConfig,
    with_tipper: bool,
) -> tuple[float, tuple[_BandResult, int] | None, str]:
    """``(frequency, (band result, level) or None, flag)`` of one target frequency."""
    band = by_target.get(f)
    if band is None:
        return f, None, "record too short or sample rate too low for this frequency"
    rem = remote[band.level] if remote is not None and band.level < len(remote) else None
    if remote is not None and rem is None:
        return f, None, "remote record has no spectra at this level"
    res = _estimate_band(band, levels[band.level], rem, config, with_tipper)
    f_out = res.frequency_hz if np.isfinite(res.frequency_hz) else band.frequency_hz
    return f_out, (res, band.level), res.flag


def estimate_transfer_function(
    levels: Sequence[Spectra],
    remote: Sequence[Spectra] | None = None,
    config: EstimateConfig = EstimateConfig(),
    frequencies_hz: np.ndarray | None = None,
) -> TransferFunction:
    """Impedance (and tipper where Hz exists) at every band frequency of one stream.

    Parameters
    ----------
    levels
        Local spectra, level 0 first (:func:`amt.spectra.compute_spectra`), holding ex, ey, hx, hy (hz optional).
    remote
        Remote spectra with hx, hy at the same levels and window times, or None for single-site.
    config
        Estimator settings.
    frequencies_hz
        Target frequencies in Hz; default ``config.per_decade`` per decade over the range the levels resolve.
        Each estimate is reported at its band's mean bin frequency (:class:`amt.spectra.Band`). A requested
        frequency no level resolves (e.g. a record too short) is kept at the requested value, empty and flagged.

    Returns
    -------
    TransferFunction
        ``diagnostics`` holds ``coherence`` (n, 2), ``condition_number``, ``n_windows``, ``n_points``,
        ``level``, ``target_hz`` (the planned band frequency), ``z_var_parametric`` (n, 2, 2), ``window_stride``
        (1, or k where a band was estimated from every k-th window, ``EstimateConfig.max_points``).

    Raises
    ------
    SpectraError
        If a channel is missing or no frequency at all can be estimated.
    """
    _check_channels(levels, remote)
    first = levels[0]
    with_tipper = all("hz" in s.channels for s in levels)
    bands, targets = _plan(levels, frequencies_hz, config)
    by_target = {b.target_hz: b for b in bands}
    with threadpool_limits(limits=1, user_api="blas"):
        rows = [_estimate_target(float(f), by_target, levels, remote, config, with_tipper) for f in targets]
    return _assemble(first.station, rows, targets, with_tipper)


def _check_channels(levels: Sequence[Spectra], remote: Sequence[Spectra] | None) -> None:
    """Refuse spectra without the channels an impedance (and a remote reference) needs."""
    if not levels:
        raise SpectraError("no spectra: the record holds fewer windows than one level needs")
    for s in levels:
        missing = [c for c in (*OUTPUTS, *INPUTS) if c not in s.channels]
        if missing:
            raise SpectraError(f"{s.station}: missing channel(s) {missing} needed for an impedance")
    for s in remote or ():
        missing = [c for c in INPUTS if c not in s.channels]
        if missing:
            raise SpectraError(f"remote {s.station}: missing channel(s) {missing}")


def _plan(
    levels: Sequence[Spectra], frequencies_hz: np.ndarray | None, config: EstimateConfig
) -> tuple[list, np.ndarray]:
    """The bands the levels resolve and the target frequencies (Hz, descending) to estimate at."""
    requested = None if frequencies_hz is None else np.unique(np.asarray(frequencies_hz, dtype=float))
    bands = plan_bands(levels, requested, config.per_decade, config.min_bin)
    if requested is not None:
        return bands, requested[::-1]
    if not bands:
        first = levels[0]
        raise SpectraError(f"{first.station}: record too short for any band (window {first.window_length})")
    return bands, np.array([b.target_hz for b in bands])


def _assemble(station: str, rows: list, targets: np.ndarray, with_tipper: bool) -> TransferFunction:
    """One :class:`TransferFunction` from the per-target rows ``(frequency_hz, (result, level) | None, flag)``."""
    n = len(rows)
    z = np.full((n, 2, 2), np.nan + 0j)
    z_var = np.full((n, 2, 2), np.nan)
    z_par = np.full((n, 2, 2), np.nan)
    tip = np.full((n, 1, 2), np.nan + 0j)
    tip_var = np.full((n, 1, 2), np.nan)
    coh = np.full((n, 2), np.nan)
    cond = np.full(n, np.nan)
    n_win = np.zeros(n, int)
    n_pts = np.zeros(n, int)
    level = np.full(n, -1)
    stride = np.ones(n, int)
    flags = np.array([""] * n, dtype=object)
    for i, (_, payload, flag) in enumerate(rows):
        flags[i] = flag
        if payload is None:
            continue
        res, lev = payload
        z[i], z_var[i], z_par[i], tip[i], tip_var[i] = res.z, res.z_var, res.z_var_par, res.tip, res.tip_var
        coh[i], cond[i], n_win[i], n_pts[i], level[i] = res.coherence, res.condition, res.n_windows, res.n_points, lev
        stride[i] = res.stride
    return TransferFunction(
        station=station,
        frequency_hz=np.array([r[0] for r in rows]),
        z=z,
        z_var=z_var,
        tipper=tip if with_tipper else None,
        tipper_var=tip_var if with_tipper else None,
        flags=flags,
        diagnostics={
            "coherence": coh,
            "condition_number": cond,
            "n_windows": n_win,
            "n_points": n_pts,
            "level": level,
            "target_hz": np.asarray(targets, dtype=float),
            "z_var_parametric": z_par,
            "window_stride": stride,
        },
    )
