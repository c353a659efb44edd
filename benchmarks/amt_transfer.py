"""Benchmark of the transfer-function estimator: error honesty, speed on test1, speed on 24 kHz data.

Run: ``.venv/bin/python -m benchmarks.amt_transfer [--realisations 50] [--seconds 60]``.

1. Error honesty: over seeded synthetic realisations (the independent generator of the tests: coloured sources,
   E = Z H in the frequency domain, stationary noise), the fraction of true Z values (real and imaginary parts) within
   +-1 reported standard error, for the jackknife (written to EDI) and the parametric errors, robust and OLS.
   Honest errors give about 68 %.
2. Speed on EMTF's test1.asc (40,000 samples, 5 channels, 1 Hz): spectra + regression, imports and reading excluded.
3. Speed on synthetic 5-channel 24 kHz data (spectra + regression, in memory, no I/O), as a multiple of real time.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from amt.spectra import SpectraConfig, compute_spectra
from amt.transfer import EstimateConfig, estimate_transfer_function
from shared.paths import data_root
from tests.amt.transfer.synthetic import halfspace_z, make_run, sources

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
    from amt.io.emtf_ascii import read_emtf_ascii

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


def time_24k(seconds: float) -> tuple[float, int]:
    rate = 24000.0
    rng = np.random.default_rng(7)
    n = int(seconds * rate)
    run, _ = make_run(sources(rng, n, rate), rate, rng=rng)
    t0 = time.perf_counter()
    tf = estimate_transfer_function(compute_spectra(run))
    return time.perf_counter() - t0, tf.n_frequencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--realisations", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the 24 kHz record (s)")
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
    t24, nf = time_24k(args.seconds)
    label = f"synthetic 24 kHz, 5 ch, {args.seconds:g} s ({nf} freqs)"
    print(f"{label:<44} {t24:>8.2f} {args.seconds / t24:>12.1f}")
    print(f"{'  -> one hour of 24 kHz data, extrapolated':<44} {3600 * t24 / args.seconds:>8.0f}")


if __name__ == "__main__":
    main()
