"""What a report draws for one station, gathered from a fresh estimate or from the files ``amt process`` wrote.

:class:`StationResults` holds the main transfer function, its per-frequency summary (the JSON schema of
:func:`amt.pipeline.process.summary`: coherences, dead band, sferic counts, flags), the conventional estimate
beside it where there is one, the record read and the sferic events used. :func:`from_process` takes them from an
:class:`amt.pipeline.process.ProcessResult`; :func:`load_results` reads them back from an output folder
(``<station>.json`` + ``.edi``, ``<station>_conventional.edi``, ``<station>.events.csv``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from amt.errors import AmtError
from amt.mt import TransferFunction
from amt.sferic.catalogue import SfericEventTable


class ReportError(AmtError):
    """A results folder or file cannot be reported on; the message names it and the problem."""


@dataclass
class StationResults:
    """One station's estimates and what they were made from.

    Attributes
    ----------
    station
        Station id (the stem of its files).
    transfer_function
        The main estimate (compensated, or conventional in mode ``"conventional"``).
    rows
        Per-frequency records of ``transfer_function`` (:func:`amt.pipeline.process.summary`), in its order.
    conventional
        The conventional estimate when it differs from the main one (mode ``"both"``), else None.
    record
        The record file the estimates were made from, or None (no time-series page then).
    events
        The sferic events the compensated estimate used, or None.
    """

    station: str
    transfer_function: TransferFunction
    rows: list[dict]
    conventional: TransferFunction | None = None
    record: Path | None = None
    events: SfericEventTable | None = None

    def column(self, key: str) -> np.ndarray:
        """One summary field per frequency as floats (NaN where None or absent)."""
        return np.array([np.nan if r.get(key) is None else float(r[key]) for r in self.rows], dtype=float)

    @property
    def dead_band(self) -> np.ndarray:
        """Boolean mask of the dead-band frequencies (all False without a compensated estimate)."""
        return np.array([bool(r.get("dead_band", False)) for r in self.rows], dtype=bool)

    @property
    def flagged(self) -> np.ndarray:
        """Boolean mask of the frequencies flagged (not estimated)."""
        return np.array([bool(r.get("flag")) for r in self.rows], dtype=bool)


def from_process(result, rows: list[dict]) -> StationResults:
    """The results of an :class:`amt.pipeline.process.ProcessResult` (what ``amt process --report`` draws).

    ``rows`` is the per-frequency summary of its main estimate (:func:`amt.pipeline.process.summary`; passed in,
    as the pipeline composes the report and not the reverse).
    """
    tf = result.transfer_function
    source = result.record.source
    return StationResults(
        station=result.station,
        transfer_function=tf,
        rows=rows,
        conventional=result.conventional if result.mode == "both" else None,
        record=Path(source) if source else None,
        events=result.compensation.events if result.compensation is not None else None,
    )


def _read_json(path: Path) -> dict:
    try:
        doc = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ReportError(f"{path}: cannot read the results JSON ({exc})") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("frequencies"), list) or "station" not in doc:
        raise ReportError(f"{path}: not an amt process results file (wants 'station' and 'frequencies')")
    return doc


def load_station(json_path: str | Path) -> StationResults:
    """Read one station's results written by ``amt process`` from its ``<station>.json``.

    The transfer function comes from ``<station>.edi`` beside it; the conventional one from
    ``<station>_conventional.edi`` when present; events from ``<station>.events.csv`` when present; the record
    from the JSON's ``record`` entry when that file still exists.

    Raises
    ------
    ReportError
        If the JSON or its EDI is missing or unreadable, or the two disagree on the frequencies.
    """
    from amt.io.transfer_functions import read_transfer_function
    from amt.sferic.catalogue import read_events_csv

    path = Path(json_path)
    doc = _read_json(path)
    stem = path.stem
    edi = path.with_suffix(".edi")
    if not edi.is_file():
        raise ReportError(f"{path}: no transfer function {edi.name} beside it")
    tf = read_transfer_function(edi)
    rows = sorted(doc["frequencies"], key=lambda r: -float(r["frequency_hz"]))
    if len(rows) != tf.n_frequencies or not np.allclose(
        [r["frequency_hz"] for r in rows], tf.frequency_hz, rtol=1e-6
    ):
        raise ReportError(f"{path}: its frequencies differ from those of {edi.name}")
    conv_path = path.with_name(f"{stem}_conventional.edi")
    events_path = path.with_name(f"{stem}.events.csv")
    record = Path(doc["record"]) if doc.get("record") else None
    return StationResults(
        station=str(doc["station"]),
        transfer_function=tf,
        rows=rows,
        conventional=read_transfer_function(conv_path) if conv_path.is_file() else None,
        record=record if record is not None and record.exists() else None,
        events=read_events_csv(events_path) if events_path.is_file() else None,
    )


def load_results(directory: str | Path) -> list[StationResults]:
    """Every station's results in an ``amt process`` / ``amt survey`` output folder, by station name.

    Raises
    ------
    ReportError
        If the folder does not exist or holds no station results.
    """
    d = Path(directory)
    if not d.is_dir():
        raise ReportError(f"{d}: no such results folder")
    found = []
    for p in sorted(d.glob("*.json")):
        if p.name.endswith("_conventional.json"):
            continue
        try:
            doc = json.loads(p.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            continue  # other JSON files (a survey manifest, labels) are not station results
        if isinstance(doc, dict) and isinstance(doc.get("frequencies"), list) and doc.get("station") == p.stem:
            found.append(load_station(p))
    if not found:
        raise ReportError(f"{d}: no station results (<station>.json with <station>.edi, as amt process writes)")
    return found
