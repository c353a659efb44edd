"""Key base pools: what each domain draws, disjoint users, and the key augmentation a domain sets."""

from __future__ import annotations

import numpy as np
import pytest

from dnnsec.watermark.bases import FLIP_SYMMETRIC, KEY_BLUR, KEY_NOISE, decoy_bases, get_domain, user_bases
from dnnsec.watermark.embed import EmbedConfig
from dnnsec.zoo.data import MNIST_MEAN_STD, load_mnist


@pytest.fixture(scope="module")
def mnist_train(shared_data):
    train = load_mnist("train")
    mean, std = MNIST_MEAN_STD
    digits = np.round((train.x[:, 0].numpy() * std[0] + mean[0]) * 255).clip(0, 255).astype(np.uint8)
    return digits, train.y.numpy()


def test_mnist_keys_are_upside_down_training_digits_of_asymmetric_classes(mnist_train) -> None:
    digits, labels = mnist_train
    bases = user_bases(get_domain("mnist"), 3, 6)[..., 0]
    assert bases.shape == (6, 28, 28)
    # each base is exactly one training digit turned upside down, never one of the classes that stay digits so
    flat = digits.reshape(len(digits), -1)
    for b in bases:
        match = np.flatnonzero(np.all(flat == b[::-1].reshape(-1), axis=1))
        assert len(match) >= 1
        assert not np.isin(labels[match], FLIP_SYMMETRIC).any()
        assert not np.all(flat == b.reshape(-1), axis=1).any()  # not the upright digit itself


def test_users_and_decoys_never_share_a_base(shared_data) -> None:
    dom = get_domain("mnist")
    sets = [user_bases(dom, s, 20).reshape(20, -1) for s in range(5)] + [decoy_bases(dom, 300, 0).reshape(300, -1)]
    rows = np.concatenate(sets)
    assert len(np.unique(rows, axis=0)) == len(rows)


def test_key_augmentation_comes_from_the_domain_unless_given() -> None:
    mnist, texture = get_domain("mnist"), get_domain("texture28")
    assert (mnist.key_noise, mnist.key_blur) == (0.05, 0.0)
    assert (texture.key_noise, texture.key_blur) == (KEY_NOISE, KEY_BLUR)
    cfg = EmbedConfig(steps=7).for_domain(mnist)
    assert (cfg.key_noise, cfg.key_blur, cfg.steps) == (0.05, 0.0, 7)
    explicit = EmbedConfig(key_noise=0.2, key_blur=0.5).for_domain(mnist)
    assert (explicit.key_noise, explicit.key_blur) == (0.2, 0.5)
