"""What ``amt process --mode compensated|both`` runs: events from a file or a detector, then compensation."""

from __future__ import annotations

from pathlib import Path

import click

from amt.deadband.compensate import compensate
from amt.deadband.events import SfericEvents, detect_events, read_events_csv
from amt.mt.transfer_function import TransferFunction
from amt.record import Station


def compensate_record(
    station: Station,
    remote: Station | None,
    conventional: TransferFunction,
    detections: Path | None = None,
    dead_band_hz: tuple[float, float] | None = None,
) -> TransferFunction:
    """The compensated transfer function of ``station`` given its conventional one.

    Parameters
    ----------
    station, remote
        The record and the optional remote reference.
    conventional
        :func:`amt.transfer.process_station` of the same record and remote (default settings).
    detections
        Events CSV (``amt detect``); default: the shipped CNN, else STA/LTA (:func:`amt.deadband.detect_events`).
    dead_band_hz
        Dead-band edges in Hz; default: found from the data.

    Raises
    ------
    amt.deadband.DeadBandError
        If the events file is unreadable or no run has the detector's rate.
    """

    def events() -> SfericEvents:
        return read_events_csv(detections) if detections is not None else detect_events(station, "auto")

    result = compensate(station, events, remote, dead_band_hz, conventional=conventional)
    tf = result.compensated
    d = tf.diagnostics
    if result.dead_band_hz is None or result.events is None:
        click.echo("no dead band found in the record: the compensated estimate is the conventional one", err=True)
        return tf
    ev = result.events
    inside = d["dead_band"]
    flagged = int(sum(bool(tf.flags[i]) for i in range(tf.n_frequencies) if inside[i]))
    click.echo(
        "dead band {:.0f}-{:.0f} Hz: ".format(*result.dead_band_hz)
        + f"{int(inside.sum())} frequencies from {len(ev)} sferic events ({ev.source}), {flagged} flagged",
        err=True,
    )
    return tf
