"""``amt info RECORD``."""

from __future__ import annotations

import numpy as np
from click.testing import CliRunner
from obspy import UTCDateTime

import amt.io
from amt.cli import main
from amt.record import ChannelMeta, Defect, Station, StationRun
from shared.errors import EXIT_ERROR
from shared.paths import data_root


def test_info_lists_runs_channels_units_and_defects(tmp_path):
    run = StationRun(
        "KAL01",
        "001",
        24000.0,
        UTCDateTime("2024-03-01T10:00:00"),
        {"ex": np.zeros(2400) + np.arange(2400), "hx": np.arange(2400.0)},
        {"ex": ChannelMeta("ex", "mV/km", dipole_length_m=80.0), "hx": ChannelMeta("hx", "nT", azimuth_deg=3.0)},
    )
    run.defects.append(Defect("hx", "gap", run.time_of(100), run.time_of(200), "100 samples missing"))
    p = amt.io.write(Station("KAL01", [run]), tmp_path / "k.npz")
    res = CliRunner().invoke(main, ["info", str(p)])
    assert res.exit_code == 0, res.output
    out = res.output
    assert "station KAL01" in out and "run 001: 24000 Hz, 2,400 samples" in out
    assert "ex: mV/km, azimuth 0 deg, tilt 0 deg, dipole 80 m" in out and "hx: nT, azimuth 3 deg" in out
    assert "2024-03-01T10:00:00.000000Z" in out
    assert "hx: gap from 2024-03-01T10:00:00.004167Z" in out
    assert "good samples (all channels): 2,300 of 2,400 in 2 segment(s)" in out


def test_info_reports_a_damaged_file_without_a_traceback(tmp_path):
    p = tmp_path / "bad.h5"
    p.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 64)
    res = CliRunner().invoke(main, ["info", str(p)])
    assert res.exit_code == EXIT_ERROR
    assert "error:" in res.output and "bad.h5" in res.output and "Traceback" not in res.output


def test_info_is_listed_in_the_command_group():
    res = CliRunner().invoke(main, ["--help"])
    assert "info" in res.output


def test_info_on_the_phoenix_recording():
    rec = data_root() / "amt" / "phoenix_mtu5c" / "10128_2021-04-27-032436"
    if not rec.is_dir():
        import pytest

        pytest.skip(f"Phoenix recording not found at {rec}")
    res = CliRunner().invoke(main, ["info", str(rec)])
    assert res.exit_code == 0, res.output
    assert "13 run(s) at 24000, 150 Hz" in res.output and "saturated" in res.output
