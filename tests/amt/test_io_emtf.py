"""EMTF ASCII (test1.asc) through amt.io.read: column order, units, rate, and malformed files."""

from __future__ import annotations

import numpy as np
import pytest
from obspy import UTCDateTime

import amt.io
from amt.record import RecordError
from shared.paths import data_root

ASC = data_root() / "amt" / "emtf_synthetic" / "test1.asc"
needs_data = pytest.mark.skipif(not ASC.is_file(), reason=f"EMTF test file not found at {ASC}")


@needs_data
def test_test1_columns_are_hx_hy_hz_ex_ey_in_nt_and_mv_per_km():
    st = amt.io.read(ASC)
    run = st.runs[0]
    assert run.n_samples == 40000 and run.sample_rate_hz == 1.0
    assert run.channels == ("ex", "ey", "hx", "hy", "hz")
    first = [float(v) for v in ASC.read_text().split("\n", 1)[0].split()]
    # H as written; E negated: EMTF's synthetic E sign is opposite to ours (see amt.io.emtf_ascii)
    assert [run.data[c][0] for c in ("hx", "hy", "hz", "ex", "ey")] == [*first[:3], -first[3], -first[4]]
    raw = amt.io.read(ASC, negate_electric=False).runs[0]
    assert [raw.data[c][0] for c in ("hx", "hy", "hz", "ex", "ey")] == first
    assert run.meta["ex"].extra["sign_converted"] and not raw.meta["ex"].extra["sign_converted"]
    assert {c: run.meta[c].units for c in run.channels} == {
        "ex": "mV/km",
        "ey": "mV/km",
        "hx": "nT",
        "hy": "nT",
        "hz": "nT",
    }
    assert run.meta["ey"].azimuth_deg == 90.0 and run.meta["hz"].tilt_deg == 90.0
    assert run.good_segments() == [(0, 40000)]


@needs_data
def test_rate_and_start_can_be_stated():
    st = amt.io.read(ASC, sample_rate_hz=4.0, start="2000-01-01T00:00:00")
    assert st.runs[0].sample_rate_hz == 4.0 and st.runs[0].start == UTCDateTime(2000, 1, 1)


@needs_data
@pytest.mark.parametrize("suffix", [".h5", ".mseed", ".npz"])
def test_test1_survives_every_writer(tmp_path, suffix):
    st = amt.io.read(ASC)
    back = amt.io.read(amt.io.write(st, tmp_path / f"test1{suffix}"))
    for c in st.runs[0].channels:
        np.testing.assert_array_equal(back.runs[0].data[c], st.runs[0].data[c])
        assert back.runs[0].meta[c].units == st.runs[0].meta[c].units


@pytest.mark.parametrize(
    ("text", "match"),
    [("", "no samples"), ("1 2 3 4\n", "4 columns"), ("1 2 3 4 x\n", "not numeric"), ("1 2 3 4 nan\n", "non-finite")],
)
def test_malformed_ascii_is_a_record_error(tmp_path, text, match):
    p = tmp_path / "bad.asc"
    p.write_text(text)
    with pytest.raises(RecordError, match=match):
        amt.io.read(p)
