"""Phoenix Geophysics MTU-5C recordings: decimated ``.td_24k`` bursts and continuous ``.td_150``/``.td_30``.

A recording folder (e.g. ``10128_2021-04-27-032436/``) holds ``recmeta.json``, ``config.json`` and one
folder per channel index (``0``, ``1``, ``2``, ``4``) with files ``<serial>_<recid hex>_<idx>_<seq hex>.td_*``.
``recmeta.json`` maps indices to tags (``channel_map``); tags map to our channels as
``E1 -> ex, E2 -> ey, H1 -> hx, H2 -> hy, H3 -> hz``.

Binary layout (Phoenix DAA09 "Time Series Format 3rd Party"; field offsets as in PhoenixGeoPy and
``mt_io.phoenix``): a 128-byte little-endian header (recording id = GPS start second at byte 20, channel
id at 24, file sequence at 25, fragment period at 29, sample rate ``base * 10**exp`` at 59/61, GPS position
at 71-83, saturated/missing frame counts at 101/103), then

* ``.td_24k`` (segmented): records of a 32-byte sub-header (GPS second of the first sample, number of
  samples, saturation count, missing count, min/max/mean) followed by float32 samples;
* ``.td_150``/``.td_30`` (continuous): float32 samples; file ``seq`` starts at the recording id plus
  ``frag_period * (seq - 1)`` s, except the first, which starts 1 s after the recording id (the logger
  starts its filters first).

Samples are volts at the receiver input (gains already removed by the logger). They are kept in ``"V"``;
each channel's :attr:`ChannelMeta.response` maps physical units to those volts where it is known:
E channels ``dipole_length_m * 1e-6`` V per mV/km times the receiver low-pass table of a Phoenix receiver
calibration file (``*rxcal*.json``) if one is found; H channels the coil table of a sensor calibration file
(``*scal*.json``, magnitude in mV/nT) times the receiver table, else no response (units stay V: nothing
in the recording calibrates the coil). :func:`amt.io.calibrate` removes the responses.

Times: the stamps count GPS seconds on the Unix epoch; UTC = stamp - leap seconds, the leap seconds taken
from ``recmeta.json`` (``timing.tm_leapSecAtRecStart``, 18 s in 2021). The logger's local time zone
(``config.json`` ``timezone_offset``) only names things for the operator: the stamps are GPS-disciplined and
the folder name (``032436``) equals the raw stamp, not local time (23:24:36 the day before in Toronto),
so the zone offset is kept in ``extra`` and not applied. A logger whose clock is off by a known amount is
corrected with ``clock_offset_s`` (subtracted).

On the bench recording (a 20 Hz sine on every channel) the bursts agree with each other to a small
fraction of a 24 kHz sample, and the 150 Hz stream lags them by 14.8 ms (106.5 deg at 20 Hz; 2.2 samples
at 150 Hz), the same at every burst: the delay of the logger's decimation filter, which its receiver
calibration would describe. It is not corrected here.

Bursts (2 s every ``decimation.version_1.period`` = 30 s) become one :class:`StationRun` each; their
scheduled gaps are not defects. A burst missing from the schedule, a truncated file or segment, an
implausible time stamp, and the logger's per-burst saturation count (``"saturated"`` over the burst: the
logger does not say which samples) are reported as defects.
"""

from __future__ import annotations

import inspect
import itertools
import json
import math
import re
import struct
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from obspy import UTCDateTime

from amt.calibration.instrument import CascadeResponse, FrequencyTableResponse, PoleZeroResponse, Response
from amt.io.metadata import time_to_str
from amt.io.quality import assemble_runs
from amt.record import ChannelMeta, Defect, RecordError, Station, StationRun

HEADER_BYTES = 128
SUBHEADER_BYTES = 32
TAG_TO_CHANNEL = {"E1": "ex", "E2": "ey", "H1": "hx", "H2": "hy", "H3": "hz"}
_NOMINAL_AZIMUTH = {"ex": 0.0, "ey": 90.0, "hx": 0.0, "hy": 90.0, "hz": 0.0}
_EXT_RATE = {"td_24k": 24000.0, "td_150": 150.0, "td_30": 30.0, "td_2400": 2400.0, "td_96k": 96000.0}
_NAME = re.compile(r"^(?P<inst>[^_]+)_(?P<rec>[0-9A-Fa-f]{8})_(?P<idx>\d+)_(?P<seq>[0-9A-Fa-f]{8})\.(?P<ext>td_\w+)$")
#: Stamps more than this far from the recording id are treated as corrupt.
_MAX_STAMP_DRIFT_S = 40 * 86400


@dataclass
class FileHeader:
    """The fields of the 128-byte header that the reader uses."""

    recording_id: int
    channel_id: int
    file_sequence: int
    frag_period_s: int
    board: str
    sample_rate_hz: float
    latitude_deg: float
    longitude_deg: float
    elevation_m: float
    saturated_frames: int
    missing_frames: int


def parse_header(raw: bytes, where: str) -> FileHeader:
    """Unpack a 128-byte file header; :class:`RecordError` if it is short or inconsistent."""
    if len(raw) < HEADER_BYTES:
        raise RecordError(f"{where}: file is {len(raw)} bytes, shorter than the {HEADER_BYTES}-byte header")
    hlen = struct.unpack_from("<H", raw, 2)[0]
    if hlen != HEADER_BYTES:
        raise RecordError(f"{where}: header length field says {hlen}, expected {HEADER_BYTES}; not an MTU-5C file")
    base, exp = struct.unpack_from("<Hb", raw, 59)
    rate = float(base) * 10.0**exp
    if not (math.isfinite(rate) and rate > 0):
        raise RecordError(f"{where}: header sample rate {base} * 10^{exp} is not positive")
    sat = struct.unpack_from("<H", raw, 101)[0]
    if sat & 0x80:  # PhoenixGeoPy: high bit set -> count in units of 16
        sat = (sat & 0x7F) << 4
    lon, lat, elev = struct.unpack_from("<fff", raw, 71)
    return FileHeader(
        recording_id=struct.unpack_from("<I", raw, 20)[0],
        channel_id=raw[24],
        file_sequence=struct.unpack_from("<I", raw, 25)[0],
        frag_period_s=struct.unpack_from("<H", raw, 29)[0],
        board=raw[31:39].decode("ascii", "replace").strip(" \x00"),
        sample_rate_hz=rate,
        latitude_deg=float(lat),
        longitude_deg=float(lon),
        elevation_m=float(elev),
        saturated_frames=int(sat),
        missing_frames=struct.unpack_from("<H", raw, 103)[0],
    )


# -- JSON metadata -----------------------------------------------------------------------------------------
def _load_json(path: Path) -> dict[str, Any]:
    try:
        obj = json.loads(path.read_text(encoding="utf-8", errors="replace"))
    except (OSError, ValueError) as exc:
        raise RecordError(f"{path}: not readable JSON ({exc})") from exc
    if not isinstance(obj, dict):
        raise RecordError(f"{path}: expected a JSON object")
    return obj


def find_recording_folder(path: Path) -> Path:
    """The folder holding ``recmeta.json`` for a recording folder, channel folder or ``.td_*`` file."""
    path = Path(path)
    for cand in (path, path.parent, path.parent.parent):
        if cand.is_dir() and (cand / "recmeta.json").is_file():
            return cand
    if path.is_file():
        return path.parent.parent
    if path.is_dir() and any(p.is_dir() and p.name.isdigit() for p in path.iterdir()):
        return path
    return path.parent if path.is_dir() else path.parent.parent


def _channel_table(recmeta: dict[str, Any], where: str) -> tuple[dict[int, str], dict[str, dict[str, Any]]]:
    """``index -> tag`` and ``tag -> chconfig entry`` from recmeta.json."""
    try:
        mapping = {int(m["idx"]): str(m["tag"]).upper() for m in recmeta["channel_map"]["mapping"]}
        chans = {str(c["tag"]).upper(): c for c in recmeta["chconfig"]["chans"]}
    except (KeyError, TypeError, ValueError) as exc:
        raise RecordError(f"{where}: recmeta.json lacks channel_map/chconfig ({exc})") from exc
    return mapping, chans


def _dipole(tag: str, config: dict[str, Any] | None, chconf: dict[str, Any]) -> tuple[float | None, float, str]:
    """Dipole length (m), azimuth (deg) and how they were found, for an E channel."""
    comp = TAG_TO_CHANNEL[tag]
    if config:
        blocks = config.get("config") if isinstance(config.get("config"), list) else []
        for block in (b for b in blocks if isinstance(b, dict)):
            chans = block.get("chanconfig") if isinstance(block.get("chanconfig"), list) else []
            for ch in (c for c in chans if isinstance(c, dict)):
                if str(ch.get("tag", "")).upper() == tag and isinstance(ch.get("dipole"), dict):
                    d = ch["dipole"]
                    try:
                        dn = float(d["PosNorth"]) - float(d["NegNorth"])
                        de = float(d["PosEast"]) - float(d["NegEast"])
                    except (KeyError, TypeError, ValueError):
                        continue
                    length = math.hypot(dn, de)
                    if length > 0:
                        az = math.degrees(math.atan2(de, dn)) % 360.0
                        return length, az, f"electrode positions in config.json ({d.get('coord_system', '?')} frame)"
    try:
        length = float(chconf.get("length1", 0)) + float(chconf.get("length2", 0))
    except (TypeError, ValueError):
        length = 0.0
    if length > 0:
        return length, _NOMINAL_AZIMUTH[comp], "length1 + length2 in recmeta.json; nominal azimuth"
    return None, _NOMINAL_AZIMUTH[comp], "dipole length unknown"


# -- calibration files -------------------------------------------------------------------------------------
def load_phoenix_calibration(path: str | Path) -> dict[str, Any]:
    """Read a Phoenix JSON calibration (receiver ``rxcal`` or sensor ``scal``).

    Returns ``{"kind": "receiver"|"sensor", "serial": str, "sensor_serial": str,
    "tables": {TAG: [FrequencyTableResponse, ...]}}``; receiver tables are V/V (one per low-pass setting),
    sensor tables mV/nT as Phoenix writes them (converted to V/nT by the reader).
    """
    path = Path(path)
    obj = _load_json(path)
    kind = "sensor" if "sensor" in str(obj.get("file_type", "")).lower() else "receiver"
    tables: dict[str, list[FrequencyTableResponse]] = defaultdict(list)
    try:
        for entry in obj["cal_data"]:
            tag = str(entry.get("tag", "")).upper()
            for t in entry["chan_data"]:
                f = np.asarray(t["freq_Hz"], dtype=float)
                order = np.argsort(f)
                tables[tag].append(
                    FrequencyTableResponse(
                        freq_hz=tuple(f[order]),
                        amplitude=tuple(np.asarray(t["magnitude"], dtype=float)[order]),
                        phase_deg=tuple(np.asarray(t["phs_deg"], dtype=float)[order]),
                        name=f"phoenix {kind} {tag} {path.name}",
                    )
                )
    except Exception as exc:
        raise RecordError(f"{path}: malformed Phoenix calibration ({type(exc).__name__}: {exc})") from exc
    return {
        "kind": kind,
        "serial": str(obj.get("inst_serial", "")),
        "sensor_serial": str(obj.get("sensor_serial", "")),
        "tables": dict(tables),
        "path": str(path),
    }


def _receiver_table(cal: dict[str, Any], tag: str, lowpass_hz: float | None) -> FrequencyTableResponse | None:
    """The receiver table of ``tag`` for the configured low-pass (Phoenix names tables by the power of ten
    of their highest frequency, e.g. 10000 for the 10 kHz low-pass)."""
    tables = cal["tables"].get(tag, [])
    if not tables:
        return None
    if lowpass_hz:
        for t in tables:
            if int(10 ** math.floor(math.log10(max(t.freq_hz)))) == int(lowpass_hz):
                return t
    return max(tables, key=lambda t: max(t.freq_hz)) if len(tables) == 1 or not lowpass_hz else None


def _discover_calibrations(folder: Path) -> list[Path]:
    out = []
    for d in (folder, folder.parent):
        if d.is_dir():
            out.extend(sorted(p for p in d.glob("*.json") if re.search(r"(rx|s)cal", p.name, re.I)))
    return out


# -- samples -----------------------------------------------------------------------------------------------
def _read_segmented(raw: bytes, where: str) -> tuple[list[tuple[int, np.ndarray, int]], list[str]]:
    """``[(gps_stamp, samples, saturation_count)]`` of a ``.td_24k`` file and notes on damage."""
    segs: list[tuple[int, np.ndarray, int]] = []
    notes: list[str] = []
    off = HEADER_BYTES
    while off < len(raw):
        if off + SUBHEADER_BYTES > len(raw):
            notes.append(f"{where}: {len(raw) - off} trailing bytes, shorter than a segment header")
            break
        stamp, n, sat, _miss = struct.unpack_from("<IIHH", raw, off)
        off += SUBHEADER_BYTES
        avail = (len(raw) - off) // 4
        if n > avail:
            notes.append(
                f"{where}: segment at byte {off - SUBHEADER_BYTES} promises {n:,} samples, file holds {avail:,}"
            )
            n = avail
        x = np.frombuffer(raw, dtype="<f4", count=n, offset=off).astype(np.float64)
        off += 4 * n
        segs.append((stamp, x, sat))
    return segs, notes


def read_phoenix(path: str | Path, **kw: Any) -> Station:
    """Read an MTU-5C recording (folder, channel folder or one ``.td_*`` file); see :func:`_read_phoenix`
    for the options. Metadata of the wrong type anywhere in the JSON files is a :class:`RecordError`."""
    try:
        inspect.signature(_read_phoenix).bind(path, **kw)
    except TypeError as exc:
        raise RecordError(f"{path}: Phoenix reader: {exc}") from exc
    try:
        return _read_phoenix(path, **kw)
    except RecordError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError, IndexError, OverflowError, struct.error) as exc:
        raise RecordError(f"{path}: malformed Phoenix recording ({type(exc).__name__}: {exc})") from exc


def _read_phoenix(
    path: str | Path,
    *,
    rates: tuple[float, ...] | None = None,
    leap_seconds: int | None = None,
    clock_offset_s: float = 0.0,
    channel_map: dict[int, str] | None = None,
    calibrations: list[str | Path] | None = None,
    logger_saturation: str = "defect",
    max_fill_s: float = 1.0,
) -> Station:
    """Read an MTU-5C recording (folder, channel folder or one ``.td_*`` file).

    Parameters
    ----------
    path
        Recording folder, or anything inside it (a single file reads only that file's stream).
    rates
        Sample rates to read (default: all ``.td_*`` streams found).
    leap_seconds
        GPS - UTC in s; default from ``recmeta.json`` (required there if not given).
    clock_offset_s
        Known offset of the logger clock from GPS time, subtracted from every stamp (0 for a GPS-locked
        MTU-5C).
    channel_map
        ``index -> tag`` (e.g. ``{0: "H2", 1: "E1"}``); default from ``recmeta.json``.
    calibrations
        Phoenix calibration JSON files; default: ``*rxcal*.json`` / ``*scal*.json`` beside the recording.
    logger_saturation
        ``"defect"``: a burst whose sub-header counts saturated samples gets a ``"saturated"`` defect over
        the burst; ``"ignore"``: the counts are only kept in ``ChannelMeta.extra``.
    max_fill_s
        Longest gap NaN-filled inside a continuous run.
    """
    path = Path(path)
    if not path.exists():
        raise RecordError(f"{path}: no such file or folder")
    if logger_saturation not in ("defect", "ignore"):
        raise RecordError(f"logger_saturation must be 'defect' or 'ignore', not {logger_saturation!r}")
    folder = find_recording_folder(path)
    where = str(folder)
    recmeta_path = folder / "recmeta.json"
    recmeta: dict[str, Any] = {}
    if recmeta_path.is_file():
        recmeta = _load_json(recmeta_path)
    elif channel_map is None or leap_seconds is None:
        raise RecordError(
            f"{where}: recmeta.json is missing, so the channel map and the GPS leap seconds are unknown; "
            "pass channel_map={index: tag} and leap_seconds=N to read the files anyway"
        )
    config = _load_json(folder / "config.json") if (folder / "config.json").is_file() else None

    if channel_map is None:
        mapping, chconf = _channel_table(recmeta, where)
    else:
        mapping = {int(k): str(v).upper() for k, v in channel_map.items()}
        chconf = _channel_table(recmeta, where)[1] if recmeta else {}
    timing = recmeta.get("timing", {}) if isinstance(recmeta.get("timing"), dict) else {}
    if leap_seconds is None:
        try:
            leap_seconds = int(timing["tm_leapSecAtRecStart"])
        except (KeyError, TypeError, ValueError) as exc:
            raise RecordError(f"{recmeta_path}: timing.tm_leapSecAtRecStart missing; pass leap_seconds=") from exc
    leap = float(leap_seconds)

    # files to read
    if path.is_file():
        files = [path]
    else:
        chan_dirs = [folder / d for d in sorted(map(str, mapping))] if path == folder else [path]
        files = sorted(f for d in chan_dirs if d.is_dir() for f in d.iterdir() if f.suffix.startswith(".td_"))
    if not files:
        raise RecordError(f"{path}: no .td_* files found")

    cal_paths = [Path(p) for p in calibrations] if calibrations is not None else _discover_calibrations(folder)
    cals = [load_phoenix_calibration(p) for p in cal_paths]

    station_id = str(recmeta.get("instid") or files[0].name.split("_")[0])
    pieces: dict[float, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    extra_defects: dict[float, list[Defect]] = defaultdict(list)
    sat_by_channel: dict[str, list] = defaultdict(list)
    notes: dict[str, list[str]] = defaultdict(list)
    headers: dict[str, FileHeader] = {}
    recording_id = None

    def utc(stamp: float) -> UTCDateTime:
        return UTCDateTime(stamp - leap - clock_offset_s)

    for f in files:
        m = _NAME.match(f.name)
        try:
            raw = f.read_bytes()
        except OSError as exc:
            raise RecordError(f"{f}: unreadable ({exc})") from exc
        hdr = parse_header(raw, str(f))
        ext = f.suffix[1:]
        if ext in _EXT_RATE and abs(hdr.sample_rate_hz - _EXT_RATE[ext]) > 1e-6:
            raise RecordError(f"{f}: header says {hdr.sample_rate_hz:g} Hz, the .{ext} name {_EXT_RATE[ext]:g} Hz")
        if m and int(m["idx"]) != hdr.channel_id:
            raise RecordError(f"{f}: header channel id {hdr.channel_id} differs from the name's {m['idx']}")
        tag = mapping.get(hdr.channel_id)
        if tag is None or tag not in TAG_TO_CHANNEL:
            raise RecordError(f"{f}: channel index {hdr.channel_id} is not in the channel map {mapping}")
        comp = TAG_TO_CHANNEL[tag]
        if recording_id is None:
            recording_id = hdr.recording_id
        elif hdr.recording_id != recording_id:
            raise RecordError(
                f"{f}: recording id {hdr.recording_id:08X} differs from {recording_id:08X}; "
                "files of two recordings are mixed"
            )
        rate = hdr.sample_rate_hz
        if rates is not None and not any(abs(rate - r) < 1e-6 * r for r in rates):
            continue
        headers[comp] = hdr
        if ext == "td_24k" or (ext not in _EXT_RATE and hdr.frag_period_s == 0):
            segs, bad = _read_segmented(raw, str(f))
            notes[comp].extend(bad)
            for stamp, x, sat in segs:
                if abs(stamp - hdr.recording_id) > _MAX_STAMP_DRIFT_S:
                    notes[comp].append(
                        f"{f}: segment stamp {stamp} is {stamp - hdr.recording_id:+d} s from the "
                        "recording start; segment skipped"
                    )
                    continue
                t = utc(stamp)
                if len(x):
                    pieces[rate][comp].append((t, x))
                sat_by_channel[comp].append((time_to_str(t), int(sat), len(x)))
                if sat and logger_saturation == "defect" and len(x):
                    extra_defects[rate].append(
                        Defect(
                            comp,
                            "saturated",
                            t,
                            t + len(x) / rate,
                            f"logger counted {sat:,} saturated samples in this "
                            f"{len(x) / rate:g} s burst; positions not recorded",
                        )
                    )
        else:
            n = (len(raw) - HEADER_BYTES) // 4
            if (len(raw) - HEADER_BYTES) % 4:
                notes[comp].append(f"{f}: {(len(raw) - HEADER_BYTES) % 4} trailing bytes ignored")
            seq = hdr.file_sequence
            offset = 1 if seq == 1 else hdr.frag_period_s * (seq - 1)
            t = utc(hdr.recording_id + offset)
            x = np.frombuffer(raw, dtype="<f4", count=n, offset=HEADER_BYTES).astype(np.float64)
            if n:
                pieces[rate][comp].append((t, x))

    if not pieces:
        raise RecordError(f"{path}: no samples at the requested rates {rates}")

    lowpass = {}
    for tag, conf in chconf.items():
        try:
            lowpass[tag] = float(conf.get("lp")) if conf.get("lp") is not None else None
        except (TypeError, ValueError):
            lowpass[tag] = None
    tag_of = {TAG_TO_CHANNEL[t]: t for t in mapping.values() if t in TAG_TO_CHANNEL}

    def meta_for(comp: str) -> ChannelMeta:
        tag = tag_of[comp]
        conf = chconf.get(tag, {})
        extra: dict[str, Any] = {
            "phoenix_tag": tag,
            "units_note": "volts at the receiver input; response maps physical units to these volts",
            "lowpass_hz": lowpass.get(tag),
            "board_serial": conf.get("ser"),
            "logger_saturated_frames_recmeta": conf.get("frameSat"),
            "logger_saturated_frames_header": headers[comp].saturated_frames if comp in headers else None,
            "logger_burst_saturation": sat_by_channel.get(comp, []),
            "leap_seconds": leap_seconds,
            "clock_offset_s": clock_offset_s,
            "timezone_offset_s_not_applied": (config or {}).get("timezone_offset"),
            "notes": notes.get(comp, []),
        }
        rx = next(
            (
                t
                for c in cals
                if c["kind"] == "receiver"
                for t in [_receiver_table(c, tag, lowpass.get(tag))]
                if t is not None
            ),
            None,
        )
        stages: list[Response] = []
        if comp.startswith("e"):
            length, az, how = _dipole(tag, config, conf)
            extra["dipole_from"] = how
            if length:
                stages.append(
                    PoleZeroResponse(
                        zeros=(), poles=(), gain=length * 1e-6, name=f"{tag} dipole {length:g} m: V per mV/km"
                    )
                )
            if rx is not None:
                stages.append(rx)
            response = CascadeResponse(tuple(stages), name=f"{tag} dipole and receiver") if length else None
            return ChannelMeta(
                component=comp,
                units="V",
                azimuth_deg=az,
                tilt_deg=0.0,
                dipole_length_m=length,
                sensor=f"electrodes, pot {conf.get('pot_p')}/{conf.get('pot_n')} ohm",
                response=response,
                extra=extra,
            )
        serial = str(conf.get("serial", "")) if conf.get("serial") not in (None, 0, "0") else ""
        coil = next(
            (c["tables"] for c in cals if c["kind"] == "sensor" and serial and c["sensor_serial"] == serial), None
        )
        coil_table = None
        if coil:
            coil_table = next(iter(coil.values()))[0]
        response = None
        if coil_table is not None:
            stages = [coil_table, PoleZeroResponse(zeros=(), poles=(), gain=1e-3, name="mV to V")]
            if rx is not None:
                stages.append(rx)
            response = CascadeResponse(tuple(stages), name=f"{tag} coil {serial} and receiver")
        else:
            extra["calibration_note"] = (
                f"no sensor calibration for {conf.get('type_name', 'coil')} serial "
                f"{serial or 'unknown'}: samples stay in V"
            )
        return ChannelMeta(
            component=comp,
            units="V",
            azimuth_deg=_NOMINAL_AZIMUTH[comp],
            tilt_deg=90.0 if comp == "hz" else 0.0,
            sensor=f"{conf.get('type_name', 'coil')} serial {serial or 'unknown'}",
            response=response,
            extra=extra,
        )

    runs: list[StationRun] = []
    for rate in sorted(pieces, reverse=True):
        label = f"{rate / 1000:g}k" if rate >= 1000 else f"{rate:g}"
        new = assemble_runs(
            pieces[rate],
            rate,
            station_id,
            meta_for,
            max_fill_s=max_fill_s,
            run_ids=lambda k, lab=label: f"sr{lab}_{k + 1:03d}",
            source=where,
            report_run_gaps=False,
        )
        for run in new:
            t_end = run.start + run.n_samples / rate
            run.defects.extend(d for d in extra_defects[rate] if d.start < t_end and d.end > run.start)
        _check_schedule(new, recmeta, rate)
        runs.extend(new)

    runs.sort(key=lambda r: (r.start.ns, -r.sample_rate_hz))  # Station.runs are in time order
    hdr0 = next(iter(headers.values()))
    lat = float(timing.get("gps_lat", hdr0.latitude_deg))
    lon = float(timing.get("gps_lon", hdr0.longitude_deg))
    alt = float(timing.get("gps_alt", hdr0.elevation_m))
    return Station(
        station=station_id,
        runs=runs,
        latitude_deg=lat,
        longitude_deg=lon,
        elevation_m=alt,
        declination_deg=0.0,
        source=where,
    )


def _check_schedule(runs: list[StationRun], recmeta: dict[str, Any], rate: float) -> None:
    """Report bursts missing from the logger's schedule (period from ``decimation.version_1.period``)."""
    if len(runs) < 2 or rate < 1000:
        return
    try:
        period = float(recmeta["decimation"]["version_1"]["period"])
    except (KeyError, TypeError, ValueError):
        return
    if period <= 0:
        return
    for prev, run in itertools.pairwise(runs):
        dt = run.start - prev.start
        missed = round(dt / period) - 1
        if missed > 0 or abs(dt - round(dt / period) * period) > 1.0 / rate:
            run.defects.append(
                Defect(
                    "all",
                    "gap",
                    prev.start + prev.n_samples / rate,
                    run.start,
                    f"{dt:.6g} s between bursts, schedule says {period:g} s"
                    + (f" ({missed} burst(s) missing)" if missed > 0 else ""),
                )
            )
