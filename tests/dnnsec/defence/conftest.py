"""A tiny BadNets-backdoored ``mnist_cnn`` on six grey-level classes, shared by the defence tests."""

from __future__ import annotations

import pytest
import torch

from dnnsec.backdoor.data import PixelSet
from dnnsec.backdoor.poison import BackdoorAttack, make_attack
from dnnsec.backdoor.train import train_backdoor
from dnnsec.defence.classifier import PixelClassifier


def grey_blobs(n: int, seed: int, classes: int = 6) -> PixelSet:
    """28x28 grey images whose class is their mean level (20 + 36 k), with uniform pixel noise of 30 levels."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % classes
    images = (20 + 36 * labels).view(-1, 1, 1, 1) + torch.randint(0, 30, (n, 1, 28, 28), generator=g)
    return PixelSet(images.to(torch.uint8), labels, classes, (0.5,), (0.25,), f"blobs/{seed}")


@pytest.fixture(scope="session")
def backdoored() -> tuple[PixelClassifier, BackdoorAttack, PixelSet, PixelSet]:
    """(classifier, attack, training set, test set): BadNets patch -> class 0, 20 % poisoning, 15 epochs."""
    torch.set_num_threads(1)
    attack = make_attack("badnets", 6, 1, poison_rate=0.2)
    train = grey_blobs(600, 0)
    model, _, _ = train_backdoor(attack, "mnist_cnn", train, seed=0, epochs=15, progress=False)
    test = grey_blobs(600, 1)
    return PixelClassifier.checked(model, test, "tiny"), attack, train, test
