"""Window length of the dead-band estimate: error against the truth and the detector's effect, over several records.

Run: ``.venv/bin/python -m benchmarks.amt_deadband_windows [--seeds 3 4 5 6] [--rates 2 20] [--windows 256 512]``.

For every seed and storm sferic rate a 4 s daytime record is generated with the settings of
:func:`amt.synth.scenarios.dead_band_record` (the test record is seed 3), sferics are detected by the shipped CNN, and
the dead band found from the data is compensated once from the CNN events and once from the true labels, for each
dead-band window length (a quarter overlap, Hann taper, first-order prewhitening). Per record and window the table
prints the frequencies estimated, the largest rho_a (%) and phase (deg) error of the CNN estimate against the true
impedance, and the largest change that true labels make, in jackknife bars of the CNN estimate (the acceptance of
docs/acceptance.md#labels-versus-detections asks for less than 1). The last lines give the worst case of each window
over all records.
"""

from __future__ import annotations

import argparse

import numpy as np
from tqdm import tqdm

from amt.deadband import compensate, detect_events, events_from_labels
from amt.deadband.compensate import CompensationConfig
from amt.mt import apparent_resistivity, phase_deg
from amt.spectra import SpectraConfig
from amt.synth import generate, parse_earth
from amt.synth.scenarios import QUANTEC_EDI, TWO_STORMS, dead_band_record
from amt.transfer import process_station


def _off_diagonal(a: np.ndarray) -> np.ndarray:
    """xy and yx of ``(n, 2, 2)`` arrays, ``(n, 2)``."""
    return a[:, [0, 1], [1, 0]]


def _rho_phase(tf, rows: np.ndarray):
    f = tf.frequency_hz[rows]
    rho, rho_err = apparent_resistivity(tf.z[rows], f, tf.z_var[rows])
    ph, ph_err = phase_deg(tf.z[rows], tf.z_var[rows])
    return f, _off_diagonal(rho), _off_diagonal(rho_err), _off_diagonal(ph), _off_diagonal(ph_err)


def study(station, events, labels, earth, conventional, window: int) -> dict:
    """Largest error against the truth and largest labels-vs-detections change (bars) for one window length."""
    cfg = CompensationConfig(sferic_spectra=SpectraConfig(window_length=window, overlap=window // 4))
    det = compensate(station, events, config=cfg, conventional=conventional).compensated
    lab = compensate(station, labels, config=cfg, conventional=conventional).compensated
    rows = np.flatnonzero(det.diagnostics["dead_band"] & np.array([not flag for flag in det.flags]))
    f, rho_d, rho_e, ph_d, ph_e = _rho_phase(det, rows)
    _, rho_l, _, ph_l, _ = _rho_phase(lab, rows)
    truth = earth.impedance(f)
    rho_t, _ = apparent_resistivity(truth, f)
    ph_t, _ = phase_deg(truth)
    return {
        "f_hz": f,
        "rho_err_pct": float(np.max(np.abs(rho_d / _off_diagonal(rho_t) - 1)) * 100),
        "ph_err_deg": float(np.max(np.abs((ph_d - _off_diagonal(ph_t) + 180) % 360 - 180))),
        "rho_bars": float(np.max(np.abs(rho_d - rho_l) / rho_e)),
        "ph_bars": float(np.max(np.abs(ph_d - ph_l) / ph_e)),
    }


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        epilog="example: python -m benchmarks.amt_deadband_windows --seeds 3 4 --rates 20 --windows 256 512",
    )
    ap.add_argument("--seeds", type=int, nargs="+", default=[3, 4, 5, 6])
    ap.add_argument("--rates", type=float, nargs="+", default=[2.0, 20.0], help="storm sferic rates, flashes/s")
    ap.add_argument("--windows", type=int, nargs="+", default=[256, 512], help="dead-band window lengths, samples")
    args = ap.parse_args()
    earth = parse_earth(f"edi:{QUANTEC_EDI}")
    rows = []
    for seed in tqdm(args.seeds, desc="records"):
        for rate in args.rates:
            syn = generate(dead_band_record(earth, TWO_STORMS, rate, seed=seed))  # the test records' settings
            station = syn.stations[0]
            conventional = process_station(station)
            events = detect_events(station, "cnn")
            labels = events_from_labels(syn.labels)
            for window in args.windows:
                rows.append((seed, rate, window, study(station, events, labels, earth, conventional, window)))
    print(
        f"\n{'seed':>4} {'rate/s':>6} {'window':>6} {'f_Hz':>16} | {'max rho err %':>13} {'max ph err deg':>14} | "
        f"{'labels: rho bars':>16} {'ph bars':>7}"
    )
    for seed, rate, window, r in rows:
        f = " ".join(f"{x:.0f}" for x in r["f_hz"])
        print(
            f"{seed:4d} {rate:6g} {window:6d} {f:>16} | {r['rho_err_pct']:13.2f} {r['ph_err_deg']:14.2f} | "
            f"{r['rho_bars']:16.2f} {r['ph_bars']:7.2f}"
        )
    print()
    for window in args.windows:
        rs = [r for _, _, w, r in rows if w == window]
        print(
            f"window {window:4d}: worst rho err {max(r['rho_err_pct'] for r in rs):.2f} %, phase err "
            f"{max(r['ph_err_deg'] for r in rs):.2f} deg; labels vs detections worst "
            f"{max(max(r['rho_bars'], r['ph_bars']) for r in rs):.2f} bars, "
            f"{sum(max(r['rho_bars'], r['ph_bars']) >= 1 for r in rs)} of {len(rs)} records at 1 bar or more"
        )


if __name__ == "__main__":
    main()
