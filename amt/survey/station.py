"""One station of a survey: its settings, the content hash that decides whether it must run, and the task itself.

:func:`run_station` is what each Dask task (or the sequential loop) runs: :func:`amt.pipeline.process.process_record`
and :func:`~amt.pipeline.process.write_outputs`, so a survey writes exactly the files ``amt process`` writes. BLAS
and torch run on one thread inside it, so a station gives the same bytes whichever process runs it.

:func:`station_key` is the SHA-256 of the record's bytes (a file, the files beside it that carry its name such as a
miniSEED sidecar ``<file>.json``, or every file of a folder record, by relative path), the settings and the
package version: a rerun skips a station whose key is unchanged and whose outputs are all still there.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from shared.atomic import remove_stale_parts

#: Bytes read at a time while hashing a record.
HASH_CHUNK = 1 << 20


@dataclass(frozen=True)
class SurveySettings:
    """Settings applied to every station of a survey (those of ``amt process``).

    Parameters
    ----------
    mode
        ``"conventional"``, ``"compensated"`` or ``"both"`` (:data:`amt.pipeline.MODES`).
    dead_band_hz
        Dead-band edges ``(low, high)`` in Hz, or None to find them in each record.
    """

    mode: str = "compensated"
    dead_band_hz: tuple[float, float] | None = None

    def to_json(self) -> dict:
        """The settings as a JSON-able dict (what the content hash covers)."""
        d = asdict(self)
        d["dead_band_hz"] = list(self.dead_band_hz) if self.dead_band_hz is not None else None
        return d


@dataclass(frozen=True)
class StationOutcome:
    """What one station's task produced.

    Attributes
    ----------
    record
        The record processed (as given).
    station
        Station name (the stem of its files).
    outputs
        Output kind (``"edi"``, ``"json"``, ...) -> file written.
    notes
        One-line reports of the estimate (the dead band, the events used).
    """

    record: str
    station: str
    outputs: dict[str, str]
    notes: tuple[str, ...] = ()


def _record_files(record: Path) -> list[Path]:
    """The files whose bytes make a record: a folder's files, or the file and the files named after it."""
    if record.is_dir():
        return sorted(p for p in record.rglob("*") if p.is_file())
    siblings = sorted(p for p in record.parent.glob(f"{record.name}.*") if p.is_file())
    return [record, *siblings]


def _package_version() -> str:
    try:
        return version("amt-dnnsec")
    except PackageNotFoundError:  # a source checkout that is not installed
        return "unknown"


def station_key(record: str | Path, settings: SurveySettings) -> str:
    """SHA-256 (hex) of a record's bytes, the survey settings and the package version.

    Raises
    ------
    amt.record.RecordError
        If the record does not exist.
    """
    from amt.record import RecordError

    path = Path(record)
    if not path.exists():
        raise RecordError(f"{path}: no such record")
    h = hashlib.sha256()
    h.update(json.dumps({"settings": settings.to_json(), "version": _package_version()}, sort_keys=True).encode())
    for f in _record_files(path):
        h.update(str(f.relative_to(path) if path.is_dir() else f.name).encode() + b"\0")
        with open(f, "rb") as fh:
            while chunk := fh.read(HASH_CHUNK):
                h.update(chunk)
    return h.hexdigest()


def run_station(record: str, out_dir: str, settings: SurveySettings) -> StationOutcome:
    """Process one record into ``out_dir`` as ``amt process`` would (BLAS and torch on one thread).

    Raises
    ------
    amt.errors.AmtError
        Whatever the chain raises on bad input (an unreadable record, invalid dead-band edges).
    """
    from threadpoolctl import threadpool_limits

    from amt.pipeline.process import process_record, write_outputs

    torch_threads = None
    if settings.mode != "conventional":
        import torch

        torch_threads = torch.get_num_threads()
        torch.set_num_threads(1)
    try:
        with threadpool_limits(limits=1):
            result = process_record(record, mode=settings.mode, dead_band_hz=settings.dead_band_hz)
            written = write_outputs(result, out_dir)
    finally:
        if torch_threads is not None:
            torch.set_num_threads(torch_threads)
    for path in written.values():  # a worker killed while writing this station (Dask then reran it) left these
        remove_stale_parts(path)
    return StationOutcome(str(record), result.station, {k: str(v) for k, v in written.items()}, tuple(result.notes))
