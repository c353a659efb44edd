"""``amt info RECORD``: what a record holds -- stations, runs, rates, times, channels, units, defects."""

from __future__ import annotations

from collections import Counter

import click

from amt.io import read
from amt.record import Station


def describe(station: Station, max_defects: int = 20) -> str:
    """Human-readable summary of a station (used by ``amt info``)."""
    lines = [
        f"station {station.station}  ({station.source})",
        f"  location {station.latitude_deg:.6f} N {station.longitude_deg:.6f} E {station.elevation_m:.1f} m, "
        f"declination {station.declination_deg:g} deg",
        f"  {len(station.runs)} run(s) at {', '.join(f'{r:g}' for r in station.sample_rates_hz)} Hz",
    ]
    for run in station.runs:
        lines.append(
            f"  run {run.run}: {run.sample_rate_hz:g} Hz, {run.n_samples:,} samples ({run.duration_s:g} s), "
            f"{run.start} to {run.end}"
        )
        for c in run.channels:
            m = run.meta[c]
            dip = f", dipole {m.dipole_length_m:g} m" if m.dipole_length_m else ""
            resp = ", response loaded" if m.response is not None else ""
            lines.append(f"    {c}: {m.units}, azimuth {m.azimuth_deg:g} deg, tilt {m.tilt_deg:g} deg{dip}{resp}")
        good = run.good_segments()
        n_good = sum(b - a for a, b in good)
        lines.append(f"    good samples (all channels): {n_good:,} of {run.n_samples:,} in {len(good)} segment(s)")
    warnings = dict.fromkeys(w for run in station.runs for m in run.meta.values() for w in m.extra.get("warnings", []))
    lines.extend(f"  warning: {w}" for w in warnings)
    defects = station.defects
    counts = Counter((d.channel, d.kind) for d in defects)
    lines.append(
        f"  {len(defects)} defect(s)"
        + (": " + ", ".join(f"{c} {k} x{n}" for (c, k), n in sorted(counts.items())) if defects else "")
    )
    for d in defects[:max_defects]:
        lines.append(f"    {d}")
    if len(defects) > max_defects:
        lines.append(f"    ... {len(defects) - max_defects} more (--all to list them)")
    return "\n".join(lines)


@click.command(
    "info",
    epilog=(
        "Examples:\n\n"
        "  amt info ../shared/data/amt/phoenix_mtu5c/10128_2021-04-27-032436\n\n"
        "  amt info site.h5 --all\n\n"
        "  amt info test1.asc --format emtf_ascii"
    ),
)
@click.argument("record", type=click.Path(exists=True))
@click.option("--format", "fmt", default=None, help="Force a format (mth5, mseed, sac, phoenix, emtf_ascii, npz).")
@click.option("--all", "show_all", is_flag=True, help="List every defect.")
def info(record: str, fmt: str | None, show_all: bool) -> None:
    """Print the stations, runs, sample rates, times, channels, units and defects of RECORD."""
    station = read(record, format=fmt)
    click.echo(describe(station, max_defects=10**9 if show_all else 20))
