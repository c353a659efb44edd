"""Benchmark of amt.io: write and read 10 minutes of 5-channel 24 kHz data as MTH5 and as miniSEED, beside
a plain ObsPy read of the same miniSEED.

Each step runs in a fresh process so that its memory is its own. Reported per step:

* seconds of wall time;
* peak memory: the rise of the process's resident set over its level just before the step
  (``ru_maxrss`` minus the RSS before), which counts h5py's and libmseed's C buffers as well as NumPy
  arrays. (``tracemalloc`` is not used: it slows mth5's metadata handling a hundredfold and misses C
  allocations.)

Usage::

    python -m benchmarks.amt_io                 # 10 min, 5 channels, 24 kHz
    python -m benchmarks.amt_io --minutes 0.5   # a quick look
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
from obspy import UTCDateTime

import amt.io
from amt.record import ChannelMeta, Station, StationRun

CHANNELS = ("ex", "ey", "hx", "hy", "hz")


def _rss_bytes() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _make_station(minutes: float, rate: float):
    n = round(minutes * 60 * rate)
    rng = np.random.default_rng(0)
    data = {c: rng.standard_normal(n) for c in CHANNELS}
    meta = {
        c: ChannelMeta(
            c,
            "mV/km" if c.startswith("e") else "nT",
            azimuth_deg=90.0 if c in ("ey", "hy") else 0.0,
            tilt_deg=90.0 if c == "hz" else 0.0,
            dipole_length_m=100.0 if c.startswith("e") else None,
        )
        for c in CHANNELS
    }
    run = StationRun("BENCH", "001", rate, UTCDateTime("2024-01-01T00:00:00"), data, meta)
    return Station("BENCH", [run])


def _step(kind: str, path: str, minutes: float, rate: float, queue) -> None:
    station = _make_station(minutes, rate) if kind.startswith("write") else None
    # libraries are imported before the clock starts (mth5 alone takes seconds); the import is timed apart
    t_imp = time.perf_counter()
    if "MTH5" in kind:
        from mt_metadata.timeseries import Electric  # noqa: F401

        from amt.io import mth5_file

        mth5_file._mth5()
    else:
        import obspy
    import_s = time.perf_counter() - t_imp

    before = _rss_bytes()
    t0 = time.perf_counter()
    if kind.startswith("write"):
        amt.io.write(station, path)
    elif kind == "obspy read":
        import obspy

        st = obspy.read(path)
        assert len(st) >= len(CHANNELS)
    else:
        back = amt.io.read(path)
        assert back.runs[0].n_samples == round(minutes * 60 * rate)
    seconds = time.perf_counter() - t0
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
    queue.put((seconds, max(peak_rss - before, 0), import_s))


def run_step(kind: str, path: Path, minutes: float, rate: float) -> tuple[float, int, float]:
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=_step, args=(kind, str(path), minutes, rate, q))
    p.start()
    result = q.get()
    p.join()
    if p.exitcode != 0:
        raise RuntimeError(f"{kind} failed with exit code {p.exitcode}")
    return result


def main(argv: list[str] | None = None) -> list[tuple[str, float, int, int, float]]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--rate", type=float, default=24000.0)
    ap.add_argument("--dir", type=Path, default=None, help="scratch folder (default: a temporary one)")
    args = ap.parse_args(argv)

    n = round(args.minutes * 60 * args.rate)
    mib = 2**20
    print(
        f"{len(CHANNELS)} channels x {n:,} samples ({args.minutes:g} min at {args.rate:g} Hz), float64: "
        f"{len(CHANNELS) * n * 8 / mib:,.0f} MiB of samples"
    )
    rows = []
    with tempfile.TemporaryDirectory(dir=args.dir) as d:
        h5, ms = Path(d) / "bench.h5", Path(d) / "bench.mseed"
        for kind, path in (
            ("write MTH5", h5),
            ("read MTH5 (amt.io)", h5),
            ("write miniSEED", ms),
            ("read miniSEED (amt.io)", ms),
            ("obspy read", ms),
        ):
            secs, rss, imp = run_step(kind, path, args.minutes, args.rate)
            rows.append((kind, secs, rss, path.stat().st_size, imp))
    print(f"{'step':<24}{'seconds':>9}{'peak memory MiB':>17}{'file MiB':>10}{'import s (apart)':>18}")
    for kind, secs, rss, size, imp in rows:
        label = "obspy.read (plain)" if kind == "obspy read" else kind
        print(f"{label:<24}{secs:>9.2f}{rss / mib:>17.0f}{size / mib:>10.0f}{imp:>18.2f}")
    return rows


if __name__ == "__main__":
    main()
