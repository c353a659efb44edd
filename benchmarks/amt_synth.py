"""Benchmark: generate one hour of 5-channel 24 kHz synthetic AMT data chunk by chunk.

Run: ``.venv/bin/python -m benchmarks.amt_synth [--duration SECONDS]``. Prints seconds, samples per second,
flashes and the peak memory of the process (resident set, from ``resource``), with the memory a
full in-memory record would take for comparison. Samples are consumed chunk by chunk (as a writer
would), so memory stays bounded by the chunk, not the record.
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np

from amt.synth.field import FieldGenerator, Site, SynthConfig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=3600.0, help="record length, s")
    parser.add_argument("--rate", type=float, default=24000.0)
    args = parser.parse_args()
    config = SynthConfig(duration_s=args.duration, rate_hz=args.rate, sferic_rate_hz=5.0, sites=(Site(),), seed=1)
    t0 = time.perf_counter()
    gen = FieldGenerator(config)
    t_cat = time.perf_counter() - t0
    span = gen.spans[0]
    n = 0
    checksum = 0.0
    t1 = time.perf_counter()
    for _, chunk in gen.iter_chunks(span, 0):
        n += chunk.shape[1]
        checksum += float(np.sum(chunk[2] ** 2))
    t_gen = time.perf_counter() - t1
    labels, _ = gen.labels(0, span)
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rows = [
        ("duration (s of data)", f"{args.duration:.0f}"),
        ("channels x rate", f"5 x {args.rate:.0f} Hz"),
        ("flashes in catalogue", f"{len(gen.catalogue)}"),
        ("listed sferics", f"{len(labels)}"),
        ("catalogue time (s)", f"{t_cat:.2f}"),
        ("generation time (s)", f"{t_gen:.1f}"),
        ("real-time factor", f"{args.duration / t_gen:.2f}x"),
        ("samples/s (per channel)", f"{n / t_gen:.3g}"),
        ("peak RSS (MiB)", f"{peak_mib:.0f}"),
        ("full record in float64 (MiB)", f"{5 * n * 8 / 2**20:.0f}"),
        ("hx mean square (nT^2)", f"{checksum / n:.3g}"),
    ]
    width = max(len(k) for k, _ in rows)
    print(f"{'quantity':<{width}} | value")
    print(f"{'-' * width}-+-{'-' * 20}")
    for k, v in rows:
        print(f"{k:<{width}} | {v}")


if __name__ == "__main__":
    main()
