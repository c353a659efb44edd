"""Speed of our transfer-function estimator against aurora 0.6.2 on EMTF's synthetic test1.asc.

Run: ``.venv/bin/python -m benchmarks.amt_transfer_aurora [--repeats 3] [--blas-threads 1]``.

What is measured (wall clock, ``time.perf_counter``, best of N repeats, imports excluded):

* aurora 0.6.2: its own synthetic test path (``mth5.data.make_mth5_from_asc.create_test1_h5`` from the same
  ``test1.asc``, then ``create_test_run_config("test1", ...)`` as ``aurora.test_utils.synthetic`` does), building
  the MTH5 file, the run summary, the kernel dataset and the processing config untimed; the timed part is one
  ``process_mth5`` call: spectra (STFT per decimation level) + robust regression + packing the mt_metadata TF.
  aurora's pipeline reads the time series from the MTH5 inside that call and cannot be told not to, so its timed
  part also includes that read; the read alone is timed separately and printed, so the ratio without it can be
  judged too. Logging is switched off while timing (it is aurora's default to log every band).
* ours: ``estimate_transfer_function(compute_spectra(run))`` on the run read by ``read_emtf_ascii`` (reading
  excluded), via ``benchmarks.amt_transfer.time_test1``.

aurora is never a dependency of this project. It is installed, once, into its own virtual environment under the
cache root (``shared.paths.cache_root() / "aurora-0.6.2-venv"``) with ``pip install --no-deps aurora==0.6.2``; a
``.pth`` file placed after that venv's own site-packages lets it import the project venv's packages (mth5,
mt_metadata, numba, ...) without installing them again, while its own aurora 0.6.2 shadows the 0.5.2 that mtpy-v2
pulls into the project venv. The child checks that it imported 0.6.2 and refuses to report otherwise.

Both run under the same BLAS/OpenMP thread settings (the child inherits the environment); ``--blas-threads N``
sets them. On a small machine shared with other work, multi-threaded BLAS can be far slower than one thread, so
the setting is printed with the figures.

Accuracy column: median over periods below 100 s of |rho_a / 100 - 1| of the off-diagonal elements (test1 is a
100 ohm-m half-space), rho_a = 0.2 T |Z|^2 with Z in mV/km/nT.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

import numpy as np

from amt.io.emtf_ascii import read_emtf_ascii
from amt.spectra import compute_spectra
from amt.transfer import estimate_transfer_function
from benchmarks.amt_transfer import time_test1
from shared.paths import cache_root, data_root

AURORA_VERSION = "0.6.2"
RHO_TRUE = 100.0
SHORT_PERIOD_S = 100.0
PIP_TIMEOUT_S = 600
_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")

# Runs inside the aurora venv: argv = test1.asc, repeats, output json, work folder. Writes its results as JSON.
_CHILD = r"""
import importlib.metadata
import json
import pathlib
import sys
import time

asc, repeats, out, work = pathlib.Path(sys.argv[1]), int(sys.argv[2]), pathlib.Path(sys.argv[3]), sys.argv[4]
expected = sys.argv[5]

import aurora  # noqa: E402

version = importlib.metadata.version("aurora")
if version != expected or getattr(aurora, "__version__", version) != expected:
    sys.exit(f"aurora {expected} expected in the benchmark venv, imported {version} from {aurora.__file__}")

import numpy as np  # noqa: E402
from loguru import logger  # noqa: E402
from mth5.data.make_mth5_from_asc import create_test1_h5  # noqa: E402
from mth5.mth5 import MTH5  # noqa: E402
from mth5.processing import KernelDataset, RunSummary  # noqa: E402

from aurora.pipelines.process_mth5 import process_mth5  # noqa: E402
from aurora.test_utils.synthetic.make_processing_configs import create_test_run_config  # noqa: E402

logger.remove()  # aurora logs every band; keep the timing about the numerics

t0 = time.perf_counter()
h5 = create_test1_h5(target_folder=pathlib.Path(work), source_folder=asc.parent)
build_s = time.perf_counter() - t0

times, read_times, tf = [], [], None
for _ in range(repeats):
    # untimed: what aurora's process_synthetic_1 does before process_mth5
    run_summary = RunSummary()
    run_summary.from_mth5s([h5])
    kernel_dataset = KernelDataset()
    kernel_dataset.from_run_summary(run_summary.clone(), local_station_id="test1", remote_station_id=None)
    config = create_test_run_config("test1", kernel_dataset, save="")
    kernel_dataset.df = kernel_dataset.df.drop(columns=["channel_scale_factors"])
    t0 = time.perf_counter()
    tf = process_mth5(config, tfk_dataset=kernel_dataset)
    times.append(time.perf_counter() - t0)
    if tf is None:  # process_mth5 logs and swallows its exceptions
        sys.exit("aurora's process_mth5 returned None (it failed; its log is switched off here)")
    # the MTH5 read alone, as process_mth5 does it inside the timed call
    t0 = time.perf_counter()
    with MTH5() as m:
        m.open_mth5(h5, mode="r")
        m.get_run("test1", "001").to_runts()
    read_times.append(time.perf_counter() - t0)

z = np.asarray(tf.impedance.values)
out.write_text(json.dumps({
    "version": version,
    "module": aurora.__file__,
    "build_s": build_s,
    "times_s": times,
    "read_times_s": read_times,
    "period_s": np.asarray(tf.period, dtype=float).tolist(),
    "z_xy": [z[:, 0, 1].real.tolist(), z[:, 0, 1].imag.tolist()],
    "z_yx": [z[:, 1, 0].real.tolist(), z[:, 1, 0].imag.tolist()],
}))
"""


def _run(cmd: list[str], what: str, timeout: float, env: dict[str, str] | None = None) -> str | None:
    """Run ``cmd``; return None on success, else a message saying what failed and the tail of its output."""
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, check=False)
    except subprocess.TimeoutExpired:
        return f"{what}: timed out after {timeout:g} s ({' '.join(cmd)})"
    except OSError as exc:
        return f"{what}: could not start {cmd[0]}: {exc}"
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
        return f"{what}: exit status {proc.returncode} ({' '.join(cmd)})\n{tail}"
    return None


def _venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def _installed_aurora(python: Path) -> str | None:
    """Version of aurora the venv's interpreter imports, or None."""
    if not python.is_file():
        return None
    code = "import importlib.metadata as m; print(m.version('aurora'))"
    proc = subprocess.run([str(python), "-c", code], capture_output=True, text=True, timeout=120, check=False)
    return proc.stdout.strip() if proc.returncode == 0 else None


def ensure_aurora_venv() -> Path | None:
    """Python of the cached aurora venv (created on first use), or None with a message printed if that fails."""
    venv = cache_root() / f"aurora-{AURORA_VERSION}-venv"
    python = _venv_python(venv)
    if _installed_aurora(python) == AURORA_VERSION:
        print(f"aurora {AURORA_VERSION}: using cached venv {venv}")
    else:
        print(f"aurora {AURORA_VERSION}: creating venv {venv} (once) ...", flush=True)
        steps = [
            ([sys.executable, "-m", "venv", "--clear", str(venv)], "creating the venv"),
            (
                [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps",
                 "--ignore-installed", f"aurora=={AURORA_VERSION}"],
                f"pip install --no-deps aurora=={AURORA_VERSION} (needs PyPI)",
            ),
        ]  # fmt: skip
        for cmd, what in steps:
            print(f"  {what} ...", flush=True)
            err = _run(cmd, what, PIP_TIMEOUT_S)
            if err is not None:
                print(f"  FAILED {err}")
                return None
    # written after the install, so that pip does not see (and try to replace) the project venv's aurora 0.5.2;
    # rewritten when missing or stale (an interrupted first run, a moved project venv)
    code = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    proc = subprocess.run([str(python), "-c", code], capture_output=True, text=True, timeout=60, check=False)
    if proc.returncode != 0:
        print(f"  FAILED: {python} does not run: {proc.stderr.strip()}")
        return None
    project = sysconfig.get_paths()["purelib"]
    pth = Path(proc.stdout.strip()) / "zz_amt_dnnsec_project_venv.pth"
    if not pth.is_file() or pth.read_text().strip() != project:
        pth.write_text(project + "\n")
        print(f"  {pth.name}: other packages come from {project}")
    got = _installed_aurora(python)
    if got != AURORA_VERSION:
        print(f"  FAILED: the aurora venv imports aurora {got}, not {AURORA_VERSION}")
        return None
    return python


def time_aurora(python: Path, asc: Path, repeats: int) -> dict | None:
    """Run the child in the aurora venv; its JSON results, or None with a message printed."""
    with tempfile.TemporaryDirectory(prefix="amt-aurora-bench-") as tmp:
        script, out = Path(tmp) / "aurora_child.py", Path(tmp) / "aurora_result.json"
        script.write_text(_CHILD)
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        env["MPLBACKEND"] = "Agg"
        cmd = [str(python), str(script), str(asc), str(repeats), str(out), tmp, AURORA_VERSION]
        print(f"aurora {AURORA_VERSION}: building test1.h5 and processing it {repeats} times ...", flush=True)
        err = _run(cmd, f"aurora {AURORA_VERSION} child", 120 + 60 * repeats, env=env)
        if err is not None:
            print(f"  FAILED {err}")
            return None
        return json.loads(out.read_text())


def _median_rho_error(period_s: np.ndarray, z_xy: np.ndarray, z_yx: np.ndarray) -> float:
    short = period_s < SHORT_PERIOD_S
    rho = 0.2 * period_s[short, None] * np.abs(np.stack([z_xy[short], z_yx[short]], 1)) ** 2
    return float(np.median(np.abs(rho / RHO_TRUE - 1)))


def ours_accuracy(asc: Path) -> float:
    tf = estimate_transfer_function(compute_spectra(read_emtf_ascii(asc).runs[0]))
    return _median_rho_error(tf.period_s, tf.z[:, 0, 1], tf.z[:, 1, 0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats of each; the best is reported")
    parser.add_argument(
        "--blas-threads",
        type=int,
        default=None,
        help="limit BLAS/OpenMP threads of both implementations (re-executes with OMP/OPENBLAS/MKL_NUM_THREADS); "
        "default: whatever the environment sets",
    )
    args = parser.parse_args()
    if args.blas_threads is not None and any(os.environ.get(v) != str(args.blas_threads) for v in _THREAD_VARS):
        # the limits must be in place before numpy loads its BLAS: start again with them (the child inherits them)
        os.environ.update({v: str(args.blas_threads) for v in _THREAD_VARS})
        os.execv(sys.executable, [sys.executable, "-m", "benchmarks.amt_transfer_aurora", *sys.argv[1:]])
    start = time.perf_counter()
    threads = ", ".join(f"{v}={os.environ.get(v, 'unset')}" for v in _THREAD_VARS)
    print(f"BLAS threads: {threads} ({os.cpu_count()} CPUs; unset = the library's default, all of them)")

    asc = data_root() / "amt" / "emtf_synthetic" / "test1.asc"
    if not asc.is_file():
        sys.exit(f"{asc} not found (SHARED_DATA overrides the data root)")

    aurora = None
    python = ensure_aurora_venv()
    if python is not None:
        aurora = time_aurora(python, asc, args.repeats)

    print(f"ours: timing spectra + regression {args.repeats} times ...", flush=True)
    ours_s = time_test1(args.repeats)
    if ours_s is None:
        sys.exit(f"{asc} not found by benchmarks.amt_transfer.time_test1")
    ours_err = ours_accuracy(asc)
    ours_version = importlib.metadata.version("amt-dnnsec")

    print(f"\nEMTF test1.asc (40,000 s at 1 Hz, 5 channels), spectra + regression, best of {args.repeats}")
    header = f"{'implementation':<34} {'version':>8} {'seconds':>9} {'median rho_a err (T<100 s)':>27}"
    print(header)
    print("-" * len(header))
    if aurora is not None:
        period = np.asarray(aurora["period_s"])
        z_xy = np.asarray(aurora["z_xy"][0]) + 1j * np.asarray(aurora["z_xy"][1])
        z_yx = np.asarray(aurora["z_yx"][0]) + 1j * np.asarray(aurora["z_yx"][1])
        aur_s, read_s = min(aurora["times_s"]), min(aurora["read_times_s"])
        aur_err = 100 * _median_rho_error(period, z_xy, z_yx)
        print(f"{'aurora process_mth5 (incl. h5 read)':<34} {aurora['version']:>8} {aur_s:>9.3f} {aur_err:>26.2f}%")
    print(f"{'amt (this repo)':<34} {ours_version:>8} {ours_s:>9.3f} {100 * ours_err:>26.2f}%")

    if aurora is None:
        print("\naurora could not be timed (see the message above); no ratio.")
    else:
        print(f"\nratio aurora / ours: {aur_s / ours_s:.1f}x (acceptance: at least 10x)")
        print(
            f"aurora's timed call includes reading test1 from the MTH5 ({read_s:.3f} s alone, best of "
            f"{args.repeats}); without it: {aur_s - read_s:.3f} s, ratio {(aur_s - read_s) / ours_s:.1f}x"
        )
        print(
            f"aurora all runs (s): {', '.join(f'{t:.3f}' for t in aurora['times_s'])}; untimed MTH5 build "
            f"{aurora['build_s']:.2f} s; module {aurora['module']}"
        )
    print(f"benchmark wall time {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
