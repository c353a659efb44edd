"""`amt detect` end to end on a written record, and its errors."""

import csv

import numpy as np
import pytest
from click.testing import CliRunner
from obspy import UTCDateTime

import amt.io
from amt.cli import main
from amt.record import Station
from amt.sferic.evaluation.scoring import event_scores
from amt.synth.records import FieldConfig, synthesize, to_run
from shared.errors import EXIT_ERROR
from shared.paths import data_root
from shared.seeding import stream_rng


def test_detect_writes_iso_events_that_match_the_truth(tmp_path, detector):
    rec = synthesize(48_000, FieldConfig(sferic_rate_hz=4.0, snr_db=15.0), stream_rng(9_002, 0))
    run = to_run(rec, start="2026-03-01T12:00:00")
    path = amt.io.write(Station("SYN", [run]), tmp_path / "rec.npz")
    out = tmp_path / "events.csv"
    res = CliRunner().invoke(main, ["detect", str(path), "--out", str(out)])
    assert res.exit_code == 0, res.output
    rows = list(csv.DictReader(out.open()))
    assert list(rows[0]) == ["start", "end", "peak_time", "probability", "amplitude", "azimuth"]
    assert rows[0]["start"].endswith("Z") and rows[0]["start"].startswith("2026-03-01T12:00:0")
    idx = np.array([[run.index_of(UTCDateTime(r["start"])), run.index_of(UTCDateTime(r["end"]))] for r in rows])
    assert event_scores(idx, rec.labels, run.sample_rate_hz)["recall"] >= 0.9
    for r in rows:
        assert UTCDateTime(r["start"]) <= UTCDateTime(r["peak_time"]) <= UTCDateTime(r["end"])
        assert 0 <= float(r["azimuth"]) < 180 and 0 < float(r["probability"]) <= 1


def test_missing_record_is_a_clear_error(tmp_path):
    res = CliRunner().invoke(main, ["detect", str(tmp_path / "nope.h5"), "--out", str(tmp_path / "e.csv")])
    assert res.exit_code == EXIT_ERROR and "error:" in res.output and "nope.h5" in res.output
    assert not (tmp_path / "e.csv").exists()


def test_help_has_examples():
    for cmd in ("detect", "train"):
        res = CliRunner().invoke(main, [cmd, "--help"])
        assert res.exit_code == 0 and "Examples" in res.output


def test_detect_reads_the_phoenix_recording_as_a_user_meets_it(tmp_path):
    folder = data_root() / "amt" / "phoenix_mtu5c" / "10128_2021-04-27-032436"
    if not folder.is_dir():
        pytest.skip(f"real data {folder} absent")
    out = tmp_path / "events.csv"
    res = CliRunner().invoke(main, ["detect", str(folder), "--out", str(out), "--fast"])
    assert res.exit_code == 0, res.output
    assert "24.0 s of data" in res.output  # all twelve 2-s bursts at 24 kHz, none refused as saturated
    assert out.is_file()
