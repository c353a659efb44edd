"""One door for AMT records: :func:`read` any supported format, :func:`write` by suffix.

========================  ==========================================  =====================================
format                    recognised by                               module
========================  ==========================================  =====================================
MTH5                      HDF5 signature (``.h5``, ``.mth5``)          :mod:`amt.io.mth5_file`
miniSEED                  ``.mseed``/``.miniseed``/``.ms`` or bytes    :mod:`amt.io.miniseed` (ObsPy)
SAC                       ``.sac``                                    :mod:`amt.io.miniseed` (ObsPy)
Phoenix MTU-5C            a folder with ``recmeta.json``, ``.td_*``    :mod:`amt.io.phoenix`
EMTF ASCII                ``.asc``                                    :mod:`amt.io.emtf_ascii`
NPZ                       ``.npz`` (zip signature)                    :mod:`amt.io.npz`
========================  ==========================================  =====================================

Every reader returns an :class:`amt.record.Station`; problems in the samples (gaps, overlaps, NaN,
clipping, saturation, mismatched channels) come back as :class:`amt.record.Defect` s on the runs, and a file
that cannot be read at all raises :class:`amt.record.RecordError` naming the file -- never a bare
traceback from NumPy, h5py or ObsPy. Writers are atomic: after a failure no file (or a previous, intact
file) is left under the target name.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from amt.calibration.instrument import CalibrationError, remove_response
from amt.record import ELECTRIC, RecordError, Station, StationRun

#: Suffix -> format name for :func:`write`.
WRITE_SUFFIXES: dict[str, str] = {".h5": "mth5", ".mth5": "mth5", ".mseed": "mseed", ".npz": "npz"}

_READ_SUFFIXES: dict[str, str] = {
    ".h5": "mth5",
    ".mth5": "mth5",
    ".hdf5": "mth5",
    ".mseed": "mseed",
    ".miniseed": "mseed",
    ".ms": "mseed",
    ".sac": "sac",
    ".asc": "emtf_ascii",
    ".npz": "npz",
    ".td_24k": "phoenix",
    ".td_150": "phoenix",
    ".td_30": "phoenix",
    ".td_2400": "phoenix",
}


def detect_format(path: str | Path) -> str:
    """Name of the format of ``path`` (see the module table); :class:`RecordError` if unknown."""
    path = Path(path)
    if path.is_dir():
        if (path / "recmeta.json").is_file() or any(path.glob("*.td_*")) or any(path.glob("*/*.td_*")):
            return "phoenix"
        raise RecordError(f"{path}: folder is not a Phoenix recording (no recmeta.json or .td_* files)")
    if not path.is_file():
        raise RecordError(f"{path}: no such file or folder")
    try:
        with path.open("rb") as fh:
            magic = fh.read(8)
    except OSError as exc:
        raise RecordError(f"{path}: unreadable ({exc})") from exc
    if magic.startswith(b"\x89HDF\r\n\x1a\n"):
        return "mth5"
    if magic.startswith(b"PK"):
        return "npz"
    fmt = _READ_SUFFIXES.get(path.suffix.lower())
    if fmt:
        return fmt
    if len(magic) >= 8 and magic[:6].isdigit() and magic[6:7] in b"DRQM":
        return "mseed"
    raise RecordError(
        f"{path}: unknown record format (suffix {path.suffix!r}); supported: "
        f"{', '.join(sorted(set(_READ_SUFFIXES.values())))}"
    )


def read(path: str | Path, format: str | None = None, **kw) -> Station:
    """Read a record of any supported format into a :class:`~amt.record.Station`.

    Parameters
    ----------
    path
        File or (Phoenix) folder.
    format
        Force a format (``"mth5"``, ``"mseed"``, ``"sac"``, ``"phoenix"``, ``"emtf_ascii"``, ``"npz"``);
        detected from the signature and suffix by default.
    **kw
        Passed to the format's reader (e.g. ``sample_rate_hz`` for EMTF ASCII, ``leap_seconds`` or
        ``rates`` for Phoenix, ``station`` where a file holds several stations, ``max_fill_s``).

    Raises
    ------
    RecordError
        If the file is missing, of an unknown format, or damaged beyond reading.
    """
    fmt = format or detect_format(path)
    try:
        if fmt == "mth5":
            from amt.io.mth5_file import read_mth5

            return read_mth5(path, **kw)
        if fmt in ("mseed", "sac"):
            from amt.io.miniseed import read_obspy

            return read_obspy(path, "MSEED" if fmt == "mseed" else "SAC", **kw)
        if fmt == "phoenix":
            from amt.io.phoenix import read_phoenix

            return read_phoenix(path, **kw)
        if fmt == "emtf_ascii":
            from amt.io.emtf_ascii import read_emtf_ascii

            return read_emtf_ascii(path, **kw)
        if fmt == "npz":
            from amt.io.npz import read_npz

            return read_npz(path, **kw)
    except TypeError as exc:  # an unknown keyword for this format
        if "keyword" in str(exc) or "argument" in str(exc):
            raise RecordError(f"{path}: {fmt} reader: {exc}") from exc
        raise
    raise RecordError(f"{path}: unknown format {fmt!r}")


def write(station: Station, path: str | Path) -> Path:
    """Write ``station`` in the format its suffix names: ``.h5``/``.mth5`` (MTH5), ``.mseed`` (miniSEED plus
    the JSON sidecar ``<file>.json``), ``.npz``. Atomic; returns the path.

    Raises
    ------
    RecordError
        Unknown suffix, missing folder, or a station that cannot be stored (e.g. duplicate run ids).
    """
    path = Path(path)
    fmt = WRITE_SUFFIXES.get(path.suffix.lower())
    if fmt is None:
        raise RecordError(f"{path}: cannot write suffix {path.suffix!r}; use one of {sorted(WRITE_SUFFIXES)}")
    if not isinstance(station, Station):
        raise RecordError(f"{path}: write() takes an amt.record.Station, got {type(station).__name__}")
    if fmt == "mth5":
        from amt.io.mth5_file import write_mth5

        return write_mth5(station, path)
    if fmt == "mseed":
        from amt.io.miniseed import write_mseed

        return write_mseed(station, path)
    from amt.io.npz import write_npz

    return write_npz(station, path)


def calibrate_run(run: StationRun, *, water_level: float = 1e-6, band_hz=None) -> StationRun:
    """A copy of ``run`` with every channel's response removed (E in mV/km, H in nT).

    Responses are removed segment by segment over :meth:`~StationRun.good_segments` of that channel, so
    no filter ever runs across a gap; samples outside good segments become NaN. Channels without a
    response keep their samples and units (said in ``extra["calibration"]``).
    """
    data, meta = {}, {}
    for c in run.channels:
        m = run.meta[c]
        x = run.data[c]
        if m.response is None:
            data[c] = x.copy()
            meta[c] = type(m)(**{**m.__dict__, "extra": {**m.extra, "calibration": f"none; stays in {m.units}"}})
            continue
        y = np.full_like(x, np.nan)
        for i0, i1 in run.good_segments(channels=[c]):
            try:
                y[i0:i1] = remove_response(
                    x[i0:i1], run.sample_rate_hz, m.response, water_level=water_level, band_hz=band_hz
                )
            except CalibrationError as exc:
                raise RecordError(f"{run.source or run.station} run {run.run} {c}: {exc}") from exc
        data[c] = y
        meta[c] = type(m)(
            **{
                **m.__dict__,
                "units": "mV/km" if c in ELECTRIC else "nT",
                "response": None,
                "extra": {**m.extra, "calibration": f"response removed from {m.units}"},
            }
        )
    return StationRun(
        station=run.station,
        run=run.run,
        sample_rate_hz=run.sample_rate_hz,
        start=run.start,
        data=data,
        meta=meta,
        defects=list(run.defects),
        source=run.source,
    )


def calibrate(station: Station, **kw) -> Station:
    """:func:`calibrate_run` on every run of ``station``."""
    return Station(
        station=station.station,
        runs=[calibrate_run(r, **kw) for r in station.runs],
        latitude_deg=station.latitude_deg,
        longitude_deg=station.longitude_deg,
        elevation_m=station.elevation_m,
        declination_deg=station.declination_deg,
        source=station.source,
    )


__all__ = ["WRITE_SUFFIXES", "calibrate", "calibrate_run", "detect_format", "read", "write"]
