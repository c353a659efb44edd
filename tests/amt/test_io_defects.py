"""Gaps, overlaps, clipping, NaN and mismatched channels: found, reported per channel with UTC times, and
kept out of the good segments; bursts become runs of their own."""

from __future__ import annotations

import numpy as np
import pytest
from obspy import Stream, Trace, UTCDateTime

import amt.io
from amt.io.quality import assemble_runs, clip_defects, nan_defects
from amt.record import ChannelMeta

T0 = UTCDateTime("2023-06-01T12:00:00")
RATE = 1000.0


def meta(c: str) -> ChannelMeta:
    return ChannelMeta(component=c, units="counts")


def trace(code: str, data, start=T0, rate=RATE) -> Trace:
    return Trace(
        np.asarray(data, dtype=np.float64),
        header={"network": "MT", "station": "S1", "channel": code, "sampling_rate": rate, "starttime": start},
    )


def write_read(tmp_path, traces, **kw):
    p = tmp_path / "x.mseed"
    Stream(traces).write(str(p), format="MSEED", encoding="FLOAT64")
    return amt.io.read(p, **kw)


def noise(n, seed=0):
    return np.random.default_rng(seed).standard_normal(n)


def test_short_gap_is_nan_filled_reported_and_excluded(tmp_path):
    x = noise(3000)
    traces = [trace(c, x[:1000]) for c in ("FQN", "FQE")] + [trace(c, x[1100:]) for c in ("FQN", "FQE")]
    traces[2].stats.starttime = T0 + 1100 / RATE
    traces[3].stats.starttime = T0 + 1100 / RATE
    st = write_read(tmp_path, traces)
    assert len(st.runs) == 1
    run = st.runs[0]
    gaps = [d for d in run.defects if d.kind == "gap"]
    assert sorted(d.channel for d in gaps) == ["ex", "ey"]
    assert all(d.start == T0 + 1.0 and d.end == T0 + 1.1 for d in gaps)
    assert run.good_segments() == [(0, 1000), (1100, 3000)]


def test_long_gap_splits_into_runs_never_a_nan_block(tmp_path):
    x = noise(2000)
    traces = []
    for k in range(3):  # 2 s bursts every 30 s
        for c in ("FQN", "FFN"):
            traces.append(trace(c, x, start=T0 + 30 * k))
    st = write_read(tmp_path, traces)
    assert [r.n_samples for r in st.runs] == [2000, 2000, 2000]
    assert [r.start for r in st.runs] == [T0, T0 + 30, T0 + 60]
    assert all(np.isfinite(r.data[c]).all() for r in st.runs for c in r.channels)
    between = [d for d in st.defects if d.kind == "gap"]
    assert [(d.start, d.end) for d in between] == [(T0 + 2, T0 + 30), (T0 + 32, T0 + 60)]
    assert all(r.good_segments() == [(0, 2000)] for r in st.runs)  # gaps between runs mask nothing


def test_overlap_with_different_samples_is_reported(tmp_path):
    x = noise(2000)
    y = x.copy()
    y[900:1000] += 5.0
    traces = [trace("FQN", x[:1000]), trace("FQN", y[900:], start=T0 + 0.9), trace("FFN", x)]
    run = write_read(tmp_path, traces).runs[0]
    ov = [d for d in run.defects if d.kind == "overlap"]
    assert len(ov) == 1 and ov[0].channel == "ex"
    assert (ov[0].start, ov[0].end) == (T0 + 0.9, T0 + 1.0)
    np.testing.assert_array_equal(run.data["ex"], x)  # first copy kept
    assert run.good_segments() == [(0, 900), (1000, 2000)]


def test_identical_overlap_is_merged_silently(tmp_path):
    x = noise(2000)
    run = write_read(tmp_path, [trace("FQN", x[:1200]), trace("FQN", x[1000:], start=T0 + 1.0)]).runs[0]
    assert run.defects == [] and run.n_samples == 2000


def test_clipping_is_found_with_times():
    x = np.sin(np.linspace(0, 20, 5000)) * 1.5
    x = np.clip(x, -1.0, 1.0)
    d = clip_defects("hx", x, T0, RATE)
    assert d and all(e.kind == "clipped" for e in d)
    i = np.flatnonzero(x == 1.0)
    assert d[0].start == T0 + i[0] / RATE


def test_natural_noise_is_not_clipped():
    assert clip_defects("hx", noise(100000), T0, RATE) == []


def test_full_scale_is_honoured():
    x = noise(1000)
    x[10] = 2**23
    d = clip_defects("ex", x, T0, RATE, full_scale=2**23)
    assert [(e.start, e.end) for e in d if "full scale" in e.detail] == [(T0 + 0.010, T0 + 0.011)]


def test_nan_runs_are_reported_and_excluded(tmp_path):
    x = noise(1000)
    x[100:150] = np.nan
    p = tmp_path / "n.npz"
    np.savez(p, ex=x, ey=noise(1000, 1), hx=noise(1000, 2), hy=noise(1000, 3), sample_rate_hz=RATE, start=str(T0))
    run = amt.io.read(p).runs[0]
    nan = [d for d in run.defects if d.kind == "nan"]
    assert [(d.channel, d.start, d.end) for d in nan] == [("ex", T0 + 0.1, T0 + 0.15)]
    assert run.good_segments() == [(0, 100), (150, 1000)]
    assert nan_defects("ex", x, T0, RATE)[0].detail == "50 samples"


def test_channel_that_ends_early_is_padded_and_reported(tmp_path):
    x = noise(2000)
    run = write_read(tmp_path, [trace("FQN", x), trace("FFN", x[:1500])]).runs[0]
    d = [d for d in run.defects if d.kind == "length_mismatch"]
    assert [(e.channel, e.start, e.end) for e in d] == [("hx", T0 + 1.5, T0 + 2.0)]
    assert run.good_segments() == [(0, 1500)]


def test_channel_at_another_rate_is_a_rate_mismatch(tmp_path):
    x = noise(2000)
    st = write_read(tmp_path, [trace("FQN", x), trace("FQE", x), trace("BFN", x[:20], rate=10.0)])
    fast = st.runs_at(RATE)[0]
    mism = [d for d in fast.defects if d.kind == "rate_mismatch"]
    assert [d.channel for d in mism] == ["hx"] and "10 Hz" in mism[0].detail


def test_mismatched_mth5_channels_are_reported(tmp_path):
    from amt.record import Station, StationRun

    run = StationRun("S", "001", RATE, T0, {c: noise(1000) for c in ("ex", "ey")}, {c: meta(c) for c in ("ex", "ey")})
    path = amt.io.write(Station("S", [run]), tmp_path / "m.h5")
    import h5py

    with h5py.File(path, "a") as f:
        del f["amt_metadata"]
        ds = f["Experiment/Surveys/amt/Stations/S/001/ey"]
        ds.resize((800,))
    back = amt.io.read(path).runs[0]
    assert back.n_samples == 1000
    d = [d for d in back.defects if d.kind == "length_mismatch"]
    assert [(e.channel, e.start) for e in d] == [("ey", T0 + 0.8)]


def test_assemble_keeps_channel_absent_from_a_run_out_of_it():
    pieces = {"ex": [(T0, noise(100)), (T0 + 10, noise(100))], "hx": [(T0, noise(100))]}
    runs = assemble_runs(pieces, 100.0, "S", meta)
    assert [r.channels for r in runs] == [("ex", "hx"), ("ex",)]
    assert [d.kind for d in runs[1].defects if d.channel == "hx"] == ["gap"]


def test_defect_report_names_channel_kind_and_utc_times(tmp_path):
    x = noise(2000)
    run = write_read(tmp_path, [trace("FQN", x), trace("FFN", x[:1500])]).runs[0]
    assert "hx: length_mismatch from 2023-06-01T12:00:01.500000Z to 2023-06-01T12:00:02.000000Z" in run.report()


@pytest.mark.parametrize("rate", [24000.0, 150.0])
def test_sub_sample_start_offsets_snap_to_the_grid(rate):
    t1 = T0 + 0.4 / rate  # less than half a sample late
    runs = assemble_runs({"ex": [(T0, noise(50))], "ey": [(t1, noise(50))]}, rate, "S", meta)
    assert len(runs) == 1 and runs[0].defects == []
