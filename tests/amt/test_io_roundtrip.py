"""write -> read round trips through MTH5, miniSEED (+ sidecar) and NPZ, and atomic writes."""

from __future__ import annotations

import numpy as np
import pytest
from obspy import Stream, Trace, UTCDateTime

import amt.io
from amt.calibration.instrument import CascadeResponse, DelayResponse, FrequencyTableResponse, PoleZeroResponse
from amt.record import ChannelMeta, Defect, RecordError, Station, StationRun

SUFFIXES = (".h5", ".mth5", ".mseed", ".npz")


def make_run(
    rate=24000.0,
    n=4800,
    start="2021-04-27T03:24:42.000041667",
    run="001",
    station="SITE-7",
    channels=("ex", "ey", "hx", "hy", "hz"),
    seed=0,
) -> StationRun:
    rng = np.random.default_rng(seed)
    az = {"ex": 12.5, "ey": 102.5, "hx": 12.5, "hy": 102.5, "hz": 0.0}
    meta = {
        c: ChannelMeta(
            component=c,
            units="mV/km" if c.startswith("e") else "nT",
            azimuth_deg=az[c],
            tilt_deg=90.0 if c == "hz" else 0.0,
            dipole_length_m=87.5 if c.startswith("e") else None,
            sensor="MTC-150 #53001" if c.startswith("h") else None,
            response=(
                CascadeResponse(
                    (
                        PoleZeroResponse(zeros=(0j,), poles=(-6.28 + 0j, -62800 + 1j)),
                        DelayResponse(10e-6),
                        FrequencyTableResponse((1.0, 1e4), (1.0, 0.5), (0.0, -30.0)),
                    )
                )
                if c == "hx"
                else None
            ),
            extra={"note": "synthetic"},
        )
        for c in channels
    }
    data = {c: rng.standard_normal(n) for c in channels}
    r = StationRun(station=station, run=run, sample_rate_hz=rate, start=UTCDateTime(start), data=data, meta=meta)
    r.defects.append(Defect("hx", "clipped", r.time_of(10), r.time_of(13), "3 samples at 1"))
    return r


def make_station() -> Station:
    b1 = make_run(run="b001", seed=1)
    b2 = make_run(run="b002", start="2021-04-27T03:25:12.000041667", seed=2)
    slow = make_run(
        rate=150.0, n=3000, start="2021-04-27T03:24:19", run="c001", seed=3, channels=("ex", "ey", "hx", "hy")
    )
    return Station(
        station="SITE-7",
        runs=[b1, b2, slow],
        latitude_deg=-31.25,
        longitude_deg=116.5,
        elevation_m=312.0,
        declination_deg=-1.75,
    )


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_round_trip_keeps_everything(tmp_path, suffix):
    st = make_station()
    path = amt.io.write(st, tmp_path / f"rec{suffix}")
    back = amt.io.read(path)
    assert back.station == "SITE-7"
    assert (back.latitude_deg, back.longitude_deg, back.elevation_m, back.declination_deg) == (
        -31.25,
        116.5,
        312.0,
        -1.75,
    )
    assert [r.run for r in back.runs] == ["b001", "b002", "c001"]
    for a, b in zip(st.runs, back.runs, strict=True):
        assert b.sample_rate_hz == a.sample_rate_hz
        assert abs(b.start - a.start) < 1e-6  # microsecond at least; 1/24000 s is 41.7 us
        assert b.channels == a.channels
        for c in a.channels:
            np.testing.assert_array_equal(b.data[c], a.data[c])
            assert b.meta[c] == a.meta[c]  # units, azimuth, tilt, dipole length, sensor, response, extra
        assert b.defects == a.defects


@pytest.mark.parametrize("suffix", [".h5", ".mseed"])
def test_start_time_is_kept_to_the_microsecond(tmp_path, suffix):
    st = Station("S", runs=[make_run(start="2020-02-29T23:59:59.999958", channels=("ex", "ey", "hx", "hy"))])
    back = amt.io.read(amt.io.write(st, tmp_path / f"t{suffix}"))
    assert back.runs[0].start == UTCDateTime("2020-02-29T23:59:59.999958")


def test_mth5_is_readable_by_mth5_itself(tmp_path):
    from mth5.mth5 import MTH5

    path = amt.io.write(make_station(), tmp_path / "rec.h5")
    m = MTH5()
    m.open_mth5(str(path), "r")
    try:
        ch = m.get_channel("SITE-7", "b001", "ey", survey="amt")
        assert ch.metadata.sample_rate == 24000.0
        assert ch.metadata.measurement_azimuth == 102.5
        assert ch.metadata.dipole_length == 87.5
        assert ch.metadata.units == "milliVolt per kilometer"
        assert ch.hdf5_dataset.shape == (4800,)
    finally:
        m.close_mth5()


def test_foreign_mth5_without_our_metadata_is_read_per_channel(tmp_path):
    import h5py

    path = amt.io.write(make_station(), tmp_path / "rec.h5")
    with h5py.File(path, "a") as f:
        del f["amt_metadata"]
    back = amt.io.read(path)
    b = next(r for r in back.runs if r.run == "b001")
    assert b.sample_rate_hz == 24000.0  # above the 10 kHz where MTH5's run container fails
    assert b.meta["ey"].units == "mV/km" and b.meta["hz"].units == "nT"
    assert b.meta["ey"].azimuth_deg == 102.5 and b.meta["ex"].dipole_length_m == 87.5
    np.testing.assert_array_equal(b.data["hy"], make_station().runs[0].data["hy"])


def test_mseed_sidecar_holds_what_mseed_cannot(tmp_path):
    path = amt.io.write(make_station(), tmp_path / "rec.mseed")
    side = tmp_path / "rec.mseed.json"
    assert side.is_file()
    st = __import__("obspy").read(str(path))
    # SEED codes: band F (>= 1 kHz) / H (150 Hz), Q electric / F magnetic, 1/2 for sensors off north/east
    assert {tr.stats.channel for tr in st} == {"FQ1", "FQ2", "FF1", "FF2", "FFZ", "HQ1", "HQ2", "HF1", "HF2"}
    # without the sidecar: counts, nominal orientation, short station code; runs split at the gaps
    side.unlink()
    bare = amt.io.read(path)
    assert bare.station == "SITE-"
    assert {m.units for r in bare.runs for m in r.meta.values()} == {"counts"}
    assert sorted(r.n_samples for r in bare.runs) == [3000, 4800, 4800]


def test_plain_obspy_stream_round_trip_via_to_stream(tmp_path):
    run = make_run(rate=1000.0, n=2000, channels=("ex", "ey", "hx", "hy"))
    path = tmp_path / "plain.mseed"
    run.to_stream().write(str(path), format="MSEED", encoding="FLOAT64")
    back = amt.io.read(path)
    assert back.runs[0].channels == ("ex", "ey", "hx", "hy")
    np.testing.assert_array_equal(back.runs[0].data["hx"], run.data["hx"])


def test_sac_files_are_read(tmp_path):
    tr = Trace(
        np.arange(100, dtype=np.float64),
        header={"station": "ABC", "channel": "HFN", "sampling_rate": 100.0, "starttime": UTCDateTime(2021, 1, 1)},
    )
    tr.write(str(tmp_path / "a.sac"), format="SAC")
    st = amt.io.read(tmp_path / "a.sac")
    assert st.runs[0].channels == ("hx",) and st.runs[0].sample_rate_hz == 100.0


def test_npz_plain_layout(tmp_path):
    p = tmp_path / "plain.npz"
    np.savez(
        p,
        ex=np.ones(10),
        ey=np.zeros(10),
        hx=np.arange(10.0),
        hy=np.arange(10.0),
        sample_rate_hz=50.0,
        start="2022-01-01T00:00:00",
        units_e="mV/km",
        units_h="nT",
        dipole_length_m_ex=50.0,
    )
    st = amt.io.read(p)
    r = st.runs[0]
    assert r.sample_rate_hz == 50.0 and r.start == UTCDateTime(2022, 1, 1)
    assert r.meta["ex"].units == "mV/km" and r.meta["ex"].dipole_length_m == 50.0
    assert [d.kind for d in r.defects] == ["clipped", "clipped"]  # ex and ey are constant: dead channels


def test_unknown_suffix_is_refused(tmp_path):
    with pytest.raises(RecordError, match="cannot write suffix"):
        amt.io.write(make_station(), tmp_path / "x.xyz")


def test_duplicate_run_ids_are_refused_and_nothing_is_written(tmp_path):
    st = make_station()
    st.runs[1].run = st.runs[0].run
    for suffix in SUFFIXES:
        with pytest.raises(RecordError, match="not unique"):
            amt.io.write(st, tmp_path / f"dup{suffix}")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_failed_write_leaves_no_file_and_keeps_an_old_one(tmp_path, suffix, monkeypatch):
    path = tmp_path / f"rec{suffix}"
    amt.io.write(make_station(), path)
    before = path.read_bytes()

    def boom(*a, **k):
        raise RuntimeError("disk full")

    import amt.io.miniseed as ms
    import amt.io.mth5_file as mf
    import amt.io.npz as nz

    monkeypatch.setattr(nz.np, "savez", boom)
    monkeypatch.setattr(ms.Stream, "write", boom)
    monkeypatch.setattr(mf, "h5py", type("H5", (), {"File": staticmethod(boom)}))
    with pytest.raises(RuntimeError, match="disk full"):
        amt.io.write(make_station(), path)
    assert path.read_bytes() == before
    leftovers = [p.name for p in tmp_path.iterdir() if ".part" in p.name]  # temporaries: .<stem>.*.part<suffix>
    assert leftovers == []


@pytest.mark.parametrize("suffix", [".npz", ".mseed"])
def test_write_into_missing_folder_creates_it(tmp_path, suffix):
    # shared.atomic creates missing folders (the old amt writer refused them)
    path = amt.io.write(make_station(), tmp_path / "new" / "deeper" / f"x{suffix}")
    assert path.is_file()
    assert [r.run for r in amt.io.read(path).runs] == ["b001", "b002", "c001"]


def test_written_files_get_normal_permissions(tmp_path):
    p = amt.io.write(make_station(), tmp_path / "x.npz")
    assert p.stat().st_mode & 0o644 == 0o644


def test_stream_helpers_are_consistent():
    # a Stream built from a run and read back through from_stream keeps channel order, samples and metadata
    run = make_run(channels=("ex", "ey", "hx", "hy"))
    st = run.to_stream()
    assert isinstance(st, Stream) and [tr.stats.channel for tr in st] == ["EX", "EY", "HX", "HY"]
    back = StationRun.from_stream(st, run=run.run)
    assert (back.station, back.run, back.sample_rate_hz, back.start) == (
        run.station,
        run.run,
        run.sample_rate_hz,
        run.start,
    )
    assert back.channels == run.channels
    for c in run.channels:
        np.testing.assert_array_equal(back.data[c], run.data[c])
        # to_stream carries units and azimuth; tilt follows the channel (hz down)
        assert (back.meta[c].units, back.meta[c].azimuth_deg, back.meta[c].tilt_deg) == (
            run.meta[c].units,
            run.meta[c].azimuth_deg,
            run.meta[c].tilt_deg,
        )
    # metadata passed to from_stream is kept as it is
    full = StationRun.from_stream(st, run=run.run, meta=run.meta)
    assert full.meta == run.meta


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_nan_filled_gaps_and_their_defects_round_trip_unchanged(tmp_path, suffix):
    run = make_run(n=2000, channels=("ex", "hx"))
    run.data["ex"][500:600] = np.nan
    run.defects.append(Defect("ex", "gap", run.time_of(500), run.time_of(600), "100 samples missing"))
    back = amt.io.read(amt.io.write(Station("S", [run]), tmp_path / f"g{suffix}")).runs[0]
    assert back.defects == run.defects
    assert np.isnan(back.data["ex"][500:600]).all() and back.good_segments() == run.good_segments()


def test_samples_missing_from_an_edited_mseed_are_reported(tmp_path):
    import obspy

    path = amt.io.write(Station("S", [make_run(n=2000, channels=("ex", "hx"))]), tmp_path / "e.mseed")
    st = obspy.read(str(path))
    st.select(channel="FF1")[0].trim(endtime=st[0].stats.starttime + 999 / 24000)  # keep samples 0..999
    st.write(str(path), format="MSEED", encoding="FLOAT64")
    back = amt.io.read(path).runs[0]
    new = [d for d in back.defects if "missing from the file" in d.detail]
    assert [(d.channel, back.index_of(d.start), back.index_of(d.end)) for d in new] == [("hx", 1000, 2000)]
