"""Benchmark of the transfer-function estimator: error honesty, speed on test1, speed on 24 kHz data.

Run: ``.venv/bin/python -m benchmarks.amt_transfer [--realisations 50] [--seconds 3600]``.

1. Error honesty: over seeded synthetic realisations (the independent generator of the tests: coloured sources,
   E = Z H in the frequency domain, stationary noise), the fraction of true Z values (real and imaginary parts) within
   +-1 reported standard error, for the jackknife (written to EDI) and the parametric errors, robust and OLS.
   Honest errors give about 68 %.
2. Speed on EMTF's test1.asc (40,000 samples, 5 channels, 1 Hz): spectra + regression, imports and reading excluded.
3. Speed on one hour (``--seconds``) of synthetic 5-channel 24 kHz data end to end, as a multiple of real time: in
   memory (spectra + regression) and through files (MTH5 write and read, processing, EDI write).
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import numpy as np

from amt.io import read, write
from amt.io.emtf_ascii import read_emtf_ascii
from amt.io.transfer_functions import write_transfer_function
from amt.record import Station, StationRun
from amt.spectra import SpectraConfig, compute_spectra
from amt.synth.gaussian_runs import halfspace_z, make_run, sources
from amt.transfer import EstimateConfig, estimate_transfer_function, process_station
from shared.paths import data_root

RATE = 100.0
FREQS = 10 ** (np.arange(5, 10) / 7)


def coverage(n_real: int) -> list[tuple[str, float, float]]:
    rows = []
    for name, cfg in (("robust", EstimateConfig()), ("OLS", EstimateConfig(robust=None))):
        jack, par = [], []
        for seed in range(n_real):
            rng = np.random.default_rng(1000 + seed)
            run, _ = make_run(sources(rng, 2**13, RATE), RATE, rng=rng, e_noise=0.3, h_noise=0.02,
                              rotation_deg=30.0, rho_yx_ohm_m=300.0)  # fmt: skip
            tf = estimate_transfer_function(
                compute_spectra(run, SpectraConfig(max_levels=1)), config=cfg, frequencies_hz=FREQS
            )
            d = tf.z - halfspace_z(tf.frequency_hz, 100.0, 30.0, 300.0)
            for var, out in ((tf.z_var, jack), (tf.diagnostics["z_var_parametric"], par)):
                sd = np.sqrt(var / 2)
                out.append(np.concatenate([(np.abs(d.real) <= sd).ravel(), (np.abs(d.imag) <= sd).ravel()]))
        rows.append((name, float(np.mean(np.concatenate(jack))), float(np.mean(np.concatenate(par)))))
    return rows


def time_test1(repeats: int = 3) -> float | None:
    path = data_root() / "amt" / "emtf_synthetic" / "test1.asc"
    if not path.is_file():
        return None
    run = read_emtf_ascii(path).runs[0]
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        estimate_transfer_function(compute_spectra(run))
        best = min(best, time.perf_counter() - t0)
    return best


def hour_station(seconds: float, chunk_s: float = 60.0) -> Station:
    """``seconds`` of 5-channel 24 kHz synthetic data (100 ohm-m half-space), generated in ``chunk_s`` pieces."""
    rate = 24000.0
    rng = np.random.default_rng(7)
    runs = []
    for i in range(int(np.ceil(seconds / chunk_s))):
        n = int(min(chunk_s, seconds - i * chunk_s) * rate)
        runs.append(make_run(sources(rng, n, rate), rate, rng=rng)[0])
    first = runs[0]
    data = {c: np.concatenate([r.data[c] for r in runs]) for c in first.data}
    run = StationRun(first.station, "001", rate, first.start, data, first.meta, source="synthetic 24 kHz")
    return Station(first.station, runs=[run])


def time_24k(seconds: float) -> list[tuple[str, float, int]]:
    """End-to-end processing of ``seconds`` of 24 kHz data: (case, wall seconds, frequencies), in memory and via files.

    In memory: spectra + regression of the station (``process_station``). With I/O: write the record as MTH5, read
    it back, process it and write the EDI, as ``amt process`` does.
    """
    station = hour_station(seconds)
    t0 = time.perf_counter()
    tf = process_station(station)
    in_memory = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "hour.h5"
        t0 = time.perf_counter()
        write(station, path)
        t_write = time.perf_counter() - t0
        del station  # the file is the only copy from here on, as for a user
        t0 = time.perf_counter()
        tf = process_station(read(path))
        write_transfer_function(tf, Path(tmp) / "hour.edi")
        with_io = t_write + time.perf_counter() - t0
    n_freq = tf.n_frequencies
    return [("in memory", in_memory, n_freq), ("MTH5 write + read + process + EDI", with_io, n_freq)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--realisations", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=3600.0, help="length of the 24 kHz record (s)")
    args = parser.parse_args()

    print(f"Error honesty over {args.realisations} seeded realisations (5 bands x 4 elements x re/im each)")
    print(f"{'estimator':<10} {'jackknife (EDI)':>16} {'parametric':>12}   target 60-77 % (68 % ideal)")
    for name, jk, par in coverage(args.realisations):
        print(f"{name:<10} {100 * jk:>15.1f}% {100 * par:>11.1f}%")

    t1 = time_test1()
    print("\nSpeed (spectra + regression, imports and reading excluded)")
    print(f"{'case':<44} {'seconds':>8} {'x real time':>12}")
    if t1 is None:
        print(f"{'test1.asc (40,000 s at 1 Hz)':<44} {'skipped: data not found':>21}")
    else:
        print(f"{'test1.asc (40,000 s at 1 Hz, 5 ch)':<44} {t1:>8.2f} {40000.0 / t1:>12.0f}")
    for case, seconds, nf in time_24k(args.seconds):
        label = f"24 kHz, 5 ch, {args.seconds:g} s, {case}"
        print(f"{label:<44} {seconds:>8.1f} {args.seconds / seconds:>12.1f}   ({nf} frequencies)")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"process peak resident memory: {peak:.0f} MiB (including the generated record)")


if __name__ == "__main__":
    main()
