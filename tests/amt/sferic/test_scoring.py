"""Event-level scoring and the STA/LTA baseline against hand-made truth."""

import numpy as np

from amt.sferic.evaluation.scoring import event_scores
from amt.sferic.events import to_mask
from amt.sferic.preprocess import highpass
from amt.sferic.stalta import StaLta, tune
from shared.metrics import binary_scores
from tests.amt.sferic.conftest import interval_label


def label(a, b, snr=0.0):
    return interval_label(a, b, snr_db=snr)


def test_hits_misses_false_and_onsets():
    labels = [label(100, 130), label(500, 520), label(900, 910, snr=-30.0)]  # the last is "don't care"
    events = np.array([[110, 140], [905, 907], [2000, 2010]])
    s = event_scores(events, labels, rate_hz=1000.0)
    assert (s["hits"], s["misses"], s["false"]) == (1, 1, 1)
    assert s["onset_errors_ms"] == [10.0]
    assert s["recall"] == 0.5 and s["precision"] == 0.5


def _burst_record(seed):
    rng = np.random.default_rng(seed)
    n, rate = 24000, 24000.0
    h = rng.standard_normal((2, n))
    truth = np.zeros(n, bool)
    for t0 in (3000, 9000, 15000, 21000):
        t = np.arange(48) / rate
        burst = 30 * np.exp(-t / 0.5e-3) * np.sin(2 * np.pi * 6000 * t)
        h[0, t0 : t0 + 48] += burst
        h[1, t0 : t0 + 48] -= burst
        truth[t0 : t0 + 24] = True
    return highpass(h, rate), rate, truth, np.ones(n, bool)


def test_stalta_triggers_on_strong_bursts():
    hp, rate, _, _ = _burst_record(0)
    ev = StaLta(1e-3, 20e-3, 3.0, 1.5).events(hp, rate)
    s = event_scores(ev, [label(a, a + 24) for a in (3000, 9000, 15000, 21000)], rate)
    assert s["hits"] == 4 and s["false"] == 0


def test_tuning_is_at_least_as_good_as_any_grid_point():
    recs = [_burst_record(s) for s in (1, 2)]
    best, f1 = tune(recs, sta_s=(1e-3,), lta_s=(20e-3,), on=(2.0, 4.0), off=(1.0, 1.5))
    for on, off in ((2.0, 1.0), (4.0, 1.5)):
        other = StaLta(1e-3, 20e-3, on, off)
        f = np.mean([binary_scores(y, to_mask(other.events(hp, r), len(y)))["f1"] for hp, r, y, _ in recs])
        assert f1 >= f - 1e-12
    assert best.on in (2.0, 4.0)
