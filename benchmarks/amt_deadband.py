"""Benchmark of dead-band compensation: compensated and conventional estimates against the synthetic's truth.

Run: ``.venv/bin/python -m benchmarks.amt_deadband [--seconds 4] [--rates 2 20] [--seed 3]``.

Per storm sferic rate (default 2 and 20 flashes/s) a daytime record over the measured earth of
``tf_edi_quantec.edi`` is generated in raw counts with the settings of :mod:`amt.synth.scenarios` (two
storms 1000 km away at bearings 30 and 90 deg, 50 background flashes/s, coil noise 2e-6 nT/sqrt(Hz), electrode
noise 2e-4 (mV/km)/sqrt(Hz), no powerline). Sferics are detected by the shipped CNN. For every frequency of the
dead band (found from the data, and then the nominal 1-5 kHz of Garcia & Jones 2002) the table prints the true
rho_a (ohm-m) and phase (deg) of xy and yx, the errors of the conventional and compensated estimates, the number
of sferics and windows used, the azimuth spread and the H cross-power condition number. Timings are printed last.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from amt.deadband import compensate, detect_events
from amt.mt import apparent_resistivity, phase_deg
from amt.synth import generate, parse_earth
from amt.synth.scenarios import QUANTEC_EDI, TWO_STORMS, dead_band_record
from amt.transfer import process_station

NOMINAL_HZ = (1000.0, 5000.0)


def rho_phase(z: np.ndarray, f: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    rho, _ = apparent_resistivity(z, f)
    ph, _ = phase_deg(z)
    return rho[:, [0, 1], [1, 0]], ph[:, [0, 1], [1, 0]]


def table(result, earth, label: str) -> None:
    tf, conv = result.compensated, result.conventional
    rows = np.flatnonzero(tf.diagnostics["dead_band"])
    band = "none" if result.dead_band_hz is None else "{:.0f}-{:.0f} Hz".format(*result.dead_band_hz)
    print(f"\n{label}: dead band {band}")
    print(
        f"{'f_Hz':>7} {'rho_xy':>8} {'rho_yx':>8} {'ph_xy':>7} {'ph_yx':>7} | {'conv d_rho xy/yx %':>19} "
        f"{'d_ph deg':>12} | {'comp d_rho xy/yx %':>19} {'d_ph deg':>12} | {'n_sf':>5} {'n_win':>5} "
        f"{'spread':>6} {'cond':>6} flag"
    )
    for i in rows:
        f = tf.frequency_hz[i : i + 1]
        rt, pt = rho_phase(earth.impedance(f), f)
        fc = conv.frequency_hz[i : i + 1]
        rtc, ptc = rho_phase(earth.impedance(fc), fc)
        rc, pc = rho_phase(conv.z[i : i + 1], fc)
        r, p = rho_phase(tf.z[i : i + 1], f)
        d = tf.diagnostics

        def pct(a, b):
            return " ".join(f"{100 * (x / y - 1):+8.1f}" for x, y in zip(a[0], b[0], strict=True))

        def deg(a, b):
            return " ".join(f"{(x - y + 180) % 360 - 180:+5.2f}" for x, y in zip(a[0], b[0], strict=True))

        print(
            f"{f[0]:7.0f} {rt[0, 0]:8.2f} {rt[0, 1]:8.2f} {pt[0, 0]:7.1f} {pt[0, 1]:7.1f} | {pct(rc, rtc):>19} "
            f"{deg(pc, ptc):>12} | {pct(r, rt):>19} {deg(p, pt):>12} | {d['n_sferics'][i]:5d} "
            f"{d['n_windows'][i]:5d} {d['azimuth_spread_deg'][i]:6.1f} {d['condition_number'][i]:6.1f} "
            f"{tf.flags[i] or '-'}"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=4.0, help="record length, s")
    ap.add_argument("--rates", type=float, nargs="+", default=[2.0, 20.0], help="storm sferic rates, flashes/s")
    ap.add_argument("--seed", type=int, default=3)
    args = ap.parse_args()
    earth = parse_earth(f"edi:{QUANTEC_EDI}")
    timings = []
    for rate in args.rates:
        syn = generate(dead_band_record(earth, TWO_STORMS, rate, duration_s=args.seconds, seed=args.seed))
        station = syn.stations[0]
        t0 = time.perf_counter()
        conv = process_station(station)
        t1 = time.perf_counter()
        events = detect_events(station, "cnn")
        t2 = time.perf_counter()
        found = compensate(station, events, conventional=conv)
        t3 = time.perf_counter()
        nominal = compensate(station, events, dead_band_hz=NOMINAL_HZ, conventional=conv)
        label = f"{rate:g} sferics/s, {args.seconds:g} s, {len(events)} CNN events ({len(syn.labels)} labels)"
        table(found, earth, label + ", dead band from the data")
        table(nominal, earth, label + ", nominal 1-5 kHz")
        timings.append((rate, t1 - t0, t2 - t1, t3 - t2))
    print(
        f"\n{'rate/s':>6} {'conventional s':>15} {'CNN detect s':>13} {'compensate s':>13}  (record {args.seconds:g} s)"
    )
    for rate, a, b, c in timings:
        print(f"{rate:6g} {a:15.2f} {b:13.2f} {c:13.2f}")


if __name__ == "__main__":
    main()
