"""Event trigger for a false-alarm rate, isotonic calibration and reliability, against constructed truth."""

import numpy as np
import pytest

from amt.sferic.calibration import (
    Calibration,
    candidate_peaks,
    mains_locked,
    reliability,
    trigger_for_false_alarm_rate,
)
from amt.sferic.evaluation.families import TOLERANCE_S, event_counts
from amt.sferic.inference import SfericDetector
from amt.sferic.model import SfericUNet
from tests.amt.sferic.conftest import interval_label


def _bumps(peaks, n=60_000, width=30):
    """A trace at 0.05 with one bump per peak value, 1,000 samples apart."""
    p = np.full(n, 0.05)
    for k, v in enumerate(peaks):
        p[1_000 * (k + 1) : 1_000 * (k + 1) + width] = v
    return p


def test_trigger_allows_exactly_the_stated_number_of_noise_events():
    rng = np.random.default_rng(1)
    peaks = rng.uniform(0.2, 0.9, 50)
    trace = _bumps(peaks)
    r, found = candidate_peaks(trace, 0.15, 0)
    assert len(r) == 50
    np.testing.assert_allclose(np.sort(found), np.sort(peaks))
    minutes = 4.0
    level = trigger_for_false_alarm_rate(found, minutes, rate_per_min=1.0, low=0.15)
    det = SfericDetector(SfericUNet(widths=(4, 8)), threshold=0.3, event_threshold=level)
    assert len(det.events_in(trace)) == 4  # 1 per minute over 4 minutes
    assert level > np.sort(peaks)[-5]  # the fifth highest noise bump no longer triggers


def test_trigger_is_never_below_the_trigger_off_level():
    assert trigger_for_false_alarm_rate(np.array([0.2]), 10.0, 1.0, low=0.15) == 0.15
    with pytest.raises(ValueError, match="sferic-free"):
        trigger_for_false_alarm_rate(np.array([0.2]), 0.0, 1.0, low=0.15)


def test_isotonic_calibration_recovers_a_known_probability_and_lowers_the_ece():
    # Candidates whose chance of being a sferic is score^2 (known truth): the fitted map approaches it, and on fresh
    # candidates the calibrated probability has a small expected calibration error where the raw score has not.
    rng = np.random.default_rng(0)
    s = rng.random(5000)
    cal = Calibration.fit(s, rng.random(5000) < s**2)
    grid = np.linspace(0.1, 0.9, 9)
    assert np.max(np.abs(cal(grid) - grid**2)) < 0.1
    assert np.all(np.diff(cal(np.linspace(0, 1, 101))) >= 0)
    fresh = rng.random(5000)
    truth = rng.random(5000) < fresh**2
    assert reliability(cal(fresh), truth)[0] < 0.04
    assert reliability(fresh, truth)[0] > 0.12
    assert Calibration.from_dict(cal.to_dict()) == cal


def test_reliability_of_a_hand_made_set():
    ece, curve = reliability(np.array([0.05, 0.05, 0.95, 0.95]), np.array([0, 1, 1, 1]), n_bins=10)
    assert ece == pytest.approx(0.5 * 0.45 + 0.5 * 0.05)
    assert [(b["n"], b["observed"]) for b in curve] == [(2, 0.5), (2, 1.0)]


def test_decreasing_calibration_is_refused():
    with pytest.raises(ValueError, match="non-decreasing"):
        Calibration.from_dict({"x": [0.1, 0.5], "y": [0.9, 0.2]})


def test_event_counts_use_a_5_ms_tolerance_and_score_only_sferics_at_or_above_0_db():
    rate = 24_000.0
    tol = round(TOLERANCE_S * rate)
    labels = [
        interval_label(10_000, 10_030, snr_db=3.0),
        interval_label(20_000, 20_030, snr_db=-6.0),  # weak: neither hit nor miss, and no false event on it
        interval_label(30_000, 30_030, snr_db=8.0),
    ]
    events = np.array([[10_030 + tol - 1, 10_030 + tol + 5], [20_010, 20_020], [40_000, 40_010]])
    c = event_counts(events, labels, rate)
    assert c == {"hits": 1, "misses": 1, "false": 1}
    late = event_counts(np.array([[10_030 + tol + 1, 10_040 + tol]]), labels[:1], rate)
    assert late == {"hits": 0, "misses": 1, "false": 1}


def test_no_or_one_candidate_is_never_mains_locked():
    assert mains_locked(np.zeros(0), 24e3).shape == (0,)
    assert mains_locked(np.zeros((0, 2)), 24e3).shape == (0,)
    assert not mains_locked(np.array([5.0]), 24e3).any()


def test_mains_locked_candidates_are_vetoed_and_poisson_ones_kept():
    rate = 24_000.0
    rng = np.random.default_rng(3)
    poisson = np.sort(rng.choice(24_000 * 60, 600, replace=False))  # 10 per second for a minute
    train = np.round(5_000 + np.arange(30) * rate / 60 + rng.normal(0, 1, 30))  # a 60 Hz train, 1-sample jitter
    pos = np.sort(np.concatenate([poisson, train]))
    locked = mains_locked(pos, rate)
    assert np.all(locked[np.isin(pos, train)])
    assert np.count_nonzero(locked[np.isin(pos, poisson)]) <= 3  # chance coincidences: about 1e-3 of them
    # the detector drops a mains-locked run of bumps but keeps a lone one
    p = np.full(48_000, 0.05)
    for t in [2_000 + round(k * rate / 50) for k in range(5)] + [40_000]:
        p[t : t + 20] = 0.99
    det = SfericDetector(SfericUNet(widths=(4, 8)), threshold=0.3, event_threshold=0.5)
    assert det.events_in(p).tolist() == [[40_000, 40_020]]
    det.reject_mains_locked = False
    assert len(det.events_in(p)) == 6


def test_mains_locked_plateaus_are_vetoed_by_their_onsets():
    # a strong mains-locked pulse saturates the trace: a plateau whose arg-max wanders by ms from cycle to cycle
    rate = 24_000.0
    rng = np.random.default_rng(5)
    p = np.full(48_000, 0.05)
    onsets = [3_000 + round(k * rate / 50) for k in range(6)]
    for t in onsets:
        p[t : t + 80] = 0.99 + 0.005 * rng.random(80)
    p[30_000:30_080] = 0.99  # a lone sferic
    det = SfericDetector(SfericUNet(widths=(4, 8)), threshold=0.3, event_threshold=0.5)
    peaks = np.array([t + int(np.argmax(p[t : t + 80])) for t in onsets])
    assert np.count_nonzero(mains_locked(peaks, rate)) < len(onsets)  # the peaks alone do not repeat
    assert mains_locked(np.column_stack([onsets, peaks]), rate).all()  # the onsets do
    assert det.events_in(p).tolist() == [[30_000, 30_080]]


def test_mains_locked_spans_catch_trains_whose_onsets_wander():
    # two pulses per cycle merge in some cycles and not in others: onsets and peaks move by ~15 samples
    rate = 24_000.0
    rng = np.random.default_rng(7)
    cycles = 3_000 + np.arange(20) * 400  # 60 Hz
    start = cycles - rng.choice([0, 15], cycles.size)
    spans_train = np.column_stack([start, cycles + 80])
    poisson = np.sort(rng.integers(20_000, 24_000 * 60, 600))  # 10 per second for a minute, 4 ms long
    spans = np.concatenate([spans_train, np.column_stack([poisson, poisson + 96])])
    peaks = spans[:, 0] + rng.integers(10, 60, len(spans))
    ref = np.column_stack([spans[:, 0], peaks])
    in_train = np.arange(len(spans)) < len(cycles)
    assert np.count_nonzero(mains_locked(ref, rate)[in_train]) < in_train.sum()  # points alone miss some
    locked = mains_locked(ref, rate, spans=spans)
    assert locked[in_train][2:-2].all()  # where a train stops, its last cycles can only repeat on the points
    assert np.count_nonzero(locked[~in_train]) <= 6  # chance: about 1e-3 of them (2x2x6 (2 r tol)^2 + 4 D^4)
