"""Station metadata as plain JSON: what NPZ files, miniSEED sidecars and MTH5 files carry besides samples.

The JSON document (``format = "amt-station-1"``) holds everything of a :class:`~amt.record.Station` except
the sample arrays: station id and location, declination, and per run its id, sample rate, UTC start
(ISO 8601, nanoseconds), number of samples, per-channel :class:`~amt.record.ChannelMeta` (units, azimuth,
tilt, dipole length, sensor, response, extra) and the defects found when the run was first read.

Responses are written as tagged dictionaries (``{"type": "poles_zeros", ...}``) so that the classes of
:mod:`amt.calibration.instrument` survive a round trip; complex numbers are ``[re, im]`` pairs.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
from obspy import UTCDateTime

from amt.calibration import instrument as cal
from amt.record import CHANNELS, ChannelMeta, Defect, RecordError, Station, StationRun

FORMAT = "amt-station-1"


# -- checked access to parsed JSON -------------------------------------------------------------------------
def json_object(value: Any, what: str, where: str) -> dict[str, Any]:
    """``value`` if it is a JSON object, else :class:`RecordError`."""
    if not isinstance(value, dict):
        raise RecordError(f"{where}: {what} must be a JSON object, got {type(value).__name__}")
    return value


def json_list(value: Any, what: str, where: str) -> list[Any]:
    """``value`` if it is a JSON array, else :class:`RecordError`."""
    if not isinstance(value, list):
        raise RecordError(f"{where}: {what} must be a JSON array, got {type(value).__name__}")
    return value


def json_item(d: dict[str, Any], key: str, where: str) -> Any:
    """``d[key]``; :class:`RecordError` if the key is missing."""
    if key not in d:
        raise RecordError(f"{where}: metadata lacks '{key}'")
    return d[key]


def json_number(value: Any, what: str, where: str, kind: type = float) -> Any:
    """``kind(value)`` (``float`` or ``int``) for a JSON value; :class:`RecordError` if it is not a number."""
    if not isinstance(value, (int, float, str)):
        raise RecordError(f"{where}: {what} must be a number, got {type(value).__name__}")
    try:
        return kind(value)
    except (ValueError, OverflowError) as exc:  # "abc", "1.5" for int, int(inf)
        raise RecordError(f"{where}: {what} {value!r:.60} is not a number") from exc


def json_numbers(values: Any, what: str, where: str) -> tuple[float, ...]:
    """A JSON array of numbers as floats; :class:`RecordError` naming ``where`` and ``what`` otherwise."""
    return tuple(json_number(v, what, where) for v in json_list(values, what, where))


def _complexes(pairs: Any, what: str, where: str) -> tuple[complex, ...]:
    """``[[re, im], ...]`` as complex numbers."""
    out = []
    for p in json_list(pairs, what, where):
        if not (isinstance(p, list) and len(p) == 2):
            raise RecordError(f"{where}: {what} must be [re, im] pairs, got {p!r:.60}")
        out.append(complex(json_number(p[0], what, where), json_number(p[1], what, where)))
    return tuple(out)


# -- responses ---------------------------------------------------------------------------------------------
def response_to_dict(response: cal.Response | None) -> dict[str, Any] | None:
    """JSON-able description of a response (``None`` stays ``None``)."""
    if response is None:
        return None
    if isinstance(response, cal.PoleZeroResponse):
        return {
            "type": "poles_zeros",
            "zeros": [[z.real, z.imag] for z in map(complex, response.zeros)],
            "poles": [[p.real, p.imag] for p in map(complex, response.poles)],
            "gain": response.gain,
            "normalization_freq_hz": response.normalization_freq_hz,
            "sensitivity": response.sensitivity,
            "name": response.name,
        }
    if isinstance(response, cal.FrequencyTableResponse):
        return {
            "type": "frequency_table",
            "freq_hz": list(map(float, response.freq_hz)),
            "amplitude": list(map(float, response.amplitude)),
            "phase_deg": list(map(float, response.phase_deg)),
            "extrapolate": response.extrapolate,
            "name": response.name,
        }
    if isinstance(response, cal.DelayResponse):
        return {"type": "delay", "delay_s": response.delay_s, "name": response.name}
    if isinstance(response, cal.CascadeResponse):
        return {
            "type": "cascade",
            "stages": [response_to_dict(s) for s in response.stages],
            "name": response.name,
        }
    raise RecordError(
        f"cannot store response of type {type(response).__name__}; use the classes of amt.calibration.instrument"
    )


_RESPONSE_CLASSES: dict[str, tuple[type, str]] = {
    "poles_zeros": (cal.PoleZeroResponse, "poles/zeros"),
    "frequency_table": (cal.FrequencyTableResponse, "frequency table"),
    "delay": (cal.DelayResponse, "delay"),
    "cascade": (cal.CascadeResponse, "cascade"),
}


def response_from_dict(d: dict[str, Any] | None, where: str = "metadata") -> cal.Response | None:
    """Inverse of :func:`response_to_dict`; raises :class:`RecordError` naming ``where`` on a malformed description."""
    if d is None:
        return None
    d = json_object(d, "response", where)
    kind = d.get("type")
    if kind not in _RESPONSE_CLASSES:
        raise RecordError(f"{where}: unknown response type {kind!r}")
    cls, default_name = _RESPONSE_CLASSES[kind]
    what = f"{kind} response"
    if kind == "poles_zeros":
        norm = d.get("normalization_freq_hz")
        kw = {
            "zeros": _complexes(json_item(d, "zeros", where), f"{what} zeros", where),
            "poles": _complexes(json_item(d, "poles", where), f"{what} poles", where),
            "gain": json_number(json_item(d, "gain", where), f"{what} gain", where),
            "normalization_freq_hz": None if norm is None else json_number(norm, f"{what} normalization", where),
            "sensitivity": json_number(d.get("sensitivity", 1.0), f"{what} sensitivity", where),
        }
    elif kind == "frequency_table":
        kw = {
            key: json_numbers(json_item(d, key, where), f"{what} {key}", where)
            for key in ("freq_hz", "amplitude", "phase_deg")
        }
        kw["extrapolate"] = bool(d.get("extrapolate", True))
    elif kind == "delay":
        kw = {"delay_s": json_number(json_item(d, "delay_s", where), f"{what} delay", where)}
    else:
        stages = json_list(json_item(d, "stages", where), "cascade stages", where)
        kw = {"stages": tuple(response_from_dict(json_object(s, "cascade stage", where), where) for s in stages)}
    try:
        return cls(**kw, name=str(d.get("name", default_name)))
    except cal.CalibrationError as exc:
        raise RecordError(f"{where}: malformed response description: {exc}") from exc


# -- channels, defects, runs -------------------------------------------------------------------------------
def _finite_or_none(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(float(x)) else float(x)


def _fields_to_dict(obj: Any, **converted: Any) -> dict[str, Any]:
    """The fields of dataclass ``obj`` by name, in declaration order; ``converted`` gives the JSON form of those
    fields whose values are not JSON as they are."""
    return {f.name: converted[f.name] if f.name in converted else getattr(obj, f.name) for f in fields(obj)}


def channel_meta_to_dict(m: ChannelMeta) -> dict[str, Any]:
    """JSON-able description of a channel's metadata (response as :func:`response_to_dict`)."""
    return _fields_to_dict(
        m,
        azimuth_deg=float(m.azimuth_deg),
        tilt_deg=float(m.tilt_deg),
        dipole_length_m=_finite_or_none(m.dipole_length_m),
        response=response_to_dict(m.response),
    )


def channel_meta_from_dict(d: dict[str, Any], where: str = "metadata") -> ChannelMeta:
    """Inverse of :func:`channel_meta_to_dict`; :class:`RecordError` naming ``where`` on a malformed entry."""
    d = json_object(d, "channel metadata", where)
    dipole = d.get("dipole_length_m")
    return ChannelMeta(
        component=str(json_item(d, "component", where)),
        units=str(json_item(d, "units", where)),
        azimuth_deg=json_number(d.get("azimuth_deg", 0.0), "azimuth_deg", where),
        tilt_deg=json_number(d.get("tilt_deg", 0.0), "tilt_deg", where),
        dipole_length_m=None if dipole is None else json_number(dipole, "dipole_length_m", where),
        sensor=d.get("sensor"),
        response=response_from_dict(d.get("response"), where),
        extra=dict(json_object(d.get("extra") or {}, "extra", where)),
    )


def time_to_str(t: UTCDateTime) -> str:
    """ISO 8601 UTC with nanoseconds (``UTCDateTime`` keeps ns; one 24 kHz sample is 41,667 ns)."""
    ns = UTCDateTime(t).ns
    whole, frac = divmod(ns, 1_000_000_000)
    return UTCDateTime(ns=whole * 1_000_000_000).strftime("%Y-%m-%dT%H:%M:%S") + f".{frac:09d}Z"


def parse_time(s: str, where: str = "metadata") -> UTCDateTime:
    """Inverse of :func:`time_to_str`, exact to the nanosecond (``UTCDateTime(str)`` rounds to 1 us).

    Raises :class:`RecordError` naming ``where`` if ``s`` is not a time.
    """
    s = str(s).strip()
    body = s[:-1] if s.endswith("Z") else s
    try:
        if "." in body and body.rsplit(".", 1)[1].isdigit():
            whole, frac = body.rsplit(".", 1)
            return UTCDateTime(ns=UTCDateTime(whole).ns + int(frac[:9].ljust(9, "0")))
        return UTCDateTime(s)
    except (TypeError, ValueError) as exc:  # UTCDateTime raises TypeError for text it cannot parse
        raise RecordError(f"{where}: {s[:40]!r} is not a UTC time") from exc


def defect_to_dict(d: Defect) -> dict[str, Any]:
    """JSON-able description of a defect (times as :func:`time_to_str`)."""
    return _fields_to_dict(d, start=time_to_str(d.start), end=time_to_str(d.end))


def defect_from_dict(d: dict[str, Any], where: str = "metadata") -> Defect:
    """Inverse of :func:`defect_to_dict`; :class:`RecordError` naming ``where`` on a malformed entry."""
    d = json_object(d, "defect", where)
    return Defect(
        channel=str(json_item(d, "channel", where)),
        kind=str(json_item(d, "kind", where)),
        start=parse_time(json_item(d, "start", where), where),
        end=parse_time(json_item(d, "end", where), where),
        detail=str(d.get("detail", "")),
    )


def run_header(run: StationRun) -> dict[str, Any]:
    """Everything of a run except its samples."""
    return {
        "run": run.run,
        "sample_rate_hz": float(run.sample_rate_hz),
        "start": time_to_str(run.start),
        "n_samples": int(run.n_samples),
        "channels": list(run.channels),
        "meta": {c: channel_meta_to_dict(run.meta[c]) for c in run.channels},
        "defects": [defect_to_dict(d) for d in run.defects],
    }


def station_header(station: Station) -> dict[str, Any]:
    """JSON-able description of a station without samples (see the module docstring)."""
    ids = [r.run for r in station.runs]
    if len(set(ids)) != len(ids):
        raise RecordError(f"station {station.station}: run ids are not unique {ids}")
    return {
        "format": FORMAT,
        "station": station.station,
        "latitude_deg": _finite_or_none(station.latitude_deg),
        "longitude_deg": _finite_or_none(station.longitude_deg),
        "elevation_m": _finite_or_none(station.elevation_m),
        "declination_deg": float(station.declination_deg),
        "runs": [run_header(r) for r in station.runs],
    }


def dumps(header: dict[str, Any]) -> str:
    """The header as JSON text (NaN refused: absent values are ``null``)."""
    return json.dumps(header, indent=1, allow_nan=False)


def loads(text: str | bytes, where: str) -> dict[str, Any]:
    """Parse and check a station header; :class:`RecordError` names ``where`` on any problem."""
    try:
        header = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise RecordError(f"{where}: metadata is not valid JSON ({exc})") from exc
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise RecordError(f"{where}: metadata is not an {FORMAT} document")
    if not isinstance(header.get("runs"), list):
        raise RecordError(f"{where}: metadata lists no runs")
    return header


@dataclass
class RunHeader:
    """One checked entry of a header's ``runs`` (see :func:`run_header`)."""

    run: str
    sample_rate_hz: float
    start: UTCDateTime
    n_samples: int
    channels: list[str]
    meta: dict[str, ChannelMeta]
    defects: list[Defect]


def parse_run_header(rh: Any, where: str) -> RunHeader:
    """Check and convert one entry of a header's ``runs``; :class:`RecordError` naming ``where`` if malformed."""
    rh = json_object(rh, "run entry", where)
    rid = str(json_item(rh, "run", where))
    here = f"{where} run {rid}"
    chans = [str(c) for c in json_list(json_item(rh, "channels", here), "channels", here)]
    bad = [c for c in chans if c not in CHANNELS]
    if bad:
        raise RecordError(f"{where}: run {rid} names unknown channel(s) {bad}")
    metas = json_object(json_item(rh, "meta", here), "meta", here)
    return RunHeader(
        run=rid,
        sample_rate_hz=json_number(json_item(rh, "sample_rate_hz", here), "sample_rate_hz", here),
        start=parse_time(json_item(rh, "start", here), here),
        n_samples=json_number(json_item(rh, "n_samples", here), "n_samples", here, int),
        channels=chans,
        meta={c: channel_meta_from_dict(json_item(metas, c, here), f"{here} {c}") for c in chans},
        defects=[defect_from_dict(d, here) for d in json_list(rh.get("defects", []), "defects", here)],
    )


def build_station(header: dict[str, Any], arrays: dict[str, dict[str, np.ndarray]], source: str) -> Station:
    """Rebuild a :class:`Station` from a header and ``arrays[run_id][channel]``.

    Raises :class:`RecordError` naming ``source`` when the header is malformed or a run's arrays do not
    match it (missing channel, wrong length).
    """
    station = str(json_item(header, "station", source))
    runs = []
    for entry in header["runs"]:
        rh = parse_run_header(entry, source)
        data = {}
        for c in rh.channels:
            x = arrays.get(rh.run, {}).get(c)
            if x is None:
                raise RecordError(f"{source}: run {rh.run} channel {c} has no samples in the file")
            if len(x) != rh.n_samples:
                raise RecordError(
                    f"{source}: run {rh.run} channel {c} holds {len(x):,} samples, metadata says {rh.n_samples:,}"
                )
            data[c] = x
        runs.append(
            StationRun(
                station=station,
                run=rh.run,
                sample_rate_hz=rh.sample_rate_hz,
                start=rh.start,
                data=data,
                meta=rh.meta,
                defects=rh.defects,
                source=source,
            )
        )
    return Station(station=station, runs=runs, source=source, **station_location(header, source))


def station_location(header: dict[str, Any], source: str) -> dict[str, float]:
    """``latitude_deg``, ``longitude_deg``, ``elevation_m`` (NaN where absent) and ``declination_deg`` of a header."""
    location = {
        key: float("nan") if header.get(key) is None else json_number(header[key], key, source)
        for key in ("latitude_deg", "longitude_deg", "elevation_m")
    }
    location["declination_deg"] = json_number(header.get("declination_deg", 0.0), "declination_deg", source)
    return location
