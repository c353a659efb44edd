"""``amt process``: a record to an EDI and a per-frequency JSON summary."""

from __future__ import annotations

from pathlib import Path

import click
import numpy as np


def _read(path: Path):
    from amt.record import RecordError

    try:
        from amt.io import read  # the one reader entry point (amt/io/__init__.py)
    except ImportError:
        read = None
    if read is not None:
        return read(path)
    if path.suffix.lower() == ".asc":
        from amt.io.emtf_ascii import read_emtf_ascii

        return read_emtf_ascii(path)
    raise RecordError(f"{path}: no reader available for this format yet (amt.io.read is missing)")


def summary(tf) -> list[dict]:
    """Per-frequency JSON records: rho_a (ohm-m) and phase (deg) of xy and yx, coherence, condition, windows."""
    from amt.mt import apparent_resistivity, phase_deg

    rho, rho_err = apparent_resistivity(tf.z, tf.frequency_hz, tf.z_var)
    ph, ph_err = phase_deg(tf.z, tf.z_var)
    d = tf.diagnostics

    def num(x) -> float | None:
        return None if not np.isfinite(x) else float(x)

    rows = []
    for i, f in enumerate(tf.frequency_hz):
        rows.append(
            {
                "frequency_hz": float(f),
                "period_s": float(1 / f),
                "rho_xy_ohm_m": num(rho[i, 0, 1]),
                "rho_xy_err_ohm_m": num(rho_err[i, 0, 1]),
                "rho_yx_ohm_m": num(rho[i, 1, 0]),
                "rho_yx_err_ohm_m": num(rho_err[i, 1, 0]),
                "phase_xy_deg": num(ph[i, 0, 1]),
                "phase_xy_err_deg": num(ph_err[i, 0, 1]),
                "phase_yx_deg": num(ph[i, 1, 0]),
                "phase_yx_err_deg": num(ph_err[i, 1, 0]),
                "coherence_ex": num(d["coherence"][i, 0]),
                "coherence_ey": num(d["coherence"][i, 1]),
                "condition_number": num(d["condition_number"][i]),
                "n_windows": int(d["n_windows"][i]),
                "sample_rate_hz": num(d["sample_rate_hz"][i]) if "sample_rate_hz" in d else None,
                "flag": str(tf.flags[i]),
            }
        )
    return rows


@click.command(
    epilog=(
        "Examples:\n\n"
        "  amt process site01.h5 --out results/\n\n"
        "  amt process site01.h5 --remote site02.h5 --out results/\n\n"
        "  amt process site01.h5 --out results/ --mode both --detections events.csv\n\n"
        "  amt process site01.h5 --out results/ --dead-band 1000 5000 --mode compensated\n\n"
        "Writes DIR/<station>.edi (jackknife variances; flagged frequencies as the EDI empty value 1.0E32) and "
        "DIR/<station>.json (one record per frequency). compensated (the default) estimates the dead band from "
        "windows holding sferics (detections from --detections, else the shipped CNN, else STA/LTA); both also "
        "writes DIR/<station>_conventional.edi and .json."
    )
)
@click.argument("record", type=click.Path(exists=True, path_type=Path))
@click.option("--remote", type=click.Path(exists=True, path_type=Path), help="Remote-reference record (its hx, hy).")
@click.option(
    "--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path), help="Output folder."
)
@click.option(
    "--mode",
    type=click.Choice(["conventional", "compensated", "both"]),
    default="compensated",
    show_default=True,
    help="conventional: robust estimate from all windows; compensated: the dead band from sferic windows "
    "(amt.deadband); both: the two side by side.",
)
@click.option("--detections", type=click.Path(exists=True, path_type=Path), help="Sferic events CSV (amt detect).")
@click.option(
    "--dead-band", nargs=2, type=float, default=None, help="Dead-band edges LOW HIGH in Hz (default: from the data)."
)
def process(
    record: Path,
    remote: Path | None,
    out_dir: Path,
    mode: str,
    detections: Path | None,
    dead_band: tuple[float, float] | None,
) -> None:
    """Estimate the transfer function of RECORD and write an EDI and a JSON summary."""
    from tqdm import tqdm

    from amt.io.transfer_functions import write_transfer_function
    from amt.mt.transfer_function import TransferFunctionError
    from amt.record import RecordError
    from amt.transfer import process_station
    from shared.atomic import write_json_atomic

    if mode == "conventional" and (detections is not None or dead_band is not None):
        raise click.UsageError("--detections and --dead-band are used only by --mode compensated or both")
    try:
        with tqdm(total=3, desc=f"amt process {record.name}", disable=None) as bar:
            station = _read(record)
            rem = _read(remote) if remote is not None else None
            bar.update(1)
            tf = process_station(station, rem)
            if mode != "conventional":
                from amt.deadband.process import compensate_record

                conventional, tf = tf, compensate_record(station, rem, tf, detections, dead_band)
            bar.update(1)
            rows = summary(tf)
            if mode != "conventional":
                from amt.deadband.compensate import summary_fields

                rows = [r | extra for r, extra in zip(rows, summary_fields(tf), strict=True)]
            edi = write_transfer_function(tf, out_dir / f"{tf.station}.edi")
            write_json_atomic(out_dir / f"{tf.station}.json", {"station": tf.station, "frequencies": rows})
            if mode == "both":
                name = f"{tf.station}_conventional"
                write_transfer_function(conventional, out_dir / f"{name}.edi")
                write_json_atomic(
                    out_dir / f"{name}.json", {"station": tf.station, "frequencies": summary(conventional)}
                )
            bar.update(1)
    except (RecordError, TransferFunctionError) as exc:
        raise click.ClickException(str(exc)) from exc
    n_flag = sum(bool(f) for f in tf.flags)
    click.echo(f"{edi}: {tf.n_frequencies} frequencies ({n_flag} flagged, written as empty)")
