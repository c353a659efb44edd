"""The one time-series type of the AMT package: a station run and a station.

Conventions (see README, "Conventions"):

* E in mV/km and H in nT once calibrated; ``units="counts"`` where no calibration exists.
* Frame: x = geographic north, y = east, z = down. ``azimuth_deg`` is measured clockwise from geographic
  north of the sensor's positive axis; the station's magnetic declination is kept in ``Station.declination_deg``.
* Times are UTC (``obspy.UTCDateTime``) to one sample.
* Missing samples inside a run are NaN; every other problem (clipping, saturation, overlaps) is a
  :class:`Defect` with a time span. Downstream code asks :meth:`StationRun.good_segments` for
  sample ranges in which every channel is finite and free of defects, so no window ever spans a gap.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from obspy import Stream, Trace, UTCDateTime

from amt.errors import AmtError

if TYPE_CHECKING:  # a run only holds a response; importing calibration at run time would be a cycle
    from amt.calibration.instrument import Response

#: Channel names in canonical order.
CHANNELS: tuple[str, ...] = ("ex", "ey", "hx", "hy", "hz")
ELECTRIC: tuple[str, ...] = ("ex", "ey")
MAGNETIC: tuple[str, ...] = ("hx", "hy", "hz")
#: Azimuth of each channel's positive axis in the nominal layout (x north, y east), degrees from north.
NOMINAL_AZIMUTH_DEG: dict[str, float] = {"ex": 0.0, "ey": 90.0, "hx": 0.0, "hy": 90.0, "hz": 0.0}


class RecordError(AmtError):
    """A record is unusable or inconsistent; the message names the record and the problem."""


@dataclass
class ChannelMeta:
    """Metadata of one channel.

    Parameters
    ----------
    component
        One of ``ex, ey, hx, hy, hz``.
    units
        ``"mV/km"`` (E), ``"nT"`` (H) or ``"counts"`` (uncalibrated).
    azimuth_deg
        Direction of the positive axis, degrees clockwise from geographic north.
    tilt_deg
        Tilt from horizontal, degrees (``hz`` is 90, positive down).
    dipole_length_m
        Electrode separation in m (E channels only).
    sensor
        Sensor model and serial, free text.
    response
        Sensor + receiver response (output units per physical unit), or ``None`` if calibrated or unknown.
    extra
        Format-specific fields worth keeping (JSON-serialisable).
    """

    component: str
    units: str
    azimuth_deg: float = 0.0
    tilt_deg: float = 0.0
    dipole_length_m: float | None = None
    sensor: str | None = None
    response: Response | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def nominal(cls, component: str, units: str, **kw: Any) -> ChannelMeta:
        """Metadata of a channel laid out nominally: azimuth from :data:`NOMINAL_AZIMUTH_DEG`, ``hz`` tilted 90 deg
        (down), others level; keywords override these or set the other fields."""
        kw.setdefault("azimuth_deg", NOMINAL_AZIMUTH_DEG[component])
        kw.setdefault("tilt_deg", 90.0 if component == "hz" else 0.0)
        return cls(component=component, units=units, **kw)


@dataclass(frozen=True)
class Defect:
    """A problem found in a channel, with its time span (UTC, inclusive start, exclusive end)."""

    channel: str
    kind: str  # "gap", "nan", "clipped", "saturated", "overlap", "length_mismatch", "rate_mismatch"
    start: UTCDateTime
    end: UTCDateTime
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.channel}: {self.kind} from {self.start} to {self.end}" + (
            f" ({self.detail})" if self.detail else ""
        )


@dataclass
class StationRun:
    """A contiguous block of samples at one rate: channels Ex, Ey, Hx, Hy (Hz optional).

    Parameters
    ----------
    station, run
        Identifiers.
    sample_rate_hz
        Sampling rate in Hz.
    start
        UTC time of the first sample.
    data
        Channel name -> float64 array, all the same length; NaN marks missing samples.
    meta
        Channel name -> :class:`ChannelMeta`.
    defects
        Problems found by the reader (per channel, with times).
    source
        File or folder the run was read from (for messages).
    """

    station: str
    run: str
    sample_rate_hz: float
    start: UTCDateTime
    data: dict[str, np.ndarray]
    meta: dict[str, ChannelMeta]
    defects: list[Defect] = field(default_factory=list)
    source: str = ""

    def __post_init__(self) -> None:
        where = self.source or f"station {self.station} run {self.run}"
        if not (np.isfinite(self.sample_rate_hz) and self.sample_rate_hz > 0):
            raise RecordError(f"{where}: sample rate must be positive, got {self.sample_rate_hz!r}")
        unknown = set(self.data) - set(CHANNELS)
        if unknown:
            raise RecordError(f"{where}: unknown channel(s) {sorted(unknown)}; expected a subset of {CHANNELS}")
        lengths = {name: len(x) for name, x in self.data.items()}
        if len(set(lengths.values())) > 1:
            raise RecordError(f"{where}: channels have different lengths {lengths}")
        self.data = {name: np.asarray(x, dtype=np.float64) for name, x in self.data.items()}
        missing_meta = set(self.data) - set(self.meta)
        if missing_meta:
            raise RecordError(f"{where}: no metadata for channel(s) {sorted(missing_meta)}")
        self.start = UTCDateTime(self.start)

    # -- shape and time ------------------------------------------------------------------------------------
    @property
    def channels(self) -> tuple[str, ...]:
        """Channel names present, in canonical order."""
        return tuple(c for c in CHANNELS if c in self.data)

    @property
    def n_samples(self) -> int:
        return len(next(iter(self.data.values()))) if self.data else 0

    @property
    def dt_s(self) -> float:
        return 1.0 / self.sample_rate_hz

    @property
    def end(self) -> UTCDateTime:
        """UTC time of the last sample."""
        return self.start + (self.n_samples - 1) * self.dt_s

    @property
    def duration_s(self) -> float:
        return self.n_samples * self.dt_s

    def index_of(self, t: UTCDateTime) -> int:
        """Sample index nearest to UTC time ``t`` (may fall outside the run)."""
        return round((UTCDateTime(t) - self.start) * self.sample_rate_hz)

    def time_of(self, index: int | np.ndarray) -> UTCDateTime | list[UTCDateTime]:
        """UTC time of sample ``index``."""
        if np.ndim(index) == 0:
            return self.start + float(index) * self.dt_s
        return [self.start + float(i) * self.dt_s for i in np.asarray(index)]

    def array(self, channels: Sequence[str] | None = None) -> np.ndarray:
        """Channels stacked as ``(n_channels, n_samples)`` float64 (canonical order by default)."""
        names = tuple(channels) if channels is not None else self.channels
        missing = [c for c in names if c not in self.data]
        if missing:
            raise RecordError(f"{self.source or self.station}: missing channel(s) {missing}")
        return np.vstack([self.data[c] for c in names])

    # -- quality -------------------------------------------------------------------------------------------
    def valid_mask(self, channels: Iterable[str] | None = None) -> np.ndarray:
        """Boolean mask of samples where every requested channel is finite and no defect applies."""
        names = tuple(channels) if channels is not None else self.channels
        mask = np.ones(self.n_samples, dtype=bool)
        for name in names:
            mask &= np.isfinite(self.data[name])
        for d in self.defects:
            if d.channel in names or d.channel == "all":
                i0 = max(self.index_of(d.start), 0)
                i1 = min(self.index_of(d.end), self.n_samples)
                if i1 > i0:
                    mask[i0:i1] = False
        return mask

    def good_segments(self, min_samples: int = 1, channels: Iterable[str] | None = None) -> list[tuple[int, int]]:
        """Half-open sample ranges ``[i0, i1)`` of at least ``min_samples`` valid samples."""
        mask = self.valid_mask(channels)
        if not mask.any():
            return []
        edges = np.flatnonzero(np.diff(np.concatenate(([0], mask.view(np.int8), [0]))))
        pairs = edges.reshape(-1, 2)
        return [(int(a), int(b)) for a, b in pairs if b - a >= min_samples]

    def report(self) -> str:
        """Human-readable list of defects (one per line), or 'no defects'."""
        return "\n".join(str(d) for d in self.defects) if self.defects else "no defects"

    # -- obspy ---------------------------------------------------------------------------------------------
    def to_stream(self, network: str = "MT") -> Stream:
        """Convert to an obspy Stream; channel codes are ``EX`` ... ``HZ``, units in ``trace.stats.units``."""
        traces = []
        for name in self.channels:
            m = self.meta[name]
            tr = Trace(
                data=self.data[name].copy(),
                header={
                    "network": network,
                    "station": self.station[:5] if len(self.station) > 5 else self.station,
                    "location": "",
                    "channel": name.upper(),
                    "sampling_rate": self.sample_rate_hz,
                    "starttime": self.start,
                },
            )
            tr.stats.units = m.units
            tr.stats.azimuth_deg = m.azimuth_deg
            tr.stats.amt_station = self.station
            tr.stats.amt_run = self.run
            traces.append(tr)
        return Stream(traces)

    @classmethod
    def from_stream(
        cls,
        stream: Stream,
        station: str | None = None,
        run: str = "001",
        meta: dict[str, ChannelMeta] | None = None,
        source: str = "",
    ) -> StationRun:
        """Build a run from an obspy Stream whose channel codes end in EX, EY, HX, HY, HZ (any case).

        Traces must share one sampling rate and start time (to within half a sample); use
        :func:`amt.io.read` for streams with gaps, which are merged with NaN fill and reported.
        """
        where = source or "stream"
        if len(stream) == 0:
            raise RecordError(f"{where}: stream holds no traces")
        rates = {tr.stats.sampling_rate for tr in stream}
        if len(rates) != 1:
            raise RecordError(f"{where}: traces have different sampling rates {sorted(rates)} Hz")
        rate = rates.pop()
        start = min(tr.stats.starttime for tr in stream)
        data: dict[str, np.ndarray] = {}
        metas: dict[str, ChannelMeta] = {}
        for tr in stream:
            name = tr.stats.channel[-2:].lower()
            if name not in CHANNELS:
                raise RecordError(f"{where}: trace {tr.id} is not one of EX, EY, HX, HY, HZ")
            if name in data:
                raise RecordError(f"{where}: channel {name} appears twice; merge the stream first")
            if abs(tr.stats.starttime - start) > 0.5 / rate:
                raise RecordError(
                    f"{where}: {tr.id} starts at {tr.stats.starttime}, not {start}; traces must be aligned"
                )
            data[name] = np.asarray(tr.data, dtype=np.float64)
            units = getattr(tr.stats, "units", "mV/km" if name in ELECTRIC else "nT")
            metas[name] = (meta or {}).get(name) or ChannelMeta.nominal(
                name, units, azimuth_deg=float(getattr(tr.stats, "azimuth_deg", NOMINAL_AZIMUTH_DEG[name]))
            )
        st = station or getattr(stream[0].stats, "amt_station", None) or stream[0].stats.station or "STA"
        return cls(
            station=str(st),
            run=run,
            sample_rate_hz=float(rate),
            start=start,
            data=data,
            meta=metas,
            source=source,
        )


@dataclass
class Station:
    """All runs of one station (e.g. 24 kHz bursts beside a continuous 150 Hz run).

    Parameters
    ----------
    station
        Station id.
    runs
        Runs in time order; several may share a sample rate (bursts).
    latitude_deg, longitude_deg, elevation_m
        Location, WGS84 (NaN where unknown).
    declination_deg
        Magnetic declination, degrees east of geographic north.
    source
        File or folder the station was read from.
    """

    station: str
    runs: list[StationRun] = field(default_factory=list)
    latitude_deg: float = float("nan")
    longitude_deg: float = float("nan")
    elevation_m: float = float("nan")
    declination_deg: float = 0.0
    source: str = ""

    @property
    def sample_rates_hz(self) -> list[float]:
        """Distinct sample rates, highest first."""
        return sorted({r.sample_rate_hz for r in self.runs}, reverse=True)

    def runs_at(self, sample_rate_hz: float) -> list[StationRun]:
        """Runs at one sample rate, in time order."""
        return sorted(
            (r for r in self.runs if abs(r.sample_rate_hz - sample_rate_hz) < 1e-9 * sample_rate_hz),
            key=lambda r: r.start,
        )

    @property
    def defects(self) -> list[Defect]:
        return [d for r in self.runs for d in r.defects]
