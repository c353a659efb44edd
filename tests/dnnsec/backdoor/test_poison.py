"""Dataset poisoning: counts, classes, labels, and refusal of settings that do not fit the data."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dnnsec.backdoor import ATTACKS
from dnnsec.backdoor.data import PixelSet
from dnnsec.backdoor.poison import AttackError, make_attack


def _pixels(n: int = 997, classes: int = 5, channels: int = 3, side: int = 32) -> PixelSet:
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (n, channels, side, side), generator=g, dtype=torch.uint8)
    return PixelSet(images, torch.randint(0, classes, (n,), generator=g), classes, (0.5,) * channels,
                    (0.25,) * channels, "synthetic/train")


@pytest.mark.parametrize("name", ATTACKS)
def test_poison_returns_round_rate_n_indices_of_other_classes_relabelled(name):
    data = _pixels(channels=1 if name == "blended" else 3)
    attack = make_attack(name, data.num_classes, data.channels, poison_rate=0.037, n_triggers=3)
    p = attack.poison(data, seed=4)
    assert len(p.indices) == round(0.037 * len(data)) and len(np.unique(p.indices)) == len(p.indices)
    assert np.all(np.diff(p.indices) > 0)
    idx = torch.as_tensor(p.indices)
    targets = torch.tensor(attack.targets)[torch.as_tensor(p.trigger_of)]
    assert torch.all(data.labels[idx] != targets) and torch.equal(p.labels[idx], targets)
    assert not torch.equal(p.images[idx], data.images[idx])
    rest = ~p.mask
    assert torch.equal(p.images[rest], data.images[rest]) and torch.equal(p.labels[rest], data.labels[rest])
    counts = np.bincount(p.trigger_of, minlength=len(attack.triggers))
    assert counts.max() - counts.min() <= 1
    again = attack.poison(data, seed=4)
    assert np.array_equal(again.indices, p.indices) and torch.equal(again.images, p.images)


def test_n_to_n_and_n_to_one_targets():
    assert make_attack("dct-n2n", 10, 3, n_triggers=5).targets == [0, 1, 2, 3, 4]
    assert make_attack("dct-n2one", 10, 3, n_triggers=3).targets == [0, 0, 0]
    assert make_attack("ptb", 10, 3).poison_rate == 0.005 and make_attack("badnets", 10, 3).poison_rate == 0.1


@pytest.mark.parametrize("kwargs, match", [
    ({"name": "dct-n2n", "poison_rate": 1.5}, "poison-rate"),
    ({"name": "dct-n2n", "n_triggers": 9}, "n-triggers"),
    ({"name": "dct-n2n", "n_triggers": 6}, "target classes"),
    ({"name": "nope"}, "unknown attack"),
    ({"name": "ptb", "shape": "circle"}, "shape"),
    ({"name": "compression", "codecs": ("gif",)}, "codecs"),
])
def test_bad_settings_are_refused(kwargs, match):
    with pytest.raises(AttackError, match=match):
        make_attack(num_classes=5, channels=3, **kwargs)


def test_too_few_samples_for_the_triggers_are_refused():
    data = _pixels(n=40)
    with pytest.raises(AttackError, match="fewer than"):
        make_attack("dct-n2one", 5, 3, poison_rate=0.05, n_triggers=3).poison(data, 0)
    with pytest.raises(AttackError, match="classes"):
        make_attack("dct-n2n", 9, 3, n_triggers=6).poison(_pixels(classes=5), 0)
