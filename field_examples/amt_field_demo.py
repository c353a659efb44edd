"""The main AMT job end to end on a generated field record with known truth.

1. Synthesise a daytime 24 kHz record over a real measured earth (``tf_edi_quantec.edi``, 1 Hz - 10 kHz),
   two storm centres 1000 km away at bearings 30 and 90 deg (20 flashes/s) plus 50 global flashes/s, coil
   and electrode noise, spikes and drift (no powerline), written as raw counts through a coil + receiver
   response as a field logger would (``amt synth``).
2. Write it to MTH5 and read it back through ``amt.io.read`` (the path any field file takes).
3. Estimate the impedance robustly (spectra with calibration, Huber + redescending M-estimation with leverage
   control, jackknife errors): the conventional estimate.
4. Detect sferics with the shipped CNN and re-estimate the dead band from the windows that hold them: the
   compensated estimate. Steps 2-4 and the EDIs and JSON summaries of both estimates are those of
   ``amt process DEMO.h5 --mode both`` (:func:`amt.pipeline.process.process_record` and
   :func:`~amt.pipeline.process.write_outputs`).
5. Plot apparent resistivity and phase of both against the truth, draw the station report (what
   ``amt process ... --report`` draws: time series and spectrogram, rho_a and phase conventional beside
   compensated, phase tensor, coherence; ``report/DEMO.pdf`` and PNGs), and print where everything is.

Run ``python -m field_examples.amt_field_demo --out outputs/demo`` (``--help`` for options).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import click
import numpy as np

import amt.io
from amt.mt import apparent_resistivity, phase_deg
from amt.pipeline.process import process_record, summary, write_outputs
from amt.report.results import from_process
from amt.report.write import write_station_report
from amt.synth import generate, parse_earth
from amt.synth.scenarios import QUANTEC_EDI, TWO_STORMS, dead_band_record
from shared.atomic import write_json_atomic


def plot_against_truth(tf, earth, path: Path, title: str) -> Path:
    """Apparent resistivity (ohm-m) and phase (deg) of xy and yx, estimated vs true, to a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    f = tf.frequency_hz
    rho, rho_err = apparent_resistivity(tf.z, f, tf.z_var)
    ph, ph_err = phase_deg(tf.z, tf.z_var)
    fine = np.logspace(np.log10(f.min()), np.log10(f.max()), 200)
    z_true = earth.impedance(fine)
    rho_t, _ = apparent_resistivity(z_true, fine)
    ph_t, _ = phase_deg(z_true)
    fig, (a1, a2) = plt.subplots(2, 1, figsize=(7, 7), sharex=True)
    for (i, j), col, name in (((0, 1), "C0", "xy"), ((1, 0), "C3", "yx")):
        a1.errorbar(f, rho[:, i, j], yerr=rho_err[:, i, j], fmt="o", ms=3, color=col, label=f"rho {name}")
        a1.plot(fine, rho_t[:, i, j], "-", color=col, lw=1, alpha=0.6, label=f"truth {name}")
        a2.errorbar(f, ph[:, i, j], yerr=ph_err[:, i, j], fmt="o", ms=3, color=col, label=f"phase {name}")
        a2.plot(fine, ph_t[:, i, j], "-", color=col, lw=1, alpha=0.6)
    a1.set(xscale="log", yscale="log", ylabel="apparent resistivity (ohm-m)", title=title)
    a2.set(xscale="log", xlabel="frequency (Hz)", ylabel="phase (deg)")
    dead = np.asarray(tf.diagnostics.get("dead_band", np.zeros(len(f), bool)), bool)
    if dead.any():
        a2.axvspan(f[dead].min(), f[dead].max(), color="0.9", zorder=0, label="dead band (found from the data)")
    a1.legend(fontsize=7, ncol=2)
    a2.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def _with_dead_band(tf, compensated):
    """``tf`` with the compensated estimate's dead-band mask in its diagnostics (for shading the plot)."""
    mask = compensated.diagnostics.get("dead_band")
    return tf if mask is None else dataclasses.replace(tf, diagnostics={**tf.diagnostics, "dead_band": mask})


def _pct(x: np.ndarray, stat=np.median) -> float | None:
    return round(100 * float(stat(x)), 2) if x.size else None


@click.command(epilog="Example:\n\n  python -m field_examples.amt_field_demo --out outputs/demo --duration 20")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("outputs/demo"),
              show_default=True, help="Output folder.")
@click.option("--duration", type=float, default=8.0, show_default=True, help="Record length, s.")
@click.option("--sferic-rate", type=float, default=20.0, show_default=True, help="Storm flashes per second.")
@click.option("--seed", type=int, default=3, show_default=True, help="Random seed.")
def main(out: Path, duration: float, sferic_rate: float, seed: int) -> None:
    """Synthesise a record with known truth, process it with and without sferic compensation, plot both."""
    out.mkdir(parents=True, exist_ok=True)

    spec = f"edi:{QUANTEC_EDI}" if QUANTEC_EDI.is_file() else "layers:100,1000,10/300,2000"
    earth = parse_earth(spec)
    cfg = dead_band_record(earth, TWO_STORMS, sferic_rate, duration_s=duration, seed=seed, site="DEMO")
    print(f"synthesising {duration:g} s at 24 kHz over {spec} (raw counts) ...", flush=True)
    synth = generate(cfg, progress=True)
    record = amt.io.write(synth.stations[0], out / "DEMO.h5")
    labels = write_json_atomic(out / "DEMO.labels.json", [lab.to_json() for lab in synth.labels])

    result = process_record(record, mode="both")
    station = result.record
    print(
        f"read back {record}: {len(station.runs)} run(s), channels {station.runs[0].channels}, "
        f"units {station.runs[0].meta['hx'].units}",
        flush=True,
    )
    for note in result.notes:
        print(note, flush=True)
    written = write_outputs(result, out)
    conventional, compensated = result.conventional, result.transfer_function
    outputs = {"record (MTH5)": record, "sferic labels": labels}
    figures = {}
    for name, tf in (("conventional", conventional), ("compensated", compensated)):
        stem = "DEMO" if name == "compensated" else "DEMO_conventional"
        prefix = "" if name == "compensated" else "conventional "
        outputs[f"{name} EDI"] = written[f"{prefix}edi"]
        outputs[f"{name} JSON"] = written[f"{prefix}json"]
        outputs[f"{name} plot"] = plot_against_truth(
            tf if name == "compensated" else _with_dead_band(tf, compensated),
            earth,
            out / f"{stem}_rho_phase.png",
            f"DEMO, {name}",
        )
        f = tf.frequency_hz
        good = np.array([not flag for flag in tf.flags])
        rho, _ = apparent_resistivity(tf.z, f)
        rho_t, _ = apparent_resistivity(earth.impedance(f), f)
        err = np.abs(rho[:, 0, 1] / rho_t[:, 0, 1] - 1)
        dead = np.asarray(compensated.diagnostics.get("dead_band", np.zeros(len(f), bool)), bool)
        figures[name] = {
            "frequencies": len(f),
            "flagged": int((~good).sum()),
            "median_rho_xy_error_in_dead_band_pct": _pct(err[dead & good]),
            "median_rho_xy_error_outside_dead_band_pct": _pct(err[~dead & good]),
            "worst_rho_xy_error_outside_dead_band_pct": _pct(err[~dead & good], np.max),
        }
    report = write_station_report(from_process(result, summary(compensated)), out / "report")
    outputs["report (PDF)"] = report["pdf"]
    print(json.dumps(figures, indent=2))
    for name, p in outputs.items():
        print(f"{name:18s}: {p}")


if __name__ == "__main__":
    main()
