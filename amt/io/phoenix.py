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
in the recording calibrates the coil). :func:`amt.calibration.calibrate` removes the responses.

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
implausible time stamp, and the logger's per-burst saturation count are reported. The logger does not say
which samples it counted; a burst whose samples do show clipping (a run of at least three equal samples at the
channel's extreme values, :func:`amt.io.quality.clip_defects`) gets a ``"saturated"`` defect over the burst, and
one whose samples show none keeps its samples and the count becomes a warning (``ChannelMeta.extra["warnings"]``,
printed by ``amt info``): the bench recording counts saturated samples in every burst of a clean sine.
"""

from __future__ import annotations

import itertools
import json
import math
import re
import struct
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from obspy import UTCDateTime

from amt.calibration import CalibrationError, CascadeResponse, FrequencyTableResponse, PoleZeroResponse, Response
from amt.io.metadata import json_item, json_list, json_number, json_numbers, json_object, time_to_str
from amt.io.quality import assemble_by_rate, clip_defects
from amt.record import NOMINAL_AZIMUTH_DEG, ChannelMeta, Defect, RecordError, Station, StationRun

HEADER_BYTES = 128
SUBHEADER_BYTES = 32
TAG_TO_CHANNEL = {"E1": "ex", "E2": "ey", "H1": "hx", "H2": "hy", "H3": "hz"}
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
    here = f"{where}: recmeta.json"
    cmap = json_object(json_item(recmeta, "channel_map", here), "channel_map", here)
    mapping = {}
    for m in json_list(json_item(cmap, "mapping", here), "channel_map.mapping", here):
        m = json_object(m, "channel_map entry", here)
        mapping[json_number(json_item(m, "idx", here), "channel index", here, int)] = str(
            json_item(m, "tag", here)
        ).upper()
    chconfig = json_object(json_item(recmeta, "chconfig", here), "chconfig", here)
    chans = {}
    for c in json_list(json_item(chconfig, "chans", here), "chconfig.chans", here):
        c = json_object(c, "chconfig entry", here)
        chans[str(json_item(c, "tag", here)).upper()] = c
    return mapping, chans


def _as_float(value: Any) -> float | None:
    """``value`` as a float if it is a JSON number or numeric text, else ``None`` (for optional metadata)."""
    if not isinstance(value, (int, float, str)):
        return None
    try:
        return float(value)
    except ValueError:
        return None


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
                    pn, nn, pe, ne = (_as_float(d.get(k)) for k in ("PosNorth", "NegNorth", "PosEast", "NegEast"))
                    if None in (pn, nn, pe, ne):
                        continue
                    dn, de = pn - nn, pe - ne
                    length = math.hypot(dn, de)
                    if length > 0:
                        az = math.degrees(math.atan2(de, dn)) % 360.0
                        return length, az, f"electrode positions in config.json ({d.get('coord_system', '?')} frame)"
    l1, l2 = _as_float(chconf.get("length1", 0)), _as_float(chconf.get("length2", 0))
    length = l1 + l2 if l1 is not None and l2 is not None else 0.0
    if length > 0:
        return length, NOMINAL_AZIMUTH_DEG[comp], "length1 + length2 in recmeta.json; nominal azimuth"
    return None, NOMINAL_AZIMUTH_DEG[comp], "dipole length unknown"


# -- calibration files -------------------------------------------------------------------------------------
def load_phoenix_calibration(path: str | Path) -> dict[str, Any]:
    """Read a Phoenix JSON calibration (receiver ``rxcal`` or sensor ``scal``).

    Returns ``{"kind": "receiver"|"sensor", "serial": str, "sensor_serial": str,
    "tables": {TAG: [FrequencyTableResponse, ...]}}``; receiver tables are V/V (one per low-pass setting),
    sensor tables mV/nT as Phoenix writes them (converted to V/nT by the reader).
    """
    path = Path(path)
    obj = _load_json(path)
    where = f"{path}: malformed Phoenix calibration"
    kind = "sensor" if "sensor" in str(obj.get("file_type", "")).lower() else "receiver"
    tables: dict[str, list[FrequencyTableResponse]] = defaultdict(list)
    for entry in json_list(json_item(obj, "cal_data", where), "cal_data", where):
        entry = json_object(entry, "cal_data entry", where)
        tag = str(entry.get("tag", "")).upper()
        for t in json_list(json_item(entry, "chan_data", where), "chan_data", where):
            t = json_object(t, "chan_data entry", where)
            f, a, p = (
                np.array(json_numbers(json_item(t, k, where), k, where)) for k in ("freq_Hz", "magnitude", "phs_deg")
            )
            if not len(f) == len(a) == len(p):
                raise RecordError(
                    f"{where}: {tag} table has {len(f)} frequencies, {len(a)} magnitudes, {len(p)} phases"
                )
            order = np.argsort(f)
            try:
                table = FrequencyTableResponse(
                    tuple(f[order]), tuple(a[order]), tuple(p[order]), name=f"phoenix {kind} {tag} {path.name}"
                )
            except CalibrationError as exc:
                raise RecordError(f"{where}: {exc}") from exc
            tables[tag].append(table)
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


@dataclass
class _Recording:
    """What the JSON files and the options say about a recording."""

    folder: Path
    recmeta: dict[str, Any]
    config: dict[str, Any] | None
    mapping: dict[int, str]
    chconf: dict[str, dict[str, Any]]
    timing: dict[str, Any]
    leap_seconds: int
    clock_offset_s: float
    cals: list[dict[str, Any]] = field(default_factory=list)

    def utc(self, stamp: float) -> UTCDateTime:
        """UTC of a GPS stamp of this logger."""
        return UTCDateTime(stamp - self.leap_seconds - self.clock_offset_s)

    def tag_of(self, comp: str) -> str:
        """The Phoenix tag of one of our channels."""
        return {TAG_TO_CHANNEL[t]: t for t in self.mapping.values() if t in TAG_TO_CHANNEL}[comp]


@dataclass
class _Samples:
    """Samples and findings gathered file by file: pieces per rate and channel, burst saturation defects per
    rate, burst saturation counts, notes on damage and the header of each channel."""

    pieces: dict[float, dict[str, list]] = field(default_factory=lambda: defaultdict(lambda: defaultdict(list)))
    burst_defects: dict[float, list[Defect]] = field(default_factory=lambda: defaultdict(list))
    burst_saturation: dict[str, list] = field(default_factory=lambda: defaultdict(list))
    unclipped_saturation: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    notes: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    headers: dict[str, FileHeader] = field(default_factory=dict)
    recording_id: int | None = None


def read_phoenix(
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
        ``"defect"``: a burst whose sub-header counts saturated samples and whose samples show clipping gets a
        ``"saturated"`` defect over the burst; where the samples show no clipping the count is a warning in
        ``ChannelMeta.extra["warnings"]``. ``"ignore"``: the counts are only kept in ``ChannelMeta.extra``.
    max_fill_s
        Longest gap NaN-filled inside a continuous run.

    Raises
    ------
    RecordError
        A missing, damaged or inconsistent recording, or metadata of the wrong type in its JSON files.
    """
    path = Path(path)
    if not path.exists():
        raise RecordError(f"{path}: no such file or folder")
    if logger_saturation not in ("defect", "ignore"):
        raise RecordError(f"logger_saturation must be 'defect' or 'ignore', not {logger_saturation!r}")
    folder = find_recording_folder(path)
    rec = _load_recording(folder, channel_map, leap_seconds, clock_offset_s)
    files = _recording_files(path, folder, rec.mapping)
    cal_paths = [Path(p) for p in calibrations] if calibrations is not None else _discover_calibrations(folder)
    rec.cals = [load_phoenix_calibration(p) for p in cal_paths]
    acc = _Samples()
    for f in files:
        _read_file(f, rec, rates, logger_saturation == "defect", acc)
    if not acc.pieces:
        raise RecordError(f"{path}: no samples at the requested rates {rates}")
    station_id = str(rec.recmeta.get("instid") or files[0].name.split("_")[0])
    runs = _assemble(acc, rec, station_id, max_fill_s)
    lat, lon, alt = _location(rec.timing, next(iter(acc.headers.values())), folder / "recmeta.json")
    return Station(
        station=station_id,
        runs=runs,
        latitude_deg=lat,
        longitude_deg=lon,
        elevation_m=alt,
        declination_deg=0.0,
        source=str(folder),
    )


def _load_recording(
    folder: Path, channel_map: dict[int, str] | None, leap_seconds: int | None, clock_offset_s: float
) -> _Recording:
    """Read ``recmeta.json`` and ``config.json``; the options override what they say."""
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
        if timing.get("tm_leapSecAtRecStart") is None:
            raise RecordError(f"{recmeta_path}: timing.tm_leapSecAtRecStart missing; pass leap_seconds=")
        leap_seconds = json_number(
            timing["tm_leapSecAtRecStart"], "timing.tm_leapSecAtRecStart", str(recmeta_path), int
        )
    return _Recording(folder, recmeta, config, mapping, chconf, timing, leap_seconds, clock_offset_s)


def _recording_files(path: Path, folder: Path, mapping: dict[int, str]) -> list[Path]:
    """The ``.td_*`` files to read: ``path`` itself, the files of a channel folder, or those of every mapped
    channel of a recording folder."""
    if path.is_file():
        files = [path]
    else:
        chan_dirs = [folder / d for d in sorted(map(str, mapping))] if path == folder else [path]
        files = sorted(f for d in chan_dirs if d.is_dir() for f in d.iterdir() if f.suffix.startswith(".td_"))
    if not files:
        raise RecordError(f"{path}: no .td_* files found")
    return files


def _read_file(
    f: Path, rec: _Recording, rates: tuple[float, ...] | None, saturation_defects: bool, acc: _Samples
) -> None:
    """Add the samples of one ``.td_*`` file (if at one of ``rates``) to ``acc``."""
    try:
        raw = f.read_bytes()
    except OSError as exc:
        raise RecordError(f"{f}: unreadable ({exc})") from exc
    hdr = parse_header(raw, str(f))
    comp = _file_channel(f, hdr, rec.mapping, acc)
    rate = hdr.sample_rate_hz
    if rates is not None and not any(abs(rate - r) < 1e-6 * r for r in rates):
        return
    acc.headers[comp] = hdr
    ext = f.suffix[1:]
    if ext == "td_24k" or (ext not in _EXT_RATE and hdr.frag_period_s == 0):
        _add_bursts(f, raw, hdr, comp, rec, saturation_defects, acc)
    else:
        _add_continuous(f, raw, hdr, comp, rec, acc)


def _file_channel(f: Path, hdr: FileHeader, mapping: dict[int, str], acc: _Samples) -> str:
    """Our channel name for a file; :class:`RecordError` if its header disagrees with its name, the channel map or
    the recording of the files read before."""
    m = _NAME.match(f.name)
    ext = f.suffix[1:]
    if ext in _EXT_RATE and abs(hdr.sample_rate_hz - _EXT_RATE[ext]) > 1e-6:
        raise RecordError(f"{f}: header says {hdr.sample_rate_hz:g} Hz, the .{ext} name {_EXT_RATE[ext]:g} Hz")
    if m and int(m["idx"]) != hdr.channel_id:
        raise RecordError(f"{f}: header channel id {hdr.channel_id} differs from the name's {m['idx']}")
    tag = mapping.get(hdr.channel_id)
    if tag is None or tag not in TAG_TO_CHANNEL:
        raise RecordError(f"{f}: channel index {hdr.channel_id} is not in the channel map {mapping}")
    if acc.recording_id is None:
        acc.recording_id = hdr.recording_id
    elif hdr.recording_id != acc.recording_id:
        raise RecordError(
            f"{f}: recording id {hdr.recording_id:08X} differs from {acc.recording_id:08X}; "
            "files of two recordings are mixed"
        )
    return TAG_TO_CHANNEL[tag]


def _add_bursts(
    f: Path, raw: bytes, hdr: FileHeader, comp: str, rec: _Recording, saturation_defects: bool, acc: _Samples
) -> None:
    """The bursts of a segmented (``.td_24k``) file, their saturation counts and defects."""
    rate = hdr.sample_rate_hz
    segs, bad = _read_segmented(raw, str(f))
    acc.notes[comp].extend(bad)
    for stamp, x, sat in segs:
        if abs(stamp - hdr.recording_id) > _MAX_STAMP_DRIFT_S:
            acc.notes[comp].append(
                f"{f}: segment stamp {stamp} is {stamp - hdr.recording_id:+d} s from the recording start; "
                "segment skipped"
            )
            continue
        t = rec.utc(stamp)
        if len(x):
            acc.pieces[rate][comp].append((t, x))
        acc.burst_saturation[comp].append((time_to_str(t), int(sat), len(x)))
        if not (sat and saturation_defects and len(x)):
            continue
        if not clip_defects(comp, x, t, rate):
            acc.unclipped_saturation[comp].append(int(sat))
        else:
            acc.burst_defects[rate].append(
                Defect(
                    comp,
                    "saturated",
                    t,
                    t + len(x) / rate,
                    f"logger counted {sat:,} saturated samples in this {len(x) / rate:g} s burst; "
                    "positions not recorded",
                )
            )


def _add_continuous(f: Path, raw: bytes, hdr: FileHeader, comp: str, rec: _Recording, acc: _Samples) -> None:
    """The samples of a continuous (``.td_150``, ``.td_30``) file, placed by its sequence number."""
    n, rest = divmod(len(raw) - HEADER_BYTES, 4)
    if rest:
        acc.notes[comp].append(f"{f}: {rest} trailing bytes ignored")
    seq = hdr.file_sequence
    offset = 1 if seq == 1 else hdr.frag_period_s * (seq - 1)
    if abs(offset) > _MAX_STAMP_DRIFT_S:
        acc.notes[comp].append(f"{f}: file {seq} would start {offset:+d} s from the recording start; file skipped")
        return
    with np.errstate(invalid="ignore"):  # corrupted bytes may hold signalling NaNs: reported as NaN defects later
        x = np.frombuffer(raw, dtype="<f4", count=n, offset=HEADER_BYTES).astype(np.float64)
    if n:
        acc.pieces[hdr.sample_rate_hz][comp].append((rec.utc(hdr.recording_id + offset), x))


def _saturation_warnings(comp: str, acc: _Samples) -> list[str]:
    """The warning on bursts whose saturation count the samples do not bear out (no clipping in them)."""
    counts = acc.unclipped_saturation.get(comp, [])
    if not counts:
        return []
    return [
        f"{comp}: the logger counted saturated samples in {len(counts)} burst(s) (up to {max(counts):,} per burst, "
        "positions not recorded), but their samples show no clipping (no run at the rails); the bursts are used"
    ]


def _channel_meta(comp: str, rec: _Recording, acc: _Samples) -> ChannelMeta:
    """Metadata and response of one channel (see the module docstring)."""
    tag = rec.tag_of(comp)
    conf = rec.chconf.get(tag, {})
    lowpass = _as_float(conf.get("lp"))
    extra: dict[str, Any] = {
        "phoenix_tag": tag,
        "units_note": "volts at the receiver input; response maps physical units to these volts",
        "lowpass_hz": lowpass,
        "board_serial": conf.get("ser"),
        "logger_saturated_frames_recmeta": conf.get("frameSat"),
        "logger_saturated_frames_header": acc.headers[comp].saturated_frames if comp in acc.headers else None,
        "logger_burst_saturation": acc.burst_saturation.get(comp, []),
        "leap_seconds": rec.leap_seconds,
        "clock_offset_s": rec.clock_offset_s,
        "timezone_offset_s_not_applied": (rec.config or {}).get("timezone_offset"),
        "notes": acc.notes.get(comp, []),
        "warnings": _saturation_warnings(comp, acc),
    }
    rx = next(
        (t for c in rec.cals if c["kind"] == "receiver" for t in [_receiver_table(c, tag, lowpass)] if t is not None),
        None,
    )
    if comp.startswith("e"):
        return _electric_meta(comp, tag, conf, rec.config, rx, extra)
    return _magnetic_meta(comp, tag, conf, rec.cals, rx, extra)


def _electric_meta(
    comp: str,
    tag: str,
    conf: dict[str, Any],
    config: dict[str, Any] | None,
    rx: FrequencyTableResponse | None,
    extra: dict[str, Any],
) -> ChannelMeta:
    """An E channel: dipole (V per mV/km) and receiver table, azimuth from the electrode positions."""
    length, az, how = _dipole(tag, config, conf)
    extra["dipole_from"] = how
    response = None
    if length:
        stages: list[Response] = [
            PoleZeroResponse(zeros=(), poles=(), gain=length * 1e-6, name=f"{tag} dipole {length:g} m: V per mV/km")
        ]
        if rx is not None:
            stages.append(rx)
        response = CascadeResponse(tuple(stages), name=f"{tag} dipole and receiver")
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


def _magnetic_meta(
    comp: str,
    tag: str,
    conf: dict[str, Any],
    cals: list[dict[str, Any]],
    rx: FrequencyTableResponse | None,
    extra: dict[str, Any],
) -> ChannelMeta:
    """An H channel: coil table of its sensor calibration (mV/nT to V) and receiver table, if a calibration of
    that coil was found; else no response."""
    serial = str(conf.get("serial", "")) if conf.get("serial") not in (None, 0, "0") else ""
    coil = next((c["tables"] for c in cals if c["kind"] == "sensor" and serial and c["sensor_serial"] == serial), None)
    response = None
    if coil:
        stages = [next(iter(coil.values()))[0], PoleZeroResponse(zeros=(), poles=(), gain=1e-3, name="mV to V")]
        if rx is not None:
            stages.append(rx)
        response = CascadeResponse(tuple(stages), name=f"{tag} coil {serial} and receiver")
    else:
        extra["calibration_note"] = (
            f"no sensor calibration for {conf.get('type_name', 'coil')} serial {serial or 'unknown'}: samples stay in V"
        )
    return ChannelMeta.nominal(
        comp,
        "V",
        sensor=f"{conf.get('type_name', 'coil')} serial {serial or 'unknown'}",
        response=response,
        extra=extra,
    )


def _rate_label(rate: float) -> str:
    """``24k``, ``150``: the rate in run ids."""
    return f"{rate / 1000:g}k" if rate >= 1000 else f"{rate:g}"


def _assemble(acc: _Samples, rec: _Recording, station_id: str, max_fill_s: float) -> list[StationRun]:
    """Runs of every rate in time order, with the burst saturation defects and the bursts missing from the
    schedule."""
    runs = assemble_by_rate(
        acc.pieces,
        station_id,
        lambda c: _channel_meta(c, rec, acc),
        run_id=lambda rate, k: f"sr{_rate_label(rate)}_{k + 1:03d}",
        max_fill_s=max_fill_s,
        source=str(rec.folder),
        report_run_gaps=False,
    )
    for run in runs:
        t_end = run.start + run.n_samples / run.sample_rate_hz
        run.defects.extend(d for d in acc.burst_defects[run.sample_rate_hz] if d.start < t_end and d.end > run.start)
    for rate in acc.pieces:
        _check_schedule([r for r in runs if r.sample_rate_hz == rate], rec.recmeta, rate)
    return runs


def _location(timing: dict[str, Any], hdr: FileHeader, recmeta_path: Path) -> tuple[float, float, float]:
    """Latitude, longitude (deg) and elevation (m): recmeta.json's GPS fix, else the file header's."""
    defaults = {"gps_lat": hdr.latitude_deg, "gps_lon": hdr.longitude_deg, "gps_alt": hdr.elevation_m}
    lat, lon, alt = (json_number(timing.get(k, v), f"timing.{k}", str(recmeta_path)) for k, v in defaults.items())
    return lat, lon, alt


def _check_schedule(runs: list[StationRun], recmeta: dict[str, Any], rate: float) -> None:
    """Report bursts missing from the logger's schedule (period from ``decimation.version_1.period``)."""
    if len(runs) < 2 or rate < 1000:
        return
    decimation = recmeta.get("decimation")
    version_1 = decimation.get("version_1") if isinstance(decimation, dict) else None
    period = _as_float(version_1.get("period")) if isinstance(version_1, dict) else None
    if period is None or period <= 0:
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
