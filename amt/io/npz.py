"""Plain NumPy ``.npz`` records.

Two layouts are read; the first is written.

**amt layout** (written by :func:`write_npz`)

* ``__amt_station__``: 0-d unicode array holding the JSON station header of :mod:`amt.io.metadata`
  (``format = "amt-station-1"``: station, location, declination, runs with id, sample rate, UTC start,
  number of samples, per-channel metadata including responses, and defects);
* ``<run id>/<channel>``: one float64 array per run and channel, e.g. ``001/ex``.

**plain layout** (anything else with channel arrays)

* ``ex``, ``ey``, ``hx``, ``hy`` and optionally ``hz``: 1-D arrays of equal length;
* ``sample_rate_hz``: scalar, required;
* optional ``start`` (ISO 8601 UTC string, default 1970-01-01T00:00:00), ``station`` (string),
  ``units_e`` / ``units_h`` (default ``"counts"``: nothing in a plain file says the samples are calibrated),
  ``azimuth_deg_<channel>`` and ``dipole_length_m_<channel>`` scalars.

Files are opened with ``allow_pickle=False``: an ``.npz`` never runs code.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from obspy import UTCDateTime

from amt.io import metadata as md
from amt.io.files import atomic_paths
from amt.io.quality import scan_run
from amt.record import CHANNELS, ELECTRIC, ChannelMeta, RecordError, Station, StationRun

HEADER_KEY = "__amt_station__"


def write_npz(station: Station, path: str | Path) -> Path:
    """Write ``station`` in the amt layout, atomically (see the module docstring)."""
    path = Path(path)
    header = md.dumps(md.station_header(station))
    arrays = {HEADER_KEY: np.array(header)}
    for run in station.runs:
        for c in run.channels:
            arrays[f"{run.run}/{c}"] = run.data[c]
    with atomic_paths(path) as (tmp,):
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)
    return path


def read_npz(path: str | Path, *, station: str | None = None) -> Station:
    """Read an ``.npz`` record in either layout; :class:`RecordError` on anything malformed."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            keys = list(z.files)
            if HEADER_KEY in keys:
                header = md.loads(str(z[HEADER_KEY][()]), str(path))
                arrays: dict[str, dict[str, np.ndarray]] = {}
                for k in keys:
                    if "/" in k:
                        rid, c = k.rsplit("/", 1)
                        arrays.setdefault(rid, {})[c] = np.asarray(z[k], dtype=np.float64)
                return md.build_station(header, arrays, str(path))
            return _read_plain(z, keys, path, station=station)
    except RecordError:
        raise
    except FileNotFoundError as exc:
        raise RecordError(f"{path}: no such file") from exc
    except Exception as exc:  # zipfile, numpy's header parser (even tokenize.TokenError), zlib ...
        raise RecordError(f"{path}: not a readable .npz record ({type(exc).__name__}: {exc})") from exc


def _scalar(z, key: str, default=None):
    if key not in z.files:
        return default
    v = z[key]
    if v.ndim != 0:
        raise RecordError(f"'{key}' must be a scalar, got shape {v.shape}")
    return v[()]


def _read_plain(z, keys: list[str], path: Path, station: str | None = None) -> Station:
    chans = [c for c in CHANNELS if c in keys]
    if not chans:
        raise RecordError(
            f"{path}: no channel arrays (expected some of {', '.join(CHANNELS)}) and no '{HEADER_KEY}' header"
        )
    rate = _scalar(z, "sample_rate_hz")
    if rate is None:
        raise RecordError(f"{path}: plain .npz needs a scalar 'sample_rate_hz'")
    start = UTCDateTime(str(_scalar(z, "start", "1970-01-01T00:00:00")))
    name = station or str(_scalar(z, "station", path.stem))
    data = {}
    for c in chans:
        x = np.asarray(z[c])
        if x.ndim != 1 or not np.issubdtype(x.dtype, np.number):
            raise RecordError(f"{path}: channel '{c}' must be a 1-D numeric array, got {x.dtype} {x.shape}")
        data[c] = x.astype(np.float64)
    lengths = {c: len(x) for c, x in data.items()}
    if len(set(lengths.values())) > 1:
        raise RecordError(f"{path}: channels have different lengths {lengths}")
    meta = {
        c: ChannelMeta(
            component=c,
            units=str(_scalar(z, "units_e" if c in ELECTRIC else "units_h", "counts")),
            azimuth_deg=float(_scalar(z, f"azimuth_deg_{c}", 90.0 if c in ("ey", "hy") else 0.0)),
            tilt_deg=90.0 if c == "hz" else 0.0,
            dipole_length_m=(
                None if _scalar(z, f"dipole_length_m_{c}") is None else float(_scalar(z, f"dipole_length_m_{c}"))
            ),
        )
        for c in chans
    }
    run = StationRun(
        station=name, run="001", sample_rate_hz=float(rate), start=start, data=data, meta=meta, source=str(path)
    )
    scan_run(run)
    return Station(station=name, runs=[run], source=str(path))
