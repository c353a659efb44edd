"""``amt synth``: write a synthetic AMT record (MTH5 or miniSEED by suffix) and its labels."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click
import numpy as np

from amt.io import write
from amt.record import RecordError
from shared.atomic import write_json_atomic

if TYPE_CHECKING:
    from amt.synth.field import Synthesis

#: Frequencies per decade of the true Z written to the labels file.
Z_PER_DECADE = 10


def labels_document(result: Synthesis) -> dict:
    """The labels file: storms, per-station truth (Z, tipper, P_n) and every listed sferic.

    Z is in mV/km/nT (E = Z H, time dependence e^{+i omega t}), as ``[[zxx, zxy], [zyx, zyy]]`` real and
    imaginary parts per frequency.
    """
    c = result.config
    top = 0.425 * c.rate_hz
    f = np.logspace(0, np.log10(top), int(Z_PER_DECADE * np.log10(top)) + 1)
    stations = {}
    for site in c.sites:
        z = site.earth.impedance(f)
        t = site.earth.tipper(f)
        stations[site.name] = {
            "earth": site.earth.name,
            "north_m": site.north_m,
            "east_m": site.east_m,
            "noise_power_nt2": result.noise_power_nt2.get(site.name, {}),
            "z_true": {
                "freq_hz": f.tolist(),
                "z_real": z.real.tolist(),
                "z_imag": z.imag.tolist(),
                "tipper_real": t.real.tolist(),
                "tipper_imag": t.imag.tolist(),
            },
        }
    return {
        "format": "amt-synth-labels/1",
        "conventions": "E mV/km, H nT, x north, y east, z down, e^{+i omega t}, E = Z H",
        "seed": c.seed,
        "night": c.night,
        "rate_hz": c.rate_hz,
        "duration_s": c.duration_s,
        "counts": c.counts,
        "band_hz": list(c.band_hz),
        "label_threshold_db": c.label_threshold_db,
        "dont_care_db": c.dont_care_db,
        "storms": [s.__dict__ for s in result.storms],
        "stations": stations,
        "sferics": [lab.to_json() for lab in result.labels],
    }


def _burst(text: str | None) -> tuple[float, float] | None:
    if text is None:
        return None
    on, _, every = text.partition("/")
    try:
        return float(on), float(every)
    except ValueError:
        raise click.BadParameter(f"expected ON/EVERY in seconds (e.g. 2/30), got {text!r}") from None


@click.command(
    "synth",
    epilog=(
        "Examples:\n\n"
        "  amt synth day.h5 --earth halfspace:100 --duration 60 --rate 24000 --sferic-rate 5 --seed 1\n\n"
        "  amt synth night.mseed --earth layers:100,1000,10/30,200 --duration 10 --night --counts\n\n"
        "  amt synth rr.h5 --earth edi:tf.edi --duration 600 --stations 2 --burst 2/30"
    ),
)
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--earth",
    "earth_spec",
    default="halfspace:100",
    show_default=True,
    help="halfspace:RHO | layers:RHO,.../H,... (ohm-m / m) | edi:PATH",
)
@click.option("--duration", type=float, required=True, help="Record length, s.")
@click.option("--rate", type=float, default=24000.0, show_default=True, help="Sample rate, Hz.")
@click.option("--sferic-rate", type=float, default=5.0, show_default=True, help="Storm flashes per second.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--night", is_flag=True, help="Night-time waveguide (h = 87 km).")
@click.option("--counts", is_flag=True, help="Raw counts through the stated sensor + receiver response.")
@click.option("--stations", type=int, default=1, show_default=True, help="Stations sharing the sources (1 km apart).")
@click.option("--burst", default=None, help="ON/EVERY seconds at --rate beside a continuous 150 Hz run.")
def synth(
    out: Path,
    earth_spec: str,
    duration: float,
    rate: float,
    sferic_rate: float,
    seed: int,
    night: bool,
    counts: bool,
    stations: int,
    burst: str | None,
) -> None:
    """Synthesise an AMT record with known truth and write it to OUT (+ OUT.labels.json).

    Several stations are written as OUT with the station name before the suffix (e.g. rr_S01.h5).
    """
    # the generator (amt.synth) loads scipy.signal and torch: imported here so that `amt --help` stays fast
    from amt.synth.earth import parse_earth
    from amt.synth.field import Site, SynthConfig, generate
    from amt.synth.noise import NoiseModel

    if stations < 1:
        raise RecordError(f"--stations must be >= 1, got {stations}")
    earth = parse_earth(earth_spec)
    sites = tuple(
        Site(name=f"S{j:02d}", earth=earth, north_m=1000.0 * j, noise=NoiseModel()) for j in range(stations)
    )
    config = SynthConfig(
        duration_s=duration,
        rate_hz=rate,
        sferic_rate_hz=sferic_rate,
        night=night,
        sites=sites,
        counts=counts,
        burst=_burst(burst),
        seed=seed,
    )

    result = generate(config, progress=True)
    paths = []
    for st in result.stations:
        path = out if stations == 1 else out.with_name(f"{out.stem}_{st.station}{out.suffix}")
        paths.append(write(st, path))
    labels_path = out.with_name(out.name + ".labels.json")
    write_json_atomic(labels_path, labels_document(result))
    for p in paths:
        click.echo(f"wrote {p}")
    click.echo(f"wrote {labels_path} ({len(result.labels)} sferics)")
