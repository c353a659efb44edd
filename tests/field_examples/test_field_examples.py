"""The field examples run as written: one station, a survey, the report of a results folder."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from amt.io.transfer_functions import read_transfer_function
from amt.mt import apparent_resistivity
from field_examples import make_report, process_station, process_survey
from tests.amt.survey.records import write_records


@pytest.fixture(scope="module")
def records(tmp_path_factory):
    return write_records(tmp_path_factory.mktemp("records"), 2)


def _run(command, args) -> str:
    res = CliRunner().invoke(command, [str(a) for a in args], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    return res.output


@pytest.mark.slow
def test_process_station_and_make_report(records, tmp_path) -> None:
    output = _run(process_station.main, [records[0], "--out", tmp_path, "--mode", "conventional"])
    assert str(tmp_path / "report" / "T01.pdf") in output
    tf = read_transfer_function(tmp_path / "T01.edi")
    rows = json.loads((tmp_path / "T01.json").read_text())["frequencies"]
    rho, _ = apparent_resistivity(tf.z, tf.frequency_hz)
    np.testing.assert_allclose([r["rho_xy_ohm_m"] for r in rows], rho[:, 0, 1], rtol=1e-4)  # EDI and JSON agree
    output = _run(make_report.main, [tmp_path, "--out", tmp_path / "again"])  # the report of that folder
    for name in ("T01.pdf", "T01_phase_tensor.png", "survey.pdf", "survey_quality.csv"):
        assert (tmp_path / "again" / name).is_file(), name
    assert str(tmp_path / "again" / "survey.pdf") in output


@pytest.mark.slow
def test_process_survey(records, tmp_path) -> None:
    output = _run(process_survey.main, [*records, "--out", tmp_path, "--workers", "0", "--mode", "conventional"])
    assert "2 processed, 0 up to date, 0 failed" in output
    assert (tmp_path / "report" / "survey.pdf").is_file()
