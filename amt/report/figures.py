"""The pages of a station report, each a matplotlib figure with units on every axis.

* :func:`time_series_figure`: the first seconds of the record, calibrated (E in mV/km, H in nT; raw units where no
  response is known), detected sferics shaded, and a spectrogram of Hx (nT^2/Hz) with the dead band marked;
* :func:`rho_phase_figure`: apparent resistivity (ohm-m) and phase (degrees) with standard errors, the conventional
  estimate beside the compensated one, the dead band shaded, flagged frequencies left as gaps;
* :func:`phase_tensor_figure`: phase-tensor ellipses against frequency coloured by the skew angle beta, and
  phi_max / phi_min (Caldwell, Bibby and Brown, 2004, Geophys. J. Int. 158, 457-469);
* :func:`coherence_figure`: coherence of Ex and Ey and the number of sferics used per frequency.

The pages take :class:`amt.report.results.StationResults`; the caller picks the backend (the writers use Agg).
"""

from __future__ import annotations

import numpy as np
from matplotlib.collections import EllipseCollection
from matplotlib.figure import Figure

from amt.mt import TransferFunction, apparent_resistivity, phase_deg, phase_tensor
from amt.record import RecordError, StationRun
from amt.report.results import StationResults
from amt.sferic.catalogue import SfericEventTable

#: Colours of the two off-diagonal components (xy, yx) on every page.
COLOURS = {"xy": "tab:blue", "yx": "tab:red"}
#: Largest span of samples drawn on the time-series page, s.
TIME_SERIES_SPAN_S = 2.0
#: Largest span of the spectrogram, s.
SPECTROGRAM_SPAN_S = 60.0
#: Skew colour scale (degrees): symmetric, at least this wide (|beta| > 3 deg marks 3-D structure).
SKEW_LIMIT_DEG = 6.0


def _dead_band_span(res: StationResults) -> tuple[float, float] | None:
    """Edges (Hz) of the shaded dead band: half a band beyond its outer frequencies, or None."""
    mask = res.dead_band
    if not mask.any():
        return None
    f = res.transfer_function.frequency_hz[mask]
    step = 10 ** (0.5 / 7)  # half of 1/7 decade, the band spacing of amt.spectra.plan_bands
    return float(f.min() / step), float(f.max() * step)


def _shade(ax, span: tuple[float, float] | None, label: bool = True) -> None:
    if span is not None:
        ax.axvspan(*span, color="0.88", zorder=0, label="dead band" if label else None)


def _head(record) -> StationRun:
    """The first :data:`SPECTROGRAM_SPAN_S` s of the record's longest highest-rate run.

    Our MTH5 files are read only that far (:func:`amt.io.mth5_file.read_mth5_head`); other formats are read whole.
    """
    import amt.io
    from amt.io.mth5_file import read_mth5_head

    if amt.io.detect_format(record) == "mth5":
        head = read_mth5_head(record, SPECTROGRAM_SPAN_S)
        if head is not None:
            return head
    run = max(amt.io.read(record).runs, key=lambda r: (r.sample_rate_hz, r.n_samples))
    n = min(run.n_samples, int(SPECTROGRAM_SPAN_S * run.sample_rate_hz))
    return StationRun(run.station, run.run, run.sample_rate_hz, run.start, {c: x[:n] for c, x in run.data.items()},
                      run.meta, [], run.source)


def _window(res: StationResults) -> StationRun | None:
    """The record's first seconds, calibrated where a response is known (None without a record)."""
    from amt.calibration import calibrate_run

    if res.record is None:
        return None
    part = _head(res.record)
    try:
        return calibrate_run(part, band_hz=(1.0, 0.45 * part.sample_rate_hz))
    except RecordError:  # a response that cannot be removed: drawn in the recorded units (the labels say which)
        return part


def time_series_figure(res: StationResults) -> Figure | None:
    """Channels over the first :data:`TIME_SERIES_SPAN_S` s with sferics shaded, and a spectrogram of Hx.

    Returns None when the record is not available.
    """
    from scipy.signal import spectrogram

    run = _window(res)
    if run is None:
        return None
    fs = run.sample_rate_hz
    channels = list(run.channels)
    n = min(run.n_samples, int(TIME_SERIES_SPAN_S * fs))
    t = np.arange(n) / fs
    fig = Figure(figsize=(10, 2.0 * len(channels) + 3.2), layout="constrained")
    axes = fig.subplots(len(channels) + 1, 1, gridspec_kw={"height_ratios": [1] * len(channels) + [1.8]})
    for ax in axes[1 : len(channels)]:
        ax.sharex(axes[0])
    for ax in axes[: len(channels) - 1]:
        ax.tick_params(labelbottom=False)
    events = res.events
    t0 = run.start.timestamp
    for ax, c in zip(axes, channels, strict=False):
        ax.plot(t, run.data[c][:n], lw=0.5, color="k", rasterized=True)
        ax.set_ylabel(f"{c} ({run.meta[c].units})")
        ax.set_xlim(0, t[-1] if n > 1 else 1)
        if events is not None:
            _mark_events(ax, events, t0, t[-1] if n else 0.0)
    axes[0].set_title(
        f"{res.station}: first {n / fs:.2f} s at {fs:g} Hz"
        + (f", {_count_in(events, t0, n / fs)} sferics shaded" if events is not None else "")
    )
    axes[len(channels) - 1].set_xlabel(f"time since {run.start.strftime('%Y-%m-%dT%H:%M:%S.%f')[:-3]} UTC (s)")
    ax = axes[-1]
    hx = np.nan_to_num(run.data["hx"] if "hx" in run.data else run.data[channels[0]])
    nper = 1024 if len(hx) >= 4096 else max(64, len(hx) // 4)
    f, ts, sxx = spectrogram(hx, fs=fs, window="hann", nperseg=nper, noverlap=nper // 2)
    keep = f > 0
    db = 10 * np.log10(np.maximum(sxx[keep], np.finfo(float).tiny))
    lo, hi = np.percentile(db, [5, 99.5])
    mesh = ax.pcolormesh(ts, f[keep], db, shading="auto", cmap="viridis", vmin=lo, vmax=hi, rasterized=True)
    ax.set(yscale="log", ylim=(max(f[keep][0], 10.0), fs / 2), xlabel="time (s)", ylabel="frequency (Hz)")
    unit = run.meta["hx"].units if "hx" in run.meta else run.meta[channels[0]].units
    ax.set_title(f"spectrogram of hx ({nper}-sample Hann windows)")
    span = _dead_band_span(res)
    if span is not None:
        for edge in span:
            ax.axhline(edge, color="w", ls="--", lw=1)
        ax.text(ts[0], span[1], " dead band", color="w", va="bottom", fontsize=8)
    fig.colorbar(mesh, ax=ax, label=f"PSD (dB re 1 {unit}$^2$/Hz)")
    return fig


def _count_in(events: SfericEventTable, t0: float, span: float) -> int:
    return int(np.sum((events.end_s > t0) & (events.start_s < t0 + span)))


def _mark_events(ax, events: SfericEventTable, t0: float, span: float) -> None:
    inside = (events.end_s > t0) & (events.start_s < t0 + span)
    for a, b in zip(events.start_s[inside] - t0, events.end_s[inside] - t0, strict=True):
        ax.axvspan(a, b, color="tab:orange", alpha=0.35, lw=0)


def _components(tf: TransferFunction):
    f = tf.frequency_hz
    rho, rho_err = apparent_resistivity(tf.z, f, tf.z_var)
    ph, ph_err = phase_deg(tf.z, tf.z_var)
    return f, rho, rho_err, ph, ph_err


def rho_phase_figure(res: StationResults) -> Figure:
    """Apparent resistivity and phase with error bars; conventional (left) beside compensated (right).

    Phase yx is drawn plus 180 degrees so both components share the first quadrant (a 1-D earth: 0-90 deg).
    Flagged frequencies are NaN and leave gaps in the lines joining the estimates.
    """
    columns = [("conventional", res.conventional), ("compensated", res.transfer_function)]
    if res.conventional is None:
        columns = [("estimate", res.transfer_function)]
    fig = Figure(figsize=(5.2 * len(columns) + 0.6, 7.5), layout="constrained")
    axes = fig.subplots(2, len(columns), sharex=True, sharey="row", squeeze=False)
    span = _dead_band_span(res)
    for k, (name, tf) in enumerate(columns):
        f, rho, rho_err, ph, ph_err = _components(tf)
        a_rho, a_ph = axes[0, k], axes[1, k]
        for comp, (i, j), shift in (("xy", (0, 1), 0.0), ("yx", (1, 0), 180.0)):
            col = COLOURS[comp]
            a_rho.errorbar(f, rho[:, i, j], yerr=_clip_err(rho[:, i, j], rho_err[:, i, j]), fmt="o-", ms=3.5,
                           lw=0.8, color=col, capsize=2, label=f"$\\rho_{{{comp}}}$")
            a_ph.errorbar(f, ph[:, i, j] + shift, yerr=ph_err[:, i, j], fmt="o-", ms=3.5, lw=0.8, color=col,
                          capsize=2, label=f"$\\phi_{{{comp}}}$" + (" + 180°" if shift else ""))
        n_flag = int(sum(bool(x) for x in tf.flags))
        for a in (a_rho, a_ph):
            _shade(a, span)
            for ff in f[[bool(x) for x in tf.flags]]:
                a.axvline(ff, color="0.5", ls=":", lw=0.8)
            a.grid(True, which="major", alpha=0.3)
        a_rho.set(xscale="log", yscale="log", title=f"{res.station}, {name}" + (f" ({n_flag} flagged)" if n_flag
                                                                                 else ""))
        a_ph.set(xscale="log", xlabel="frequency (Hz)", ylim=(0, 90))
        a_rho.legend(fontsize=8, loc="best")
        a_ph.legend(fontsize=8, loc="best")
    axes[0, 0].set_ylabel("apparent resistivity (ohm-m)")
    axes[1, 0].set_ylabel("phase (degrees)")
    return fig


def _clip_err(value: np.ndarray, err: np.ndarray) -> np.ndarray:
    """Error bars on a log axis: the lower bar stops at 1 % of the value instead of crossing zero."""
    lower = np.minimum(err, 0.99 * np.abs(value))
    return np.vstack([lower, err])


def skew_limit(beta_deg: np.ndarray) -> float:
    """Symmetric colour limit (degrees) of the skew angle: :data:`SKEW_LIMIT_DEG` or the largest |beta|."""
    finite = np.abs(beta_deg[np.isfinite(beta_deg)])
    return float(max(SKEW_LIMIT_DEG, np.ceil(finite.max()) if finite.size else 0.0))


def ellipses(ax, x: np.ndarray, y: np.ndarray, pt, size_pt: float, limit: float) -> EllipseCollection:
    """Phase-tensor ellipses at data positions ``(x, y)``, ``size_pt`` points across for phi_max = 90 deg.

    Major axis phi_max, minor phi_min, major axis at the azimuth ``alpha - beta`` clockwise from north (up the
    page), coloured by beta; frequencies without a tensor are left out.
    """
    good = np.isfinite(pt.phi_max) & np.isfinite(pt.phi_min)
    scale = size_pt / 90.0
    coll = EllipseCollection(
        widths=np.maximum(pt.phi_max[good], 0.5) * scale,
        heights=np.maximum(pt.phi_min[good], 0.5) * scale,
        angles=90.0 - pt.azimuth[good],
        units="points",
        offsets=np.column_stack([x[good], y[good]]),
        offset_transform=ax.transData,
        cmap="RdBu_r",
        edgecolors="k",
        linewidths=0.4,
    )
    coll.set_array(pt.beta[good])
    coll.set_clim(-limit, limit)
    ax.add_collection(coll)
    return coll


def phase_tensor_figure(res: StationResults) -> Figure:
    """Phase-tensor ellipses against frequency coloured by skew, and phi_max, phi_min with errors (degrees)."""
    tf = res.transfer_function
    pt = phase_tensor(tf.z, tf.z_var)
    f = tf.frequency_hz
    limit = skew_limit(pt.beta)
    fig = Figure(figsize=(10, 6), layout="constrained")
    a_ell, a_phi = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [1, 1.6]})
    a_ell.set_xscale("log")
    coll = ellipses(a_ell, f, np.zeros_like(f), pt, 26.0, limit)
    a_ell.set(ylim=(-1, 1), yticks=[], title=f"{res.station}: phase-tensor ellipses (north up), colour: skew β")
    _shade(a_ell, _dead_band_span(res))
    fig.colorbar(coll, ax=a_ell, label="skew angle β (degrees)")
    err = pt.errors or {}
    for name, col in (("phi_max", "k"), ("phi_min", "0.5")):
        a_phi.errorbar(f, getattr(pt, name), yerr=err.get(name), fmt="o-", ms=3, lw=0.8, color=col, capsize=2,
                       label=f"$\\phi_{{{name[4:]}}}$")
    a_phi.plot(f, pt.beta, "s", ms=3, color="tab:green", label="β (skew)")
    _shade(a_phi, _dead_band_span(res))
    a_phi.set(xscale="log", xlabel="frequency (Hz)", ylabel="angle (degrees)")
    if f.size:
        a_phi.set_xlim(f.min() / 1.3, f.max() * 1.3)
    a_phi.grid(True, alpha=0.3)
    a_phi.legend(fontsize=8)
    fig.colorbar(coll, ax=a_phi).remove()  # keeps both panels the same width
    return fig


def coherence_figure(res: StationResults) -> Figure:
    """Coherence of Ex and Ey (predicted from H) and sferics used per frequency."""
    f = res.transfer_function.frequency_hz
    fig = Figure(figsize=(10, 6), layout="constrained")
    a_coh, a_n = fig.subplots(2, 1, sharex=True)
    span = _dead_band_span(res)
    for key, col, name in (("coherence_ex", COLOURS["xy"], "Ex"), ("coherence_ey", COLOURS["yx"], "Ey")):
        a_coh.plot(f, res.column(key), "o-", ms=3.5, lw=0.8, color=col, label=f"{name} from H")
    _shade(a_coh, span)
    a_coh.set(xscale="log", ylim=(0, 1.02), ylabel="coherence (dimensionless)",
              title=f"{res.station}: coherence and sferics per frequency")
    a_coh.grid(True, alpha=0.3)
    a_coh.legend(fontsize=8)
    n_sf = res.column("n_sferics")
    n_win = res.column("n_windows")
    has = np.isfinite(n_sf)
    a_n.plot(f, n_win, "o-", ms=3, lw=0.8, color="0.4", label="windows used")
    if has.any():
        a_n.vlines(f[has], 0.8, n_sf[has], color="tab:orange", lw=4, label="sferics carrying signal in the band")
    _shade(a_n, span)
    a_n.set(xscale="log", yscale="log", xlabel="frequency (Hz)", ylabel="count")
    a_n.grid(True, alpha=0.3)
    a_n.legend(fontsize=8)
    return fig
