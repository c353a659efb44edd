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

import struct
import warnings
from collections import defaultdict
from pathlib import Path

import numpy as np
from obspy import Stream, Trace
from obspy import read as obspy_read
from obspy.core.util.obspy_types import ObsPyException
from obspy.io.sac.util import SacError

from amt.io import metadata as md
from amt.io.quality import assemble_by_rate, nan_defects
from amt.record import ELECTRIC, NOMINAL_AZIMUTH_DEG, ChannelMeta, Defect, RecordError, Station, StationRun
from shared.atomic import atomic_paths

_ORIENT = {"ex": "N", "ey": "E", "hx": "N", "hy": "E", "hz": "Z"}
_ALT_ORIENT = {"ex": "1", "ey": "2", "hx": "1", "hy": "2", "hz": "3"}

#: What ``obspy.read`` raises on a damaged file: OSError (unreadable), TypeError ("Unknown format for file"),
#: ValueError and struct.error (damaged headers), ObsPy's own errors (InternalMSEEDError, ...) and SacError.
_DAMAGE = (OSError, TypeError, ValueError, struct.error, ObsPyException, SacError)


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
    """SEED channel code of a channel: band code, ``Q``/``F``, and ``N``/``E``/``Z`` (``1``/``2``/``3`` off axis)."""
    inst = "Q" if component in ELECTRIC else "F"
    on_axis = component == "hz" or abs(((azimuth_deg - NOMINAL_AZIMUTH_DEG[component]) + 180) % 360 - 180) < 1e-6
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
    except _DAMAGE as exc:
        raise RecordError(
            f"{path}: not readable as {fmt or 'a seismic format'} ({type(exc).__name__}: {str(exc)[:200]})"
        ) from exc
    except Exception as exc:
        if type(exc) is not Exception:  # not ObsPy's bare Exception("Cannot open file") for a file without traces
            raise
        raise RecordError(f"{path}: holds no traces readable as {fmt or 'a seismic format'}") from exc
    if len(st) == 0:
        raise RecordError(f"{path}: holds no traces")
    for tr in st:  # a damaged encoding field makes ObsPy return the samples as text (ASCII encoding)
        if tr.data.dtype.kind not in "iuf":
            raise RecordError(f"{path}: trace {tr.id} holds {tr.data.dtype} data, not samples (damaged encoding?)")
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

    runs = assemble_by_rate(
        by_rate,
        name,
        _nominal_meta,
        run_id=lambda rate, k: f"{k + 1:03d}" if len(by_rate) == 1 else f"sr{rate:g}_{k + 1:03d}",
        max_fill_s=max_fill_s,
        source=str(path),
    )
    _report_rate_mismatch(runs)
    return Station(station=name, runs=runs, source=str(path))


def _nominal_meta(c: str) -> ChannelMeta:
    """Metadata of a channel read without a sidecar: counts, nominal orientation."""
    return ChannelMeta.nominal(c, "counts", extra={"note": "units and orientation not in the file; nominal values"})


def _report_rate_mismatch(runs: list[StationRun]) -> None:
    """A channel absent from a run but recorded at another rate over the same time is a rate mismatch."""
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
    """The station of a file we wrote: runs, ids and metadata from the sidecar, samples from the traces."""
    try:
        text = side.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise RecordError(f"{side}: unreadable sidecar ({exc})") from exc
    header = md.loads(text, str(side))
    arrays = {}
    for loc, entry in enumerate(header["runs"]):
        rh = md.parse_run_header(entry, str(side))
        if not (np.isfinite(rh.sample_rate_hz) and rh.sample_rate_hz > 0):
            raise RecordError(f"{side}: run {rh.run} has sample rate {rh.sample_rate_hz!r}")
        if rh.n_samples < 0 or rh.n_samples > 10**10:
            raise RecordError(f"{side}: run {rh.run} claims {rh.n_samples} samples")
        arrays[rh.run] = {c: _channel_samples(st, f"{loc % 100:02d}", rh, c) for c in rh.channels}
    stn = md.build_station(header, arrays, str(path))
    _report_missing_samples(stn)
    return stn


def _channel_samples(st: Stream, location: str, rh: md.RunHeader, c: str) -> np.ndarray:
    """Samples of channel ``c`` of a sidecar run from the traces at ``location``; NaN where no trace covers."""
    rate, n = rh.sample_rate_hz, rh.n_samples
    x = np.full(n, np.nan)
    for tr in st.select(location=location, channel=channel_code(c, rate, rh.meta[c].azimuth_deg)):
        if abs(tr.stats.sampling_rate - rate) > 1e-9 * rate:
            continue
        i0 = round((tr.stats.starttime - rh.start) * rate)
        a, b = max(i0, 0), min(i0 + tr.stats.npts, n)
        if b > a:
            x[a:b] = np.asarray(tr.data[a - i0 : b - i0], dtype=np.float64)
    return x


def _report_missing_samples(stn: Station) -> None:
    """Samples the sidecar promises but the file lacks (a truncated or edited file) become ``"gap"`` defects; NaN
    that the recorded defects already explain (gaps filled on first reading, NaN in the source) are not repeated."""
    for run in stn.runs:
        for c in run.channels:
            explained = np.zeros(run.n_samples, dtype=bool)
            for d in run.defects:
                if d.channel in (c, "all"):
                    explained[max(run.index_of(d.start), 0) : max(run.index_of(d.end), 0)] = True
            x = np.where(explained, 0.0, run.data[c])
            for d in nan_defects(c, x, run.start, run.sample_rate_hz):
                run.defects.append(Defect(c, "gap", d.start, d.end, d.detail + " missing from the file"))
