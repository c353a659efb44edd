"""Benchmark of the per-frequency dead-band choice on the scenario records of :mod:`amt.synth.deadband_records`.

Run: ``.venv/bin/python -m benchmarks.amt_deadband_scenarios [--seconds 16] [--seeds 0 1] [--rates 0.5 2 10]
[--noise 10 20 30] [--events labels|cnn] [--repeats 1]``.

Per record (every earth of :data:`amt.synth.deadband_records.EARTHS` x sferic rate x dead-band noise x seed; the
sferic physics cycles through :data:`~amt.synth.deadband_records.PHYSICS` with the record index shifted by the
earth's index, so every physics meets every condition across earths; the half-spaces differ only in scale, the noise
on E following ``|Z|``, so relative errors on them differ through the physics and the draws alone) the conventional
estimate (:func:`amt.transfer.process_station`) and the compensated one (:func:`amt.deadband.compensate`, sferic
times from the true labels by default) are compared with the analytic impedance at every frequency from 10 Hz to 10
kHz. Printed per record: the worst rho_a (%) and phase (deg) errors of the conventional estimate, and of the
compensated one at its unflagged frequencies, the number flagged, the fraction of unflagged rho_a and phase values
whose jackknife bar covers the truth, the unflagged frequencies worse than the conventional estimate by more than
their own error bar (and, stricter, by more than the conventional estimate's bar), and the time ratio compensated /
conventional measured on the same record in the same run (the compensated run includes its own conventional
estimate; with ``--repeats N`` the two are timed alternately N times and the fastest of each counts). The
acceptance checks of ``docs/acceptance.md#dead-band-decided-by-the-data`` are printed last.

What a record allows at best (:func:`efficiency_bound`): from the conventional estimate's own coherence and data
points, the smallest standard error of rho_a any unbiased estimator from those windows can have, and the chance that
such an estimator lands within 5 % of the truth at every frequency of the range but at most one (``p5``, printed per
record and summarised for the informative records): a record where it is small cannot meet "within 5 % at every
frequency, at most one flagged", whatever the estimator.
"""

from __future__ import annotations

import argparse
import itertools
import time

import numpy as np
import scipy.special

from amt.deadband import compensate, detect_events, events_from_labels
from amt.mt import apparent_resistivity, phase_deg
from amt.synth.deadband_records import EARTHS, PHYSICS, DeadBandScenario, generate_dead_band_record
from amt.transfer import process_station
from amt.transfer.uncertainty import least_rho_error

F_RANGE_HZ = (10.0 * 0.97, 10_000.0 * 1.03)
_OFF = ([0, 1], [1, 0])


def informative(rate: float, noise_db: float) -> bool:
    """The acceptance's records where the sferics carry the information."""
    return (rate >= 2 and noise_db <= 20) or (rate >= 0.5 and noise_db <= 10)


def errors(tf, earth) -> dict[str, np.ndarray]:
    """rho_a relative errors, phase errors (deg) and their bars, (n, 2) over xy and yx, and the rows in range."""
    f = tf.frequency_hz
    zt = earth.impedance(f)
    rho, rho_err = apparent_resistivity(tf.z, f, tf.z_var)
    rho_t, _ = apparent_resistivity(zt, f)
    ph, ph_err = phase_deg(tf.z, tf.z_var)
    ph_t, _ = phase_deg(zt)
    return {
        "rho": rho[:, *_OFF] / rho_t[:, *_OFF] - 1,
        "rho_bar": rho_err[:, *_OFF] / rho_t[:, *_OFF],
        "ph": (ph[:, *_OFF] - ph_t[:, *_OFF] + 180) % 360 - 180,
        "ph_bar": ph_err[:, *_OFF],
        "rows": (f >= F_RANGE_HZ[0]) & (f <= F_RANGE_HZ[1]),
    }


def efficiency_bound(tf, rows: np.ndarray) -> tuple[np.ndarray, float]:
    """The least relative standard error of rho_a per frequency at ``rows``, and the chance that all of them but at
    most one (the one a flag may take) land within 5 % of the truth.

    :func:`amt.transfer.uncertainty.least_rho_error` of the estimate's data points (windows x bins) and the worse
    coherence of Ex and Ey: both optimistic (adjacent bins of a tapered window are correlated; noise on H adds bias,
    not information), so the true bound is higher and the chance lower. The chance is that of independent Gaussian
    errors of those sizes.
    """
    sd = least_rho_error(np.nanmin(tf.diagnostics["coherence"], axis=1), tf.diagnostics["n_points"])[rows]
    inside = scipy.special.erf(0.05 / (np.sqrt(2) * sd))
    # at most one frequency outside 5 % (the one a flag may take): all inside, or exactly one outside
    all_in = float(np.prod(inside))
    one_out = sum(float(np.prod(np.delete(inside, i))) * (1 - inside[i]) for i in range(len(inside)))
    return sd, all_in + one_out


def run_record(sc: DeadBandScenario, events_from: str, repeats: int = 1) -> dict:
    rec = generate_dead_band_record(sc)
    events = events_from_labels(rec.labels) if events_from == "labels" else detect_events(rec.station, "cnn")
    t_conv, t_comp = [], []
    for _ in range(repeats):  # alternated, the fastest of each: the shared machine's load falls on both alike
        t0 = time.perf_counter()
        conv = process_station(rec.station)
        t1 = time.perf_counter()
        res = compensate(rec.station, events)
        t2 = time.perf_counter()
        t_conv.append(t1 - t0)
        t_comp.append(t2 - t1)
    comp = res.compensated
    ec, ek = errors(conv, rec.earth), errors(comp, rec.earth)
    rows = ek["rows"]
    flagged = np.array([bool(x) for x in comp.flags]) & rows
    good = rows & ~flagged
    cover = np.concatenate(
        [(np.abs(ek["rho"]) <= ek["rho_bar"])[good].ravel(), (np.abs(ek["ph"]) <= ek["ph_bar"])[good].ravel()]
    )
    # worse than the conventional estimate at the same row by more than an error bar: the compensated estimate's own
    # relative rho_a bar (the acceptance's "its own"), and, stricter, the conventional estimate's
    worse = np.abs(ek["rho"]) > np.abs(ec["rho"]) + np.nan_to_num(ek["rho_bar"], nan=np.inf)
    worse_conv_bar = np.abs(ek["rho"]) > np.abs(ec["rho"]) + np.nan_to_num(ec["rho_bar"], nan=np.inf)
    return {
        "scenario": sc,
        "n_freq": int(rows.sum()),
        "conv_rho": float(np.nanmax(np.abs(ec["rho"][rows]))),
        "conv_ph": float(np.nanmax(np.abs(ec["ph"][rows]))),
        "comp_rho": float(np.max(np.abs(ek["rho"][good]), initial=0.0)),
        "comp_ph": float(np.max(np.abs(ek["ph"][good]), initial=0.0)),
        "n_flagged": int(flagged.sum()),
        "n_sferic": int(np.sum((comp.diagnostics["estimator"] == "sferic") & good)),
        "cover_hits": int(cover.sum()),
        "cover_n": int(cover.size),
        "n_worse": int(np.sum(worse[good].any(axis=1))),
        "n_worse_conv_bar": int(np.sum(worse_conv_bar[good].any(axis=1))),
        "f_max_hz": float(comp.frequency_hz[rows].max()),
        "ratio": min(t_comp) / min(t_conv),
        "n_sferics": len(rec.labels),
        "p5": efficiency_bound(conv, rows)[1],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=16.0, help="record length, s (default 16)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--rates", type=float, nargs="+", default=[0.5, 2.0, 10.0], help="sferics per second")
    ap.add_argument("--noise", type=float, nargs="+", default=[10.0, 20.0, 30.0], help="dead-band noise, dB")
    ap.add_argument("--earths", nargs="+", default=list(EARTHS))
    ap.add_argument("--events", choices=("labels", "cnn"), default="labels")
    ap.add_argument("--repeats", type=int, default=1, help="timings per record, alternated; the fastest counts")
    args = ap.parse_args()
    print(f"records {args.seconds:g} s at 24 kHz; sferic times from {args.events}; frequencies 10 Hz - 10 kHz")
    head = (
        f"{'earth':>26} {'phys':>6} {'/s':>4} {'dB':>3} {'seed':>4} | {'conv rho%':>9} {'ph':>6} | {'comp rho%':>9} "
        f"{'ph':>6} {'flag':>4} {'sfr':>4} {'cover':>6} {'worse':>5} {'fmax':>6} {'t ratio':>7} {'p5':>7}"
    )
    print(head)
    results = []
    combos = list(itertools.product(enumerate(args.earths), args.rates, args.noise, args.seeds))
    for k, ((e, earth), rate, noise, seed) in enumerate(combos):
        sc = DeadBandScenario(
            earth=earth, sferic_rate_hz=rate, noise_db=noise, physics=PHYSICS[(k + e) % len(PHYSICS)],
            duration_s=args.seconds, seed=seed,
        )  # fmt: skip
        r = run_record(sc, args.events, args.repeats)
        results.append(r)
        print(
            f"{earth:>26} {sc.physics:>6} {rate:4g} {noise:3g} {seed:4d} | {100 * r['conv_rho']:9.1f} "
            f"{r['conv_ph']:6.1f} | {100 * r['comp_rho']:9.1f} {r['comp_ph']:6.1f} {r['n_flagged']:4d} "
            f"{r['n_sferic']:4d} {r['cover_hits'] / max(r['cover_n'], 1):6.2f} {r['n_worse']:5d} {r['f_max_hz']:6.0f} "
            f"{r['ratio']:7.2f} {r['p5']:7.3f}",
            flush=True,
        )
    info = [r for r in results if informative(r["scenario"].sferic_rate_hz, r["scenario"].noise_db)]
    ok_info = [r for r in info if r["comp_rho"] <= 0.05 and r["comp_ph"] <= 2.0 and r["n_flagged"] <= 1]
    ok_all = [r for r in results if r["comp_rho"] <= 0.10 and r["comp_ph"] <= 3.0]
    hits = sum(r["cover_hits"] for r in results)
    n_cov = sum(r["cover_n"] for r in results)
    worse = sum(r["n_worse"] for r in results)
    worse_conv_bar = sum(r["n_worse_conv_bar"] for r in results)
    ratio = max(r["ratio"] for r in results)
    print("\nacceptance (docs/acceptance.md#dead-band-decided-by-the-data)")
    print(f"  informative records within 5 % / 2 deg, <= 1 flagged: {len(ok_info)} of {len(info)}")
    print(f"  all records, unflagged within 10 % / 3 deg: {len(ok_all)} of {len(results)}")
    print(f"  jackknife bars covering the truth at unflagged frequencies: {hits / max(n_cov, 1):.3f} (0.60-0.77)")
    print(f"  unflagged frequencies worse than conventional by more than their own bar: {worse}")
    print(f"  ... by more than the conventional estimate's bar (stricter): {worse_conv_bar}")
    print(f"  flagged frequencies: {sum(r['n_flagged'] for r in results)} of {sum(r['n_freq'] for r in results)}")
    print(f"  time compensated / conventional: median {np.median([r['ratio'] for r in results]):.2f}, max {ratio:.2f}")
    if info:
        p5 = np.array([r["p5"] for r in info])
        print(f"  efficiency bound on the informative records: chance that an unbiased estimator from all windows is "
              f"within 5 % at every frequency but one: median {np.median(p5):.3f}, max {p5.max():.3f}; "
              f"{int(np.sum(p5 < 0.05))} of {len(p5)} records below 0.05")


if __name__ == "__main__":
    main()
