"""Intentional adversarial perturbation: exact DeepFool step on a linear model; the detector on a backdoor."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from dnnsec.defence.classifier import DefenceError, PixelClassifier
from dnnsec.defence.perturbation import MinimalPerturbationDetector, PerturbationDetector, flip_norms


def test_flip_norm_of_a_linear_classifier_is_its_distance_to_the_boundary():
    torch.manual_seed(0)
    linear = nn.Sequential(nn.Flatten(), nn.Linear(16, 2))
    clf = PixelClassifier(linear, (0.0,), (1.0,))
    w = (linear[1].weight[1] - linear[1].weight[0]).detach()
    with torch.no_grad():                              # the boundary passes through the grey image 0.5
        linear[1].bias.copy_(torch.tensor([0.0, -0.5 * float(w.sum())]))
    x = 0.4 + 0.2 * torch.rand(20, 1, 4, 4)          # the step to the boundary stays inside [0, 1]
    distance = ((x - 0.5).flatten(1) @ w).abs() / w.norm()
    result = flip_norms(clf, x, overshoot=0.0)
    assert torch.all(result.steps == 1)
    assert torch.allclose(result.norm, distance.double(), rtol=1e-3, atol=1e-3)


@pytest.fixture(scope="module")
def fitted(backdoored) -> PerturbationDetector:
    """Perturbations of budget 2.0 fitted on the first 150 test images of the tiny backdoored model."""
    clf, _, _, test = backdoored
    return PerturbationDetector(clf, test.num_classes, budget=2.0, steps=100).fit(test.intensities()[:150])


def test_class_perturbations_respect_the_budget_and_flag_patched_inputs(backdoored, fitted):
    _, attack, _, test = backdoored
    x = test.intensities()
    hold, ev, yev = x[:300], x[300:], test.labels[300:]
    det = fitted
    assert torch.all(det.perturbations.flatten(1).norm(dim=1) <= 2.0 + 1e-4)
    det.calibrate(hold[150:], fpr=0.05)
    calib_flags, _, _ = det.flag(hold[150:])
    assert float(calib_flags.double().mean()) <= 0.05          # by construction on the calibration set
    flags, _, norms = det.flag(attack.triggers[0].apply(ev[yev != 0]))
    assert float(flags.double().mean()) > 0.8 and float(norms.max()) <= 2.0 + 1e-4, det.threshold


def test_unfitted_or_uncalibrated_detectors_refuse(backdoored):
    clf, _, _, test = backdoored
    with pytest.raises(DefenceError, match="not fitted"):
        PerturbationDetector(clf, 6).score(test.intensities(slice(0, 4)))
    with pytest.raises(DefenceError, match="no budget"):
        MinimalPerturbationDetector(clf).flag(test.intensities(slice(0, 4)))
    with pytest.raises(DefenceError, match="false-positive rate"):
        MinimalPerturbationDetector(clf).calibrate(test.intensities(slice(0, 4)), fpr=0.0)


def test_minimal_walk_budget_bounds_its_false_positives(backdoored):
    clf, _, _, test = backdoored
    clean = test.intensities(slice(0, 100))
    det = MinimalPerturbationDetector(clf, steps=30).calibrate(clean, fpr=0.1)
    flags, result = det.flag(clean)
    assert math.isfinite(det.budget) and float(flags.double().mean()) <= 0.1
    assert torch.all(result.norm[flags] > det.budget) and torch.all(result.norm[~flags] <= det.budget)


def test_per_class_thresholds_bound_the_false_positives_of_every_class(backdoored, fitted):
    clf, attack, _, test = backdoored
    x = test.intensities()
    det = fitted
    calib = x[150:450]
    det.calibrate(calib, fpr=0.05, per_class=True)
    flags, scores, _ = det.flag(calib)
    pred = clf.predict(calib)
    for c in range(test.num_classes):
        on = pred == c
        if int(on.sum()) >= 20:                        # own threshold: at most 5 % of the class flagged
            assert float(flags[on].double().mean()) <= 0.05
            assert float(det.class_thresholds[c]) == float(scores[on].quantile(0.95, interpolation="higher"))
        else:                                          # too few calibration inputs: the global threshold
            assert float(det.class_thresholds[c]) == det.threshold
    triggered = attack.triggers[0].apply(x[450:][test.labels[450:] != 0])
    flags, scores, _ = det.flag(triggered)
    expected = scores > det.class_thresholds[clf.predict(triggered)].clamp_min(0.0)
    assert torch.equal(flags, expected) and float(flags.double().mean()) > 0.8
    det.calibrate(calib, fpr=0.05)                     # back to one threshold
    assert det.class_thresholds is None


def test_second_perturbation_avoids_the_natural_destination_and_scores_the_larger_margin(backdoored):
    clf, _, _, test = backdoored
    x = test.intensities()
    det = PerturbationDetector(clf, test.num_classes, budget=2.0, steps=60).fit(x[:150], second=True)
    pred = clf.predict(x[:150])
    with torch.no_grad():
        first = clf.predict((x[:150] + det.perturbations[pred]).clamp(0.0, 1.0))
        second = clf.predict((x[:150] + det.second[pred]).clamp(0.0, 1.0))
    into_first = into_second = 0
    for c in pred.unique():
        on = pred == c
        counts = torch.bincount(first[on & (first != c)], minlength=test.num_classes)
        if int(counts.sum()):                          # the destination is where the first one sends most
            assert int(det.destinations[c]) == int(counts.argmax())
            into_first += int((first[on] == det.destinations[c]).sum())
            into_second += int((second[on] == det.destinations[c]).sum())
    assert into_second < into_first
    probe = x[150:200]
    scores, _ = det.score(probe)
    c = clf.predict(probe)
    with torch.no_grad():
        m1 = det._margin(clf((probe + det.perturbations[c]).clamp(0.0, 1.0)), c)
        m2 = det._margin(clf((probe + det.second[c]).clamp(0.0, 1.0)), c)
    assert torch.allclose(scores, torch.maximum(m1, m2).double())
