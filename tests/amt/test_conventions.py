"""The time-series conventions of docs/conventions.md, one test each: UTC to one sample, GPS leap seconds
and logger offsets, units said, frame and angles kept, e^{+i omega t}."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from obspy import UTCDateTime

import amt.io
from amt.calibration.instrument import DelayResponse, apply_response
from amt.io.phoenix import read_phoenix
from amt.record import ChannelMeta, Station, StationRun
from shared.paths import data_root

REC = data_root() / "amt" / "phoenix_mtu5c" / "10128_2021-04-27-032436"
ASC = data_root() / "amt" / "emtf_synthetic" / "test1.asc"
needs_phoenix = pytest.mark.skipif(not REC.is_dir(), reason=f"Phoenix recording not found at {REC}")
GPS_STAMP_OF_FIRST_BURST = 1619493900  # first sub-header of every .td_24k file


@pytest.fixture()
def rec(tmp_path):
    dst = tmp_path / REC.name
    dst.mkdir()
    for idx in ("1", "4"):  # E1, E2: enough for timing
        (dst / idx).mkdir()
        shutil.copyfile(next((REC / idx).glob("*_00000001.td_24k")), dst / idx / "f_00000001.td_24k")
    for name in ("recmeta.json", "config.json"):
        shutil.copyfile(REC / name, dst / name)
        (dst / name).chmod(0o644)
    for f in dst.rglob("*.td_24k"):
        f.rename(f.with_name(next((REC / f.parent.name).glob("*_00000001.td_24k")).name))
    return dst


def _edit(path, fn):
    obj = json.loads(path.read_text())
    fn(obj)
    path.write_text(json.dumps(obj))


# -- times ------------------------------------------------------------------------------------------------
@needs_phoenix
def test_phoenix_stamps_are_gps_and_become_utc_by_the_recorded_leap_seconds(rec):
    st = read_phoenix(rec)
    assert st.runs[0].start == UTCDateTime(GPS_STAMP_OF_FIRST_BURST - 18)
    _edit(rec / "recmeta.json", lambda o: o["timing"].__setitem__("tm_leapSecAtRecStart", 17))
    assert read_phoenix(rec).runs[0].start == UTCDateTime(GPS_STAMP_OF_FIRST_BURST - 17)


@needs_phoenix
def test_recorded_leap_seconds_agree_with_the_leap_second_table():
    """GPS - UTC has been 18 s since 2017-01-01 (IERS Bulletin C); recmeta.json says the same."""
    recmeta = json.loads((REC / "recmeta.json").read_text())
    assert recmeta["timing"]["tm_leapSecAtRecStart"] == recmeta["timing"]["tm_leapSecNow"] == 18
    from mt_metadata.common.mttime import calculate_leap_seconds

    assert calculate_leap_seconds(2021, 4, 27) == 18


@needs_phoenix
def test_logger_time_zone_is_kept_but_not_applied_to_gps_stamps(rec):
    """config.json says the logger's zone is UTC-4 h (Toronto); the stamps are GPS-disciplined, so the zone
    must not move the samples. (The recording folder's name, 03:24:36, is the raw stamp, not local time.)"""
    before = read_phoenix(rec).runs[0]
    _edit(rec / "config.json", lambda o: o.__setitem__("timezone_offset", 3600 * 9))
    after = read_phoenix(rec).runs[0]
    assert after.start == before.start
    assert after.meta["ex"].extra["timezone_offset_s_not_applied"] == 3600 * 9
    assert REC.name.endswith(UTCDateTime(1619493876).strftime("%Y-%m-%d-%H%M%S"))


@needs_phoenix
def test_a_known_logger_clock_offset_is_subtracted(rec):
    base = read_phoenix(rec).runs[0].start
    shifted = read_phoenix(rec, clock_offset_s=2.5).runs[0].start
    assert base - shifted == pytest.approx(2.5, abs=1e-9)


@pytest.mark.parametrize("suffix", [".h5", ".mseed", ".npz"])
def test_times_survive_files_to_well_under_one_sample(tmp_path, suffix):
    rate = 24000.0
    start = UTCDateTime("2021-06-30T23:59:59.123456") + 0.37 / rate  # off the microsecond grid
    run = StationRun(
        "S", "001", rate, start, {"ex": np.zeros(100) + np.arange(100)}, {"ex": ChannelMeta("ex", "mV/km")}
    )
    back = amt.io.read(amt.io.write(Station("S", [run]), tmp_path / f"t{suffix}")).runs[0]
    assert abs(back.start - start) * rate < 0.05  # miniSEED keeps 1 us = 0.024 samples at 24 kHz
    assert back.start.timestamp == pytest.approx(start.timestamp, abs=1e-6)


def test_every_reader_gives_utc_datetimes(tmp_path):
    run = StationRun("S", "001", 10.0, "2020-01-01T00:00:00", {"hx": np.arange(5.0)}, {"hx": ChannelMeta("hx", "nT")})
    for suffix in (".h5", ".mseed", ".npz"):
        back = amt.io.read(amt.io.write(Station("S", [run]), tmp_path / f"u{suffix}"))
        assert isinstance(back.runs[0].start, UTCDateTime)
        assert str(back.runs[0].start).endswith("Z")


def test_sample_index_and_time_are_inverse():
    run = StationRun(
        "S", "001", 24000.0, UTCDateTime("2021-04-27T03:24:42"), {"ex": np.zeros(48000)}, {"ex": ChannelMeta("ex", "V")}
    )
    for i in (0, 1, 23999, 47999):
        assert run.index_of(run.time_of(i)) == i
    assert run.end - run.start == pytest.approx(47999 / 24000)


# -- units ------------------------------------------------------------------------------------------------
@pytest.mark.skipif(not ASC.is_file(), reason=f"EMTF file not found at {ASC}")
def test_calibrated_e_is_mv_per_km_and_h_is_nt():
    run = amt.io.read(ASC).runs[0]
    assert {c: run.meta[c].units for c in ("ex", "ey")} == {"ex": "mV/km", "ey": "mV/km"}
    assert {run.meta[c].units for c in ("hx", "hy", "hz")} == {"nT"}


def test_uncalibrated_samples_say_so(tmp_path):
    p = tmp_path / "plain.npz"
    np.savez(p, ex=np.random.default_rng(0).standard_normal(50), sample_rate_hz=1.0)
    assert amt.io.read(p).runs[0].meta["ex"].units == "counts"


@needs_phoenix
def test_phoenix_volts_say_so_and_carry_their_response():
    run = amt.io.read(REC, rates=(150,)).runs[0]
    assert run.meta["ex"].units == "V" and run.meta["ex"].response is not None
    assert "volts at the receiver input" in run.meta["ex"].extra["units_note"]


# -- frame and angles -------------------------------------------------------------------------------------
def test_frame_is_north_east_down(tmp_path):
    """x = geographic north (azimuth 0), y = east (90), z = down (tilt 90): SEED orientation codes N, E, Z map
    to x, y, z, and the nominal azimuths of records without orientation metadata follow the frame."""
    from amt.io.miniseed import channel_code, component_of

    assert [component_of(c) for c in ("FQN", "FQE", "FFN", "FFE", "FFZ")] == ["ex", "ey", "hx", "hy", "hz"]
    assert channel_code("ey", 24000.0, 90.0) == "FQE" and channel_code("ey", 24000.0, 100.0) == "FQ2"
    p = amt.io.write(
        Station(
            "S",
            [
                StationRun(
                    "S",
                    "001",
                    10.0,
                    UTCDateTime(0),
                    {c: np.arange(5.0) for c in ("ey", "hz")},
                    {"ey": ChannelMeta("ey", "mV/km", azimuth_deg=90.0), "hz": ChannelMeta("hz", "nT", tilt_deg=90.0)},
                )
            ],
        ),
        tmp_path / "f.mseed",
    )
    (p.parent / "f.mseed.json").unlink()  # no sidecar: nominal frame only
    r = amt.io.read(p).runs[0]
    assert r.meta["ey"].azimuth_deg == 90.0 and r.meta["hz"].tilt_deg == 90.0


@needs_phoenix
def test_phoenix_electrode_positions_give_the_frame():
    run = amt.io.read(REC, rates=(150,)).runs[0]
    assert (run.meta["ex"].azimuth_deg, run.meta["ey"].azimuth_deg) == (0.0, 90.0)  # PosNorth, PosEast


@pytest.mark.parametrize("suffix", [".h5", ".mseed", ".npz"])
def test_azimuths_tilts_and_declination_are_kept(tmp_path, suffix):
    meta = {
        "ex": ChannelMeta("ex", "mV/km", azimuth_deg=33.0, dipole_length_m=80.0),
        "ey": ChannelMeta("ey", "mV/km", azimuth_deg=123.0, dipole_length_m=75.0),
        "hx": ChannelMeta("hx", "nT", azimuth_deg=33.0),
        "hy": ChannelMeta("hy", "nT", azimuth_deg=123.0),
        "hz": ChannelMeta("hz", "nT", tilt_deg=90.0),
    }
    run = StationRun(
        "S", "001", 100.0, UTCDateTime(2020, 1, 1), {c: np.arange(10.0) * (i + 1) for i, c in enumerate(meta)}, meta
    )
    st = Station("S", [run], declination_deg=-10.5)
    back = amt.io.read(amt.io.write(st, tmp_path / f"a{suffix}"))
    assert back.declination_deg == -10.5
    r = back.runs[0]
    assert {c: r.meta[c].azimuth_deg for c in meta} == {"ex": 33.0, "ey": 123.0, "hx": 33.0, "hy": 123.0, "hz": 0.0}
    assert r.meta["hz"].tilt_deg == 90.0  # positive down
    assert (r.meta["ex"].dipole_length_m, r.meta["ey"].dipole_length_m) == (80.0, 75.0)


# -- time dependence ---------------------------------------------------------------------------------------
def test_time_dependence_is_e_plus_i_omega_t():
    """Under e^{+i omega t} (NumPy's forward FFT sign), a signal that lags by tau has the phase
    -omega tau: DelayResponse(10 us) is -18 deg at 5 kHz, and matches the FFT ratio of delayed data."""
    h = DelayResponse(10e-6).evaluate(np.array([5000.0]))[0]
    assert np.degrees(np.angle(h)) == pytest.approx(-18.0)
    rate, n = 24000.0, 24000
    t = np.arange(n) / rate
    x = np.sin(2 * np.pi * 5000.0 * t)
    y = np.sin(2 * np.pi * 5000.0 * (t - 10e-6))
    k = 5000
    assert np.degrees(np.angle(np.fft.rfft(y)[k] / np.fft.rfft(x)[k])) == pytest.approx(-18.0, abs=1e-9)
    z = apply_response(x, rate, DelayResponse(10e-6), pad=False)
    np.testing.assert_allclose(z, y, atol=1e-9)
