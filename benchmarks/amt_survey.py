"""Benchmark of ``amt survey``: the same stations in turn and on a local Dask cluster of 2 workers, in one run.

Stations: ``--stations`` records of ``--minutes`` each (the record of :mod:`benchmarks.amt_pipeline`: a synthetic
daytime 24 kHz 5-channel record repeated to length, one site name each). Both runs process every station
(``--mode``, conventional by default) into their own folder (:mod:`amt.survey.run`); the Dask run uses the survey's
local cluster (:func:`amt.survey.run.local_cluster`) of 2 single-threaded worker processes, whose peak resident
memory (``ru_maxrss``) and CPU seconds each worker reports at the end; the run in turn is ``amt survey --workers 0``
in a child process (its wall time includes the start of the interpreter and the imports, as the workers' first task
does). The results of the two runs are compared file by file (an EDI's FILEDATE line left out). On a machine with 2
cores the speed-up is bounded by 2.

Usage::

    python -m benchmarks.amt_survey                              # 8 stations of 10 minutes
    python -m benchmarks.amt_survey --stations 4 --minutes 0.5   # a quick look
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.amt_pipeline import make_record, measure


def _usage() -> tuple[float, float]:
    """CPU seconds and peak RSS (MiB) of the calling process (run on each worker)."""
    u = resource.getrusage(resource.RUSAGE_SELF)
    return u.ru_utime + u.ru_stime, u.ru_maxrss / 1024


def _results(folder: Path) -> dict[str, bytes]:
    out = {}
    for p in sorted(folder.glob("*.*")):
        if p.suffix in (".edi", ".json", ".csv") and p.name != "survey.json":
            data = p.read_bytes()
            if p.suffix == ".edi":
                data = b"\n".join(line for line in data.split(b"\n") if b"FILEDATE=" not in line)
            out[p.name] = data
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--stations", type=int, default=8, help="Stations (default 8).")
    ap.add_argument("--minutes", type=float, default=10.0, help="Minutes per station (default 10).")
    ap.add_argument("--seed-seconds", type=float, default=20.0, help="Synthesised seconds repeated (default 20).")
    ap.add_argument("--mode", default="conventional", help="amt process mode (default conventional).")
    a = ap.parse_args()
    from distributed import Client

    from amt.survey.run import local_cluster, run_survey
    from amt.survey.station import SurveySettings

    settings = SurveySettings(mode=a.mode)
    with tempfile.TemporaryDirectory(prefix="amt_survey_") as tmp:
        t = Path(tmp)
        records = []
        for k in range(a.stations):
            records.append(make_record(t / f"S{k + 1:02d}.h5", a.minutes, a.seed_seconds, site=f"S{k + 1:02d}"))
        amt = str(Path(sys.executable).parent / "amt")
        seq_cpu, sequential, seq_rss = measure([amt, "survey", *map(str, records), "--out", str(t / "sequential"),
                                          "--workers", "0", "--mode", a.mode])
        with local_cluster(2) as cluster, Client(cluster) as client:
            client.run(lambda: None)  # workers up before the clock starts
            t0 = time.perf_counter()
            result = run_survey(records, t / "dask", settings, scheduler=cluster.scheduler_address, progress=False)
            parallel = time.perf_counter() - t0
            workers = client.run(_usage)
        same = _results(t / "sequential") == _results(t / "dask")
    print(f"amt survey: {a.stations} stations x {a.minutes:g} min, mode {a.mode}; failed: {len(result.failed)}")
    cpu = [c for c, _ in workers.values()]
    print("| run | wall s | speed-up (wall) | CPU s per process | speed-up (CPU) | peak RSS per process (MiB) |")
    print("|---|---|---|---|---|---|")
    print(f"| in turn (1 process) | {sequential:.1f} | 1.00 | {seq_cpu:.1f} | 1.00 | {seq_rss:.0f} |")
    print(f"| Dask, 2 workers | {parallel:.1f} | {sequential / parallel:.2f} | "
          + ", ".join(f"{c:.1f}" for c in cpu) + f" | {seq_cpu / max(cpu):.2f} | "
          + ", ".join(f"{r:.0f}" for _, r in workers.values()) + " |")
    print("speed-up (CPU): CPU s in turn over the busiest worker's CPU s, the speed-up on two idle cores")
    print(f"results identical to the run in turn: {same}")


if __name__ == "__main__":
    main()
