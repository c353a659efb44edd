"""Backdoor training on a tiny synthetic problem: the trigger is learned; the feature-consistency loss."""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from dnnsec.backdoor.data import PixelSet
from dnnsec.backdoor.poison import make_attack
from dnnsec.backdoor.train import BackdoorBatches, consistency_loss, train_backdoor


def _blobs(n: int, seed: int) -> PixelSet:
    """Three classes told apart by mean grey level, 28x28 grey images with pixel noise."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 3
    images = (40 + 60 * labels).view(-1, 1, 1, 1) + torch.randint(0, 40, (n, 1, 28, 28), generator=g)
    return PixelSet(images.to(torch.uint8), labels, 3, (0.5,), (0.25,), f"blobs/{seed}")


def test_badnets_backdoor_is_learned_on_a_tiny_problem():
    attack = make_attack("badnets", 3, 1, poison_rate=0.2)
    model, _poisoned, record = train_backdoor(attack, "mnist_cnn", _blobs(600, 0), seed=0, epochs=15, progress=False)
    metrics = attack.evaluate(model, _blobs(150, 1))
    assert record["n_poisoned"] == 120 and record["steps"] == 15 * 5
    assert metrics["clean_accuracy"] > 0.9 and metrics["triggers"][0]["asr"] > 0.9


def test_compression_batches_pair_each_backdoor_image_with_a_codec_copy():
    data = _blobs(64, 2)
    attack = make_attack("compression", 3, 1, poison_rate=0.25)
    poisoned = attack.poison(data, 0)
    batches = BackdoorBatches(data, poisoned, attack, batch_size=32, seed=0, augment=False)
    x, (y, rows) = batches.batch(0)
    assert len(rows) > 0 and len(x) == 32 + len(rows) and torch.all(y[rows] == 0) and torch.all(y[32:] == 0)
    assert not torch.equal(x[rows], x[32:])  # the codec copy differs from its backdoor image
    x2, (_y2, rows2) = batches.batch(0)
    assert torch.equal(x, x2) and torch.equal(rows, rows2)


def test_consistency_loss_is_cross_entropy_plus_weighted_feature_mse():
    g = torch.Generator().manual_seed(0)
    logits, feats = torch.randn(7, 3, generator=g), torch.randn(7, 5, generator=g)
    y, rows = torch.tensor([0, 1, 2, 0, 1, 0, 0]), torch.tensor([0, 3])
    expected = F.cross_entropy(logits, y) + 0.5 * ((feats[[0, 3]] - feats[[5, 6]]) ** 2).mean()
    assert consistency_loss(0.5)((logits, feats), (y, rows)).item() == pytest.approx(expected.item(), rel=1e-6)
    assert consistency_loss(0.5)((logits, feats), (y, rows[:0])).item() == pytest.approx(
        F.cross_entropy(logits, y).item(), rel=1e-6)


def test_ptb_batches_transform_every_backdoor_image_and_some_clean_ones():
    data = _blobs(400, 3)
    attack = make_attack("ptb", 3, 1, poison_rate=0.25)
    poisoned = attack.poison(data, 0)
    batches = BackdoorBatches(data, poisoned, attack, batch_size=400, seed=0, augment=False)
    x, (y, rows) = batches.batch(0)
    idx = batches.order.batch(0)[0]
    mask = poisoned.mask[idx]
    n_extra = (attack.physical_copies - 1) * int(mask.sum())
    assert len(x) == 400 + n_extra and len(rows) == 0
    assert torch.equal(y[:400], poisoned.labels[idx]) and torch.all(y[400:] == 0)
    stored = data.standardise(poisoned.images[idx].float() / 255.0)
    changed = (x[:400] != stored).flatten(1).any(1)
    assert changed[mask].all()
    assert 0.03 < changed[~mask].double().mean() < 0.2  # clean_transform_rate 0.1 of 300 clean samples
    copies = x[400:].view(attack.physical_copies - 1, -1, *x.shape[1:])
    assert not torch.equal(copies[0], copies[1]) and not torch.equal(copies[0], x[:400][mask])
