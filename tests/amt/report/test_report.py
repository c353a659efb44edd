"""Reports: every page written for every station and the survey, drawn from what the files hold, bad folders refused."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from amt.cli import main
from amt.mt import TransferFunction, phase_tensor
from amt.pipeline.process import process_record, summary, write_outputs
from amt.report.figures import ellipses, rho_phase_figure
from amt.report.results import ReportError, StationResults, from_process, load_results, load_station
from amt.report.survey import QUALITY_COLUMNS, quality_row
from amt.report.write import STATION_PAGES
from tests.amt.survey.records import write_records


@pytest.fixture(scope="module")
def processed(tmp_path_factory):
    """Two tiny stations processed in mode both, the first in memory, the second by ``amt process --report``:
    (results folder, the in-memory result of the first, the second's command output)."""
    folder = tmp_path_factory.mktemp("report")
    first, second = write_records(folder / "records", 2)
    result = process_record(first, mode="both")
    write_outputs(result, folder / "results")
    res = CliRunner().invoke(main, ["process", str(second), "--out", str(folder / "results"), "--mode", "both",
                                    "--report"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    return folder / "results", result, res.output


def test_amt_process_report_draws_the_station(processed) -> None:
    results, _, output = processed
    assert f"report: {results / 'report' / 'T02.pdf'}" in output
    assert sorted(p.name for p in (results / "report").glob("T02_*.png")) == sorted(
        f"T02_{page}.png" for page in STATION_PAGES
    )


@pytest.mark.slow
def test_amt_report_writes_every_page_of_every_station_and_the_survey(processed) -> None:
    results, _, _ = processed
    res = CliRunner().invoke(main, ["report", str(results)], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    out = results / "report"
    for station in ("T01", "T02"):
        for page in STATION_PAGES:
            with Image.open(out / f"{station}_{page}.png") as im:
                assert im.size[0] > 500 and im.size[1] > 300
        assert (out / f"{station}.pdf").read_bytes().startswith(b"%PDF")
    for page in ("pseudosection", "quality"):
        assert (out / f"survey_{page}.png").is_file()
    with open(out / "survey_quality.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["station"] for r in rows] == ["T01", "T02"] and list(rows[0]) == list(QUALITY_COLUMNS)


def test_results_read_back_from_the_files_equal_those_in_memory(processed) -> None:
    results, first, _ = processed
    loaded = load_station(results / "T01.json")
    fresh = from_process(first, summary(first.transfer_function))
    assert loaded.rows == fresh.rows  # the JSON holds the summary as computed
    np.testing.assert_allclose(loaded.transfer_function.z, fresh.transfer_function.z, rtol=1e-5)
    np.testing.assert_allclose(loaded.conventional.z, first.conventional.z, rtol=1e-5)
    assert len(loaded.events) == len(first.compensation.events) > 0
    np.testing.assert_allclose(loaded.events.peak_s, first.compensation.events.peak_s, atol=1e-6)
    assert loaded.record == Path(first.record.source).resolve()


def test_quality_row_is_what_the_json_says(processed) -> None:
    results, _, _ = processed
    doc = json.loads((results / "T02.json").read_text())["frequencies"]
    row = quality_row(load_station(results / "T02.json"))
    assert row["frequencies"] == len(doc) and row["flagged"] == sum(bool(r["flag"]) for r in doc)
    assert row["median_coherence_ex"] == pytest.approx(np.median([r["coherence_ex"] for r in doc]))
    dead = [r["frequency_hz"] for r in doc if r["dead_band"]]
    assert row["dead_band_hz"] == (f"{min(dead):.0f}-{max(dead):.0f}" if dead else "")
    rel = [r[f"rho_{c}_err_ohm_m"] / r[f"rho_{c}_ohm_m"] for r in doc for c in ("xy", "yx")]
    assert row["median_rho_rel_err_pct"] == pytest.approx(100 * np.median(rel))


def test_flagged_frequencies_are_gaps_in_the_curves() -> None:
    f = np.array([1000.0, 300.0, 100.0])
    z = np.tile(np.array([[0, 1 + 1j], [-1 - 1j, 0]]), (3, 1, 1)).astype(complex)
    z[1] = np.nan
    tf = TransferFunction("G", f, z, np.full((3, 2, 2), 0.01), flags=np.array(["", "rejected", ""], dtype=object))
    rows = [{"frequency_hz": x, "flag": fl} for x, fl in zip(f, tf.flags, strict=True)]
    fig = rho_phase_figure(StationResults("G", tf, rows))
    line = fig.axes[0].get_lines()[0]  # rho_xy joined by a line: broken at the flagged frequency
    assert np.isnan(line.get_ydata()[1]) and np.isfinite(line.get_ydata()[[0, 2]]).all()


def test_ellipses_point_along_the_strike_of_a_rotated_2d_impedance() -> None:
    """A 2-D impedance with strike theta: the phase-tensor major axis at theta or theta + 90 deg from north."""
    from matplotlib.figure import Figure

    theta = np.deg2rad(30.0)
    rot = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    z2 = np.array([[0, 2 + 3j], [-(1 + 0.5j), 0]])  # TE and TM phases 56 and 27 deg: phi_max != phi_min
    z = (rot @ z2 @ rot.T)[None]
    pt = phase_tensor(z)
    ax = Figure().subplots()
    coll = ellipses(ax, np.zeros(1), np.zeros(1), pt, 20.0, 6.0)
    azimuth = 90.0 - coll._angles[0] * 180 / np.pi  # matplotlib stores radians, counter-clockwise from x
    assert min(abs((azimuth - 30.0 + 45) % 90 - 45), 90) < 1e-6
    assert coll._widths[0] > coll._heights[0]  # major axis phi_max


def test_report_of_a_folder_without_results_fails_naming_it(tmp_path) -> None:
    res = CliRunner().invoke(main, ["report", str(tmp_path)])
    assert res.exit_code == 2 and str(tmp_path) in res.output and "no station results" in res.output
    (tmp_path / "X.json").write_text(json.dumps({"station": "X", "frequencies": []}))
    with pytest.raises(ReportError, match=r"X\.edi"):
        load_results(tmp_path)
