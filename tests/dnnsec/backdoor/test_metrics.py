"""PSNR and SSIM against independent computations (closed forms, scipy convolution)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.signal
import torch

from dnnsec.backdoor.metrics import psnr, ssim


def test_psnr_of_a_uniform_offset_is_the_closed_form():
    x = torch.full((3, 1, 28, 28), 100 / 255)
    assert psnr(x, x + 4 / 255) == pytest.approx(20 * math.log10(255 / 4), abs=1e-6)
    assert psnr(x, x) == 100.0


def _ssim_reference(a: np.ndarray, b: np.ndarray) -> float:
    """Wang et al. (2004) with scipy: 11x11 Gaussian (sigma 1.5) from scipy.signal.windows, valid region."""
    g = scipy.signal.windows.gaussian(11, 1.5)
    w = np.outer(g, g) / np.outer(g, g).sum()

    def f(z: np.ndarray) -> np.ndarray:
        return scipy.signal.convolve2d(z, w[::-1, ::-1], mode="valid")

    c1, c2 = 0.01**2, 0.03**2
    ma, mb = f(a), f(b)
    va, vb, cab = f(a * a) - ma**2, f(b * b) - mb**2, f(a * b) - ma * mb
    return float((((2 * ma * mb + c1) * (2 * cab + c2)) / ((ma**2 + mb**2 + c1) * (va + vb + c2))).mean())


def test_ssim_matches_a_scipy_reference_per_channel():
    g = torch.Generator().manual_seed(0)
    a = torch.rand(2, 3, 32, 32, generator=g, dtype=torch.float64)
    b = (a + 0.1 * torch.randn(a.shape, generator=g, dtype=torch.float64)).clamp(0, 1)
    ref = np.mean([_ssim_reference(a[i, c].numpy(), b[i, c].numpy()) for i in range(2) for c in range(3)])
    assert ssim(a, b) == pytest.approx(ref, abs=1e-10)


def test_ssim_closed_forms():
    a = torch.rand(1, 1, 28, 28, generator=torch.Generator().manual_seed(3), dtype=torch.float64) * 0.5
    assert ssim(a, a) == pytest.approx(1.0, abs=1e-12)
    # a constant image against itself shifted by c: variances are zero, SSIM = (2 m (m + c) + C1) / (m^2 + (m+c)^2 + C1)
    m, c, c1 = 0.3, 0.2, 0.01**2
    flat = torch.full((1, 1, 20, 20), m, dtype=torch.float64)
    assert ssim(flat, flat + c) == pytest.approx((2 * m * (m + c) + c1) / (m**2 + (m + c) ** 2 + c1), abs=1e-9)
