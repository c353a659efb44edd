"""Sferic events for dead-band compensation: from the shipped CNN, an events CSV, STA/LTA or true labels.

Every source gives the same table (:class:`SfericEvents`): UTC POSIX start, end and peak times (s), the detection
probability (1 for true labels, a scaled STA/LTA ratio for the baseline) and the azimuth of the horizontal H
vector at the peak (degrees clockwise from north in [0, 180): a polarisation axis, not a direction). The CSV is the
one ``amt detect`` writes: ``start,end,peak_time,probability,amplitude,azimuth`` with ISO 8601 UTC times.

The detector reads H only, never E (Jiang et al., 2023, Geophysics 88(3), doi:10.1190/geo2022-0254.1): windows
chosen on E would bias the impedance estimated from them.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from obspy import UTCDateTime

from amt.record import RecordError, Station

CSV_COLUMNS = ("start", "end", "peak_time", "probability", "amplitude", "azimuth")


class DeadBandError(RecordError):
    """Dead-band compensation cannot run (bad events file, no detector, nothing detected); names the cause."""


@dataclass(frozen=True)
class SfericEvents:
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
    """

    start_s: np.ndarray
    end_s: np.ndarray
    peak_s: np.ndarray
    probability: np.ndarray
    azimuth_deg: np.ndarray
    source: str = ""

    def __post_init__(self) -> None:
        n = len(self.start_s)
        for name in ("end_s", "peak_s", "probability", "azimuth_deg"):
            if len(getattr(self, name)) != n:
                raise DeadBandError(f"events ({self.source}): {name} has {len(getattr(self, name))} entries, not {n}")
        if n and (np.any(~np.isfinite(self.probability)) or np.any((self.probability < 0) | (self.probability > 1))):
            raise DeadBandError(f"events ({self.source}): probabilities must lie in [0, 1]")
        if n and np.any(self.end_s < self.start_s):
            raise DeadBandError(f"events ({self.source}): an event ends before it starts")

    def __len__(self) -> int:
        return len(self.start_s)

    @classmethod
    def concatenate(cls, parts: Sequence[SfericEvents], source: str) -> SfericEvents:
        """All events of ``parts`` in one table."""
        cat = {k: np.concatenate([getattr(p, k) for p in parts]) if parts else np.zeros(0) for k in _ARRAYS}
        return cls(**cat, source=source)


_ARRAYS = ("start_s", "end_s", "peak_s", "probability", "azimuth_deg")


def read_events_csv(path: str | Path) -> SfericEvents:
    """Read an events CSV written by ``amt detect``.

    Raises
    ------
    DeadBandError
        If the file is missing, lacks a column, or holds a time or number that does not parse (names the row).
    """
    p = Path(path)
    if not p.is_file():
        raise DeadBandError(f"{p}: no such events file")
    rows: dict[str, list[float]] = {k: [] for k in _ARRAYS}
    with open(p, newline="") as fh:
        reader = csv.DictReader(fh)
        missing = [
            c for c in ("start", "end", "peak_time", "probability", "azimuth") if c not in (reader.fieldnames or [])
        ]
        if missing:
            raise DeadBandError(f"{p}: missing column(s) {missing}; expected {','.join(CSV_COLUMNS)}")
        for line, row in enumerate(reader, start=2):
            try:
                rows["start_s"].append(UTCDateTime(row["start"]).timestamp)
                rows["end_s"].append(UTCDateTime(row["end"]).timestamp)
                rows["peak_s"].append(UTCDateTime(row["peak_time"]).timestamp)
                rows["probability"].append(float(row["probability"]))
                rows["azimuth_deg"].append(float(row["azimuth"]) % 180.0)
            except (TypeError, ValueError) as exc:
                raise DeadBandError(f"{p}, line {line}: cannot parse an event ({exc})") from exc
    try:
        return SfericEvents(**{k: np.asarray(v, dtype=float) for k, v in rows.items()}, source=str(p))
    except DeadBandError as exc:
        raise DeadBandError(f"{p}: {exc}") from exc


def events_from_labels(labels: Sequence, include_dont_care: bool = False) -> SfericEvents:
    """True sferic labels (:class:`amt.synth.SfericLabel`) as events of probability 1.

    The azimuth is the label's H polarisation azimuth; labels flagged ``dont_care`` (below the don't-care SNR)
    are left out unless ``include_dont_care``.
    """
    use = [lab for lab in labels if include_dont_care or not lab.dont_care]
    return SfericEvents(
        start_s=np.array([UTCDateTime(lab.start).timestamp for lab in use]),
        end_s=np.array([UTCDateTime(lab.end).timestamp for lab in use]),
        peak_s=np.array([UTCDateTime(lab.peak_time).timestamp for lab in use]),
        probability=np.ones(len(use)),
        azimuth_deg=np.array([lab.polarization_deg % 180.0 for lab in use]),
        source="labels",
    )


def _stalta_events(station: Station, rate_hz: float) -> SfericEvents:
    from amt.sferic.preprocess import highpass
    from amt.sferic.stalta import StaLta

    picker = StaLta()
    parts = []
    for run in station.runs_at(rate_hz):
        for a, b in run.good_segments(min_samples=round(2 * picker.lta_s * rate_hz), channels=("hx", "hy")):
            hp = highpass(np.vstack([run.data["hx"][a:b], run.data["hy"][a:b]]), rate_hz)
            cft = picker.cft(hp, rate_hz)
            cft[: round(picker.lta_s * rate_hz)] = 0.0
            ev = picker.events(hp, rate_hz)
            if not len(ev):
                continue
            peaks = np.array([ea + int(np.argmax(np.hypot(hp[0, ea:eb], hp[1, ea:eb]))) for ea, eb in ev])
            ratio = np.array([cft[ea:eb].max() for ea, eb in ev])
            az = (np.rad2deg(np.arctan2(hp[1, peaks], hp[0, peaks])) + run.meta["hx"].azimuth_deg) % 180.0
            t0 = run.start.timestamp + a / rate_hz
            parts.append(
                SfericEvents(
                    start_s=t0 + ev[:, 0] / rate_hz,
                    end_s=t0 + ev[:, 1] / rate_hz,
                    peak_s=t0 + peaks / rate_hz,
                    # a trigger at the on-threshold counts as probability 1/2, twice it as 2/3, ...
                    probability=1.0 - picker.on / (picker.on + ratio),
                    azimuth_deg=az,
                    source="stalta",
                )
            )
    return SfericEvents.concatenate(parts, "stalta")


def detect_events(station: Station, method: str = "auto", model: str | Path | None = None) -> SfericEvents:
    """Detect sferics in every run of ``station`` at the detector's rate.

    Parameters
    ----------
    station
        The record.
    method
        ``"cnn"`` (the shipped sferic CNN, :class:`amt.sferic.inference.SfericDetector`), ``"stalta"`` (obspy's
        recursive STA/LTA, :mod:`amt.sferic.stalta`) or ``"auto"`` (the CNN if its weights load, else STA/LTA).
    model
        CNN checkpoint (default: the shipped weights).

    Raises
    ------
    DeadBandError
        If ``method`` is unknown, the CNN is asked for and cannot load, or no run has the detector's rate.
    """
    if method not in ("auto", "cnn", "stalta"):
        raise DeadBandError(f"unknown detection method {method!r} (auto, cnn or stalta)")
    detector = None
    if method in ("auto", "cnn"):
        try:
            from amt.sferic.inference import SfericDetector

            detector = SfericDetector.from_checkpoint(model)
        except Exception as exc:  # missing weights, a torch or checkpoint error: all mean "no CNN"
            if method == "cnn":
                raise DeadBandError(f"the sferic CNN cannot be loaded ({exc})") from exc
    rate = detector.rate_hz if detector is not None else max(station.sample_rates_hz, default=0.0)
    runs = station.runs_at(rate) if rate > 0 else []
    if not runs:
        raise DeadBandError(f"{station.source or station.station}: no run at the detector's rate {rate:g} Hz")
    if detector is None:
        return _stalta_events(station, rate)
    parts = []
    for run in runs:
        det = detector.detect_run(run)
        ev = det.events
        parts.append(
            SfericEvents(
                start_s=np.array([e.start.timestamp for e in ev]),
                end_s=np.array([e.end.timestamp for e in ev]),
                peak_s=np.array([e.peak_time.timestamp for e in ev]),
                probability=np.array([e.probability for e in ev]),
                azimuth_deg=np.array([e.azimuth % 180.0 for e in ev]),
                source="cnn",
            )
        )
    return SfericEvents.concatenate(parts, "cnn")
