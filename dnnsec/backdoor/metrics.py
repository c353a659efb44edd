"""Backdoor metrics: attack success rate, and PSNR and SSIM of triggered against clean images.

- Attack success rate (ASR): the fraction of triggered test images, whose true class is not the target, that the
  model assigns to the target (Gu et al., arXiv:1708.06733).
- PSNR: 10 log10(255^2 / MSE) in dB over all pixels and channels of 8-bit images, averaged over images.
- SSIM: Wang, Bovik, Sheikh and Simoncelli, "Image quality assessment: from error visibility to structural
  similarity", IEEE Trans. Image Processing 13 (2004): an 11x11 Gaussian window of standard deviation 1.5 pixels,
  K1 = 0.01, K2 = 0.03, L = 1 (intensities in [0, 1]), the mean of the map over the valid region (no padding),
  averaged over channels, then over images.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch.nn import functional as F


def psnr(clean: torch.Tensor, triggered: torch.Tensor) -> float:
    """Mean PSNR (dB) of image batches (N, C, H, W) in [0, 1]; identical images count as 100 dB."""
    mse = ((clean.double() - triggered.double()) * 255.0).pow(2).flatten(1).mean(1)
    values = torch.where(mse > 0, 10 * torch.log10(255.0**2 / mse.clamp_min(1e-20)), torch.full_like(mse, 100.0))
    return float(values.mean())


def gaussian_window(size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    """Normalised 2-D Gaussian window (size x size), float64."""
    g = torch.exp(-(torch.arange(size, dtype=torch.float64) - (size - 1) / 2) ** 2 / (2 * sigma**2))
    g = g / g.sum()
    return torch.outer(g, g)


def _ssim_map(a: torch.Tensor, b: torch.Tensor, k1: float, k2: float) -> torch.Tensor:
    """SSIM map (float64) of image batches (N, C, H, W) or signal batches (N, C, T), each channel on its own."""
    x, y = a.double(), b.double()
    ch, g = x.shape[1], gaussian_window()
    if x.ndim == 4:
        win, conv = g.view(1, 1, *g.shape).repeat(ch, 1, 1, 1), F.conv2d
    else:
        win, conv = g.sum(0).view(1, 1, -1).repeat(ch, 1, 1), F.conv1d  # the separable 1-D Gaussian (sums to one)

    def filt(z: torch.Tensor) -> torch.Tensor:
        return conv(z, win, groups=ch)

    mx, my = filt(x), filt(y)
    sxx, syy, sxy = filt(x * x) - mx**2, filt(y * y) - my**2, filt(x * y) - mx * my
    c1, c2 = k1**2, k2**2
    return ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx**2 + my**2 + c1) * (sxx + syy + c2))


def ssim_maps(a: torch.Tensor, b: torch.Tensor, k1: float = 0.01, k2: float = 0.03) -> torch.Tensor:
    """SSIM (Wang et al. 2004) of each pair in [0, 1], images (N, C, H, W) or signals (N, C, T); returns (N,)."""
    return _ssim_map(a, b, k1, k2).flatten(1).mean(1).float()


def ssim(clean: torch.Tensor, triggered: torch.Tensor, k1: float = 0.01, k2: float = 0.03) -> float:
    """Mean SSIM (dimensionless, <= 1) of image batches (N, C, H, W) in [0, 1] (Wang et al. 2004)."""
    return float(_ssim_map(clean, triggered, k1, k2).mean())


@torch.no_grad()
def predict(model: torch.nn.Module, x: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
    """Class predictions of ``model`` (eval mode) for the standardised inputs ``x``."""
    model.eval()
    return torch.cat([model(x[i:i + batch_size]).argmax(1) for i in range(0, len(x), batch_size)]) if len(x) \
        else torch.empty(0, dtype=torch.long)


def attack_success_rate(model: torch.nn.Module, triggered: torch.Tensor, target: int,
                        standardise: Callable[[torch.Tensor], torch.Tensor]) -> float:
    """Fraction of ``triggered`` images (N, C, H, W in [0, 1], none of class ``target``) classified as ``target``."""
    if len(triggered) == 0:
        return math.nan
    return float((predict(model, standardise(triggered)) == target).double().mean())
