"""Calibrate records: remove each channel's instrument response to get E in mV/km and H in nT.

A reader leaves the samples as the logger wrote them (counts or volts) and puts what converts them to physical
units into :attr:`amt.record.ChannelMeta.response` (output units per mV/km for E, per nT for H). The functions here
divide that response out, over the good segments of each channel only, so no filter runs across a gap.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from amt.calibration.instrument import CalibrationError, remove_response
from amt.record import ELECTRIC, RecordError, Station, StationRun


def calibrate_run(run: StationRun, *, water_level: float = 1e-6, band_hz: Sequence[float] | None = None) -> StationRun:
    """A copy of ``run`` with every channel's response removed: E in mV/km, H in nT.

    Responses are removed segment by segment over :meth:`~amt.record.StationRun.good_segments` of that channel,
    so no filter ever runs across a gap; samples outside good segments become NaN. Channels without a response
    keep their samples and units (said in ``extra["calibration"]``).

    Parameters
    ----------
    run
        Run whose channels carry :attr:`~amt.record.ChannelMeta.response` (recorded units per mV/km or per nT).
    water_level
        ``|H|`` is floored at ``water_level * max|H|`` (see :func:`~amt.calibration.instrument.remove_response`).
    band_hz
        Optional ``(f_low, f_high)`` in Hz outside which the calibrated spectrum is set to zero.

    Returns
    -------
    StationRun
        New run: calibrated channels in mV/km (E) or nT (H) with ``response=None``; defects are copied.

    Raises
    ------
    RecordError
        If a response cannot be removed (the message names the run and channel).
    """
    data, meta = {}, {}
    for c in run.channels:
        m = run.meta[c]
        x = run.data[c]
        if m.response is None:
            data[c] = x.copy()
            meta[c] = dataclasses.replace(m, extra={**m.extra, "calibration": f"none; stays in {m.units}"})
            continue
        y = np.full_like(x, np.nan)
        for i0, i1 in run.good_segments(channels=[c]):
            try:
                y[i0:i1] = remove_response(
                    x[i0:i1], run.sample_rate_hz, m.response, water_level=water_level, band_hz=band_hz
                )
            except CalibrationError as exc:
                raise RecordError(f"{run.source or run.station} run {run.run} {c}: {exc}") from exc
        data[c] = y
        meta[c] = dataclasses.replace(
            m,
            units="mV/km" if c in ELECTRIC else "nT",
            response=None,
            extra={**m.extra, "calibration": f"response removed from {m.units}"},
        )
    return StationRun(
        station=run.station,
        run=run.run,
        sample_rate_hz=run.sample_rate_hz,
        start=run.start,
        data=data,
        meta=meta,
        defects=list(run.defects),
        source=run.source,
    )


def calibrate(station: Station, *, water_level: float = 1e-6, band_hz: Sequence[float] | None = None) -> Station:
    """:func:`calibrate_run` on every run of ``station``: E in mV/km, H in nT.

    Parameters
    ----------
    station
        Station whose channels carry responses.
    water_level, band_hz
        As for :func:`calibrate_run`.

    Returns
    -------
    Station
        New station with the calibrated runs and the same location, declination and source.
    """
    runs = [calibrate_run(r, water_level=water_level, band_hz=band_hz) for r in station.runs]
    return dataclasses.replace(station, runs=runs)
