"""Dead-band compensation decided by the data, against analytic truth.

Target: docs/acceptance.md#dead-band-decided-by-the-data. The records are the scenario of
:mod:`amt.synth.deadband_records` (a generator independent of :func:`amt.synth.generate`: 1/f field with the 1-5 kHz
band 30x weaker, white instrument noise on every channel, sferics of another physics), short so that the tests stay
fast; sferic times are the true labels.
"""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.figure import Figure
from mt_metadata.transfer_functions.core import TF
from mtpy import MT
from mtpy.imaging.mtplot_tools.plotters import plot_resistivity

from amt.deadband import compensate, events_from_labels
from amt.deadband.difference import difference_estimate
from amt.io.transfer_functions import read_transfer_function, write_transfer_function
from amt.mt import apparent_resistivity, phase_deg
from amt.pipeline.process import summary
from amt.synth.deadband_records import DeadBandScenario, generate_dead_band_record
from amt.transfer import process_station

_OFF = ([0, 1], [1, 0])


def _errors(tf, earth, rows):
    f = tf.frequency_hz[rows]
    zt = earth.impedance(f)
    rho, _ = apparent_resistivity(tf.z[rows], f)
    rho_t, _ = apparent_resistivity(zt, f)
    ph, _ = phase_deg(tf.z[rows])
    ph_t, _ = phase_deg(zt)
    return rho[:, *_OFF] / rho_t[:, *_OFF] - 1, (ph[:, *_OFF] - ph_t[:, *_OFF] + 180) % 360 - 180


def _result(**kw):
    rec = generate_dead_band_record(DeadBandScenario(**kw))
    return rec, compensate(rec.station, events_from_labels(rec.labels))


@pytest.fixture(scope="module")
def informative():
    """6 s, 10 sferics/s (burst physics), noise 20 dB over the dead-band field, 100 ohm-m."""
    return _result(earth="halfspace:100", sferic_rate_hz=10.0, noise_db=20.0, physics="burst", duration_s=6.0, seed=2)


def _windows(rng, n, z, signal, noise, n_bins=4):
    """Per-window cross-powers of H = signal + noise, E = Z H_signal + noise (one polarisation per window)."""
    az = rng.uniform(0, np.pi, n)
    amp = signal[:, None, None] * (rng.normal(size=(n, 1, n_bins)) + 1j * rng.normal(size=(n, 1, n_bins)))
    h_true = amp * np.stack([np.cos(az), np.sin(az)], axis=1)[:, :, None]
    cn = lambda: noise * (rng.normal(size=(n, 2, n_bins)) + 1j * rng.normal(size=(n, 2, n_bins)))  # noqa: E731
    h = h_true + cn()
    e = np.einsum("ij,wjk->wik", z, h_true) + cn()
    return np.einsum("wik,wjk->wij", h, h.conj()), np.einsum("wik,wjk->wij", e, h.conj())


def test_difference_estimate_removes_the_noise_bias_and_its_bars_are_honest() -> None:
    """Sferic windows less quiet windows: unbiased where least squares on the same windows is 30 % low in |Z|."""
    z = np.array([[0.1 + 0.05j, 2.0 + 2.0j], [-1.5 - 1.8j, -0.2j]])
    hits, total, ls_ratio = 0, 0, []
    for seed in range(40):
        rng = np.random.default_rng(seed)
        n = 400
        sferic = rng.random(n) < 0.3
        signal = np.where(sferic, rng.lognormal(0.0, 0.5, n), 0.3)  # weak background in every window
        a, b = _windows(rng, n, z, signal, noise=1.0)
        est = difference_estimate(a, b, sferic.astype(float), ~sferic)
        ls = b[sferic].sum(0) @ np.linalg.inv(a[sferic].sum(0))
        ls_ratio.append(np.abs(ls[_OFF]) / np.abs(z[_OFF]))
        hits += int(np.sum(np.abs(est.z - z) ** 2 <= est.z_var))
        total += 4
    assert np.mean(ls_ratio) < 0.75  # the bias the difference removes is there
    # complex errors: P(|e|^2 <= E|e|^2) = 1 - 1/e = 0.63 for a Gaussian error
    assert 0.53 < hits / total < 0.73, hits / total


def test_every_frequency_is_decided_and_the_dead_band_is_recovered(informative) -> None:
    rec, res = informative
    tf, conv = res.compensated, res.conventional
    d = tf.diagnostics
    assert tf.frequency_hz.max() > 9000  # the grid reaches about 0.4 fs (10 kHz at 24 kHz)
    dead = (d["target_hz"] >= 1000) & (d["target_hz"] <= 5000)
    assert not any(tf.flags[dead]), tf.flags[dead]
    assert np.all(d["estimator"][dead] == "sferic")
    e_rho, e_ph = _errors(tf, rec.earth, np.flatnonzero(dead))
    assert np.all(np.abs(e_rho) < 0.05) and np.all(np.abs(e_ph) < 2.0), (e_rho, e_ph)
    c_rho, _ = _errors(conv, rec.earth, np.flatnonzero(dead))
    assert np.all(c_rho < 0) and np.any(c_rho < -0.5)  # the conventional estimate is low, at places by half
    # honest flags everywhere: no unflagged frequency off by more than 10 % / 3 deg
    good = np.flatnonzero([not f for f in tf.flags])
    e_rho, e_ph = _errors(tf, rec.earth, good)
    assert np.all(np.abs(e_rho) < 0.10) and np.all(np.abs(e_ph) < 3.0)
    flagged = np.flatnonzero([bool(f) for f in tf.flags])
    assert np.all(~np.isfinite(tf.z[flagged])) and np.all(d["estimator"][flagged] == "none")


def test_a_hopeless_record_is_flagged_not_wrong() -> None:
    """0.5 sferics/s, noise 30 dB over the dead-band field: the sferics carry little; nothing wrong is unflagged."""
    rec, res = _result(earth="layers:100,10,1000/300,700", sferic_rate_hz=0.5, noise_db=30.0, physics="ricker",
                       duration_s=4.0, seed=5)  # fmt: skip
    tf = res.compensated
    flagged = np.array([bool(f) for f in tf.flags])
    assert flagged.sum() >= 5
    good = np.flatnonzero(~flagged)
    e_rho, e_ph = _errors(tf, rec.earth, good)
    assert np.all(np.abs(e_rho) < 0.10) and np.all(np.abs(e_ph) < 3.0), (tf.frequency_hz[good], e_rho, e_ph)
    # the conventional estimate, unflagged, is far off at the same record
    c_rho, _ = _errors(res.conventional, rec.earth, np.arange(tf.n_frequencies))
    assert np.nanmax(np.abs(c_rho)) > 0.5


def test_json_says_which_estimator_how_many_sferics_their_signal_fraction_and_the_flag(informative) -> None:
    _, res = informative
    rows = summary(res.compensated)
    for r, est, flag in zip(rows, res.compensated.diagnostics["estimator"], res.compensated.flags, strict=True):
        assert r["estimator"] == est and r["flag"] == flag
        assert isinstance(r["n_sferics"], int) and isinstance(r["n_sferic_windows"], int)
    used = [r for r in rows if r["estimator"] == "sferic"]
    assert used and all(r["n_sferics"] >= 5 and 0 < r["h_signal_fraction"] <= 1 for r in used)


def test_flagged_frequencies_are_gaps_for_mt_metadata_and_mtpy(informative, tmp_path) -> None:
    """mt_metadata reads the EDI empty value as 0 (its missing value); mtpy's plots leave zeros out: a gap."""
    _, res = informative
    tf = res.compensated
    tf.flags[3] = "flagged for this test"
    tf.z[3] = np.nan
    tf.z_var[3] = np.nan
    missing = ~np.isfinite(tf.z[:, 0, 1])
    path = write_transfer_function(tf, tmp_path / "flagged.edi")
    assert np.array_equal(~np.isfinite(read_transfer_function(path).z[:, 0, 1]), missing)
    mt_tf = TF(fn=path)
    mt_tf.read()
    order = np.argsort(-np.asarray(mt_tf.frequency))
    z = np.asarray(mt_tf.impedance)[order]
    assert np.all(z[missing] == 0) and np.all(z[~missing][:, *_OFF] != 0)
    mt = MT(path)
    mt.read()
    order = np.argsort(-np.asarray(mt.Z.frequency))
    period = 1 / np.asarray(mt.Z.frequency)[order]
    rho = np.asarray(mt.Z.res_xy)[order]
    bars = plot_resistivity(Figure().subplots(), period, rho, None)
    shown = np.asarray(bars.lines[0].get_xdata())
    assert np.allclose(np.sort(shown), np.sort(period[~missing]))  # the flagged periods are not plotted


def test_the_generator_holds_its_analytic_truth() -> None:
    """No sferics, noise 30 dB below the dead-band field: the conventional estimate is the analytic impedance."""
    rec = generate_dead_band_record(
        DeadBandScenario(earth="layers:100,10,1000/300,700", sferic_rate_hz=0.0, noise_db=-30.0, duration_s=16.0)
    )
    tf = process_station(rec.station)
    rows = np.flatnonzero((tf.frequency_hz > 20) & (tf.frequency_hz < 800))  # clear of the notch's edge
    e_rho, e_ph = _errors(tf, rec.earth, rows)
    assert np.all(np.abs(e_rho) < 0.04) and np.all(np.abs(e_ph) < 1.0), (e_rho, e_ph)


def test_with_a_remote_reference_no_bias_bound_is_needed_and_wide_bars_are_flagged() -> None:
    """Same field, independent noise at the remote: the remote-reference estimates carry no noise bias (bound 0);
    where the remote holds too little signal their bars are wide, and those frequencies are flagged, not kept."""
    kw = dict(earth="halfspace:1000", sferic_rate_hz=10.0, noise_db=20.0, physics="ricker", duration_s=4.0, seed=7)
    local = generate_dead_band_record(DeadBandScenario(**kw, noise_seed=1))
    remote = generate_dead_band_record(DeadBandScenario(**kw, noise_seed=2))
    events = events_from_labels(local.labels)
    res = compensate(local.station, events, remote=remote.station)
    tf = res.compensated
    bound = tf.diagnostics["bias_bound"]
    assert np.all(bound[np.isfinite(bound)] == 0)
    dead = np.flatnonzero((tf.diagnostics["target_hz"] >= 1000) & (tf.diagnostics["target_hz"] <= 5000))
    single = compensate(local.station, events).conventional
    s_rho, _ = _errors(single, local.earth, dead)
    assert np.all(s_rho < -0.8)  # single-site, all windows: the noise on H takes most of rho_a
    good = np.flatnonzero([not f for f in tf.flags])
    e_rho, e_ph = _errors(tf, local.earth, good)
    assert len(good) >= 4 and np.all(np.abs(e_rho) < 0.10) and np.all(np.abs(e_ph) < 3.0)
    rr = res.conventional
    rel = 2 * np.sqrt(rr.z_var[:, 0, 1] / 2) / np.abs(rr.z[:, 0, 1])
    wide = (rel > 0.03) & (tf.diagnostics["estimator"] != "sferic")
    assert wide.any() and all(tf.flags[wide])
