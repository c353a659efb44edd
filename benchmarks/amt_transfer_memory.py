"""CPU time and working memory of the robust band estimator alone, this tree against a baseline tree, in one run.

The record is the benchmark record of :mod:`benchmarks.amt_pipeline` (:func:`~benchmarks.amt_pipeline.make_record`,
``--minutes`` long), written once. Each measurement is a fresh process (this tree, or ``--baseline DIR``, a checkout
or ``git archive`` of another commit, first on ``PYTHONPATH``) that computes the record's spectra with the band
plan's bins (as :func:`amt.transfer.process_station` keeps them; not counted) and then runs
:func:`amt.transfer.estimate_station` on them: its CPU seconds (``time.process_time``) and, in a second call, its
peak of traced allocations (``tracemalloc``: what the estimator allocates beyond the spectra it is given; numba's
compiled loops allocate nothing per point). The two trees alternate ``--repeats`` times, so that a change of the
machine's load touches both alike; the best CPU time of each is reported.

Before the first measurement a small regression compiles (or loads from numba's cache) the estimator's compiled
loops (:mod:`amt.transfer.kernels`) in a process of its own, reported as the ``compile`` row: CPU seconds of that
process with an empty cache (``NUMBA_CACHE_DIR`` a fresh folder) less those of the same process with the cache
filled: the cost of a machine's first run.

Reported against the baseline: the largest difference of Z relative to the largest ``|Z|`` of its frequency, the
largest relative difference of its jackknife variance, and that of Z in units of its jackknife standard error. The
robust estimator's cut-offs (the readmission threshold ``w < 1/2``, the stopping tolerance 1e-3) make an estimate
move by far more than its input where a decision sits within rounding of its threshold
(:mod:`tests.amt.transfer.test_fast_regression`), so two trees that sum the same products in another order can
differ by more than rounding on a few frequencies.

Usage::

    python -m benchmarks.amt_transfer_memory --minutes 2
    python -m benchmarks.amt_transfer_memory --minutes 2 --baseline /tmp/base   # e.g. git archive of an old commit
    python -m benchmarks.amt_transfer_memory --minutes 10 --repeats 1
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

#: One measurement: spectra of the record (argv[1]), the estimator timed and traced, Z and its variances saved to
#: argv[2] (npz); prints CPU seconds and traced peak (MiB) as JSON.
CHILD = """
import json, sys, time, tracemalloc
import numpy as np
from amt.io.mth5_file import open_mth5_chunked
from amt.spectra import SpectraConfig, compute_station_spectra, plan_bands, plan_bins
from amt.transfer import EstimateConfig, estimate_station
class Site:
    latitude_deg = longitude_deg = elevation_m = declination_deg = 0.0
cfg = EstimateConfig()
with open_mth5_chunked(sys.argv[1]) as station:
    keep = lambda levels: plan_bins(levels, cfg.per_decade, cfg.min_bin)
    local = compute_station_spectra(station, SpectraConfig(), select_bins=keep)
    site = Site()
    site.station = station.station
largest = max(levels[b.level].n_windows * len(b.bins) for levels in local.values()
              for b in plan_bands(levels, None, cfg.per_decade, cfg.min_bin))
t = time.process_time()
tf = estimate_station(site, local)
cpu = time.process_time() - t
tracemalloc.start()
estimate_station(site, local)
peak = tracemalloc.get_traced_memory()[1] / 2**20
tracemalloc.stop()
np.savez(sys.argv[2], z=tf.z, z_var=tf.z_var)
print(json.dumps({"cpu": cpu, "peak": peak, "largest": int(largest)}))
"""

#: A small regression of each kind (single-site, remote reference) and a jackknife: compiles the kernels.
COMPILE = """
import numpy as np
from amt.transfer.regression import regress
from amt.transfer.uncertainty import jackknife_variance
rng = np.random.default_rng(0)
x = (rng.standard_normal((500, 2)) + 1j * rng.standard_normal((500, 2))).astype(np.complex64)
y = (x @ np.array([1 + 1j, 2])).astype(np.complex64)
for q in (None, x.copy()):
    res = regress(y, x, q)
    jackknife_variance(y, x, x if q is None else q, res, np.arange(500) // 5)
"""


HERE = Path(__file__).resolve().parents[1]
"""This tree (the repository holding this benchmark)."""


def _run(code: str, args: list[str], tree: Path | None, env: dict | None = None) -> tuple[dict, float]:
    """Output (JSON, when the code prints it) and CPU seconds of a fresh process running ``code`` with ``tree``
    (default: this tree) first on ``PYTHONPATH``, started outside either tree."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", **(env or {})}
    env["PYTHONPATH"] = os.pathsep.join([str(tree or HERE), env.get("PYTHONPATH", "")])
    before = os.times()
    out = subprocess.run([sys.executable, "-c", code, *args], env=env, check=True, capture_output=True, text=True,
                         cwd=tempfile.gettempdir())  # fmt: skip
    after = os.times()
    cpu = (after.children_user - before.children_user) + (after.children_system - before.children_system)
    return (json.loads(out.stdout) if out.stdout.strip() else {}), cpu


def main() -> None:
    from benchmarks.amt_pipeline import make_record

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=2.0)
    parser.add_argument("--seed-seconds", type=float, default=20.0)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--baseline", type=Path, help="Another tree (holding amt/ and shared/) to compare with.")
    a = parser.parse_args()
    if a.repeats < 1 or a.minutes <= 0:
        parser.error("--repeats must be >= 1 and --minutes > 0")
    if a.baseline is not None and not (a.baseline / "amt" / "transfer").is_dir():
        parser.error(f"--baseline {a.baseline}: no amt/transfer there")
    trees = {"this tree": None} if a.baseline is None else {"baseline": a.baseline, "this tree": None}
    with tempfile.TemporaryDirectory(prefix="amt_transfer_memory_") as tmp:
        record = make_record(Path(tmp) / "LONG.h5", a.minutes, a.seed_seconds)
        _, cold = _run(COMPILE, [], None, {"NUMBA_CACHE_DIR": f"{tmp}/numba_cache"})
        _run(COMPILE, [], None)  # the default cache warm for the measurements
        _, warm = _run(COMPILE, [], None)
        best: dict[str, dict] = {}
        for _ in range(a.repeats):
            for name, tree in trees.items():
                out, _ = _run(CHILD, [str(record), f"{tmp}/{name}.npz"], tree)
                if name not in best or out["cpu"] < best[name]["cpu"]:
                    best[name] = out
        z = {name: np.load(f"{tmp}/{name}.npz") for name in trees}
        z = {name: (f["z"], f["z_var"]) for name, f in z.items()}
    largest = best["this tree"]["largest"]
    print(f"{a.minutes:g} minutes at 24 kHz; largest band {largest:,} points (windows x bins); CPU best of "
          f"{a.repeats}")  # fmt: skip
    print("| estimator | CPU s | x baseline | traced peak (MiB) | Z diff / largest abs(Z) | var(Z) rel. diff | "
          "Z diff / std |")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    ref = best.get("baseline", best["this tree"])
    for name in trees:
        row = best[name]
        diffs = "- | - | -"
        if name != "baseline" and "baseline" in trees:
            (zn, vn), (zb, vb) = z[name], z["baseline"]
            scale = np.abs(zb).max(axis=(1, 2), keepdims=True)  # the frequency's largest |Z|
            diffs = (f"{np.nanmax(np.abs(zn - zb) / scale):.1e} | {_rel(vn, vb):.1e} | "
                     f"{np.nanmax(np.abs(zn - zb) / np.sqrt(vb)):.1e}")  # fmt: skip
        print(f"| {name} | {row['cpu']:.2f} | {row['cpu'] / ref['cpu']:.2f} | {row['peak']:.1f} | {diffs} |")
    print(f"| compiling this tree's kernels (a machine's first run: a small regression with an empty numba cache "
          f"{cold:.2f} s less with the cache {warm:.2f} s) | {cold - warm:.2f} | - | - | - | - | - |")  # fmt: skip


def _rel(x: np.ndarray, y: np.ndarray) -> float:
    """Largest ``|x - y| / |y|`` over the finite nonzero ``y``."""
    ok = np.isfinite(y) & (y != 0)
    return float(np.max(np.abs(x[ok] - y[ok]) / np.abs(y[ok]))) if ok.any() else 0.0


if __name__ == "__main__":
    main()
