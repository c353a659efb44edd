"""Tiny image classification data for fast tests: four classes of 16x16 images, a bright bar in one quadrant."""

from __future__ import annotations

import torch

#: Bounds of the pixel values (standardised units).
BOX = (-1.0, 3.0)


def bar_images(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` images (N, 1, 16, 16) inside :data:`BOX` and their labels 0..3 (seeded)."""
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 4, (n,), generator=g)
    x = 0.3 * torch.randn(n, 1, 16, 16, generator=g)
    for k in range(4):
        r, c = divmod(k, 2)
        x[y == k, :, 8 * r + 2:8 * r + 6, 8 * c + 1:8 * c + 7] += 2.0
    return x.clamp(*BOX), y
