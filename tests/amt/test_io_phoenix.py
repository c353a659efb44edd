"""Phoenix MTU-5C reader against the real bench recording and its own metadata (data README, recmeta.json,
config.json), and against mt_io's independent reader."""

from __future__ import annotations

import itertools
import json
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest
from obspy import UTCDateTime

import amt.io
from amt.io.phoenix import load_phoenix_calibration, read_phoenix
from amt.record import RecordError
from shared.paths import data_root

REC = data_root() / "amt" / "phoenix_mtu5c" / "10128_2021-04-27-032436"
pytestmark = pytest.mark.skipif(not REC.is_dir(), reason=f"Phoenix sample recording not found at {REC}")

#: recmeta.json "start" (GPS seconds on the Unix epoch) and its leap seconds
REC_ID = 1619493876
LEAP = 18


@pytest.fixture(scope="module")
def station():
    return amt.io.read(REC)


def test_channel_order_follows_recmeta_channel_map(station):
    recmeta = json.loads((REC / "recmeta.json").read_text())
    mapping = {m["idx"]: m["tag"] for m in recmeta["channel_map"]["mapping"]}
    # data README: folders 0, 1, 2, 4 are H2, E1, H1, E2 (H3 off)
    assert {i: mapping[i] for i in (0, 1, 2, 4)} == {0: "H2", 1: "E1", 2: "H1", 4: "E2"}
    run = station.runs[0]
    assert run.channels == ("ex", "ey", "hx", "hy")
    assert {c: run.meta[c].extra["phoenix_tag"] for c in run.channels} == {
        "ex": "E1",
        "ey": "E2",
        "hx": "H1",
        "hy": "H2",
    }


def test_channel_folder_samples_land_in_the_mapped_channel(station):
    raw = (REC / "0" / "10128_608783F4_0_00000001.td_24k").read_bytes()  # folder 0 = H2 = hy
    first = np.frombuffer(raw, dtype="<f4", count=5, offset=128 + 32)
    np.testing.assert_array_equal(station.runs_at(24000)[0].data["hy"][:5], first.astype(float))


def test_sample_rates_and_burst_schedule(station):
    assert station.sample_rates_hz == [24000.0, 150.0]
    bursts = station.runs_at(24000)
    assert len(bursts) == 12
    assert all(b.n_samples == 48000 for b in bursts)  # 2 s at 24 kHz
    starts = [b.start for b in bursts]
    assert all(abs((b - a) - 30.0) < 1 / 24000 for a, b in itertools.pairwise(starts))
    cont = station.runs_at(150)
    assert len(cont) == 1 and cont[0].n_samples == 53850 + 900  # two files, 359 s + 6 s, joined


def test_burst_times_are_utc_with_leap_seconds(station):
    first = station.runs_at(24000)[0]
    # first sub-header stamp is recording id + 24 s (GPS); UTC = GPS - 18 s
    assert first.start == UTCDateTime(REC_ID + 24 - LEAP)
    assert str(first.start) == "2021-04-27T03:24:42.000000Z"
    # continuous stream starts 1 s after the recording id
    assert station.runs_at(150)[0].start == UTCDateTime(REC_ID + 1 - LEAP)


def test_bursts_are_timed_to_a_sample(station):
    """A 20 Hz bench sine is continuous: its phase at each burst's UTC time, after removing the generator's
    own small frequency offset (a straight line in time), must agree to a fraction of a 24 kHz sample."""
    phases, mid = [], []
    for b in station.runs_at(24000):
        t = (b.start - UTCDateTime(REC_ID)) + np.arange(b.n_samples) / 24000
        phases.append(np.angle(np.sum(b.data["ex"] * np.exp(-2j * np.pi * 20.0 * t))))
        mid.append(t.mean())
    delay_s = np.unwrap(phases) / (2 * np.pi * 20.0)
    trend = np.polyval(np.polyfit(mid, delay_s, 1), mid)
    assert np.max(np.abs(delay_s - trend)) < 0.25 / 24000
    # and the generator offset itself is tiny (< 1 ppm), so no burst is a sample off
    assert np.ptp(delay_s) < 4 / 24000


def test_dipole_lengths_and_azimuths_from_electrode_positions(station):
    run = station.runs[0]
    # config.json: E1 from (N -50, E 0) to (N +50, E 0); E2 from (E -50) to (E +50); recmeta length1+length2
    assert run.meta["ex"].dipole_length_m == pytest.approx(100.0)
    assert run.meta["ey"].dipole_length_m == pytest.approx(100.0)
    assert run.meta["ex"].azimuth_deg == pytest.approx(0.0)
    assert run.meta["ey"].azimuth_deg == pytest.approx(90.0)
    assert run.meta["hx"].azimuth_deg == 0.0 and run.meta["hy"].azimuth_deg == 90.0
    assert "config.json" in run.meta["ex"].extra["dipole_from"]


def test_units_are_volts_said_so_and_e_response_scales_by_dipole(station):
    run = station.runs[0]
    assert {run.meta[c].units for c in run.channels} == {"V"}
    # E: 1 mV/km over 100 m is 1e-4 mV = 1e-7 V... response is V per mV/km = L * 1e-6
    h = run.meta["ex"].response.evaluate(np.array([1.0, 100.0]))
    np.testing.assert_allclose(h, 100.0 * 1e-6)
    assert run.meta["hx"].response is None  # no coil calibration ships with the recording
    assert "no sensor calibration" in run.meta["hx"].extra["calibration_note"]


def test_location_from_recmeta(station):
    assert station.latitude_deg == pytest.approx(43.696020)
    assert station.longitude_deg == pytest.approx(-79.393771)
    assert station.station == "10128"


def test_logger_saturation_counts_without_clipping_are_a_warning_not_a_defect(station):
    # The logger counts saturated samples in most bursts but records no positions; the samples are a clean sine
    # (checked here independently: no value at a channel's extremes repeats), so the count is only a warning.
    counts = station.runs_at(24000)[2].meta["hx"].extra["logger_burst_saturation"]
    assert any(n > 0 for _, n, _ in counts), "the logger flags saturated samples in its burst sub-headers"
    for run in station.runs_at(24000):
        for c in run.channels:
            x = run.data[c]
            assert np.count_nonzero(x == x.max()) + np.count_nonzero(x == x.min()) <= 4
    assert not [d for d in station.defects if d.kind == "saturated"]
    assert all(r.good_segments() == [(0, 48000)] for r in station.runs_at(24000))
    warn = station.runs[0].meta["hx"].extra["warnings"]
    assert len(warn) == 1 and "no clipping" in warn[0] and "positions not recorded" in warn[0]


def test_flagged_burst_that_is_clipped_is_a_saturated_defect(copy_rec):
    f = copy_rec / "2" / "10128_608783F4_2_00000001.td_24k"  # H1 = hx
    raw = bytearray(f.read_bytes())
    seg = 32 + 4 * 48000
    off = 128 + 2 * seg  # third burst: its sub-header counts saturated samples
    _, n, sat, _ = struct.unpack_from("<IIHH", raw, off)
    assert sat > 0 and n == 48000
    x = np.frombuffer(raw, dtype="<f4", count=n, offset=off + 32).copy()
    top = x.max()
    x[x > 0.8 * top] = top  # flat tops at the rail
    raw[off + 32 : off + 32 + 4 * n] = x.astype("<f4").tobytes()
    f.write_bytes(bytes(raw))
    st = read_phoenix(copy_rec, rates=(24000,))
    sat_defects = [d for d in st.defects if d.kind == "saturated"]
    assert [d.channel for d in sat_defects] == ["hx"]
    assert sat_defects[0].end - sat_defects[0].start == pytest.approx(2.0)
    assert "positions not recorded" in sat_defects[0].detail
    assert st.runs[2].good_segments(channels=["hx"]) == []
    assert st.runs[1].good_segments(channels=["hx"]) == [(0, 48000)]


def test_logger_saturation_can_be_ignored_but_is_kept():
    st = read_phoenix(REC, rates=(24000,), logger_saturation="ignore")
    assert not [d for d in st.defects if d.kind == "saturated"]
    counts = st.runs[2].meta["ex"].extra["logger_burst_saturation"]
    assert any(n > 0 for _, n, _ in counts)


def test_scheduled_gaps_are_not_defects_and_bursts_never_nan_filled(station):
    assert not [d for d in station.defects if d.kind == "gap"]
    assert all(np.isfinite(b.data[c]).all() for b in station.runs for c in b.channels)


def test_single_file_reads_its_stream_only():
    st = amt.io.read(REC / "1" / "10128_608783F4_1_00000001.td_24k")
    assert st.sample_rates_hz == [24000.0] and st.runs[0].channels == ("ex",)


def test_agrees_with_mt_io_reader():
    pytest.importorskip("mt_io")
    from mt_io.phoenix.readers.contiguous.decimated_continuous_reader import DecimatedContinuousReader
    from mt_io.phoenix.readers.segmented.decimated_segmented_reader import DecimatedSegmentCollection

    ours = read_phoenix(REC)
    segs = DecimatedSegmentCollection(REC / "1" / "10128_608783F4_1_00000001.td_24k").read_segments()
    for seg, run in zip(segs, ours.runs_at(24000), strict=True):
        assert UTCDateTime(seg.segment_start_time.isoformat()) == run.start
        np.testing.assert_array_equal(seg.data.astype(float), run.data["ex"])
    cont = DecimatedContinuousReader(REC / "0" / "10128_608783F4_0_00000001.td_150")
    assert UTCDateTime(cont.segment_start_time.isoformat()) == ours.runs_at(150)[0].start
    assert cont.channel_metadata.component == "h2"


# -- damaged or incomplete recordings ---------------------------------------------------------------------
@pytest.fixture()
def copy_rec(tmp_path) -> Path:
    dst = tmp_path / REC.name
    shutil.copytree(REC, dst)
    for p in dst.rglob("*"):
        p.chmod(0o755 if p.is_dir() else 0o644)
    return dst


def test_missing_recmeta_is_a_clear_error(copy_rec):
    (copy_rec / "recmeta.json").unlink()
    with pytest.raises(RecordError, match=r"recmeta\.json is missing"):
        amt.io.read(copy_rec)


def test_missing_recmeta_can_be_bridged_by_stating_map_and_leap_seconds(copy_rec):
    (copy_rec / "recmeta.json").unlink()
    st = read_phoenix(copy_rec, channel_map={0: "H2", 1: "E1", 2: "H1", 4: "E2"}, leap_seconds=18)
    assert st.runs_at(24000)[0].start == UTCDateTime(REC_ID + 24 - LEAP)


def test_truncated_burst_file_reports_the_short_channel(copy_rec):
    f = copy_rec / "1" / "10128_608783F4_1_00000001.td_24k"
    raw = f.read_bytes()
    f.write_bytes(raw[: len(raw) - 4 * 1000])  # last burst of E1 loses 1000 samples
    st = read_phoenix(copy_rec, rates=(24000,))
    last = st.runs[-1]
    mism = [d for d in last.defects if d.kind == "length_mismatch"]
    assert [d.channel for d in mism] == ["ex"]
    assert mism[0].end - mism[0].start == pytest.approx(1000 / 24000, abs=1e-6)
    assert any("promises" in n for n in last.meta["ex"].extra["notes"])


def test_missing_burst_is_a_reported_gap(copy_rec):
    for idx in "0124":
        f = next((copy_rec / idx).glob("*_00000001.td_24k"))
        raw = bytearray(f.read_bytes())
        seg = 32 + 4 * 48000
        del raw[128 + 5 * seg : 128 + 6 * seg]  # drop the 6th burst everywhere
        f.write_bytes(bytes(raw))
    st = read_phoenix(copy_rec, rates=(24000,))
    assert len(st.runs) == 11
    gaps = [d for d in st.defects if d.kind == "gap"]
    assert len(gaps) == 1 and "1 burst(s) missing" in gaps[0].detail


def test_mixed_recordings_are_refused(copy_rec):
    f = copy_rec / "2" / "10128_608783F4_2_00000001.td_24k"
    raw = bytearray(f.read_bytes())
    raw[20:24] = (REC_ID + 5).to_bytes(4, "little")
    f.write_bytes(bytes(raw))
    with pytest.raises(RecordError, match="recording id"):
        read_phoenix(copy_rec)


def test_header_only_file_is_not_an_error(copy_rec):
    # the second .td_24k of each channel holds just a header: no samples, no defect
    st = read_phoenix(copy_rec, rates=(24000,))
    assert len(st.runs) == 12


# -- calibration files --------------------------------------------------------------------------------------
def _write_cal(path: Path, kind: str, tag: str, freqs, mags, phases, sensor_serial: str = "") -> Path:
    path.write_text(
        json.dumps(
            {
                "file_type": f"{kind} calibration",
                "inst_serial": "10128",
                "sensor_serial": sensor_serial,
                "instrument_type": "MTU-5C",
                "instrument_model": "RMT03",
                "timestamp_utc": 1619493876,
                "cal_data": [{"tag": tag, "chan_data": [{"freq_Hz": freqs, "magnitude": mags, "phs_deg": phases}]}],
            }
        )
    )
    return path


def test_receiver_calibration_is_loaded_into_the_e_response(copy_rec):
    f = [1.0, 100.0, 1000.0, 10000.0, 20000.0]
    _write_cal(
        copy_rec / "10128_rxcal.json", "receiver", "E1", f, [1.0, 1.0, 0.99, 0.7, 0.2], [0.0, -0.5, -5.0, -45.0, -90.0]
    )
    st = read_phoenix(copy_rec, rates=(150,))
    h = st.runs[0].meta["ex"].response.evaluate(np.array([10000.0]))
    assert abs(h[0]) == pytest.approx(100.0 * 1e-6 * 0.7)
    assert np.degrees(np.angle(h[0])) == pytest.approx(-45.0)
    assert st.runs[0].meta["ey"].response.evaluate(np.array([10000.0]))[0] == pytest.approx(1e-4)


def test_sensor_calibration_reads_phoenix_json(tmp_path):
    p = _write_cal(
        tmp_path / "53001_scal.json",
        "sensor",
        "H1",
        [10000.0, 1.0, 100.0],
        [0.5, 100.0, 200.0],
        [-80.0, 89.0, 10.0],
        sensor_serial="53001",
    )
    cal = load_phoenix_calibration(p)
    assert cal["kind"] == "sensor" and cal["sensor_serial"] == "53001"
    t = cal["tables"]["H1"][0]
    assert t.freq_hz == (1.0, 100.0, 10000.0)  # sorted, amplitudes and phases with them
    assert t.amplitude == (100.0, 200.0, 0.5)


def test_malformed_calibration_is_a_record_error(tmp_path):
    p = tmp_path / "bad_rxcal.json"
    p.write_text('{"file_type": "receiver calibration", "cal_data": [{"tag": "E1"}]}')
    with pytest.raises(RecordError, match="malformed Phoenix calibration"):
        load_phoenix_calibration(p)


@pytest.mark.parametrize(
    ("fname", "edit"),
    [
        ("recmeta.json", lambda o: o.__setitem__("timing", 5)),
        ("recmeta.json", lambda o: o["chconfig"].__setitem__("chans", [1, 2])),
        ("recmeta.json", lambda o: o["timing"].__setitem__("tm_leapSecAtRecStart", "eighteen")),
        ("recmeta.json", lambda o: o["timing"].__setitem__("gps_lat", "north")),
        ("recmeta.json", lambda o: o["channel_map"].__setitem__("mapping", [{"idx": "x"}])),
        ("recmeta.json", lambda o: o.__setitem__("decimation", [])),
        ("config.json", lambda o: o.__setitem__("config", [1, {"chanconfig": [None, {"tag": "E1", "dipole": 3}]}])),
        ("config.json", lambda o: o.__setitem__("timezone_offset", {"a": 1})),
    ],
)
def test_metadata_of_the_wrong_type_is_a_record_error_or_ignored(copy_rec, fname, edit):
    obj = json.loads((copy_rec / fname).read_text())
    edit(obj)
    (copy_rec / fname).write_text(json.dumps(obj))
    try:
        st = read_phoenix(copy_rec, rates=(150,))
    except RecordError as exc:
        assert str(copy_rec) in str(exc)
    else:
        assert st.runs and st.runs[0].n_samples == 54750


def test_continuous_stream_lags_the_bursts_by_a_constant_filter_delay(station):
    """The 150 Hz stream's 20 Hz sine lags the 24 kHz bursts by the same 14.8 ms at every burst (the
    decimation filter's delay; documented in amt.io.phoenix, not corrected)."""
    cont = station.runs_at(150)[0]
    lags = []
    for b in station.runs_at(24000):
        t24 = (b.start - cont.start) + np.arange(b.n_samples) / 24000
        i0 = cont.index_of(b.start)
        t150 = (i0 + np.arange(300)) / 150
        p24 = np.angle(np.sum(b.data["ex"] * np.exp(-2j * np.pi * 20 * t24)))
        p150 = np.angle(np.sum(cont.data["ex"][i0 : i0 + 300] * np.exp(-2j * np.pi * 20 * t150)))
        lags.append(((p24 - p150) % (2 * np.pi)) / (2 * np.pi * 20))
    assert np.ptp(lags) < 1 / 24000
    assert np.mean(lags) == pytest.approx(14.79e-3, abs=0.05e-3)
