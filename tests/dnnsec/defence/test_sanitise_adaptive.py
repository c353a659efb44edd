"""Training-set sanitisation removes the backdoor of the tiny problem; the adaptive attacker's fragile copies."""

from __future__ import annotations

import pytest
import torch

from dnnsec.backdoor.data import PixelSet
from dnnsec.backdoor.poison import AttackError, make_attack
from dnnsec.backdoor.train import BackdoorBatches
from dnnsec.defence.adaptive import FragileBatches
from dnnsec.defence.classifier import DefenceError, PixelClassifier
from dnnsec.defence.sanitise import sanitise

from .conftest import grey_blobs


@pytest.mark.slow
def test_iterated_sanitisation_rescreens_only_the_kept_samples_and_stops_on_clean_flag_rates(backdoored):
    clf, attack, train, test = backdoored
    poisoned = attack.poison(train, 0)
    mask = poisoned.mask
    x = test.intensities()
    kept = PixelSet(poisoned.images, poisoned.labels, train.num_classes, train.mean, train.std, train.name)
    rounds = sanitise(clf, "mnist_cnn", kept, test, x[:150], x[150:300], seed=0, rounds=2, fpr=0.05,
                      detector={"budget": 2.0, "steps": 100}, epochs=15)
    keep = torch.ones(len(mask), dtype=torch.bool)
    for r in rounds:                                   # each round screens what the one before kept, nothing else
        assert not bool((r.flagged & ~keep).any()) and torch.equal(r.keep, keep & ~r.flagged)
        for label, rate in r.flag_rate.items():
            on = keep & (poisoned.labels == label)
            assert rate == pytest.approx(float(r.flagged[on].double().mean()))
        keep = r.keep
    # every round but the last had a label flagged above stop_factor * fpr; the last is the round limit or clean
    assert all(max(r.flag_rate.values()) > 0.1 for r in rounds[:-1])
    assert len(rounds) == 2 or max(rounds[-1].flag_rate.values()) <= 0.1
    assert float((~keep)[mask].double().mean()) > 0.9 and float((~keep)[~mask].double().mean()) < 0.2
    assert rounds[-1].record["test_accuracy"] > 0.9
    after = PixelClassifier(rounds[-1].model, test.mean, test.std)
    triggered = attack.triggers[0].apply(x[300:][test.labels[300:] != 0])
    assert float((after.predict(triggered) == 0).double().mean()) < 0.3
    with pytest.raises(DefenceError, match="rounds >= 1"):
        sanitise(clf, "mnist_cnn", kept, test, x[:150], x[150:300], seed=0, rounds=0)


def test_fragile_copies_step_eps_towards_the_true_class_and_keep_it():
    data = grey_blobs(64, 3)
    attack = make_attack("badnets", 6, 1, poison_rate=0.25)
    poisoned = attack.poison(data, 0)
    inner = BackdoorBatches(data, poisoned, attack, batch_size=32, seed=0, augment=False)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 6))
    batches = FragileBatches(inner, model, data.labels, eps=0.75)
    x, (y, _) = batches.batch(0)
    idx, _ = inner.order.batch(0)
    rows = torch.nonzero(poisoned.mask[idx]).flatten()
    assert len(rows) > 0 and len(x) == 32 + len(rows)
    assert torch.equal(y[32:], data.labels[idx[rows]]) and torch.all(y[rows] == 0)
    pixel_step = (x[32:] - x[rows]) * 0.25            # standardised -> pixel units (std 0.25)
    assert torch.allclose(pixel_step.flatten(1).norm(dim=1), torch.full((len(rows),), 0.75), atol=1e-5)
    before = torch.nn.functional.cross_entropy(model(x[rows]), y[32:], reduction="none")
    after = torch.nn.functional.cross_entropy(model(x[32:]), y[32:], reduction="none")
    assert torch.all(after < before)
    with pytest.raises(AttackError, match="plain attack"):
        FragileBatches(BackdoorBatches(data, poisoned, make_attack("ptb", 6, 1), 32, 0, False), model,
                       data.labels, 0.5)
