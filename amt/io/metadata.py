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
from typing import Any

import numpy as np
from obspy import UTCDateTime

from amt.calibration.instrument import (
    CalibrationError,
    CascadeResponse,
    DelayResponse,
    FrequencyTableResponse,
    PoleZeroResponse,
    Response,
)
from amt.record import CHANNELS, ChannelMeta, Defect, RecordError, Station, StationRun

FORMAT = "amt-station-1"


# -- responses ---------------------------------------------------------------------------------------------
def response_to_dict(response: Response | None) -> dict[str, Any] | None:
    """JSON-able description of a response (``None`` stays ``None``)."""
    if response is None:
        return None
    if isinstance(response, PoleZeroResponse):
        return {
            "type": "poles_zeros",
            "zeros": [[z.real, z.imag] for z in map(complex, response.zeros)],
            "poles": [[p.real, p.imag] for p in map(complex, response.poles)],
            "gain": response.gain,
            "normalization_freq_hz": response.normalization_freq_hz,
            "sensitivity": response.sensitivity,
            "name": response.name,
        }
    if isinstance(response, FrequencyTableResponse):
        return {
            "type": "frequency_table",
            "freq_hz": list(map(float, response.freq_hz)),
            "amplitude": list(map(float, response.amplitude)),
            "phase_deg": list(map(float, response.phase_deg)),
            "extrapolate": response.extrapolate,
            "name": response.name,
        }
    if isinstance(response, DelayResponse):
        return {"type": "delay", "delay_s": response.delay_s, "name": response.name}
    if isinstance(response, CascadeResponse):
        return {
            "type": "cascade",
            "stages": [response_to_dict(s) for s in response.stages],
            "name": response.name,
        }
    raise RecordError(
        f"cannot store response of type {type(response).__name__}; use the classes of amt.calibration.instrument"
    )


def response_from_dict(d: dict[str, Any] | None) -> Response | None:
    """Inverse of :func:`response_to_dict`; raises :class:`RecordError` on a malformed description."""
    if d is None:
        return None
    try:
        kind = d["type"]
        if kind == "poles_zeros":
            return PoleZeroResponse(
                zeros=tuple(complex(a, b) for a, b in d["zeros"]),
                poles=tuple(complex(a, b) for a, b in d["poles"]),
                gain=float(d["gain"]),
                normalization_freq_hz=d.get("normalization_freq_hz"),
                sensitivity=float(d.get("sensitivity", 1.0)),
                name=str(d.get("name", "poles/zeros")),
            )
        if kind == "frequency_table":
            return FrequencyTableResponse(
                freq_hz=tuple(map(float, d["freq_hz"])),
                amplitude=tuple(map(float, d["amplitude"])),
                phase_deg=tuple(map(float, d["phase_deg"])),
                extrapolate=bool(d.get("extrapolate", True)),
                name=str(d.get("name", "frequency table")),
            )
        if kind == "delay":
            return DelayResponse(delay_s=float(d["delay_s"]), name=str(d.get("name", "delay")))
        if kind == "cascade":
            return CascadeResponse(
                stages=tuple(response_from_dict(s) for s in d["stages"]), name=str(d.get("name", "cascade"))
            )
    except (KeyError, TypeError, ValueError, CalibrationError) as exc:
        raise RecordError(f"malformed response description: {exc}") from exc
    raise RecordError(f"unknown response type {d.get('type')!r}")


# -- channels, defects, runs -------------------------------------------------------------------------------
def _finite_or_none(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(float(x)) else float(x)


def channel_meta_to_dict(m: ChannelMeta) -> dict[str, Any]:
    return {
        "component": m.component,
        "units": m.units,
        "azimuth_deg": float(m.azimuth_deg),
        "tilt_deg": float(m.tilt_deg),
        "dipole_length_m": _finite_or_none(m.dipole_length_m),
        "sensor": m.sensor,
        "response": response_to_dict(m.response),
        "extra": m.extra,
    }


def channel_meta_from_dict(d: dict[str, Any]) -> ChannelMeta:
    return ChannelMeta(
        component=str(d["component"]),
        units=str(d["units"]),
        azimuth_deg=float(d.get("azimuth_deg", 0.0)),
        tilt_deg=float(d.get("tilt_deg", 0.0)),
        dipole_length_m=None if d.get("dipole_length_m") is None else float(d["dipole_length_m"]),
        sensor=d.get("sensor"),
        response=response_from_dict(d.get("response")),
        extra=dict(d.get("extra") or {}),
    )


def time_to_str(t: UTCDateTime) -> str:
    """ISO 8601 UTC with nanoseconds (``UTCDateTime`` keeps ns; one 24 kHz sample is 41,667 ns)."""
    ns = UTCDateTime(t).ns
    whole, frac = divmod(ns, 1_000_000_000)
    return UTCDateTime(ns=whole * 1_000_000_000).strftime("%Y-%m-%dT%H:%M:%S") + f".{frac:09d}Z"


def parse_time(s: str) -> UTCDateTime:
    """Inverse of :func:`time_to_str`, exact to the nanosecond (``UTCDateTime(str)`` rounds to 1 us)."""
    s = str(s).strip()
    body = s[:-1] if s.endswith("Z") else s
    if "." in body and body.rsplit(".", 1)[1].isdigit():
        whole, frac = body.rsplit(".", 1)
        return UTCDateTime(ns=UTCDateTime(whole).ns + int(frac[:9].ljust(9, "0")))
    return UTCDateTime(s)


def defect_to_dict(d: Defect) -> dict[str, Any]:
    return {
        "channel": d.channel,
        "kind": d.kind,
        "start": time_to_str(d.start),
        "end": time_to_str(d.end),
        "detail": d.detail,
    }


def defect_from_dict(d: dict[str, Any]) -> Defect:
    return Defect(
        channel=str(d["channel"]),
        kind=str(d["kind"]),
        start=parse_time(d["start"]),
        end=parse_time(d["end"]),
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


def build_station(header: dict[str, Any], arrays: dict[str, dict[str, np.ndarray]], source: str) -> Station:
    """Rebuild a :class:`Station` from a header and ``arrays[run_id][channel]``.

    Raises :class:`RecordError` naming ``source`` when the header is malformed or a run's arrays do not
    match it (missing channel, wrong length).
    """
    try:
        runs = []
        for rh in header["runs"]:
            rid = str(rh["run"])
            n = int(rh["n_samples"])
            chans = [str(c) for c in rh["channels"]]
            bad = [c for c in chans if c not in CHANNELS]
            if bad:
                raise RecordError(f"{source}: run {rid} names unknown channel(s) {bad}")
            data = {}
            for c in chans:
                x = arrays.get(rid, {}).get(c)
                if x is None:
                    raise RecordError(f"{source}: run {rid} channel {c} has no samples in the file")
                if len(x) != n:
                    raise RecordError(f"{source}: run {rid} channel {c} holds {len(x):,} samples, metadata says {n:,}")
                data[c] = x
            runs.append(
                StationRun(
                    station=str(header["station"]),
                    run=rid,
                    sample_rate_hz=float(rh["sample_rate_hz"]),
                    start=parse_time(rh["start"]),
                    data=data,
                    meta={c: channel_meta_from_dict(rh["meta"][c]) for c in chans},
                    defects=[defect_from_dict(d) for d in rh.get("defects", [])],
                    source=source,
                )
            )
        nan = float("nan")
        return Station(
            station=str(header["station"]),
            runs=runs,
            latitude_deg=nan if header.get("latitude_deg") is None else float(header["latitude_deg"]),
            longitude_deg=nan if header.get("longitude_deg") is None else float(header["longitude_deg"]),
            elevation_m=nan if header.get("elevation_m") is None else float(header["elevation_m"]),
            declination_deg=float(header.get("declination_deg", 0.0)),
            source=source,
        )
    except RecordError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise RecordError(f"{source}: malformed metadata ({type(exc).__name__}: {exc})") from exc
