"""The compensated estimate keeps only the bins its rows read, and equals the estimate from every bin."""

from __future__ import annotations

import importlib
from dataclasses import replace

import numpy as np
import pytest

from amt.deadband import CompensationConfig, compensate
from amt.spectra import compute_station_spectra, station_levels

compensate_module = importlib.import_module("amt.deadband.compensate")  # the package names the function alike
difference_module = importlib.import_module("amt.deadband.difference")


def _every_bin(monkeypatch) -> None:
    """Make :func:`compensate` compute and keep every bin and channel of every level (as before bins were chosen)."""

    def all_bins(station, config, channels=None, select_bins=None, transform=None):
        return compute_station_spectra(station, config, channels)

    monkeypatch.setattr(compensate_module, "compute_station_spectra", all_bins)
    monkeypatch.setattr(compensate_module, "_with_bins", lambda spectra, needs: spectra)


def _same(a, b) -> None:
    np.testing.assert_array_equal(a.frequency_hz, b.frequency_hz)
    np.testing.assert_array_equal(a.z, b.z)
    np.testing.assert_array_equal(a.z_var, b.z_var)
    np.testing.assert_array_equal(a.flags, b.flags)
    assert a.diagnostics.keys() == b.diagnostics.keys()
    for key in a.diagnostics:
        np.testing.assert_array_equal(a.diagnostics[key], b.diagnostics[key], err_msg=key)


@pytest.mark.parametrize("with_remote", [False, True])
def test_chosen_bins_give_the_estimate_of_every_bin(two_storms, monkeypatch, with_remote) -> None:
    rec = two_storms
    remote = rec.station if with_remote else None  # itself as its remote: every window matched
    kept: list[int] = []
    original = compensate_module.compute_station_spectra

    def counting(station, config, channels=None, select_bins=None, transform=None):
        out = original(station, config, channels, select_bins, transform)
        kept.extend(s.coefficients.shape[1] * len(s.freqs_hz) for levels in out.values() for s in levels)
        return out

    with monkeypatch.context() as m:
        m.setattr(compensate_module, "compute_station_spectra", counting)
        m.setattr(difference_module, "_BLOCK", 7)  # the per-window sums in several blocks, as on a long record
        chosen = compensate(rec.station, rec.labels, remote)
    with monkeypatch.context() as m:
        _every_bin(m)
        every = compensate(rec.station, rec.labels, remote)
    _same(chosen.compensated, every.compensated)
    _same(chosen.conventional, every.conventional)
    assert chosen.dead_band_hz == every.dead_band_hz
    # fewer channel bins were kept than the levels hold (64 per 128-sample window, 256 per 512-sample one)
    full = [s.coefficients.shape[1] * len(s.freqs_hz) for s in _levels(rec.station)]
    assert sum(kept) < sum(full) * (2 if with_remote else 1)
    assert (chosen.compensated.diagnostics["estimator"] == "sferic").any()


def _levels(station):
    config = CompensationConfig()
    conv = compute_station_spectra(station, config.spectra)
    long = compute_station_spectra(station, replace(config.sferic_spectra, max_levels=1))
    return [s for out in (conv, long) for levels in out.values() for s in levels]


def test_transformed_channels_keep_the_windows_of_every_channel(two_storms) -> None:
    run = two_storms.station.runs[0]
    data = {c: x.copy() for c, x in run.data.items()}
    data["hz"][20_000:21_000] = np.nan  # a gap in hz alone
    station = replace(two_storms.station, runs=[replace(run, data=data)])
    config = replace(CompensationConfig().sferic_spectra, max_levels=1)
    every = compute_station_spectra(station, config)
    some = compute_station_spectra(station, config, transform=("hx", "hy"))
    h_only = compute_station_spectra(station, config, channels=("hx", "hy"))
    planned = station_levels(station, config)
    assert every.keys() == some.keys() == planned.keys()
    for rate, levels in every.items():
        e, s = levels[0], some[rate][0]
        assert s.channels == ("hx", "hy")
        assert s.n_windows == e.n_windows < h_only[rate][0].n_windows  # the gap in hz removes windows here too
        np.testing.assert_array_equal(s.window_start_s, e.window_start_s)
        for c in s.channels:
            np.testing.assert_array_equal(s.channel(c), e.channel(c))
        p = planned[rate][0]
        assert (p.n_windows, p.sample_rate_hz, p.window_length) == (0, e.sample_rate_hz, e.window_length)
        np.testing.assert_array_equal(p.freqs_hz, e.freqs_hz)
