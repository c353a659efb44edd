"""Surveys on Dask: a killed worker loses and duplicates nothing, results equal a sequential run byte for byte,
a failing station is retried once and reported while the others finish, and a rerun skips unchanged stations."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest
from click.testing import CliRunner

from amt.cli import main
from amt.survey.run import MANIFEST, local_cluster, read_manifest, run_survey
from amt.survey.station import SurveySettings, station_key
from tests.amt.survey.records import write_records

CONVENTIONAL = SurveySettings(mode="conventional")


@pytest.fixture(scope="module")
def records(tmp_path_factory) -> list[Path]:
    return write_records(tmp_path_factory.mktemp("records"), 3)


@pytest.fixture(scope="module")
def sequential(records, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("sequential")
    result = run_survey(records, out, CONVENTIONAL, workers=0, progress=False)
    assert not result.failed and len(result.done) == len(records)
    return out


def _files(folder: Path) -> dict[str, bytes]:
    """The survey's result files by name; an EDI's FILEDATE line (the time of writing) left out."""
    out = {}
    for p in sorted(folder.iterdir()):
        if p.suffix in (".edi", ".json", ".csv") and p.name != MANIFEST:
            data = p.read_bytes()
            if p.suffix == ".edi":
                data = b"\n".join(line for line in data.split(b"\n") if b"FILEDATE=" not in line)
            out[p.name] = data
    return out


@pytest.mark.slow
def test_a_worker_killed_mid_survey_loses_nothing_and_results_equal_the_sequential_run(
    records, sequential, tmp_path
) -> None:
    from distributed import Client

    with local_cluster(2) as cluster, Client(cluster) as client:
        killed: list[int] = []

        def kill_a_busy_worker(kind: str, record: str) -> None:
            if kind != "done" or killed:
                return
            busy = [w for w, keys in client.processing().items() if keys]
            if busy:  # the other stations are still running: kill the worker process holding one
                pid = client.run(os.getpid, workers=busy[:1])[busy[0]]
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)

        result = run_survey(records, tmp_path, CONVENTIONAL, scheduler=cluster.scheduler_address,
                            progress=False, on_event=kill_a_busy_worker)
    assert killed, "no worker was busy when the first station finished: nothing was killed"
    assert not result.failed and sorted(result.done) == sorted(str(r.resolve()) for r in records)
    manifest = read_manifest(tmp_path)["stations"]
    assert sorted(manifest) == sorted(result.done) and all(e["status"] == "done" for e in manifest.values())
    assert _files(tmp_path) == _files(sequential)  # every station once, byte for byte the sequential result


def test_a_failing_station_is_retried_once_and_reported_while_the_others_finish(records, tmp_path) -> None:
    bad = tmp_path / "BAD.h5"
    bad.write_text("not an HDF5 file")
    events: list[tuple[str, str]] = []
    out = tmp_path / "out"
    result = run_survey([records[0], bad], out, CONVENTIONAL, workers=0, progress=False,
                        on_event=lambda kind, r: events.append((kind, Path(r).name)))
    assert list(result.done) == [str(records[0].resolve())]
    assert result.retried == [str(bad.resolve())] and "not an HDF5 file" in result.failed[str(bad.resolve())]
    assert events == [("done", records[0].name), ("retry", "BAD.h5"), ("failed", "BAD.h5")]
    entry = read_manifest(out)["stations"][str(bad.resolve())]
    assert entry["status"] == "failed" and entry["attempts"] == 2


def test_a_rerun_skips_unchanged_stations_and_reruns_changed_ones(records, sequential, tmp_path) -> None:
    out = tmp_path / "survey"
    copies = []
    for r in records[:2]:
        copies.append(tmp_path / r.name)
        copies[-1].write_bytes(r.read_bytes())
    first = run_survey(copies, out, CONVENTIONAL, workers=0, progress=False)
    assert len(first.done) == 2
    again = run_survey(copies, out, CONVENTIONAL, workers=0, progress=False)
    assert not again.done and sorted(again.skipped) == sorted(str(c.resolve()) for c in copies)
    copies[1].write_bytes(records[2].read_bytes())  # new bytes under the same name
    changed = run_survey(copies, out, CONVENTIONAL, workers=0, progress=False)
    assert list(changed.done) == [str(copies[1].resolve())] and changed.skipped == [str(copies[0].resolve())]
    assert station_key(copies[0], CONVENTIONAL) != station_key(copies[0], SurveySettings(mode="both"))
    (out / "T01.json").unlink()  # an output gone: the station runs again
    assert list(run_survey(copies, out, CONVENTIONAL, workers=0, progress=False).done) == [str(copies[0].resolve())]


def test_cli_survey_exits_2_naming_the_failed_station_and_reports_the_others(records, tmp_path) -> None:
    bad = tmp_path / "BAD.h5"
    bad.write_text("not an HDF5 file")
    out = tmp_path / "out"
    res = CliRunner().invoke(main, ["survey", str(records[0]), str(bad), "--out", str(out), "--workers", "0",
                                    "--mode", "conventional", "--report"])
    assert res.exit_code == 2, res.output
    assert "BAD.h5" in res.output and "1 station(s) processed" in res.output
    assert (out / "report" / "T01.pdf").is_file() and (out / "report" / "survey.pdf").is_file()  # drawn regardless
    doc = json.loads((out / "T01.json").read_text())
    assert doc["station"] == "T01" and doc["mode"] == "conventional"


def test_two_records_of_one_station_both_fail_and_neither_is_skipped_on_a_rerun(records, tmp_path) -> None:
    copies = []
    for day in ("day1", "day2"):
        (tmp_path / day).mkdir()
        copies.append(tmp_path / day / records[0].name)
        copies[-1].write_bytes(records[0].read_bytes())
    out = tmp_path / "out"
    first = run_survey(copies, out, CONVENTIONAL, workers=0, progress=False)
    assert not first.done and sorted(first.failed) == sorted(str(c.resolve()) for c in copies)
    assert all("its files were overwritten" in m for m in first.failed.values())
    again = run_survey(copies, out, CONVENTIONAL, workers=0, progress=False)
    assert not again.skipped and not again.done and len(again.failed) == 2
