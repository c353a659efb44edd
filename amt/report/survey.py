"""The survey summary: a phase-tensor pseudosection and a table of data quality per station.

The pseudosection puts stations along the horizontal axis (in the order given) and frequency down the vertical
one (high frequencies, shallow, at the top), each estimate a phase-tensor ellipse coloured by its skew angle beta
(Caldwell, Bibby and Brown, 2004, Geophys. J. Int. 158, 457-469; the display of Booker, 2014, Surv. Geophys. 35,
7-40). The quality table gives, per station, the frequencies estimated and flagged, the median coherence of Ex and
Ey, the dead band and the sferics used in it, and the median relative error of rho_a and error of phase.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure

from amt.mt import phase_tensor
from amt.report.figures import ellipses, skew_limit
from amt.report.results import StationResults

#: Columns of the quality table (CSV header and table heading), in order.
QUALITY_COLUMNS = (
    "station",
    "frequencies",
    "flagged",
    "f_min_hz",
    "f_max_hz",
    "median_coherence_ex",
    "median_coherence_ey",
    "dead_band_hz",
    "max_sferics_per_frequency",
    "median_rho_rel_err_pct",
    "median_phase_err_deg",
)


def _median(x: np.ndarray) -> float:
    x = x[np.isfinite(x)]
    return float(np.median(x)) if x.size else float("nan")


def quality_row(res: StationResults) -> dict:
    """One station's data-quality figures (:data:`QUALITY_COLUMNS`); NaN where a figure does not apply."""
    f = res.transfer_function.frequency_hz
    dead = res.dead_band
    rel = np.concatenate([res.column(f"rho_{c}_err_ohm_m") / res.column(f"rho_{c}_ohm_m") for c in ("xy", "yx")])
    ph_err = np.concatenate([res.column(f"phase_{c}_err_deg") for c in ("xy", "yx")])
    n_sf = res.column("n_sferics")
    return {
        "station": res.station,
        "frequencies": len(f),
        "flagged": int(res.flagged.sum()),
        "f_min_hz": float(f.min()) if f.size else float("nan"),
        "f_max_hz": float(f.max()) if f.size else float("nan"),
        "median_coherence_ex": _median(res.column("coherence_ex")),
        "median_coherence_ey": _median(res.column("coherence_ey")),
        "dead_band_hz": f"{f[dead].min():.0f}-{f[dead].max():.0f}" if dead.any() else "",
        "max_sferics_per_frequency": int(np.nanmax(n_sf)) if np.isfinite(n_sf).any() else "",
        "median_rho_rel_err_pct": 100 * _median(rel),
        "median_phase_err_deg": _median(ph_err),
    }


def quality_csv(rows: Sequence[dict]) -> str:
    """The quality table as CSV text (numbers to 4 significant digits)."""
    lines = [",".join(QUALITY_COLUMNS)]
    for r in rows:
        lines.append(",".join(f"{r[c]:.4g}" if isinstance(r[c], float) else str(r[c]) for c in QUALITY_COLUMNS))
    return "\n".join(lines) + "\n"


def pseudosection_figure(results: Sequence[StationResults]) -> Figure:
    """Phase-tensor pseudosection: stations across, frequency (Hz, log) down, ellipses coloured by skew."""
    pts = [phase_tensor(r.transfer_function.z, r.transfer_function.z_var) for r in results]
    limit = skew_limit(np.concatenate([p.beta for p in pts]) if pts else np.zeros(0))
    fig = Figure(figsize=(max(6.0, 1.1 * len(results) + 3.0), 7.5), layout="constrained")
    ax = fig.subplots()
    ax.set_yscale("log")
    coll = None
    for k, (res, pt) in enumerate(zip(results, pts, strict=True)):
        f = res.transfer_function.frequency_hz
        coll = ellipses(ax, np.full(len(f), float(k)), f, pt, 22.0, limit)
    f_all = np.concatenate([r.transfer_function.frequency_hz for r in results])
    ax.set(xlim=(-0.6, len(results) - 0.4), ylim=(f_all.min() / 1.4, f_all.max() * 1.4))  # high f (shallow) on top
    ax.set_xticks(range(len(results)), [r.station for r in results], rotation=45 if len(results) > 8 else 0)
    ax.set(xlabel="station", ylabel="frequency (Hz)", title="phase-tensor pseudosection (north up), colour: skew β")
    ax.grid(True, axis="y", which="major", alpha=0.3)
    if coll is not None:
        fig.colorbar(coll, ax=ax, label="skew angle β (degrees)")
    return fig


def quality_figure(rows: Sequence[dict]) -> Figure:
    """The quality table drawn as a figure page (units in the headings)."""
    heads = ["station", "freqs", "flagged", "band (Hz)", "coh Ex", "coh Ey", "dead band (Hz)", "sferics",
             "ρ rel err (%)", "φ err (deg)"]
    cells = []
    for r in rows:
        cells.append([
            r["station"], str(r["frequencies"]), str(r["flagged"]), f"{r['f_min_hz']:.0f}-{r['f_max_hz']:.0f}",
            f"{r['median_coherence_ex']:.3f}", f"{r['median_coherence_ey']:.3f}", r["dead_band_hz"] or "-",
            str(r["max_sferics_per_frequency"]) or "-", f"{r['median_rho_rel_err_pct']:.2f}",
            f"{r['median_phase_err_deg']:.2f}",
        ])
    fig = Figure(figsize=(11, 0.6 + 0.3 * (len(rows) + 1)), layout="constrained")
    ax = fig.subplots()
    ax.axis("off")
    ax.set_title("data quality per station (medians over frequencies; sferics: most used at one frequency)")
    table = ax.table(cellText=cells, colLabels=heads, loc="center", cellLoc="center")
    table.auto_set_font_size(False)
    table.set_fontsize(9)
    table.scale(1, 1.3)
    return fig
