"""Spectra read a part at a time equal the whole-record pass (docs/acceptance.md#field-processing-at-survey-scale).

Each kernel is checked against its whole-array form (scipy's decimation of the whole segment, the run's own good
segments, the prewhitening fit of the whole array); the spectra and transfer functions of a record read in tiny
parts against the same record read whole; the spectra that keep only the band plan's bins against all bins; and
``amt process`` on an MTH5 file (read as h5py slices) against the estimate from the record read whole.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.signal

import amt.io
from amt.deadband import compensate, detect_events
from amt.io.chunked import ChunkedRun
from amt.io.mth5_file import open_mth5_chunked
from amt.pipeline.process import detect_record, process_record, read_magnetic
from amt.record import Defect, Station, StationRun
from amt.spectra import SpectraConfig, compute_spectra, compute_station_spectra, plan_bins
from amt.spectra.decimation import decimate_part, decimated_segments
from amt.spectra.prewhiten import fit_prediction_error_filter, fit_prediction_error_filter_read
from amt.transfer import process_station
from amt.transfer.estimate import estimate_transfer_function
from amt.transfer.station import estimate_station
from tests.amt.survey.records import write_records

TINY = 1000  # samples per part: every level of a 2 s record spans several parts


@pytest.fixture(scope="module")
def record(tmp_path_factory):
    return write_records(tmp_path_factory.mktemp("stream"), 1, duration_s=2.0)[0]


@pytest.fixture(scope="module")
def gappy(record) -> Station:
    """The record with a NaN gap in every channel, a NaN in hx alone and a reported defect: several segments."""
    run = amt.io.read(record).runs[0]
    data = {c: x.copy() for c, x in run.data.items()}
    for x in data.values():
        x[20_000:20_600] = np.nan
    data["hx"][31_001] = np.nan
    defect = Defect("ey", "clipped", run.start + 40_000 / run.sample_rate_hz, run.start + 40_050 / run.sample_rate_hz)
    gappy = StationRun(run.station, run.run, run.sample_rate_hz, run.start, data, run.meta, [defect], run.source)
    return Station(run.station, [gappy], source=run.source)


def _rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.nanmax(np.abs(a - b)) / np.nanmax(np.abs(b)))


def test_decimating_in_parts_equals_scipy_on_the_whole_segment() -> None:
    rng = np.random.default_rng(1)
    x = np.cumsum(rng.normal(size=20_011)) + 3e4
    for seg in decimated_segments([(5, 7_003), (7_500, 20_011)], 4):
        whole = scipy.signal.decimate(x[seg.first : seg.end], 4, ftype="fir", zero_phase=True)[: seg.n]
        for part in (1, 37, 500, seg.n):
            got = np.concatenate([decimate_part(lambda lo, hi: x[lo:hi], seg, a, min(a + part, seg.n), 4)
                                  for a in range(0, seg.n, part)])  # fmt: skip
            np.testing.assert_array_equal(got, whole)


def test_good_segments_found_in_parts_equal_the_runs(gappy) -> None:
    run = gappy.runs[0]
    for chunk in (97, 4096, 10**7):
        for min_samples in (1, 128):
            assert ChunkedRun.of(run, chunk).good_segments(min_samples) == run.good_segments(min_samples)
    assert len(run.good_segments(128)) == 4


def test_prewhitening_fit_in_parts_equals_the_whole_array() -> None:
    rng = np.random.default_rng(2)
    x = scipy.signal.lfilter([1.0], [1.0, -0.9, 0.2], rng.normal(size=5000)) + 40.0
    segments = [(0, 2000), (2100, 5000)]
    whole = fit_prediction_error_filter(x, segments, 3)
    for chunk in (4, 333):
        parts = fit_prediction_error_filter_read(lambda lo, hi: x[lo:hi], segments, 3, chunk)
        np.testing.assert_allclose(parts, whole, rtol=1e-12)


def test_spectra_read_in_tiny_parts_equal_the_whole_record(gappy) -> None:
    run = gappy.runs[0]
    whole = compute_spectra(run)  # every segment in one part: the whole-record pass
    parts = compute_spectra(ChunkedRun.of(run, TINY))
    assert len(parts) == len(whole) >= 4
    for a, b in zip(parts, whole, strict=True):
        np.testing.assert_array_equal(a.window_start_s, b.window_start_s)
        np.testing.assert_array_equal(a.freqs_hz, b.freqs_hz)
        assert _rel(a.coefficients, b.coefficients) < 1e-9


def test_band_plan_bins_give_the_estimate_of_all_bins(gappy) -> None:
    full = compute_station_spectra(gappy)
    kept = compute_station_spectra(gappy, select_bins=plan_bins)
    rate = next(iter(full))
    assert sum(s.coefficients.size for s in kept[rate]) < 0.8 * sum(s.coefficients.size for s in full[rate])
    a, b = estimate_transfer_function(kept[rate]), estimate_transfer_function(full[rate])
    np.testing.assert_array_equal(a.frequency_hz, b.frequency_hz)
    np.testing.assert_array_equal(a.z, b.z)
    np.testing.assert_array_equal(a.z_var, b.z_var)


def test_remote_reference_estimate_from_the_local_plans_bins_equals_all_bins(record, gappy) -> None:
    local = amt.io.read(record)
    kept = process_station(local, gappy)
    full = estimate_station(local, compute_station_spectra(local), compute_station_spectra(gappy))
    np.testing.assert_array_equal(kept.z, full.z)
    np.testing.assert_array_equal(kept.z_var, full.z_var)
    assert np.isfinite(full.z[:, 0, 1]).sum() >= 10


def test_transfer_function_read_in_tiny_parts_equals_the_whole_record(record) -> None:
    whole = process_station(amt.io.read(record))
    with open_mth5_chunked(record) as station:
        for run in station.runs:
            run.chunk_samples = TINY
        parts = process_station(station)
    np.testing.assert_array_equal(parts.frequency_hz, whole.frequency_hz)
    assert _rel(parts.z, whole.z) < 1e-9
    assert _rel(parts.z_var, whole.z_var) < 1e-9
    assert np.isfinite(whole.z[:, 0, 1]).sum() >= 10


def test_amt_process_on_mth5_equals_the_record_read_whole(record) -> None:
    result = process_record(record, mode="conventional")
    assert isinstance(result.record.runs[0], ChunkedRun)  # streamed, not read whole
    whole = process_station(amt.io.read(record))
    np.testing.assert_array_equal(result.transfer_function.z, whole.z)
    np.testing.assert_array_equal(result.transfer_function.z_var, whole.z_var)


@pytest.mark.slow
def test_compensated_estimate_read_in_tiny_parts_equals_the_whole_record(record) -> None:
    station = amt.io.read(record)
    events = detect_events(station, "stalta")
    whole = compensate(station, events)
    with open_mth5_chunked(record) as chunked:
        for run in chunked.runs:
            run.chunk_samples = TINY
        parts = compensate(chunked, events)
    for a, b in ((parts.compensated, whole.compensated), (parts.conventional, whole.conventional)):
        assert list(a.diagnostics.get("estimator", [])) == list(b.diagnostics.get("estimator", []))
        assert _rel(a.z, b.z) < 1e-9
        assert _rel(a.z_var, b.z_var) < 1e-9


def test_spectra_config_levels_match_for_a_record_in_parts(gappy) -> None:
    cfg = SpectraConfig(window_length=512, overlap=128, max_levels=1)  # the sferic estimate's long windows
    run = gappy.runs[0]
    a, b = compute_spectra(ChunkedRun.of(run, TINY), cfg), compute_spectra(run, cfg)
    assert len(a) == len(b) == 1
    assert _rel(a[0].coefficients, b[0].coefficients) < 1e-9


def test_detection_reads_only_h_and_finds_the_events_of_the_whole_record(record) -> None:
    h_only, whole = read_magnetic(record), amt.io.read(record)
    assert h_only.runs[0].channels == ("hx", "hy", "hz")
    a, b = detect_events(h_only, "stalta"), detect_events(whole, "stalta")
    assert len(a) == len(b) > 0
    for key in ("start_s", "end_s", "peak_s", "probability", "azimuth_deg"):
        np.testing.assert_array_equal(getattr(a, key), getattr(b, key))


@pytest.mark.slow
def test_detect_record_streams_mth5_and_finds_the_events_of_the_whole_record(record) -> None:
    a, b = detect_record(record), detect_events(amt.io.read(record), "auto")
    assert a.source == b.source == "cnn" and len(a) == len(b) > 0
    for key in ("start_s", "end_s", "peak_s", "probability", "azimuth_deg"):
        np.testing.assert_array_equal(getattr(a, key), getattr(b, key))


def test_a_record_that_cannot_be_streamed_is_read_once_by_the_compensated_process(record, tmp_path, monkeypatch):
    npz = amt.io.write(amt.io.read(record), tmp_path / "rec.npz")
    calls = []
    real = amt.io.read
    monkeypatch.setattr(amt.io, "read", lambda *a, **k: calls.append(a) or real(*a, **k))
    result = process_record(npz, mode="compensated")
    assert len(calls) == 1 and result.compensation is not None


def test_damage_found_while_reading_a_slice_names_the_file_run_channel_and_samples() -> None:
    from amt.io.mth5_file import _slice_reader
    from amt.record import RecordError

    class Broken:
        def __getitem__(self, key):
            raise OSError("Can't read data (inflate() failed)")

    read = _slice_reader("site.h5", "001", {"hx": Broken()})
    with pytest.raises(RecordError, match=r"site\.h5: run 001 channel hx: samples 10-20 unreadable \(OSError: Can't"):
        read("hx", 10, 20)
