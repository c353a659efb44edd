"""Hysteresis events against hand-made probability traces."""

import numpy as np
import pytest

from amt.sferic.events import hysteresis, run_max, runs, to_mask


def test_runs_of_a_mask():
    m = np.array([0, 1, 1, 0, 0, 1, 0, 1], dtype=bool)
    assert runs(m).tolist() == [[1, 3], [5, 6], [7, 8]]
    assert runs(np.zeros(4, bool)).shape == (0, 2)


def test_event_needs_one_sample_above_high_and_extends_to_low():
    p = np.array([0.0, 0.4, 0.6, 0.4, 0.0, 0.35, 0.2, 0.9, 0.9, 0.1, 0.4, 0.4])
    # [1, 4) rises above 0.5 once and stays above 0.3 for 3 samples; [5, 6) never reaches 0.5;
    # [7, 9) does; [10, 12) never does.
    assert hysteresis(p, high=0.5, low=0.3).tolist() == [[1, 4], [7, 9]]


def test_close_runs_merge_and_short_events_drop():
    p = np.array([0.0, 0.4, 0.6, 0.4, 0.0, 0.35, 0.2, 0.9, 0.9, 0.1, 0.4, 0.4])
    assert hysteresis(p, 0.5, 0.3, min_gap=2).tolist() == [[1, 12]]
    assert hysteresis(p, 0.5, 0.3, min_samples=3).tolist() == [[1, 4]]


def test_nan_counts_as_zero_and_event_at_the_end():
    p = np.array([np.nan, 0.9, 0.9, np.nan, 0.2, 0.8])
    assert hysteresis(p, 0.5, 0.3).tolist() == [[1, 3], [5, 6]]


def test_run_max_matches_a_loop():
    rng = np.random.default_rng(3)
    p = rng.random(500)
    r = runs(p > 0.7)
    assert np.array_equal(run_max(p, r), [p[a:b].max() for a, b in r])


def test_mask_round_trip():
    ev = np.array([[2, 5], [9, 10]])
    m = to_mask(ev, 12)
    assert m.sum() == 4 and np.array_equal(runs(m), ev)


def test_inverted_thresholds_are_refused():
    with pytest.raises(ValueError, match="low <= high"):
        hysteresis(np.zeros(3), high=0.2, low=0.5)


def test_hysteresis_matches_a_sample_by_sample_schmitt_trigger():
    rng = np.random.default_rng(5)
    p = rng.random(5000).astype(np.float32)
    p[rng.random(5000) < 0.02] = np.nan
    high, low = 0.8, 0.35
    events, start, peak = [], None, 0.0
    for i, v in enumerate(np.nan_to_num(p, nan=0.0).astype(np.float64)):
        if v >= low:
            start = i if start is None else start
            peak = max(peak, v)
        elif start is not None:
            if peak >= high:
                events.append((start, i))
            start, peak = None, 0.0
    if start is not None and peak >= high:
        events.append((start, len(p)))
    assert np.array_equal(hysteresis(p, high, low).reshape(-1, 2), np.array(events).reshape(-1, 2))
