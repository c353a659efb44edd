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

import lzma
import tokenize
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from amt.io import metadata as md
from amt.io.quality import scan_run
from amt.record import CHANNELS, ELECTRIC, NOMINAL_AZIMUTH_DEG, ChannelMeta, RecordError, Station, StationRun
from shared.atomic import atomic_path

HEADER_KEY = "__amt_station__"


def write_npz(station: Station, path: str | Path) -> Path:
    """Write ``station`` in the amt layout, atomically (see the module docstring); returns the path."""
    path = Path(path)
    header = md.dumps(md.station_header(station))
    arrays = {HEADER_KEY: np.array(header)}
    for run in station.runs:
        for c in run.channels:
            arrays[f"{run.run}/{c}"] = run.data[c]
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **arrays)
    return path


def _load_arrays(path: Path) -> dict[str, np.ndarray]:
    """Every array of the ``.npz`` file, loaded without pickles; :class:`RecordError` if the file is damaged."""
    if not path.is_file():
        raise RecordError(f"{path}: no such file")
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except (
        OSError,  # unreadable, or not a zip file at all (np.load's own message)
        EOFError,  # a member cut short
        zipfile.BadZipFile,  # damaged zip directory or CRC
        zlib.error,  # damaged compressed member
        lzma.LZMAError,  # a member whose compression flag was damaged into LZMA
        NotImplementedError,  # zipfile: a version or compression method it does not support
        RuntimeError,  # zipfile: a member flagged as encrypted
        ValueError,  # numpy's .npy header check, pickled object arrays, a member size that does not fit
        SyntaxError,  # numpy parses the header dictionary with ast.literal_eval ...
        tokenize.TokenError,  # ... after tokenizing it for old-style headers
    ) as exc:
        raise RecordError(f"{path}: not a readable .npz record ({type(exc).__name__}: {exc})") from exc


def read_npz(path: str | Path, *, station: str | None = None) -> Station:
    """Read an ``.npz`` record in either layout; :class:`RecordError` on anything malformed.

    Parameters
    ----------
    path
        The ``.npz`` file.
    station
        Station id for a plain-layout file (default: its ``station`` scalar, else the file stem).
    """
    path = Path(path)
    arrays = _load_arrays(path)
    if HEADER_KEY not in arrays:
        return _read_plain(arrays, path, station=station)
    header_text = arrays[HEADER_KEY]
    if header_text.ndim != 0 or header_text.dtype.kind != "U":
        raise RecordError(f"{path}: '{HEADER_KEY}' must be a text scalar, got {header_text.dtype} {header_text.shape}")
    header = md.loads(str(header_text[()]), str(path))
    by_run: dict[str, dict[str, np.ndarray]] = {}
    for k, x in arrays.items():
        if "/" in k:
            rid, c = k.rsplit("/", 1)
            by_run.setdefault(rid, {})[c] = _channel(x, f"{path}: array '{k}'")
    return md.build_station(header, by_run, str(path))


def _channel(x: np.ndarray, where: str) -> np.ndarray:
    """A channel's samples as float64; :class:`RecordError` unless ``x`` is a 1-D numeric array."""
    if x.ndim != 1 or not np.issubdtype(x.dtype, np.number):
        raise RecordError(f"{where} must be a 1-D numeric array, got {x.dtype} {x.shape}")
    return x.astype(np.float64)


def _scalar(arrays: dict[str, np.ndarray], key: str, path: Path, default: Any = None) -> Any:
    """The 0-d array ``key`` as a Python value, or ``default`` if absent."""
    if key not in arrays:
        return default
    v = arrays[key]
    if v.ndim != 0:
        raise RecordError(f"{path}: '{key}' must be a scalar, got shape {v.shape}")
    return v[()]


def _float_scalar(arrays: dict[str, np.ndarray], key: str, path: Path, default: float | None) -> float | None:
    """The numeric scalar ``key`` as a float, or ``default`` if absent."""
    v = _scalar(arrays, key, path)
    if v is None:
        return default
    try:
        return float(v)
    except (TypeError, ValueError) as exc:  # a complex, date or non-numeric text scalar
        raise RecordError(f"{path}: '{key}' must be a number, got {v!r:.40}") from exc


def _read_plain(arrays: dict[str, np.ndarray], path: Path, station: str | None = None) -> Station:
    chans = [c for c in CHANNELS if c in arrays]
    if not chans:
        raise RecordError(
            f"{path}: no channel arrays (expected some of {', '.join(CHANNELS)}) and no '{HEADER_KEY}' header"
        )
    rate = _float_scalar(arrays, "sample_rate_hz", path, None)
    if rate is None:
        raise RecordError(f"{path}: plain .npz needs a scalar 'sample_rate_hz'")
    start = md.parse_time(str(_scalar(arrays, "start", path, "1970-01-01T00:00:00")), f"{path}: 'start'")
    name = station or str(_scalar(arrays, "station", path, path.stem))
    data = {c: _channel(arrays[c], f"{path}: channel '{c}'") for c in chans}
    lengths = {c: len(x) for c, x in data.items()}
    if len(set(lengths.values())) > 1:
        raise RecordError(f"{path}: channels have different lengths {lengths}")
    meta = {
        c: ChannelMeta.nominal(
            c,
            str(_scalar(arrays, "units_e" if c in ELECTRIC else "units_h", path, "counts")),
            azimuth_deg=_float_scalar(arrays, f"azimuth_deg_{c}", path, NOMINAL_AZIMUTH_DEG[c]),
            dipole_length_m=_float_scalar(arrays, f"dipole_length_m_{c}", path, None),
        )
        for c in chans
    }
    run = StationRun(station=name, run="001", sample_rate_hz=rate, start=start, data=data, meta=meta, source=str(path))
    scan_run(run)
    return Station(station=name, runs=[run], source=str(path))
