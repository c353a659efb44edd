"""Image augmentation for zoo training: He et al. (CVPR 2016) pad-4 random crop and horizontal flip."""

from __future__ import annotations

import numpy as np
import torch
from torch.nn import functional as F


def random_crop_flip(x: torch.Tensor, rng: np.random.Generator, pad: int = 4) -> torch.Tensor:
    """Zero-pad a batch (N, C, H, W) by ``pad`` pixels, crop back at random offsets, and flip half the images."""
    n, _, h, w = x.shape
    padded = F.pad(x, (pad, pad, pad, pad))
    dy = rng.integers(0, 2 * pad + 1, size=n)
    dx = rng.integers(0, 2 * pad + 1, size=n)
    flip = rng.random(n) < 0.5
    out = torch.empty_like(x)
    for i in range(n):
        crop = padded[i, :, dy[i]:dy[i] + h, dx[i]:dx[i] + w]
        out[i] = crop.flip(-1) if flip[i] else crop
    return out
