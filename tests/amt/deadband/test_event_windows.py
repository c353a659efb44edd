"""Which windows each sferic overlaps, found for all events at once, equals the event-by-event loop."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from amt.deadband.compensate import _event_windows
from amt.sferic.catalogue import SfericEventTable


def _loop(s, events):
    order = np.argsort(s.window_start_s, kind="stable")
    starts = s.window_start_s[order]
    prob, held = np.zeros(s.n_windows), [[] for _ in range(s.n_windows)]
    lo = np.searchsorted(starts, events.start_s - s.window_duration_s, side="right")
    hi = np.searchsorted(starts, events.end_s, side="left")
    for k, (a, b) in enumerate(zip(lo, hi, strict=True)):
        for w in order[a:b]:
            prob[w] = max(prob[w], events.probability[k])
            held[w].append(k)
    return prob, [np.asarray(h, dtype=int) for h in held]


@pytest.mark.parametrize(("shuffled", "n_events"), [(False, 2000), (True, 2000), (False, 0)])
def test_event_windows_equal_the_event_by_event_loop(shuffled, n_events) -> None:
    rng = np.random.default_rng(0)
    starts = np.arange(3000) * 0.016 + 100.0  # windows of 21 ms every 16 ms
    s = SimpleNamespace(
        window_start_s=rng.permutation(starts) if shuffled else starts, n_windows=3000, window_duration_s=0.021
    )
    t0, dur = 100 + rng.uniform(-1, 50, n_events), rng.uniform(0, 0.05, n_events)  # some before the first window
    events = SfericEventTable(t0, t0 + dur, t0 + dur / 2, rng.uniform(0, 1, n_events), rng.uniform(0, 180, n_events))
    prob, held = _event_windows(s, events)
    want_prob, want_held = _loop(s, events)
    np.testing.assert_array_equal(prob, want_prob)
    assert len(held) == 3000 and all(np.array_equal(a, b) for a, b in zip(held, want_held, strict=True))
    assert n_events == 0 or sum(len(h) for h in held) > n_events  # events span several windows


def test_no_windows_hold_no_events() -> None:
    s = SimpleNamespace(window_start_s=np.zeros(0), n_windows=0, window_duration_s=0.021)
    events = SfericEventTable(np.array([1.0]), np.array([1.01]), np.array([1.005]), np.array([0.9]), np.array([10.0]))
    prob, held = _event_windows(s, events)
    assert prob.shape == (0,) and held == []
