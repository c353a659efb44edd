"""Tiny synthetic station records for the survey and report tests (1 s at 24 kHz over a layered earth).

Each station has its own seed, so their estimates differ; the layered earth needs no shared data.
"""

from __future__ import annotations

from pathlib import Path

import amt.io
from amt.synth import generate, parse_earth
from amt.synth.scenarios import TWO_STORMS, dead_band_record

#: The layered earth of the records (resistivities in ohm-m / thicknesses in m).
EARTH = "layers:100,1000,10/300,2000"


def write_records(folder: Path, n: int, duration_s: float = 1.0, first_seed: int = 3) -> list[Path]:
    """Write ``n`` one-station MTH5 records ``T01.h5`` ... into ``folder``; returns their paths."""
    earth = parse_earth(EARTH)
    paths = []
    for k in range(n):
        name = f"T{k + 1:02d}"
        cfg = dead_band_record(earth, TWO_STORMS, 20.0, duration_s=duration_s, seed=first_seed + k, site=name)
        paths.append(amt.io.write(generate(cfg).stations[0], folder / f"{name}.h5"))
    return paths
