"""The sferic events catalogue: one event, the events table, the events CSV and how an event's peak is measured.

Every detector and every consumer of detections speaks this module's types:

* :class:`SfericEvent`: one detected sferic (UTC times, probability, amplitude, azimuth), as the CNN
  (:class:`amt.sferic.inference.SfericDetector`) reports it;
* :class:`SfericEventTable`: many events as arrays (UTC POSIX seconds), what dead-band compensation reads
  (:mod:`amt.deadband`), whatever the source: the CNN, an events CSV, STA/LTA or true labels.

The events CSV (``amt detect`` writes it, ``amt process --detections`` reads it) has the columns of
:data:`CSV_COLUMNS`: ``start,end,peak_time`` in ISO 8601 UTC, ``probability`` in [0, 1], ``amplitude`` (the
record's H unit, nT once calibrated) and ``azimuth`` (degrees clockwise from north in [0, 180)).

An event's peak is the sample of largest horizontal magnitude ``|H_h| = sqrt(hx^2 + hy^2)`` of the high-passed
field inside it, its amplitude that magnitude, and its azimuth the direction of the horizontal H vector there
(:func:`event_peaks`): a polarisation axis, not a direction, since the sign of the field is the stroke's polarity.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from obspy import UTCDateTime

from amt.record import RecordError
from shared.atomic import write_bytes_atomic

#: Columns of the events CSV, in order.
CSV_COLUMNS = ("start", "end", "peak_time", "probability", "amplitude", "azimuth")
#: Columns a reader needs (the amplitude is informative only).
REQUIRED_COLUMNS = ("start", "end", "peak_time", "probability", "azimuth")
#: Time format of the CSV: ISO 8601 UTC with microseconds.
ISO_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


class SfericEventsError(RecordError):
    """An events table or events CSV is unusable (missing file or column, unparsable row, inconsistent arrays)."""


@dataclass(frozen=True)
class SfericEvent:
    """One detected sferic.

    Attributes
    ----------
    start, end, peak_time
        UTC times of its first sample, the sample after its last, and its peak.
    probability
        Detection probability in [0, 1].
    amplitude
        ``|H_h|`` of the high-passed field at the peak, in the record's H unit (nT once calibrated).
    azimuth
        Polarisation azimuth of horizontal H at the peak, degrees clockwise from north, in [0, 180).
    """

    start: UTCDateTime
    end: UTCDateTime
    peak_time: UTCDateTime
    probability: float
    amplitude: float
    azimuth: float


@dataclass(frozen=True)
class SfericEventTable:
    """Detected sferics as arrays (one entry per event, any order).

    Attributes
    ----------
    start_s, end_s, peak_s
        UTC POSIX times in s.
    probability
        Detection probability in [0, 1].
    azimuth_deg
        Polarisation azimuth of horizontal H at the peak, degrees clockwise from north, in [0, 180).
    source
        Where the events came from (``"cnn"``, a file name, ``"stalta"``, ``"labels"``).

    Raises
    ------
    SfericEventsError
        If the arrays differ in length, a probability lies outside [0, 1] or an event ends before it starts.
    """

    start_s: np.ndarray
    end_s: np.ndarray
    peak_s: np.ndarray
    probability: np.ndarray
    azimuth_deg: np.ndarray
    source: str = ""

    def __post_init__(self) -> None:
        n = len(self.start_s)
        for name in _ARRAYS[1:]:
            if len(getattr(self, name)) != n:
                raise SfericEventsError(
                    f"events ({self.source}): {name} has {len(getattr(self, name))} entries, not {n}"
                )
        if n and (np.any(~np.isfinite(self.probability)) or np.any((self.probability < 0) | (self.probability > 1))):
            raise SfericEventsError(f"events ({self.source}): probabilities must lie in [0, 1]")
        if n and np.any(self.end_s < self.start_s):
            raise SfericEventsError(f"events ({self.source}): an event ends before it starts")

    def __len__(self) -> int:
        return len(self.start_s)

    @classmethod
    def concatenate(cls, parts: Sequence[SfericEventTable], source: str) -> SfericEventTable:
        """All events of ``parts`` in one table."""
        cat = {k: np.concatenate([getattr(p, k) for p in parts]) if parts else np.zeros(0) for k in _ARRAYS}
        return cls(**cat, source=source)

    @classmethod
    def from_events(cls, events: Sequence[SfericEvent], source: str) -> SfericEventTable:
        """The table of a list of :class:`SfericEvent` (azimuths folded into [0, 180))."""
        return cls(
            start_s=np.array([e.start.timestamp for e in events]),
            end_s=np.array([e.end.timestamp for e in events]),
            peak_s=np.array([e.peak_time.timestamp for e in events]),
            probability=np.array([e.probability for e in events]),
            azimuth_deg=np.array([e.azimuth % 180.0 for e in events]),
            source=source,
        )


_ARRAYS = ("start_s", "end_s", "peak_s", "probability", "azimuth_deg")


def event_peaks(hp: np.ndarray, ranges: np.ndarray, azimuth0_deg: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Peak sample, amplitude and polarisation azimuth of each event of a high-passed segment.

    Parameters
    ----------
    hp
        ``(>= 2, n)`` high-passed channels, rows 0 and 1 the two horizontal magnetic components (hx, hy).
    ranges
        ``(k, 2)`` event sample ranges ``[start, end)`` in ``hp``, each non-empty.
    azimuth0_deg
        Azimuth of row 0 (hx), degrees clockwise from north; row 1 lies 90 degrees clockwise of it.

    Returns
    -------
    peak, amplitude, azimuth_deg
        ``(k,)`` each: the sample of largest ``|H_h| = sqrt(hx^2 + hy^2)`` in the event, ``|H_h|`` there (the
        unit of ``hp``) and the direction of the horizontal H vector there, degrees clockwise from north, folded
        into [0, 180).
    """
    r = np.asarray(ranges, dtype=np.intp).reshape(-1, 2)
    peak = np.array([a + int(np.argmax(np.hypot(hp[0, a:b], hp[1, a:b]))) for a, b in r], dtype=np.intp)
    amplitude = np.hypot(hp[0, peak], hp[1, peak])
    azimuth = (np.rad2deg(np.arctan2(hp[1, peak], hp[0, peak])) + azimuth0_deg) % 180.0
    return peak, amplitude, azimuth


def write_events_csv(path: str | Path, events: SfericEventTable | Iterable[SfericEvent]) -> Path:
    """Write the events CSV (:data:`CSV_COLUMNS`, one row per event, in the order given) atomically.

    ``events`` is a list of :class:`SfericEvent` or a :class:`SfericEventTable` (no amplitudes: written as
    ``nan``). The rows are formatted column by column (a detection of 10 minutes holds some 25,000 events): times
    as ``UTCDateTime.strftime(ISO_FORMAT)`` writes them (the nanoseconds rounded to microseconds, half to even),
    numbers as ``format`` does.

    Returns the path (:func:`shared.atomic.write_bytes_atomic`).

    Raises
    ------
    SfericEventsError
        If a table holds a time that is not finite (nothing is written).
    """
    if isinstance(events, SfericEventTable):
        seconds = [getattr(events, k) for k in ("start_s", "end_s", "peak_s")]
        if not all(np.all(np.isfinite(t)) for t in seconds):
            raise SfericEventsError(f"{path}: events ({events.source}) with a time that is not finite")
        times = [np.round(t * 1e9).astype(np.int64) for t in seconds]
        numbers = (events.probability, np.full(len(events), np.nan), events.azimuth_deg)
    else:
        ev = list(events)
        times = [np.array([getattr(e, k).ns for e in ev], dtype=np.int64) for k in ("start", "end", "peak_time")]
        keys = ("probability", "amplitude", "azimuth")
        numbers = tuple(np.array([getattr(e, k) for e in ev], dtype=float) for k in keys)
    columns = [_iso_times(ns) for ns in times]
    columns += [np.char.mod(f, v) for f, v in zip(("%.4f", "%.6g", "%.2f"), numbers, strict=True)]
    lines = [",".join(CSV_COLUMNS), *(",".join(row) for row in zip(*columns, strict=True))]
    return write_bytes_atomic(Path(path), ("\n".join(lines) + "\n").encode())


def _iso_times(ns: np.ndarray) -> np.ndarray:
    """:data:`ISO_FORMAT` strings of UTC times in integer nanoseconds, rounded to microseconds half to even (as
    :meth:`obspy.UTCDateTime.strftime`)."""
    us, rem = np.divmod(ns, 1000)
    us += (rem > 500) | ((rem == 500) & (us % 2 == 1))
    return np.char.add(np.datetime_as_string(us.astype("datetime64[us]"), unit="us"), "Z")


def read_events_csv(path: str | Path) -> SfericEventTable:
    """Read an events CSV (``amt detect``) into a table named after the file.

    Raises
    ------
    SfericEventsError
        If the file is missing, lacks a column, or holds a time or number that does not parse (names the row).
    """
    p = Path(path)
    if not p.is_file():
        raise SfericEventsError(f"{p}: no such events file")
    rows: dict[str, list[float]] = {k: [] for k in _ARRAYS}
    with open(p, newline="") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise SfericEventsError(f"{p}: missing column(s) {missing}; expected {','.join(CSV_COLUMNS)}")
        for line, row in enumerate(reader, start=2):
            try:
                rows["start_s"].append(UTCDateTime(row["start"]).timestamp)
                rows["end_s"].append(UTCDateTime(row["end"]).timestamp)
                rows["peak_s"].append(UTCDateTime(row["peak_time"]).timestamp)
                rows["probability"].append(float(row["probability"]))
                rows["azimuth_deg"].append(float(row["azimuth"]) % 180.0)
            except (TypeError, ValueError) as exc:
                raise SfericEventsError(f"{p}, line {line}: cannot parse an event ({exc})") from exc
    try:
        return SfericEventTable(**{k: np.asarray(v, dtype=float) for k, v in rows.items()}, source=str(p))
    except SfericEventsError as exc:
        raise SfericEventsError(f"{p}: {exc}") from exc
