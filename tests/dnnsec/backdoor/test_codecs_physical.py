"""Codec round trips (Pillow) and the physical transformation pipelines."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from dnnsec.backdoor.codecs import CODECS, random_round_trip, round_trip
from dnnsec.backdoor.metrics import psnr
from dnnsec.backdoor.physical import HELD_PIPELINE, PhysicalParams, apply_physical, held_physical, random_physical


def _images(channels: int, side: int = 32) -> torch.Tensor:
    g = torch.Generator().manual_seed(channels)
    x = torch.nn.functional.avg_pool2d(torch.rand(3, channels, side, side, generator=g), 3, 1, 1)
    return torch.round(x * 255) / 255


@pytest.mark.parametrize("codec", CODECS)
@pytest.mark.parametrize("channels", [1, 3])
def test_codec_round_trip_changes_the_image_but_keeps_shape_and_dtype(codec, channels):
    x = _images(channels, 28 if channels == 1 else 32)
    low, high = round_trip(x, codec, 10), round_trip(x, codec, 90)
    for y in (low, high):
        assert y.shape == x.shape and y.dtype == x.dtype and not torch.equal(y, x)
        assert torch.equal(y, torch.round(y * 255) / 255)
    assert psnr(x, high) > psnr(x, low)
    with pytest.raises(ValueError):
        round_trip(x, codec, 0)


def test_random_round_trip_is_seeded():
    x = _images(3)
    a = random_round_trip(x, CODECS, np.random.default_rng(1))
    assert torch.equal(a, random_round_trip(x, CODECS, np.random.default_rng(1)))


def test_held_pipeline_is_deterministic_and_random_ones_vary():
    x = _images(3)
    held = held_physical(x)
    assert torch.equal(held, held_physical(x)) and not torch.equal(held, x)
    assert held.min() >= 0 and held.max() <= 1
    a = random_physical(x, np.random.default_rng(0))
    b = random_physical(x, np.random.default_rng(1))
    assert a.shape == x.shape and not torch.equal(a, b)


def test_identity_transformation_keeps_the_image_and_each_step_acts():
    x = _images(3)
    gen = torch.Generator().manual_seed(0)
    assert torch.allclose(apply_physical(x, PhysicalParams(), gen), x, atol=1e-6)
    for name in ("rotation_deg", "scale", "tilt", "gamma", "saturation", "levels", "brightness", "contrast",
                 "colour_shift", "blur_sigma", "noise_sigma"):
        one = dataclasses.replace(PhysicalParams(), **{name: getattr(HELD_PIPELINE, name)})
        assert not torch.equal(apply_physical(x, one, torch.Generator().manual_seed(0)), x), name
