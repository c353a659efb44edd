"""Long records in bounded memory (docs/acceptance.md#pipeline-memory): coefficients kept in a temporary file give
the spectra and estimates of coefficients in memory bit for bit, and a band past ``EstimateConfig.max_points`` is
estimated from every k-th window, as from spectra that hold only those windows."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

import amt.io
import amt.spectra.store as store
from amt.deadband import compensate, detect_events
from amt.spectra import compute_station_spectra, plan_bands
from amt.transfer import EstimateConfig, process_station
from amt.transfer.estimate import estimate_transfer_function
from tests.amt.survey.records import write_records


@pytest.fixture(scope="module")
def station(tmp_path_factory):
    return amt.io.read(write_records(tmp_path_factory.mktemp("long"), 1, duration_s=2.0)[0])


def test_a_file_backed_array_keeps_its_values_after_its_pages_are_dropped() -> None:
    a = store.allocate(1000, 5, 7, in_memory_bytes=0)
    assert store.mapping_of(a) is not None and a.shape == (1000, 5, 7) and a.dtype == np.complex64
    values = (np.arange(35_000, dtype=np.float32) - 1j * np.arange(35_000)).astype(np.complex64).reshape(a.shape)
    a[:] = values
    store.release(a)
    np.testing.assert_array_equal(a, values)
    np.testing.assert_array_equal(a[:, 3, :][np.ix_(np.arange(0, 1000, 7), [1, 4])], values[::7, 3][:, [1, 4]])
    assert store.mapping_of(store.allocate(10, 5, 7)) is None  # small arrays stay in memory
    store.release(np.zeros(3))  # nothing to drop


def test_spectra_and_estimate_from_file_backed_coefficients_equal_those_in_memory(station, monkeypatch) -> None:
    in_memory = compute_station_spectra(station)
    expected = process_station(station)
    monkeypatch.setattr(store, "IN_MEMORY_BYTES", 0)
    on_file = compute_station_spectra(station)
    got = process_station(station)
    for rate, levels in in_memory.items():
        for a, b in zip(on_file[rate], levels, strict=True):
            assert store.mapping_of(a.coefficients) is not None
            np.testing.assert_array_equal(a.coefficients, b.coefficients)
    np.testing.assert_array_equal(got.z, expected.z)
    np.testing.assert_array_equal(got.z_var, expected.z_var)
    assert np.isfinite(got.z[:, 0, 1]).sum() >= 10


def test_a_band_past_max_points_is_estimated_from_every_kth_window(station) -> None:
    levels = next(iter(compute_station_spectra(station).values()))
    band = max(plan_bands(levels, None, 7, 5), key=lambda b: levels[b.level].n_windows * len(b.bins))
    s = levels[band.level]
    points = s.n_windows * len(band.bins)
    config = EstimateConfig(max_points=points // 3)  # k = 4: the smallest stride under the cap
    capped = estimate_transfer_function(levels, config=config, frequencies_hz=np.array([band.target_hz]))
    thinned = [*levels]
    thinned[band.level] = replace(s, coefficients=s.coefficients[::4], window_start_s=s.window_start_s[::4],
                                  window_weight=s.window_weight[::4])
    by_hand = estimate_transfer_function(thinned, config=replace(config, max_points=None),
                                         frequencies_hz=np.array([band.target_hz]))
    np.testing.assert_array_equal(capped.z, by_hand.z)
    np.testing.assert_array_equal(capped.z_var, by_hand.z_var)
    assert capped.diagnostics["window_stride"][0] == 4 and by_hand.diagnostics["window_stride"][0] == 1
    assert capped.diagnostics["n_points"][0] <= points // 3
    full = estimate_transfer_function(levels, config=replace(config, max_points=None),
                                      frequencies_hz=np.array([band.target_hz]))
    assert np.isfinite(capped.z[0, 0, 1]) and not np.array_equal(capped.z, full.z)


@pytest.mark.slow
def test_compensated_estimate_from_file_backed_coefficients_equals_the_one_in_memory(station, monkeypatch) -> None:
    events = detect_events(station, "stalta")
    expected = compensate(station, events)
    monkeypatch.setattr(store, "IN_MEMORY_BYTES", 0)
    got = compensate(station, events)
    for a, b in ((got.compensated, expected.compensated), (got.conventional, expected.conventional)):
        assert list(a.diagnostics.get("estimator", [])) == list(b.diagnostics.get("estimator", []))
        np.testing.assert_array_equal(a.z, b.z)
        np.testing.assert_array_equal(a.z_var, b.z_var)
    assert np.isfinite(got.compensated.z[:, 0, 1]).sum() >= 5


@pytest.mark.slow
def test_remote_reference_estimates_from_file_backed_coefficients_equal_those_in_memory(
    station, tmp_path_factory, monkeypatch
) -> None:
    remote = amt.io.read(write_records(tmp_path_factory.mktemp("remote"), 1, duration_s=2.0, first_seed=7)[0])
    events = detect_events(station, "stalta")
    expected = compensate(station, events, remote=remote)
    monkeypatch.setattr(store, "IN_MEMORY_BYTES", 0)
    got = compensate(station, events, remote=remote)
    for a, b in ((got.compensated, expected.compensated), (got.conventional, expected.conventional)):
        np.testing.assert_array_equal(a.z, b.z)
        np.testing.assert_array_equal(a.z_var, b.z_var)
    assert np.isfinite(got.conventional.z[:, 0, 1]).sum() >= 5


def test_bins_taken_from_a_file_backed_level_equal_those_in_memory(station) -> None:
    level = next(iter(compute_station_spectra(station).values()))[0]
    on_file = store.allocate(*level.coefficients.shape, in_memory_bytes=0)
    on_file[:] = level.coefficients
    bins = level.bin_numbers()[[0, 3, 4, 9]]
    a = replace(level, coefficients=on_file).with_bins(bins)
    b = level.with_bins(bins)
    assert store.mapping_of(a.coefficients) is not None
    np.testing.assert_array_equal(a.coefficients, b.coefficients)
    np.testing.assert_array_equal(a.freqs_hz, b.freqs_hz)


def test_no_room_for_the_coefficients_is_a_clear_error(monkeypatch) -> None:
    def full(fd, offset, length):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(store.os, "posix_fallocate", full, raising=False)
    message = r"cannot keep 1 MiB .*\(No space left on device\); set TMPDIR"
    with pytest.raises(store.CoefficientStoreError, match=message):
        store.allocate(1 << 15, 4, 1, in_memory_bytes=0)
