"""Benchmark of ``amt process`` on a long record against the physical floor, measured side by side in one run.

The record: a synthetic daytime 24 kHz 5-channel record in raw counts (the dead-band scenario of
:func:`amt.synth.scenarios.dead_band_record`, layered earth, 20 storm flashes/s), ``--seed-seconds`` long, repeated
end to end to ``--minutes`` and written as MTH5 (repeating keeps the set-up affordable; the processing sees a record
with the same sferic rate and spectra throughout).

Steps, each in a fresh process (the installed ``amt`` command), so that its CPU time and peak memory are its own:

* ``floor``: one h5py read of the five channels and a 3-level cascade (decimation by 4, scipy FIR) of 1024-point
  Hann-windowed FFTs with 50 % overlap per channel: the least any processing of the record must do;
* ``conventional``: ``amt process RECORD --mode conventional``;
* ``compensated``: ``amt process RECORD --mode compensated`` (the dead band from the windows holding sferics,
  detected by the shipped CNN);
* ``spectra``: the conventional run's spectra alone (the record read as h5py slices, the band plan's bins kept),
  and ``detect``: the compensated run's detection alone (the shipped CNN reading the record a part at a time):
  what each phase holds, against the whole run's peak.

With ``--baseline DIR`` every step but the floor also runs with that tree (a checkout or ``git archive`` of another
commit) first on ``PYTHONPATH``, right before this tree's run of it: old and new code side by side on one record and
one machine, and the per-frequency results (JSON) of the conventional and compensated runs are compared with the
baseline's (printed: equal or differ). Before the steps, a small regression compiles (or loads from numba's cache)
the robust estimator's compiled loops (:mod:`amt.transfer.kernels`), whose first compilation on a machine no step
then pays (:mod:`benchmarks.amt_transfer_memory` reports it).

Reported per step: CPU seconds (user + system of the child), its ratio to the floor's, wall seconds, and peak
resident memory (``ru_maxrss`` of the child, which includes the interpreter and its imports; the child is started
by a small launcher process, :data:`LAUNCH`, so that it does not inherit this process's pages). Targets
(``docs/acceptance.md#field-processing-at-survey-scale``): conventional <= 4x the floor, compensated <= 8x, peak
memory <= 1 GiB for 10 minutes and for 1 hour.

Usage::

    python -m benchmarks.amt_pipeline                  # 10 minutes
    python -m benchmarks.amt_pipeline --minutes 1      # a quick look
    python -m benchmarks.amt_pipeline --repeats 3      # the fastest of 3 runs of each step, taken in turn
    python -m benchmarks.amt_pipeline --minutes 2 --steps floor,conventional --baseline /tmp/base
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

FLOOR = """
import sys, h5py, numpy as np, scipy.signal
path = sys.argv[1]
w = np.hanning(1024)
with h5py.File(path, "r") as f:
    base = f["Experiment/Surveys/amt/Stations"]
    station = base[next(iter(base))]
    run = station[sorted(k for k in station if k[0].isdigit())[0]]
    data = {c: run[c][()] for c in ("ex", "ey", "hx", "hy", "hz")}
total = 0.0
for x in data.values():
    for level in range(3):
        frames = np.lib.stride_tricks.sliding_window_view(x, 1024)[::512]
        total += float(np.abs(np.fft.rfft(frames * w, axis=1)[:, 1]).sum())
        if level < 2:
            x = scipy.signal.decimate(x, 4, ftype="fir", zero_phase=True)
print(total)
"""


SPECTRA = """
import sys
from amt.io.mth5_file import open_mth5_chunked
from amt.spectra import compute_station_spectra, plan_bins
with open_mth5_chunked(sys.argv[1]) as station:
    levels = compute_station_spectra(station, select_bins=plan_bins)
print(sum(s.coefficients.nbytes for lv in levels.values() for s in lv) / 2**20)
"""

DETECT = """
import sys
from amt.pipeline.process import detect_record
print(len(detect_record(sys.argv[1])))
"""


def make_record(path: Path, minutes: float, seed_seconds: float, site: str = "LONG") -> Path:
    """Write the benchmark record (module notes) of station ``site`` to ``path``."""
    import amt.io
    from amt.record import Station, StationRun
    from amt.synth import generate, parse_earth
    from amt.synth.scenarios import TWO_STORMS, dead_band_record

    cfg = dead_band_record(parse_earth("layers:100,1000,10/300,2000"), TWO_STORMS, 20.0, duration_s=seed_seconds,
                           seed=3, site=site)
    seed_run = generate(cfg).stations[0].runs[0]
    n = round(minutes * 60 * seed_run.sample_rate_hz)
    reps = -(-n // seed_run.n_samples)
    data = {c: np.tile(x, reps)[:n] for c, x in seed_run.data.items()}
    run = StationRun(seed_run.station, seed_run.run, seed_run.sample_rate_hz, seed_run.start, data, seed_run.meta)
    return amt.io.write(Station(site, [run]), path)


def coefficient_floor_mib(minutes: float, rate_hz: float = 24000.0, channels: int = 5) -> tuple[float, float]:
    """MiB of the Fourier coefficients an estimate that keeps every window must hold (complex64, 5 channels).

    Only the bins the band plan (:func:`amt.spectra.plan_bands`) uses, every window of every decimation level
    (:class:`amt.spectra.SpectraConfig` defaults, :func:`amt.spectra.windows.window_starts`): what an iteratively
    reweighted robust estimator (:mod:`amt.transfer`), which revisits every window of a band, cannot do without.
    Returns the total over all bands and the largest single band (what band-by-band estimation would hold).
    """
    from amt.spectra import Spectra, SpectraConfig, plan_bands, plan_bins
    from amt.spectra.windows import window_starts

    cfg = SpectraConfig()
    n, levels, starts = round(minutes * 60 * rate_hz), [], []
    for level in range(cfg.max_levels):
        rate = rate_hz / cfg.decimation_factor**level
        w = window_starts([(0, n // cfg.decimation_factor**level)], cfg.window_length, cfg.overlap)
        if len(w) < cfg.min_windows:
            break
        freqs = np.fft.rfftfreq(cfg.window_length, 1 / rate)[1:]
        levels.append(Spectra("F", "1", ("ex",), rate, level, cfg.window_length, freqs,
                              np.zeros((0, 1, len(freqs)), np.complex64), np.zeros(0)))
        starts.append(len(w))
    mib = channels * np.dtype(np.complex64).itemsize / 2**20
    total = sum(starts[lv] * len(b) for lv, b in enumerate(plan_bins(levels))) * mib
    return total, max(starts[b.level] * len(b.bins) for b in plan_bands(levels)) * mib


def compensated_coefficients_mib(minutes: float, rate_hz: float = 24000.0, channels: int = 4) -> float:
    """MiB of the long windows' coefficients :func:`amt.deadband.compensate` holds once the conventional estimate is
    done and its other bins are gone (complex64; E and H, 4 channels; every bin, an upper bound: the rows read all
    but the lowest few): the level-0 windows of its sferic estimate (:class:`amt.deadband.CompensationConfig`)."""
    from amt.deadband import CompensationConfig
    from amt.spectra.windows import window_starts

    sc = CompensationConfig().sferic_spectra
    m = len(window_starts([(0, round(minutes * 60 * rate_hz))], sc.window_length, sc.overlap))
    return m * (sc.window_length // 2) * channels * np.dtype(np.complex64).itemsize / 2**20


def same_results(out: Path, baseline: Path) -> bool:
    """Whether two ``amt process`` output folders hold the same per-frequency results (every ``*.json``'s
    ``frequencies``, the station and the mode; the record's path aside)."""
    names = sorted(p.name for p in out.glob("*.json"))
    if not names or names != sorted(p.name for p in baseline.glob("*.json")):
        return False
    for n in names:
        x, y = (json.loads((d / n).read_text()) for d in (out, baseline))
        keys = ("station", "mode", "frequencies")
        if [x.get(k) for k in keys] != [y.get(k) for k in keys]:
            return False
    return True


#: Runs the command given and prints its CPU time, wall time, peak RSS and exit code as JSON. A small process of
#: its own, so that the child's peak RSS is the child's: Linux counts a forked child's pages from before its exec
#: (the parent's, shared) in its ``ru_maxrss``, and this benchmark's own process holds the record it made.
LAUNCH = """
import json, os, subprocess, sys, tempfile, time
with tempfile.TemporaryFile() as err:
    t0 = time.perf_counter()
    pid = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=err).pid
    _, status, ru = os.wait4(pid, 0)
    wall = time.perf_counter() - t0
    err.seek(0)
    print(json.dumps({"code": os.waitstatus_to_exitcode(status), "cpu": ru.ru_utime + ru.ru_stime, "wall": wall,
                      "rss": ru.ru_maxrss / 1024, "err": err.read().decode(errors="replace")[-2000:]}))
"""


HERE = Path(__file__).resolve().parents[1]
"""This tree (the repository holding this benchmark)."""

#: Compiles (or loads from numba's cache) the robust estimator's compiled loops, so that no step pays for that.
WARM = """
import numpy as np
from amt.transfer.regression import regress
from amt.transfer.uncertainty import jackknife_variance
rng = np.random.default_rng(0)
x = (rng.standard_normal((500, 2)) + 1j * rng.standard_normal((500, 2))).astype(np.complex64)
for q in (None, x.copy()):
    res = regress((x @ np.array([1 + 1j, 2])).astype(np.complex64), x, q)
    jackknife_variance(x[:, 0], x, x if q is None else q, res, np.arange(500) // 5)
"""


def measure(args: list[str], tree: Path | None = None) -> tuple[float, float, float]:
    """CPU seconds, wall seconds and peak RSS (MiB) of a process running ``args`` (started by :data:`LAUNCH`) with
    ``tree`` first on ``PYTHONPATH`` (a checkout of another commit; default: none added); the times are NaN if it
    failed."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    if tree is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(tree), env.get("PYTHONPATH", "")])
    out = json.loads(subprocess.run([sys.executable, "-c", LAUNCH, *args], env=env, check=True,
                                    capture_output=True, text=True, cwd=tempfile.gettempdir()).stdout)
    if out["code"] != 0:  # e.g. killed for memory on a long record: reported, and the other steps still run
        print(f"{' '.join(args[:2])} failed (exit {out['code']}): {out['err']}", file=sys.stderr)
        return float("nan"), float("nan"), out["rss"]
    return out["cpu"], out["wall"], out["rss"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=10.0, help="Record length, minutes (default 10).")
    ap.add_argument("--seed-seconds", type=float, default=20.0, help="Synthesised seconds repeated (default 20).")
    ap.add_argument("--steps", default="floor,conventional,compensated,spectra,detect",
                    help="Steps to run, comma-separated (default: all).")
    ap.add_argument("--baseline", type=Path,
                    help="Another tree (e.g. a git archive of an older commit): each step but the floor also runs "
                         "with it first on PYTHONPATH, right before this tree's run.")
    ap.add_argument("--repeats", type=int, default=1,
                    help="Runs of every step, taken in turn (all steps once, then again): the fastest CPU and wall "
                         "time of each and its largest peak RSS are reported (default 1).")
    a = ap.parse_args()
    if a.repeats < 1:
        ap.error(f"--repeats {a.repeats}: at least 1")
    if a.baseline is not None and not (a.baseline / "amt").is_dir():
        ap.error(f"--baseline {a.baseline}: no amt/ there")
    with tempfile.TemporaryDirectory(prefix="amt_pipeline_") as tmp:
        record = make_record(Path(tmp) / "LONG.h5", a.minutes, a.seed_seconds)
        amt = str(Path(sys.executable).parent / "amt")
        commands = {
            "floor": [sys.executable, "-c", FLOOR, str(record)],
            "conventional": [amt, "process", str(record), "--out", f"{tmp}/conv", "--mode", "conventional"],
            "compensated": [amt, "process", str(record), "--out", f"{tmp}/comp", "--mode", "compensated"],
            "spectra": [sys.executable, "-c", SPECTRA, str(record)],
            "detect": [sys.executable, "-c", DETECT, str(record)],
        }
        measure([sys.executable, "-c", WARM], HERE)
        if a.baseline is not None:  # a baseline with compiled kernels compiles them here, not in its first step
            measure([sys.executable, "-c", WARM], a.baseline)
        runs: dict[str, list[tuple[float, float, float]]] = {}
        same = {}
        for _ in range(a.repeats):  # in turn, so that a slow spell of a shared machine falls on every step alike
            for name in a.steps.split(","):
                if a.baseline is not None and name != "floor":
                    runs.setdefault(f"{name} (baseline)", []).append(measure(commands[name], a.baseline))
                    if name in ("conventional", "compensated") and Path(f"{tmp}/{name[:4]}").is_dir():  # compared
                        shutil.rmtree(f"{tmp}/{name[:4]}-baseline", ignore_errors=True)
                        os.replace(f"{tmp}/{name[:4]}", f"{tmp}/{name[:4]}-baseline")
                runs.setdefault(name, []).append(measure(commands[name], HERE))
                if a.baseline is not None and name in ("conventional", "compensated"):
                    same[name] = same_results(Path(f"{tmp}/{name[:4]}"), Path(f"{tmp}/{name[:4]}-baseline"))
                    shutil.rmtree(f"{tmp}/{name[:4]}")
        rows = {k: (min(r[0] for r in v), min(r[1] for r in v), max(r[2] for r in v)) for k, v in runs.items()}
    floor = rows.get("floor", (float("nan"),))[0]
    for m in sorted({a.minutes, 10.0, 60.0}):
        total, band = coefficient_floor_mib(m)
        print(f"{m:g} min: Fourier coefficients of every window in the band plan (complex64, 5 channels) "
              f"{total:.0f} MiB in all, {band:.0f} MiB for the largest band; the compensated estimate's "
              f"long windows {compensated_coefficients_mib(m):.0f} MiB")
    print(f"amt process on {a.minutes:g} min of 5-channel 24 kHz MTH5 (one process per step, BLAS on one thread; "
          f"fastest of {a.repeats})")
    print("| step | CPU s | x floor | wall s | x real time | peak RSS (MiB) |")
    print("|---|---|---|---|---|---|")
    for name, (cpu, wall, rss) in rows.items():
        print(f"| {name} | {cpu:.1f} | {cpu / floor:.1f} | {wall:.1f} | {a.minutes * 60 / cpu:.1f} | {rss:.0f} |")
    for name, equal in same.items():
        print(f"{name}: per-frequency results (JSON) {'equal to' if equal else 'DIFFER from'} the baseline's")


if __name__ == "__main__":
    main()
