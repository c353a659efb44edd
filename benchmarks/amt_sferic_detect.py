"""Throughput of sferic detection as a multiple of real time: full CNN, fast path, STA/LTA alone.

Ten minutes of five-channel 24 kHz synthetic data (Ex, Ey, Hx, Hy, Hz; strong sferics at +10 dB) at 2 and
at 20 sferics per second, detected in memory and from a file (read with :func:`amt.io.read`, events written
as CSV), one torch thread. Real-time multiple = record duration / wall time, the median of ``--repeats`` runs
(each run of a mode reads the record afresh; the first also pays for setting up the CNN's kernels for new input
shapes, so the median is the throughput of a process that works through many records).

Run: ``.venv/bin/python -m benchmarks.amt_sferic_detect [--minutes 10] [--repeats 3]``
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

import amt.io
from amt.record import Station, StationRun
from amt.sferic.catalogue import write_events_csv
from amt.sferic.inference import SfericDetector
from amt.sferic.preprocess import highpass
from amt.sferic.stalta import StaLta
from amt.synth.records import FieldConfig, synthesize, to_run
from shared.seeding import stream_rng

CHUNK_S = 10.0


def record(minutes: float, rate_per_s: float, seed: int = 4_242) -> StationRun:
    """Concatenated 10-s synthetic chunks (each its own noise, storms and sferics)."""
    n = round(CHUNK_S * 24_000)
    runs = [
        to_run(synthesize(n, FieldConfig(sferic_rate_hz=rate_per_s, snr_db=10.0), stream_rng(seed, k)))
        for k in tqdm(range(round(minutes * 60 / CHUNK_S)), desc=f"synthesise {rate_per_s:g}/s", leave=False)
    ]
    data = {c: np.concatenate([r.data[c] for r in runs]) for c in runs[0].channels}
    return StationRun("BENCH", "001", 24_000.0, runs[0].start, data, runs[0].meta, source="benchmark")


def stalta_only(run: StationRun, stalta: StaLta) -> int:
    hp = highpass(np.vstack([run.data["hx"], run.data["hy"]]), run.sample_rate_hz)
    return len(stalta.events(hp, run.sample_rate_hz))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--repeats", type=int, default=3, help="runs per mode; the median wall time is reported")
    args = parser.parse_args()
    torch.set_num_threads(1)
    det = SfericDetector.from_checkpoint()
    stalta = StaLta()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for rate in (2.0, 20.0):
            run = record(args.minutes, rate)
            path = amt.io.write(Station("BENCH", [run]), Path(tmp) / f"bench_{rate:g}.npz")
            seconds = run.duration_s
            for mode in ("full CNN", "fast path", "STA/LTA alone"):
                for io in (False, True):
                    walls = []
                    for _ in range(max(args.repeats, 1)):
                        t0 = time.perf_counter()
                        r = amt.io.read(path).runs[0] if io else run
                        if mode == "STA/LTA alone":
                            n_events = stalta_only(r, stalta)
                        else:
                            events = det.detect_run(r, fast=mode == "fast path").events
                            n_events = len(events)
                            if io:
                                write_events_csv(Path(tmp) / "events.csv", events)
                        walls.append(time.perf_counter() - t0)
                    wall = float(np.median(walls))
                    io_txt = "yes" if io else "no"
                    rows.append((rate, mode, io_txt, wall, seconds / wall, n_events, min(walls), max(walls)))
    print(f"{args.minutes:g} min of 5-channel 24 kHz data, 1 torch thread, median of {args.repeats} run(s)")
    print(
        f"{'sferics/s':>9s}  {'mode':14s} {'file I/O':8s} {'wall s':>8s} {'x real time':>11s} {'events':>7s} "
        f"{'min-max wall s':>15s}"
    )
    for rate, mode, io, wall, speed, n, lo, hi in rows:
        print(f"{rate:9g}  {mode:14s} {io:8s} {wall:8.2f} {speed:11.1f} {n:7d} {lo:7.2f}-{hi:<7.2f}")


if __name__ == "__main__":
    main()
