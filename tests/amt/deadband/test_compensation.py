"""Dead-band compensation against the synthetic's true impedance (docs/acceptance.md#dead-band-accuracy)."""

from __future__ import annotations

import numpy as np
import pytest

from amt.deadband import compensate, find_dead_band
from amt.deadband.edges import notch_deficit_db
from amt.io.transfer_functions import read_transfer_function, write_transfer_function
from amt.mt import apparent_resistivity, phase_deg
from amt.spectra import SpectraConfig, compute_station_spectra
from amt.synth.waveguide import ionosphere

#: Garcia & Jones (2002): the AMT dead band lies at about 1-5 kHz.
NOMINAL_HZ = (1000.0, 5000.0)


def errors(tf, truth_z, rows):
    """rho_a relative error and phase error (deg) of xy and yx at ``rows``: arrays (len(rows), 2)."""
    f = tf.frequency_hz[rows]
    rho, _ = apparent_resistivity(tf.z[rows], f)
    ph, _ = phase_deg(tf.z[rows])
    rho_t, _ = apparent_resistivity(truth_z, f)
    ph_t, _ = phase_deg(truth_z)
    idx = ([0, 1], [1, 0])
    e_rho = rho[:, idx[0], idx[1]] / rho_t[:, idx[0], idx[1]] - 1
    e_ph = (ph[:, idx[0], idx[1]] - ph_t[:, idx[0], idx[1]] + 180) % 360 - 180
    return e_rho, e_ph


def test_notch_deficit_finds_a_notch_and_not_a_slope() -> None:
    f = np.geomspace(500, 10000, 12)
    red = 1.0 / f**2  # a monotone natural spectrum: no dead band
    assert np.all(notch_deficit_db(red) == 0)
    notch = red * np.where((f > 1200) & (f < 2500), 1e-2, 1.0) + np.where(f > 2500, 1e-6, 0.0)
    d = notch_deficit_db(notch)
    inside = (f > 1200) & (f < 2500)
    assert np.all(d[inside] > 10) and np.all(d[~inside] < 3)


def test_dead_band_found_in_the_data_lies_in_the_nominal_band(two_storms) -> None:
    levels = compute_station_spectra(two_storms.station, SpectraConfig(window_length=256, overlap=64))[24000.0]
    band = find_dead_band(levels)
    assert band is not None
    assert NOMINAL_HZ[0] <= band[0] <= band[1] <= NOMINAL_HZ[1]
    # within a factor of 2 of the waveguide's first cutoff, where the quasi-TEM attenuation peaks
    cutoff = ionosphere(night=False).cutoff_hz
    assert cutoff / 2 < np.sqrt(band[0] * band[1]) < 2 * cutoff


def _check_against_truth(rec, result) -> None:
    tf, conv = result.compensated, result.conventional
    rows = np.flatnonzero(tf.diagnostics["dead_band"])
    assert len(rows) >= 2, result.dead_band_hz
    assert not any(tf.flags[rows]), tf.flags[rows]
    e_rho, e_ph = errors(tf, rec.truth(tf.frequency_hz[rows]), rows)
    c_rho, c_ph = errors(conv, rec.truth(conv.frequency_hz[rows]), rows)
    report = {
        "f_hz": tf.frequency_hz[rows].round(0).tolist(),
        "comp_rho": e_rho.round(3).tolist(),
        "comp_ph": e_ph.round(2).tolist(),
        "conv_rho": c_rho.round(3).tolist(),
        "conv_ph": c_ph.round(2).tolist(),
        "n_sferics": tf.diagnostics["n_sferics"][rows].tolist(),
    }
    assert np.all(np.abs(e_rho) < 0.05) and np.all(np.abs(e_ph) < 2.0), report
    # the contrast: conventional (all windows, robust) is off by more than 20 % in the deepest part of the notch
    # (at its edges a 20/s storm leaves enough energy for the robust estimator to stay close)
    assert np.any(np.abs(c_rho).max(axis=1) > 0.20), report
    assert np.all(tf.diagnostics["n_sferics"][rows] > 0)
    assert np.all(tf.diagnostics["azimuth_spread_deg"][rows] > 0)
    assert np.all(tf.diagnostics["condition_number"][rows] < 10)
    # the data decide: every dead-band frequency where the conventional estimate misses the truth by more than 5 %
    # is estimated from the sferic windows (where it does not, the two estimates may agree and it is kept)
    missed = np.abs(c_rho).max(axis=1) > 0.05
    assert np.any(missed) and np.all(tf.diagnostics["estimator"][rows][missed] == "sferic"), report


def test_compensated_within_5_percent_and_2_deg_in_the_found_dead_band(two_storms) -> None:
    result = compensate(two_storms.station, two_storms.detections, conventional=two_storms.conventional)
    _check_against_truth(two_storms, result)
    tf = result.compensated
    # the dead band is a diagnostic, not a switch: every frequency is chosen by the data, and where the
    # conventional estimate is kept it is the conventional estimate itself
    conv = tf.diagnostics["estimator"] == "conventional"
    np.testing.assert_array_equal(tf.z[conv], two_storms.conventional.z[conv])
    sferic = np.flatnonzero(tf.diagnostics["estimator"] == "sferic")
    assert np.any(~tf.diagnostics["dead_band"][sferic])  # chosen outside the found band too
    good = np.array([not f for f in tf.flags]) & (tf.frequency_hz > 100)
    e_rho, e_ph = errors(tf, two_storms.truth(tf.frequency_hz[good]), np.flatnonzero(good))
    assert np.all(np.abs(e_rho) < 0.05) and np.all(np.abs(e_ph) < 2.0)


def test_compensated_within_5_percent_and_2_deg_with_2_sferics_per_second(two_storms_sparse) -> None:
    rec = two_storms_sparse
    result = compensate(rec.station, rec.detections, conventional=rec.conventional)
    _check_against_truth(rec, result)


def test_compensated_within_5_percent_and_2_deg_over_the_nominal_1_to_5_khz(two_storms) -> None:
    before = {k: np.copy(getattr(two_storms.conventional, k)) for k in ("frequency_hz", "z", "z_var", "flags")}
    result = compensate(
        two_storms.station, two_storms.detections, dead_band_hz=NOMINAL_HZ, conventional=two_storms.conventional
    )
    for k, v in before.items():  # the given conventional estimate is not modified
        np.testing.assert_array_equal(getattr(two_storms.conventional, k), v)
    assert result.compensated.diagnostics["dead_band"].sum() >= 5
    _check_against_truth(two_storms, result)


def _labels_vs_detections(rec):
    det = compensate(rec.station, rec.detections, conventional=rec.conventional).compensated
    lab = compensate(rec.station, rec.labels, conventional=rec.conventional).compensated
    rows = np.flatnonzero(det.diagnostics["dead_band"])
    assert len(rows) >= 2 and np.array_equal(rows, np.flatnonzero(lab.diagnostics["dead_band"]))
    # the labels are a different set of windows (the detector misses weak sferics), so the test is not trivial
    assert not np.array_equal(det.diagnostics["n_sferics"][rows], lab.diagnostics["n_sferics"][rows])
    return det, lab, rows


@pytest.mark.parametrize("record", ["two_storms", "two_storms_sparse"])
def test_true_labels_change_the_result_by_less_than_its_error_bars(record, request) -> None:
    """The detector is good enough for the purpose: labels instead of detections stay inside the jackknife bars
    where both runs chose the same estimator (measured: at most 0.03 bars; 0.48 at 20 sferics/s and 0.18 at 2/s
    before the leverage weights were held within each stage; 2.11 bars on one of eight records with the earlier
    256-sample dead-band window, see ``benchmarks.amt_deadband_windows``); at 20/s the choice at 2.2 kHz flips
    between the conventional and the sferic estimate, 0.95 % and 0.5 deg apart."""
    det, lab, rows = _labels_vs_detections(request.getfixturevalue(record))
    rho_d, rho_err = apparent_resistivity(det.z[rows], det.frequency_hz[rows], det.z_var[rows])
    rho_l, _ = apparent_resistivity(lab.z[rows], lab.frequency_hz[rows])
    ph_d, ph_err = phase_deg(det.z[rows], det.z_var[rows])
    ph_l, _ = phase_deg(lab.z[rows])
    # where one run keeps the conventional estimate (its sferic estimate agreed with it) and the other the sferic
    # one, the choice flipped at its threshold between two estimates of the same response: there they agree to the
    # accuracy target (5 %, 2 deg); where both chose the same estimator, to its bar
    same = det.diagnostics["estimator"][rows] == lab.diagnostics["estimator"][rows]
    assert np.any(same & (det.diagnostics["estimator"][rows] == "sferic"))
    same = same[:, None, None]
    bar_rho, bar_ph = np.where(same, rho_err, 0.05 * rho_l), np.where(same, ph_err, 2.0)
    for i, j in ((0, 1), (1, 0)):
        assert np.all(np.abs(rho_d[:, i, j] - rho_l[:, i, j]) < bar_rho[:, i, j])
        assert np.all(np.abs(ph_d[:, i, j] - ph_l[:, i, j]) < bar_ph[:, i, j])


def test_true_labels_change_rho_by_less_than_the_error_against_the_truth(two_storms) -> None:
    """The detector costs less than the method's own error: labels move rho_a less than either misses the truth."""
    det, lab, rows = _labels_vs_detections(two_storms)
    rho_d, _ = apparent_resistivity(det.z[rows], det.frequency_hz[rows])
    rho_l, _ = apparent_resistivity(lab.z[rows], lab.frequency_hz[rows])
    e_det, _ = errors(det, two_storms.truth(det.frequency_hz[rows]), rows)
    change = np.abs(rho_d[:, [0, 1], [1, 0]] / rho_l[:, [0, 1], [1, 0]] - 1)
    assert change.max() < np.abs(e_det).max()


def test_one_storm_gives_flagged_frequencies_not_wrong_ones(one_storm, two_storms, tmp_path) -> None:
    result = compensate(one_storm.station, one_storm.detections, conventional=one_storm.conventional)
    tf = result.compensated
    rows = np.flatnonzero(tf.diagnostics["dead_band"])
    assert len(rows) >= 1
    flagged = np.array([bool(tf.flags[i]) for i in rows])
    assert flagged.any(), tf.flags[rows]
    good = rows[~flagged]
    if len(good):
        e_rho, e_ph = errors(tf, one_storm.truth(tf.frequency_hz[good]), good)
        assert np.all(np.abs(e_rho) < 0.05) and np.all(np.abs(e_ph) < 2.0)
    assert np.all(~np.isfinite(tf.z[rows[flagged]]))
    # one polarisation shows in the H cross-power: far worse conditioned than with two storms
    two = compensate(two_storms.station, two_storms.detections, conventional=two_storms.conventional).compensated
    cond_two = two.diagnostics["condition_number"][two.diagnostics["dead_band"]]
    assert np.min(tf.diagnostics["condition_number"][rows]) > 5 * np.max(cond_two)
    # written as empty, never as a guess
    back = read_transfer_function(write_transfer_function(tf, tmp_path / "one.edi"))
    near = [int(np.argmin(np.abs(back.frequency_hz - f))) for f in tf.frequency_hz[rows[flagged]]]
    assert np.all(~np.isfinite(back.z[near]))
