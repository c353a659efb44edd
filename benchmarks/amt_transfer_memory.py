"""Working memory and CPU time of the robust band estimator alone, products kept against streamed, in one run.

The record is the benchmark record of :mod:`benchmarks.amt_pipeline` (:func:`~benchmarks.amt_pipeline.make_record`,
``--minutes`` long); its spectra are computed once with the band plan's bins (as :func:`amt.transfer.process_station`
keeps them) and are not counted. Then :func:`amt.transfer.estimate_station` runs on them under each setting of
:data:`amt.transfer.regression.KEEP_ROWS`:

* ``kept``: every regression keeps its per-point products ``conj(q) x^T`` and ``conj(q) y`` (96 bytes a point), as
  the estimator did for every band before it streamed;
* ``streamed``: the default, regressions above ``KEEP_ROWS`` points sum their products a block of
  :data:`~amt.transfer.regression.BLOCK_ROWS` points at a time;
* ``streamed-all``: every regression streams.

Reported per setting: the estimator's CPU seconds (best of ``--repeats``, without tracing), its peak of traced
allocations (``tracemalloc``, a separate run: what the estimator allocates beyond the spectra it is given), the
largest difference of Z and of its jackknife variance from the ``kept`` run (relative) and of Z in units of its
jackknife standard error, and the largest band. Last, the sensitivity of the band that streaming moved most: its
kept regressions rerun with E alone scaled by ``1 + eps``, ``eps`` from 1e-15 to 1e-11 (far below the
single-precision spectra's resolution), and the largest relative move of Z: the robust estimator's cut-offs (the
readmission threshold ``w < 1/2``, the stopping tolerance) make an estimate move by far more than its input where
a decision sits within rounding of its threshold (:mod:`tests.amt.transfer.test_fast_regression`).

Usage::

    python -m benchmarks.amt_transfer_memory --minutes 2
    python -m benchmarks.amt_transfer_memory --minutes 10 --repeats 1
"""

from __future__ import annotations

import argparse
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

SETTINGS = {"kept": 1 << 62, "streamed": None, "streamed-all": 0}


class _Site:
    """The station fields :func:`amt.transfer.estimate_station` reads besides the spectra."""

    latitude_deg = longitude_deg = elevation_m = declination_deg = 0.0

    def __init__(self, name: str) -> None:
        self.station = name


def _spectra(minutes: float, seed_seconds: float) -> tuple[str, dict]:
    """The benchmark record's spectra with the band plan's bins (the record in a temporary MTH5 file)."""
    from amt.io.mth5_file import open_mth5_chunked
    from amt.spectra import SpectraConfig, compute_station_spectra, plan_bins
    from amt.transfer import EstimateConfig
    from benchmarks.amt_pipeline import make_record

    cfg = EstimateConfig()
    with tempfile.TemporaryDirectory() as tmp:
        record = make_record(Path(tmp) / "LONG.h5", minutes, seed_seconds)
        with open_mth5_chunked(record) as station:
            keep = lambda levels: plan_bins(levels, cfg.per_decade, cfg.min_bin)  # noqa: E731
            return station.station, compute_station_spectra(station, SpectraConfig(), select_bins=keep)


def main() -> None:
    import amt.transfer.regression as regression
    from amt.spectra import plan_bands
    from amt.transfer import EstimateConfig, estimate_station

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=2.0)
    parser.add_argument("--seed-seconds", type=float, default=20.0)
    parser.add_argument("--repeats", type=int, default=3)
    a = parser.parse_args()
    if a.repeats < 1 or a.minutes <= 0:
        parser.error("--repeats must be >= 1 and --minutes > 0")
    name, local = _spectra(a.minutes, a.seed_seconds)
    site = _Site(name)
    cfg = EstimateConfig()
    largest = max(levels[b.level].n_windows * len(b.bins) for levels in local.values()
                  for b in plan_bands(levels, None, cfg.per_decade, cfg.min_bin))  # fmt: skip
    default = regression.KEEP_ROWS
    cpu = {k: np.inf for k in SETTINGS}
    tfs = {}
    for _ in range(a.repeats):  # settings interleaved, so that a change of machine load touches them alike
        for key, keep in SETTINGS.items():
            regression.KEEP_ROWS = default if keep is None else keep
            t = time.process_time()
            tfs[key] = estimate_station(site, local)
            cpu[key] = min(cpu[key], time.process_time() - t)
    peak = {}
    for key, keep in SETTINGS.items():
        regression.KEEP_ROWS = default if keep is None else keep
        tracemalloc.start()
        estimate_station(site, local)
        peak[key] = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    regression.KEEP_ROWS = default

    def rel(x: np.ndarray, y: np.ndarray) -> float:
        ok = np.isfinite(y) & (y != 0)
        return float(np.max(np.abs(x[ok] - y[ok]) / np.abs(y[ok]))) if ok.any() else 0.0

    def sigmas(tf, ref) -> np.ndarray:
        return np.abs(tf.z - ref.z) / np.sqrt(ref.z_var)

    print(f"{a.minutes:g} minutes at 24 kHz; largest band {largest:,} points (windows x bins; "
          f"KEEP_ROWS {default:,}, BLOCK_ROWS {regression.BLOCK_ROWS:,})")  # fmt: skip
    print("| setting | CPU s | x kept | traced peak (MiB) | x kept | Z rel. diff | var(Z) rel. diff | Z diff / std |")
    print("|---|---|---|---|---|---|---|---|")
    for key in SETTINGS:
        tf, ref = tfs[key], tfs["kept"]
        ratios = f"{cpu[key] / cpu['kept']:.2f} | {peak[key]:.1f} | {peak[key] / peak['kept']:.2f}"
        diffs = f"{rel(tf.z, ref.z):.1e} | {rel(tf.z_var, ref.z_var):.1e} | {np.nanmax(sigmas(tf, ref)):.1e}"
        print(f"| {key} | {cpu[key]:.2f} | {ratios} | {diffs} |")
    regression.KEEP_ROWS = SETTINGS["kept"]
    _sensitivity(local, tfs["kept"], tfs["streamed-all"], sigmas(tfs["streamed-all"], tfs["kept"]))
    regression.KEEP_ROWS = default


def _sensitivity(local: dict, kept, streamed, sigmas: np.ndarray) -> None:
    """Print how far the kept estimate of the band streaming moved most moves when E is scaled by ``1 + eps``."""
    from amt.spectra import plan_bands
    from amt.transfer import EstimateConfig
    from amt.transfer.regression import regress

    i, r, c = np.unravel_index(np.nanargmax(sigmas), sigmas.shape)
    cfg = EstimateConfig()
    levels = local[kept.diagnostics["sample_rate_hz"][i]]
    band = next(b for b in plan_bands(levels, None, cfg.per_decade, cfg.min_bin)
                if np.isclose(b.target_hz, kept.diagnostics["target_hz"][i]))  # fmt: skip
    s = levels[band.level]
    h = np.stack([s.channel(ch)[:, band.bins] for ch in ("hx", "hy")], axis=-1).reshape(-1, 2)
    y = s.channel(("ex", "ey")[r])[:, band.bins].reshape(-1).astype(complex)
    prior = np.repeat(s.window_weight, len(band.bins))
    z0 = regress(y, h, None, prior).coef[c]
    moves = [abs(regress(y * (1 + eps), h, None, prior).coef[c] - z0) / abs(z0)
             for eps in np.geomspace(1e-15, 1e-11, 12)]  # fmt: skip
    z_kept, z_streamed = kept.z[i, r, c], streamed.z[i, r, c]
    print(f"band {kept.frequency_hz[i]:.1f} Hz ({h.shape[0]:,} points), Z{'xy'[r]}{'xy'[c]}: streamed-all moves it "
          f"by {abs(z_streamed - z_kept) / abs(z_kept):.1e} relative ({sigmas[i, r, c]:.2f} of its jackknife "
          f"standard error); E scaled by 1 + eps (eps 1e-15..1e-11) moves the kept estimate by up to "
          f"{max(moves):.1e}")  # fmt: skip


if __name__ == "__main__":
    main()
