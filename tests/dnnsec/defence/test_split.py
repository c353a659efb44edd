"""The held-out / evaluation split is a seeded random partition, so a test file ordered by class splits evenly."""

from __future__ import annotations

import torch

from dnnsec.backdoor.data import PixelSet

from .conftest import grey_blobs


def test_split_is_a_seeded_partition_that_mixes_classes_ordered_in_the_file():
    data = grey_blobs(600, 4)
    order = torch.argsort(data.labels, stable=True)            # a file ordered by class, like CIFAR-10 here
    ordered = PixelSet(data.images[order], data.labels[order], 6, data.mean, data.std, "ordered")
    held, rest = ordered.split(300, seed=0)
    assert len(held) == 300 and len(rest) == 300
    assert sorted(torch.cat([held.labels, rest.labels]).tolist()) == sorted(data.labels.tolist())
    assert torch.bincount(held.labels, minlength=6).min() >= 35   # every class on both sides (100 each)
    again, _ = ordered.split(300, seed=0)
    assert torch.equal(again.images, held.images)
