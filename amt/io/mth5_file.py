"""MTH5 (HDF5) records through the ``mth5`` package, read one channel at a time; our own files straight via h5py.

MTH5's run-level container (``RunGroup.to_runts``) fails for sample rates above 10 kHz, so runs are
always read channel by channel (``RunGroup.get_channel``) and assembled here, which also catches channels
of one run that differ in start, length or rate.

Files we write are ordinary MTH5 v0.2.0 (survey ``amt``, one MTH5 run per :class:`StationRun`), with the
standard metadata filled in (sample rate, start, units, ``measurement_azimuth``, ``measurement_tilt``,
``dipole_length``, station location and declination), so other MTH5 tools read them. In addition a
root dataset ``amt_metadata`` holds the :mod:`amt.io.metadata` JSON document: exact run ids, station id,
responses and defects. Files from elsewhere are read from the standard metadata alone.

Files we wrote are read back with h5py alone (:func:`_read_ours_h5`: the JSON document says what to read, the
samples are at ``Experiment/Surveys/amt/Stations/<station>/<run>/<channel>`` as MTH5 v0.2.0 puts them), which
spares importing ``mth5`` (seconds) and opening the file through it; a file whose groups are elsewhere falls back
to ``mth5``. ``tests/amt/pipeline/test_mth5_read.py`` checks both paths give the same station.

Group names must match ``[a-zA-Z0-9_]``: other characters in station and run ids become ``_`` in the
file (the JSON document keeps the real ids).
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import h5py
import numpy as np

from amt.io import metadata as md
from amt.io.chunked import ChunkedRun
from amt.io.quality import assemble_runs
from amt.record import CHANNELS, ELECTRIC, ChannelMeta, Defect, RecordError, Station, StationRun
from shared.atomic import atomic_path

SURVEY = "amt"
META_DATASET = "amt_metadata"

#: What h5py raises on a damaged or foreign file: OSError (bad signature, truncated, unreadable block) and KeyError
#: (dangling link), ValueError (e.g. an attribute it cannot decode), RuntimeError (damaged object headers). Through
#: mth5, its own MTH5Error (a group it expects is missing) too (:func:`_mth5_error`).
_DAMAGE = (OSError, KeyError, ValueError, RuntimeError)

_UNITS_TO_MTH5 = {"mV/km": "milliVolt per kilometer", "nT": "nanoTesla", "counts": "digital counts", "V": "Volt"}
_UNITS_FROM_MTH5 = {v.lower(): k for k, v in _UNITS_TO_MTH5.items()}
_UNITS_FROM_MTH5.update(
    {"mv/km": "mV/km", "nt": "nT", "count": "counts", "counts": "counts", "v": "V", "volt": "V", "millivolt": "mV"}
)


@contextlib.contextmanager
def _quiet():
    """mth5 logs through loguru at INFO/WARNING for routine work; keep it out of our output."""
    try:
        from loguru import logger
    except ImportError:  # pragma: no cover - mth5 depends on loguru
        yield
        return
    logger.disable("mth5")
    logger.disable("mt_metadata")
    try:
        yield
    finally:
        logger.enable("mth5")
        logger.enable("mt_metadata")


def _safe_id(s: str, pattern: str = r"[^A-Za-z0-9_]") -> str:
    return re.sub(pattern, "_", s) or "_"


def _mth5_error() -> type[Exception]:
    """mth5's own error class (imported with mth5, only where mth5 is used)."""
    from mth5.utils.exceptions import MTH5Error

    return MTH5Error


def _mth5():
    from mth5.mth5 import MTH5

    logging.getLogger("mth5").setLevel(logging.ERROR)
    return MTH5


def write_mth5(station: Station, path: str | Path) -> Path:
    """Write ``station`` to an MTH5 v0.2.0 file, atomically."""
    from mt_metadata.timeseries import Electric, Magnetic

    path = Path(path)
    header = md.dumps(md.station_header(station))
    MTH5 = _mth5()
    with atomic_path(path) as tmp, _quiet():
        m = MTH5(file_version="0.2.0")
        m.open_mth5(str(tmp), "w")
        try:
            m.add_survey(SURVEY)
            sg = m.add_station(_safe_id(station.station, r"[^A-Za-z0-9_-]"), survey=SURVEY)
            for attr, value in (
                ("latitude", station.latitude_deg),
                ("longitude", station.longitude_deg),
                ("elevation", station.elevation_m),
            ):
                if np.isfinite(value):
                    setattr(sg.metadata.location, attr, float(value))
            sg.metadata.location.declination.value = float(station.declination_deg)
            sg.write_metadata()
            for run in station.runs:
                rg = sg.add_run(_safe_id(run.run))
                rg.metadata.sample_rate = run.sample_rate_hz
                start = md.time_to_str(run.start)
                for c in run.channels:
                    cm = run.meta[c]
                    ch = Electric(component=c) if c in ELECTRIC else Magnetic(component=c)
                    ch.sample_rate = run.sample_rate_hz
                    ch.time_period.start = start
                    ch.units = _UNITS_TO_MTH5.get(cm.units, cm.units)
                    ch.measurement_azimuth = float(cm.azimuth_deg)
                    ch.measurement_tilt = float(cm.tilt_deg)
                    if c in ELECTRIC and cm.dipole_length_m is not None:
                        ch.dipole_length = float(cm.dipole_length_m)
                    rg.add_channel(
                        c,
                        "electric" if c in ELECTRIC else "magnetic",
                        run.data[c],
                        channel_dtype="float64",
                        channel_metadata=ch,
                    )
                rg.update_metadata()
                rg.write_metadata()
            sg.update_metadata()
            sg.write_metadata()
        finally:
            m.close_mth5()
        with h5py.File(tmp, "a") as f:
            f.create_dataset(META_DATASET, data=np.bytes_(header.encode("utf-8")))
    return path


def _units_from_mth5(u: str) -> str:
    """Our unit name for an MTH5 unit string; empty means uncalibrated counts."""
    u = (u or "").strip()
    return _UNITS_FROM_MTH5.get(u.lower(), u or "counts")


def read_mth5(path: str | Path, *, station: str | None = None, max_fill_s: float = 1.0) -> Station:
    """Read an MTH5 file (v0.1 or v0.2) channel by channel.

    Raises
    ------
    RecordError
        Not an HDF5/MTH5 file, no stations, several stations without ``station=``, or unreadable
        channels.
    """
    path = Path(path)
    if not path.is_file():
        raise RecordError(f"{path}: no such file")
    if not h5py.is_hdf5(path):
        raise RecordError(f"{path}: not an HDF5 file")
    text = _metadata_text(path)
    header = None if text is None else md.loads(text, str(path))
    if header is not None:
        ours = _read_ours_h5(path, header)
        if ours is not None:
            return ours
    MTH5 = _mth5()
    try:
        with _quiet():
            m = MTH5()
            m.open_mth5(str(path), "r")
            try:
                if header is not None:
                    return _read_ours(m, header, path)
                return _read_foreign(m, path, station, max_fill_s)
            finally:
                m.close_mth5()
    except (*_DAMAGE, _mth5_error()) as exc:
        raise RecordError(f"{path}: not a readable MTH5 file ({type(exc).__name__}: {str(exc)[:200]})") from exc


def _metadata_text(path: Path) -> str | None:
    """The ``amt_metadata`` JSON text of a file we wrote, ``None`` for a file from elsewhere."""
    try:
        with h5py.File(path, "r") as f:
            ds = f.get(META_DATASET)
            if ds is None:
                return None
            if not (isinstance(ds, h5py.Dataset) and ds.shape == () and ds.dtype.kind == "S"):
                raise RecordError(f"{path}: '{META_DATASET}' is not a text scalar")
            return bytes(ds[()]).decode("utf-8", "replace")
    except _DAMAGE as exc:
        raise RecordError(f"{path}: damaged HDF5 file ({type(exc).__name__}: {exc})") from exc


def _channel_array(rg, c: str, where: str) -> np.ndarray:
    ds = rg.get_channel(c).hdf5_dataset
    if ds.ndim != 1:
        raise RecordError(f"{where}: channel {c} is not 1-D (shape {ds.shape})")
    return np.asarray(ds[()], dtype=np.float64)


def _station_group(f: h5py.File, header: dict) -> h5py.Group | None:
    """The station group of a file we wrote, where MTH5 v0.2.0 puts it (None if it is not there)."""
    sid = _safe_id(str(header.get("station", "")), r"[^A-Za-z0-9_-]")
    group = f.get(f"Experiment/Surveys/{SURVEY}/Stations/{sid}")
    return group if isinstance(group, h5py.Group) else None


def _our_datasets(f: h5py.File, header: dict, path: Path) -> list[tuple[md.RunHeader, dict]] | None:
    """Each run's header and channel datasets in a file we wrote; None if its groups are not where MTH5 v0.2.0
    puts them."""
    group = _station_group(f, header)
    if group is None:
        return None
    runs = []
    for entry in header["runs"]:
        rh = md.parse_run_header(entry, str(path))
        rg = group.get(_safe_id(rh.run))
        datasets = {c: rg.get(c) if isinstance(rg, h5py.Group) else None for c in rh.channels}
        if not all(isinstance(ds, h5py.Dataset) for ds in datasets.values()):
            return None
        for c, ds in datasets.items():
            if ds.ndim != 1:
                raise RecordError(f"{path} run {rh.run}: channel {c} is not 1-D (shape {ds.shape})")
        runs.append((rh, datasets))
    return runs


def _read_ours_h5(path: Path, header: dict) -> Station | None:
    """A file we wrote, read with h5py alone; None if its groups are not where MTH5 v0.2.0 puts them."""
    try:
        with h5py.File(path, "r") as f:
            runs = _our_datasets(f, header, path)
            if runs is None:
                return None
            arrays = {rh.run: {c: np.asarray(ds[()], dtype=np.float64) for c, ds in d.items()} for rh, d in runs}
    except _DAMAGE as exc:
        raise RecordError(f"{path}: not a readable MTH5 file ({type(exc).__name__}: {str(exc)[:200]})") from exc
    return md.build_station(header, arrays, str(path))


@contextlib.contextmanager
def open_mth5_chunked(path: str | Path) -> Iterator[Station | None]:
    """A file we wrote as a :class:`~amt.record.Station` of :class:`~amt.io.chunked.ChunkedRun`, read as h5py
    slices while the context is open (spectra in bounded memory: :func:`amt.spectra.compute_station_spectra`).

    Yields None for a file from elsewhere, or one whose groups are not where MTH5 v0.2.0 puts them (read it whole
    with :func:`read_mth5` then).

    Raises
    ------
    RecordError
        If the file is missing, not HDF5, damaged, or its metadata is malformed or disagrees with its datasets.
    """
    path = Path(path)
    if not path.is_file() or not h5py.is_hdf5(path):
        raise RecordError(f"{path}: not an HDF5 file")
    text = _metadata_text(path)
    if text is None:
        yield None
        return
    header = md.loads(text, str(path))
    try:
        f = h5py.File(path, "r")
    except _DAMAGE as exc:
        raise RecordError(f"{path}: not a readable MTH5 file ({type(exc).__name__}: {str(exc)[:200]})") from exc
    with f:
        runs = _our_datasets(f, header, path)
        if runs is None:
            yield None
            return
        name = str(md.json_item(header, "station", str(path)))
        chunked = []
        for rh, datasets in runs:
            for c, ds in datasets.items():
                if len(ds) != rh.n_samples:
                    raise RecordError(
                        f"{path}: run {rh.run} channel {c} holds {len(ds):,} samples, metadata says {rh.n_samples:,}"
                    )
            channels = tuple(c for c in CHANNELS if c in datasets)
            chunked.append(
                ChunkedRun(name, rh.run, rh.sample_rate_hz, rh.start, rh.n_samples, channels, rh.meta,
                           _slice_reader(path, rh.run, datasets), rh.defects, str(path))
            )  # fmt: skip
        yield Station(name, chunked, source=str(path), **md.station_location(header, str(path)))


def _slice_reader(path: str | Path, run: str, datasets: dict) -> Callable[[str, int, int], np.ndarray]:
    """``read(channel, lo, hi)`` of one run's h5py datasets; damage found while reading is a :class:`RecordError`
    naming the file, run, channel and samples."""

    def read(c: str, lo: int, hi: int) -> np.ndarray:
        try:
            return datasets[c][lo:hi]
        except _DAMAGE as exc:
            raise RecordError(f"{path}: run {run} channel {c}: samples {lo:,}-{hi:,} unreadable "
                              f"({type(exc).__name__}: {str(exc)[:200]})") from exc

    return read


def read_mth5_head(path: str | Path, seconds: float) -> StationRun | None:
    """The first ``seconds`` of the longest highest-rate run of a file we wrote, read as h5py slices.

    Only those samples are read (a report's time-series page of a one-hour record reads a minute, not the hour);
    the run keeps the defects that overlap the slice. Returns None for a file from elsewhere or one whose groups
    are not where MTH5 v0.2.0 puts them (read it whole with :func:`read_mth5` then).

    Raises
    ------
    RecordError
        If the file is not HDF5, is damaged, or its metadata is malformed.
    """
    path = Path(path)
    if not path.is_file() or not h5py.is_hdf5(path):
        raise RecordError(f"{path}: not an HDF5 file")
    text = _metadata_text(path)
    if text is None:
        return None
    header = md.loads(text, str(path))
    runs = [md.parse_run_header(entry, str(path)) for entry in header["runs"]]
    if not runs:
        return None
    rh = max(runs, key=lambda r: (r.sample_rate_hz, r.n_samples))
    n = min(rh.n_samples, max(1, round(seconds * rh.sample_rate_hz)))
    try:
        with h5py.File(path, "r") as f:
            group = _station_group(f, header)
            rg = group.get(_safe_id(rh.run)) if group is not None else None
            datasets = {c: rg.get(c) if isinstance(rg, h5py.Group) else None for c in rh.channels}
            if not all(isinstance(ds, h5py.Dataset) and ds.ndim == 1 for ds in datasets.values()):
                return None
            data = {c: np.asarray(ds[:n], dtype=np.float64) for c, ds in datasets.items()}
    except _DAMAGE as exc:
        raise RecordError(f"{path}: not a readable MTH5 file ({type(exc).__name__}: {str(exc)[:200]})") from exc
    end = rh.start + n / rh.sample_rate_hz
    defects = [d for d in rh.defects if d.start < end]
    station = str(header.get("station", ""))
    return StationRun(station, rh.run, rh.sample_rate_hz, rh.start, data, rh.meta, defects, str(path))


def _read_ours(m, header: dict, path: Path) -> Station:
    """A file we wrote: runs, ids and metadata from the JSON document, samples channel by channel."""
    sid = _safe_id(str(header.get("station", "")), r"[^A-Za-z0-9_-]")
    arrays: dict[str, dict[str, np.ndarray]] = {}
    for entry in header["runs"]:
        rh = md.parse_run_header(entry, str(path))
        rg = m.get_run(sid, _safe_id(rh.run), survey=SURVEY)
        arrays[rh.run] = {c: _channel_array(rg, c, f"{path} run {rh.run}") for c in rh.channels}
    return md.build_station(header, arrays, str(path))


def _read_foreign(m, path: Path, station: str | None, max_fill_s: float) -> Station:
    """A file from elsewhere: one station, its runs from the standard metadata."""
    sv, name = _find_station(m, path, station)
    sg = m.get_station(name, survey=sv) if sv is not None else m.get_station(name)
    runs: list[StationRun] = []
    for rid in sg.groups_list:
        if rid.lower() not in ("transfer_functions", "fourier_coefficients", "features"):
            runs.extend(_foreign_runs(sg.get_run(rid), rid, name, path, max_fill_s))
    loc = sg.metadata.location
    nan = float("nan")
    decl = getattr(getattr(loc, "declination", None), "value", None)
    return Station(
        station=name,
        runs=runs,
        latitude_deg=float(loc.latitude) if loc.latitude not in (None, 0.0) else nan,
        longitude_deg=float(loc.longitude) if loc.longitude not in (None, 0.0) else nan,
        elevation_m=float(loc.elevation) if loc.elevation not in (None, 0.0) else nan,
        declination_deg=float(decl or 0.0),
        source=str(path),
    )


def _find_station(m, path: Path, station: str | None) -> tuple[str | None, str]:
    """``(survey, station)`` of the station to read: ``station``, or the only one in the file."""
    surveys = m.surveys_group.groups_list if m.file_version != "0.1.0" else [None]
    found = []
    for sv in surveys:
        try:
            names = m.get_survey(sv).stations_group.groups_list if sv is not None else m.stations_group.groups_list
        except (KeyError, _mth5_error()):  # a survey group without stations
            continue
        found.extend((sv, s) for s in names)
    if not found:
        raise RecordError(f"{path}: MTH5 file holds no stations")
    if station is None and len({s for _, s in found}) > 1:
        raise RecordError(f"{path}: holds stations {sorted({s for _, s in found})}; pass station=")
    sv, name = next((x for x in found if station is None or x[1] == station), (None, None))
    if name is None:
        raise RecordError(f"{path}: no station {station!r}; it holds {sorted(s for _, s in found)}")
    return sv, name


def _foreign_runs(rg, rid: str, station: str, path: Path, max_fill_s: float) -> list[StationRun]:
    """Our runs of one MTH5 run: its channels at the rate most of them share (a channel at another rate is
    left out and reported as ``"rate_mismatch"``), split at long gaps."""
    pieces_by_rate: dict[float, dict[str, list]] = {}
    metas: dict[str, ChannelMeta] = {}
    for c in rg.groups_list:
        comp = c.lower()
        if comp not in CHANNELS:
            continue
        ch = rg.get_channel(c)
        cm = ch.metadata
        x = np.asarray(ch.hdf5_dataset[()], dtype=np.float64)
        start = md.parse_time(str(cm.time_period.start), f"{path} run {rid} {c}")
        pieces_by_rate.setdefault(float(cm.sample_rate), {}).setdefault(comp, []).append((start, x))
        metas[comp] = ChannelMeta(
            component=comp,
            units=_units_from_mth5(str(cm.units)),
            azimuth_deg=float(cm.measurement_azimuth or 0.0),
            tilt_deg=float(cm.measurement_tilt or (90.0 if comp == "hz" else 0.0)),
            dipole_length_m=(float(cm.dipole_length) if comp in ELECTRIC and cm.dipole_length else None),
            extra={"mth5_run": rid},
        )
    if not pieces_by_rate:
        return []
    rate = max(pieces_by_rate, key=lambda r: len(pieces_by_rate[r]))
    runs = assemble_runs(
        pieces_by_rate[rate],
        rate,
        station,
        metas.__getitem__,
        max_fill_s=max_fill_s,
        run_ids=lambda k: rid if k == 0 else f"{rid}_{k + 1:03d}",
        source=str(path),
    )
    for other_rate, ps in pieces_by_rate.items():
        if other_rate == rate:
            continue
        for run in runs:
            for c in ps:
                detail = f"{c} at {other_rate:g} Hz, run {rid} at {rate:g} Hz; left out"
                run.defects.append(Defect(c, "rate_mismatch", run.start, run.end + run.dt_s, detail))
    return runs
