"""miniSEED and SAC through ObsPy, with a JSON sidecar for what miniSEED cannot hold.

Channel codes (SEED): band code from the sample rate, instrument ``Q`` (electric) or ``F``
(magnetometer), orientation ``N``/``E``/``Z`` (or ``1``/``2``/``3`` for a sensor not on a geographic axis):
``ex -> FQN`` at 1-5 kHz, ``hy -> FFE``, ``hz -> LFZ`` at 1 Hz. SEED has no band code above 5 kHz; 24 kHz
data keep ``F``. Codes ending in ``EX, EY, HX, HY, HZ`` (as :meth:`StationRun.to_stream` writes) are read too.

miniSEED holds samples, network/station/location/channel codes, sample rate and start time (to the
microsecond). Everything else -- the full station id, run ids, units, azimuths, tilts, dipole lengths,
sensors, responses, location, declination and the defects found on first reading -- goes into the sidecar
``<file>.json`` (e.g. ``site.mseed.json``), the :mod:`amt.io.metadata` document. Without a sidecar (a file
from elsewhere), channels are named from their codes, units are ``"counts"``, gaps up to ``max_fill_s``
are NaN-filled and reported, and longer gaps start a new run.
"""

from __future__ import annotations

import warnings
from collections import defaultdict
from pathlib import Path

import numpy as np
from obspy import Stream, Trace
from obspy import read as obspy_read

from amt.io import metadata as md
from amt.io.files import atomic_paths
from amt.io.quality import assemble_runs
from amt.record import ELECTRIC, ChannelMeta, RecordError, Station, StationRun

_ORIENT = {"ex": "N", "ey": "E", "hx": "N", "hy": "E", "hz": "Z"}
_ALT_ORIENT = {"ex": "1", "ey": "2", "hx": "1", "hy": "2", "hz": "3"}
_NOMINAL_AZIMUTH = {"ex": 0.0, "ey": 90.0, "hx": 0.0, "hy": 90.0, "hz": 0.0}


def sidecar_path(path: str | Path) -> Path:
    """``<file>.json`` beside a miniSEED file."""
    p = Path(path)
    return p.with_name(p.name + ".json")


def band_code(rate_hz: float) -> str:
    """SEED band code for a sample rate (broadband family; ``F`` for everything from 1 kHz up)."""
    for lo, code in ((1000, "F"), (250, "C"), (80, "H"), (10, "B"), (1.0001, "M"), (0.95, "L"), (0.095, "V")):
        if rate_hz >= lo:
            return code
    return "U"


def channel_code(component: str, rate_hz: float, azimuth_deg: float) -> str:
    inst = "Q" if component in ELECTRIC else "F"
    on_axis = component == "hz" or abs(((azimuth_deg - _NOMINAL_AZIMUTH[component]) + 180) % 360 - 180) < 1e-6
    return band_code(rate_hz) + inst + (_ORIENT if on_axis else _ALT_ORIENT)[component]


def component_of(code: str) -> str | None:
    """Our channel name for a SEED channel code, or ``None``."""
    code = code.upper()
    if code[-2:] in ("EX", "EY", "HX", "HY", "HZ"):
        return code[-2:].lower()
    if len(code) == 3 and code[1] in "QF":
        kind = "e" if code[1] == "Q" else "h"
        axis = {"N": "x", "1": "x", "E": "y", "2": "y", "Z": "z", "3": "z"}.get(code[2])
        if axis and not (kind == "e" and axis == "z"):
            return kind + axis
    return None


def write_mseed(station: Station, path: str | Path, network: str = "MT") -> Path:
    """Write ``station`` as FLOAT64 miniSEED plus its JSON sidecar, both atomically."""
    path = Path(path)
    header = md.dumps(md.station_header(station))
    code = station.station[:5]
    traces = []
    for loc, run in enumerate(station.runs):
        for c in run.channels:
            tr = Trace(
                data=np.ascontiguousarray(run.data[c], dtype=np.float64),
                header={
                    "network": network,
                    "station": code,
                    "location": f"{loc % 100:02d}",
                    "channel": channel_code(c, run.sample_rate_hz, run.meta[c].azimuth_deg),
                    "sampling_rate": run.sample_rate_hz,
                    "starttime": run.start,
                },
            )
            traces.append(tr)
    if not traces:
        raise RecordError(f"{path}: station {station.station} holds no samples to write")
    with atomic_paths(path, sidecar_path(path)) as (tmp, tmp_json):
        Stream(traces).write(str(tmp), format="MSEED", encoding="FLOAT64")
        tmp_json.write_text(header)
    return path


def _read_stream(path: Path, fmt: str | None) -> Stream:
    if not path.is_file():
        raise RecordError(f"{path}: no such file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            st = obspy_read(str(path), format=fmt)
    except Exception as exc:  # obspy raises anything from TypeError to its own InternalMSEEDError
        raise RecordError(
            f"{path}: not readable as {fmt or 'a seismic format'} ({type(exc).__name__}: {str(exc)[:200]})"
        ) from exc
    if len(st) == 0:
        raise RecordError(f"{path}: holds no traces")
    return st


def read_obspy(
    path: str | Path,
    fmt: str | None = None,
    *,
    station: str | None = None,
    max_fill_s: float = 1.0,
) -> Station:
    """Read miniSEED, SAC or any other ObsPy format into a :class:`Station`.

    With a sidecar ``<file>.json`` (written by :func:`write_mseed`), runs, ids and metadata are restored
    exactly; otherwise see the module docstring.

    Raises
    ------
    RecordError
        Unreadable file or sidecar, no EX..HZ channels, or several stations without ``station=``.
    """
    path = Path(path)
    st = _read_stream(path, fmt)
    side = sidecar_path(path)
    if side.is_file():
        return _read_with_sidecar(st, path, side)

    by_station: dict[str, list[Trace]] = defaultdict(list)
    skipped = []
    for tr in st:
        comp = component_of(tr.stats.channel)
        if comp is None:
            skipped.append(tr.id)
            continue
        by_station[tr.stats.station].append(tr)
    if not by_station:
        raise RecordError(
            f"{path}: no trace is an MT channel (EX, EY, HX, HY, HZ or ?Q?/?F? codes): "
            f"{', '.join(sorted(set(skipped)))[:200]}"
        )
    if station is None and len(by_station) > 1:
        raise RecordError(f"{path}: holds stations {sorted(by_station)}; pass station=")
    name = station or next(iter(by_station))
    if name not in by_station:
        raise RecordError(f"{path}: no station {name!r}; it holds {sorted(by_station)}")
    traces = by_station[name]

    by_rate: dict[float, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    for tr in traces:
        data = np.asarray(tr.data, dtype=np.float64)
        by_rate[float(tr.stats.sampling_rate)][component_of(tr.stats.channel)].append((tr.stats.starttime, data))

    def meta_for(c: str) -> ChannelMeta:
        return ChannelMeta(
            component=c,
            units="counts",
            azimuth_deg=_NOMINAL_AZIMUTH[c],
            tilt_deg=90.0 if c == "hz" else 0.0,
            extra={"note": "units and orientation not in the file; nominal values"},
        )

    rates = sorted(by_rate, reverse=True)
    runs: list[StationRun] = []
    for rate in rates:
        prefix = "" if len(rates) == 1 else f"sr{rate:g}_"
        runs.extend(
            assemble_runs(
                by_rate[rate],
                rate,
                name,
                meta_for,
                max_fill_s=max_fill_s,
                run_ids=lambda k, p=prefix: f"{p}{k + 1:03d}",
                source=str(path),
            )
        )
    _report_rate_mismatch(runs)
    runs.sort(key=lambda r: (r.start.ns, -r.sample_rate_hz))  # Station.runs are in time order
    return Station(station=name, runs=runs, source=str(path))


def _report_rate_mismatch(runs: list[StationRun]) -> None:
    """A channel absent from a run but recorded at another rate over the same time is a rate mismatch."""
    from amt.record import Defect

    for run in runs:
        for other in runs:
            if other is run or other.sample_rate_hz == run.sample_rate_hz:
                continue
            if other.start > run.end or other.end < run.start:
                continue
            for c in set(other.channels) - set(run.channels):
                run.defects.append(
                    Defect(
                        c,
                        "rate_mismatch",
                        run.start,
                        run.end + run.dt_s,
                        f"{c} recorded at {other.sample_rate_hz:g} Hz, the others at {run.sample_rate_hz:g} Hz",
                    )
                )


def _read_with_sidecar(st: Stream, path: Path, side: Path) -> Station:
    try:
        text = side.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise RecordError(f"{side}: unreadable sidecar ({exc})") from exc
    header = md.loads(text, str(side))
    arrays: dict[str, dict[str, np.ndarray]] = {}
    try:
        for loc, rh in enumerate(header["runs"]):
            rate = float(rh["sample_rate_hz"])
            start = md.parse_time(rh["start"])
            n = int(rh["n_samples"])
            if n < 0 or n > 10**10:
                raise RecordError(f"{side}: run {rh['run']} claims {n} samples")
            out: dict[str, np.ndarray] = {}
            for c in rh["channels"]:
                az = float(rh["meta"][c].get("azimuth_deg", 0.0))
                code = channel_code(c, rate, az)
                x = np.full(n, np.nan)
                for tr in st.select(location=f"{loc % 100:02d}", channel=code):
                    if abs(tr.stats.sampling_rate - rate) > 1e-9 * rate:
                        continue
                    i0 = round((tr.stats.starttime - start) * rate)
                    a, b = max(i0, 0), min(i0 + tr.stats.npts, n)
                    if b > a:
                        x[a:b] = np.asarray(tr.data[a - i0 : b - i0], dtype=np.float64)
                out[c] = x
            arrays[str(rh["run"])] = out
    except RecordError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise RecordError(f"{side}: malformed sidecar ({type(exc).__name__}: {exc})") from exc
    stn = md.build_station(header, arrays, str(path))
    # samples the sidecar promises but the file lacks (a truncated or edited file) become defects; NaN that
    # the recorded defects already explain (gaps filled on first reading, NaN in the source) are not repeated
    from amt.io.quality import nan_defects

    for run in stn.runs:
        for c in run.channels:
            explained = np.zeros(run.n_samples, dtype=bool)
            for d in run.defects:
                if d.channel in (c, "all"):
                    explained[max(run.index_of(d.start), 0) : max(run.index_of(d.end), 0)] = True
            x = np.where(explained, 0.0, run.data[c])
            for d in nan_defects(c, x, run.start, run.sample_rate_hz):
                run.defects.append(type(d)(c, "gap", d.start, d.end, d.detail + " missing from the file"))
    return stn
