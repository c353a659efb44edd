"""Sferic events for dead-band compensation: from the shipped CNN, STA/LTA or true labels.

Every source gives the one events table, :class:`amt.sferic.catalogue.SfericEventTable` (an events CSV is read by
:func:`amt.sferic.catalogue.read_events_csv`): UTC POSIX start, end and peak times (s), the detection probability
(1 for true labels, a scaled STA/LTA ratio for the baseline) and the polarisation azimuth of the horizontal H
vector at the peak (degrees clockwise from north in [0, 180): an axis, not a direction;
:func:`amt.sferic.catalogue.event_peaks`).

The detector reads H only, never E (Jiang et al., 2023, Geophysics 88(3), doi:10.1190/geo2022-0254.1): windows
chosen on E would bias the impedance estimated from them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from obspy import UTCDateTime

from amt.record import RecordError, Station
from amt.sferic.catalogue import SfericEventTable, event_peaks
from amt.sferic.preprocess import highpass
from amt.synth.labels import SfericLabel

if TYPE_CHECKING:  # the CNN (torch) and STA/LTA load when detection runs, not with amt.pipeline (start-up)
    from amt.sferic.inference import SfericDetector


class DeadBandError(RecordError):
    """Dead-band compensation cannot run (no detector, no run at its rate, bad edges); names the cause."""


def events_from_labels(labels: Sequence[SfericLabel], include_dont_care: bool = False) -> SfericEventTable:
    """True sferic labels (:class:`amt.synth.labels.SfericLabel`) as events of probability 1.

    The azimuth is the label's H polarisation azimuth; labels flagged ``dont_care`` (below the don't-care SNR)
    are left out unless ``include_dont_care``.
    """
    use = [lab for lab in labels if include_dont_care or not lab.dont_care]
    return SfericEventTable(
        start_s=np.array([UTCDateTime(lab.start).timestamp for lab in use]),
        end_s=np.array([UTCDateTime(lab.end).timestamp for lab in use]),
        peak_s=np.array([UTCDateTime(lab.peak_time).timestamp for lab in use]),
        probability=np.ones(len(use)),
        azimuth_deg=np.array([lab.polarization_deg % 180.0 for lab in use]),
        source="labels",
    )


def _stalta_events(station: Station, rate_hz: float) -> SfericEventTable:
    """Events of obspy's recursive STA/LTA (:class:`amt.sferic.stalta.StaLta`) on every good segment at ``rate_hz``.

    A trigger at the on-threshold counts as probability 1/2, twice it as 2/3, ...: ``1 - on / (on + ratio)`` with
    ``ratio`` the largest STA/LTA ratio inside the event.
    """
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
            peaks, _, az = event_peaks(hp, ev, run.meta["hx"].azimuth_deg)
            ratio = np.array([cft[ea:eb].max() for ea, eb in ev])
            t0 = run.start.timestamp + a / rate_hz
            parts.append(
                SfericEventTable(
                    start_s=t0 + ev[:, 0] / rate_hz,
                    end_s=t0 + ev[:, 1] / rate_hz,
                    peak_s=t0 + peaks / rate_hz,
                    probability=1.0 - picker.on / (picker.on + ratio),
                    azimuth_deg=az,
                    source="stalta",
                )
            )
    return SfericEventTable.concatenate(parts, "stalta")


def detect_events(
    station: Station, method: str = "auto", model: str | Path | None = None, detector: SfericDetector | None = None
) -> SfericEventTable:
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
    detector
        A CNN detector already loaded (e.g. a protected model opened by :func:`amt.sferic.protected.load_detector`);
        used instead of ``model``.

    Raises
    ------
    DeadBandError
        If ``method`` is unknown, the CNN is asked for and cannot load, or no run has the detector's rate.
    """
    if method not in ("auto", "cnn", "stalta"):
        raise DeadBandError(f"unknown detection method {method!r} (auto, cnn or stalta)")
    if method == "stalta":
        detector = None
    elif detector is None:
        from amt.sferic.inference import SfericDetector

        try:
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
    parts = [SfericEventTable.from_events(detector.detect_run(run).events, "cnn") for run in runs]
    return SfericEventTable.concatenate(parts, "cnn")
