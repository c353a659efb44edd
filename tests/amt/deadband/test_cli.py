"""``amt process --mode both|compensated`` end to end on a synthetic record written as NPZ in raw counts."""

from __future__ import annotations

import json

import numpy as np
from click.testing import CliRunner

from amt.cli import main
from amt.deadband import compensate
from amt.io import write
from amt.io.transfer_functions import read_transfer_function
from amt.sferic.catalogue import SfericEventsError, read_events_csv
from shared.errors import EXIT_ERROR


def test_process_both_writes_compensated_and_conventional(two_storms, tmp_path) -> None:
    record = write(two_storms.station, tmp_path / "q01.npz")
    runner = CliRunner()
    found = runner.invoke(main, ["detect", str(record), "--out", str(tmp_path / "events.csv")])
    assert found.exit_code == 0, found.output
    out = tmp_path / "out"
    done = runner.invoke(
        main,
        ["process", str(record), "--out", str(out), "--mode", "both", "--detections", str(tmp_path / "events.csv")],
    )
    assert done.exit_code == 0, done.output
    comp = read_transfer_function(out / "Q01.edi")
    conv = read_transfer_function(out / "Q01_conventional.edi")
    rows = json.loads((out / "Q01.json").read_text())["frequencies"]
    dead = np.array([r["dead_band"] for r in rows])
    assert dead.sum() >= 2 and all(r["n_sferics"] > 0 for r in rows if r["dead_band"])
    # the files hold what the library computes from the same events
    events = read_events_csv(tmp_path / "events.csv")
    expect = compensate(two_storms.station, events, conventional=two_storms.conventional).compensated
    np.testing.assert_allclose(comp.frequency_hz, expect.frequency_hz, rtol=1e-4)
    np.testing.assert_allclose(comp.z, expect.z, rtol=1e-4)
    np.testing.assert_allclose(conv.z, two_storms.conventional.z, rtol=1e-4)
    assert not np.allclose(comp.z[dead], conv.z[dead], rtol=0.05)


def test_bad_events_file_is_a_clear_error_and_writes_nothing(two_storms, tmp_path) -> None:
    bad = tmp_path / "events.csv"
    bad.write_text("start,end,probability\n2026-01-01T00:00:00Z,2026-01-01T00:00:00.01Z,0.9\n")
    try:
        read_events_csv(bad)
    except SfericEventsError as exc:
        assert str(bad) in str(exc) and "peak_time" in str(exc)
    else:
        raise AssertionError("a CSV without peak_time and azimuth was accepted")
    record = write(two_storms.station, tmp_path / "q01.npz")
    out = tmp_path / "out"
    res = CliRunner().invoke(main, ["process", str(record), "--out", str(out), "--detections", str(bad)])
    assert res.exit_code == EXIT_ERROR and "error:" in res.output and "peak_time" in res.output
    assert not out.exists()
