"""Run a survey: every station a task on a Dask cluster (a local cluster of processes by default), or in turn.

Each record is one task (:func:`amt.survey.station.run_station`) writing the files ``amt process`` writes into the
survey folder, which must therefore be reachable by every worker (a local cluster, or a shared file system). The
scheduler reschedules the tasks of a worker that dies; a station whose task raises is reported and submitted once
more, and if it fails again it is recorded as failed while the others go on. After each station the manifest
``DIR/survey.json`` (record -> content key, station, outputs or error) is rewritten atomically, so a survey cut
short keeps what it finished, and a rerun skips every station whose key (:func:`amt.survey.station.station_key`:
the record's bytes, the settings, the version) is unchanged and whose outputs are all present.

Dask: Rocklin, M. (2015), Dask: parallel computation with blocked algorithms and task scheduling, Proc. 14th
Python in Science Conf., 130-136.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from amt.errors import AmtError
from amt.survey.station import StationOutcome, SurveySettings, run_station, station_key
from shared.atomic import write_json_atomic

#: The manifest's name inside the survey folder.
MANIFEST = "survey.json"
#: How many times a failing station is run in all (the first try and one retry).
ATTEMPTS = 2


class SurveyError(AmtError):
    """A survey cannot start (bad records or folder), or stations failed; the message names them."""


@dataclass
class SurveyResult:
    """What a survey run did.

    Attributes
    ----------
    done
        Record -> outcome of every station processed in this run.
    skipped
        Records whose outputs were already up to date.
    failed
        Record -> error message of the stations that failed twice.
    retried
        Records that failed once and were submitted again.
    """

    done: dict[str, StationOutcome] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    retried: list[str] = field(default_factory=list)


def read_manifest(out_dir: str | Path) -> dict:
    """The survey manifest of ``out_dir`` (``{"stations": {}}`` when there is none or it is unreadable)."""
    path = Path(out_dir) / MANIFEST
    try:
        doc = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return {"stations": {}}
    return doc if isinstance(doc, dict) and isinstance(doc.get("stations"), dict) else {"stations": {}}


def _up_to_date(entry: dict | None, key: str) -> bool:
    if not entry or entry.get("key") != key or entry.get("status") != "done":
        return False
    return all(Path(p).is_file() for p in entry.get("outputs", {}).values())


def _check_records(records: Sequence[str | Path]) -> list[str]:
    paths = [str(Path(r).resolve()) for r in records]
    missing = [r for r, p in zip(records, paths, strict=True) if not Path(p).exists()]
    if missing:
        raise SurveyError(f"no such record(s): {', '.join(map(str, missing))}")
    dupes = sorted({p for p in paths if paths.count(p) > 1})
    if dupes:
        raise SurveyError(f"record(s) given twice: {', '.join(dupes)}")
    if not paths:
        raise SurveyError("no records given")
    return paths


class _Book:
    """The manifest and the result, updated as stations finish."""

    def __init__(self, out: Path, keys: dict[str, str], on_event: Callable[[str, str], None] | None) -> None:
        self.out, self.keys, self.on_event = out, keys, on_event or (lambda kind, record: None)
        self.manifest = read_manifest(out)
        self.result = SurveyResult()
        self.attempts: dict[str, int] = {}
        self.owner: dict[str, str] = {
            e["station"]: r for r, e in self.manifest["stations"].items() if e.get("status") == "done"
        }

    def _write(self, record: str, entry: dict) -> None:
        self.manifest["stations"][record] = {"key": self.keys[record], **entry}
        write_json_atomic(self.out / MANIFEST, self.manifest)

    def done(self, record: str, outcome: StationOutcome) -> None:
        other = self.owner.get(outcome.station)
        if other is not None and other != record:  # both records' results were written to the same files
            self.result.done.pop(other, None)
            first = self.manifest["stations"][other]
            message = f"station name {outcome.station} is also that of {record}; its files were overwritten"
            self.result.failed[other] = message
            self.manifest["stations"][other] = {**first, "status": "failed", "error": message}  # not skipped again
            self.fail(record, f"station name {outcome.station} is also that of {other}; its files were overwritten")
            return
        self.owner[outcome.station] = record
        self.result.done[record] = outcome
        self._write(record, {"status": "done", "station": outcome.station, "outputs": outcome.outputs,
                             "notes": list(outcome.notes), "attempts": self.attempts.get(record, 1)})
        self.on_event("done", record)

    def error(self, record: str, message: str) -> bool:
        """Count a failed attempt; True if the station should be submitted again."""
        n = self.attempts.get(record, 1)
        if n < ATTEMPTS:
            self.attempts[record] = n + 1
            self.result.retried.append(record)
            self.on_event("retry", record)
            return True
        self.fail(record, message)
        return False

    def fail(self, record: str, message: str) -> None:
        self.result.failed[record] = message
        self._write(record, {"status": "failed", "error": message, "attempts": self.attempts.get(record, 1)})
        self.on_event("failed", record)


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def run_survey(
    records: Sequence[str | Path],
    out_dir: str | Path,
    settings: SurveySettings | None = None,
    *,
    scheduler: str | None = None,
    workers: int = 2,
    force: bool = False,
    progress: bool = True,
    on_event: Callable[[str, str], None] | None = None,
) -> SurveyResult:
    """Process every record into ``out_dir``, one task per station.

    Parameters
    ----------
    records
        Record files or folders (anything :func:`amt.io.read` reads), one station each.
    out_dir
        Survey folder: ``<station>.edi``/``.json`` (as ``amt process``) and the manifest :data:`MANIFEST`.
    settings
        Processing settings of every station (default :class:`SurveySettings`).
    scheduler
        Address of a running Dask scheduler (``tcp://host:8786``); default: a local cluster of ``workers``
        processes on the loopback interface, closed at the end.
    workers
        Worker processes of the local cluster; 0 runs the stations in turn in this process, without Dask.
    force
        Run every station even if its outputs are up to date.
    progress
        Show a progress bar of stations.
    on_event
        Called as ``on_event(kind, record)`` with kind ``"done"``, ``"retry"``, ``"failed"`` or ``"skipped"``.

    Returns
    -------
    SurveyResult

    Raises
    ------
    SurveyError
        If a record does not exist or is given twice (before anything runs).
    """
    settings = settings or SurveySettings()
    paths = _check_records(records)
    out = Path(out_dir).resolve()  # workers may run elsewhere: they get an absolute folder
    out.mkdir(parents=True, exist_ok=True)
    keys = {r: station_key(r, settings) for r in paths}
    book = _Book(out, keys, on_event)
    todo = []
    for r in paths:
        if not force and _up_to_date(book.manifest["stations"].get(r), keys[r]):
            book.result.skipped.append(r)
            book.on_event("skipped", r)
        else:
            todo.append(r)
    with tqdm(total=len(todo), desc="amt survey", unit="station", disable=None if progress else True) as bar:
        if todo and scheduler is None and workers == 0:
            _run_in_turn(todo, out, settings, book, bar)
        elif todo:
            _run_on_dask(todo, out, settings, book, bar, scheduler, workers)
    return book.result


def _run_in_turn(todo: list[str], out: Path, settings: SurveySettings, book: _Book, bar: tqdm) -> None:
    for r in todo:
        while True:
            try:
                book.done(r, run_station(r, str(out), settings))
            except Exception as exc:  # a survey reports any station's failure and goes on
                if book.error(r, _describe(exc)):
                    continue
            break
        bar.update(1)


def local_cluster(workers: int = 2):
    """A local Dask cluster of ``workers`` single-threaded processes on the loopback interface, as a survey uses.

    Dask starts workers with ``MALLOC_TRIM_THRESHOLD_=65536``, which turns off glibc's adaptive mmap threshold:
    every large NumPy temporary is then mapped and faulted in afresh (measured: ``amt process`` on 30 s, system CPU
    1.0 s -> 6.1 s). These workers keep glibc's default. The survey reports each failure itself, so the workers' own
    tracebacks and shutdown notes stay silent.

    Returns
    -------
    distributed.LocalCluster
        Started; close it (or use it as a context manager).
    """
    import dask
    from distributed import LocalCluster

    with dask.config.set({"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}):
        return LocalCluster(n_workers=max(workers, 1), threads_per_worker=1, processes=True, host="127.0.0.1",
                            dashboard_address=None, silence_logs=logging.CRITICAL)


def _run_on_dask(
    todo: list[str], out: Path, settings: SurveySettings, book: _Book, bar: tqdm, scheduler: str | None, workers: int
) -> None:
    from distributed import Client, as_completed

    if scheduler is None:
        cluster = local_cluster(workers)
        client = Client(cluster)
    else:
        cluster, client = None, Client(scheduler)
    try:

        def submit(r: str):
            fut = client.submit(run_station, r, str(out), settings, pure=False,
                                key=f"amt-station-{book.keys[r][:16]}-{book.attempts.get(r, 1)}")
            record_of[fut.key] = r
            return fut

        record_of: dict[str, str] = {}
        pending = as_completed([submit(r) for r in todo])
        for fut in pending:
            r = record_of[fut.key]
            if fut.status == "finished":
                book.done(r, fut.result())
            elif book.error(r, _describe(fut.exception()) if fut.status == "error" else f"task {fut.status}"):
                pending.add(submit(r))
                continue
            bar.update(1)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
