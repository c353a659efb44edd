"""Neural Cleanse: MAD anomaly index by hand; a planted patch is recovered (index > 2) and unlearned."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from dnnsec.defence.neural_cleanse import anomaly_index, neural_cleanse, unlearn


def test_anomaly_index_is_distance_below_median_over_scaled_mad():
    l1 = np.array([1.0, 10.0, 11.0, 12.0, 14.0])
    # median 11; |l1 - 11| = 10, 1, 0, 1, 3 -> MAD 1 -> scaled 1.4826
    assert anomaly_index(l1) == pytest.approx((11.0 - l1) / 1.4826)


@pytest.mark.slow
def test_planted_patch_is_recovered_flagged_and_unlearned(backdoored):
    clf, attack, _, test = backdoored
    clf = copy.deepcopy(clf)                      # unlearning changes the model; the fixture is shared
    x = test.intensities()
    report = neural_cleanse(clf, x[:300], test.num_classes, steps=100)
    assert report.flagged == [0] and report.index[0] > 2
    triggered = attack.triggers[0].apply(x[300:][test.labels[300:] != 0])
    assert float((clf.predict(triggered) == 0).double().mean()) > 0.9
    unlearn(clf, x[:300], test.labels[:300], [report.triggers[0]], epochs=5)
    assert float((clf.predict(triggered) == 0).double().mean()) < 0.3
    assert float((clf.predict(x[300:]) == test.labels[300:]).double().mean()) > 0.9
