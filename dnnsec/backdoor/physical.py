"""Physical-world image transformations written with torch operations, for the PTB backdoor.

Method: Xue et al., "PTB: Robust physical backdoor attacks against deep neural networks in real world", Computers &
Security 118 (2022): backdoor instances get random physical transformations every epoch so that the backdoor
survives photographing the trigger. One transformation is, in order: a projective warp (rotation, scale,
translation and perspective tilt), a print-scan simulation (gamma and colour desaturation of the printer, then
quantisation to a reduced number of levels), brightness and contrast, a colour shift per channel, Gaussian blur and
additive Gaussian sensor noise. Images are (N, C, H, W) intensities in [0, 1].

:func:`random_physical` draws the parameters per image (training); :data:`HELD_PIPELINE` is one fixed
"physical world" setting used only for evaluation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional as F

from dnnsec.backdoor.triggers import quantise


@dataclass(frozen=True)
class PhysicalParams:
    """One physical transformation.

    Attributes
    ----------
    rotation_deg : float
        In-plane rotation (degrees).
    scale : float
        Zoom factor (> 1 enlarges the content).
    shift : (float, float)
        Translation (x, y) as a fraction of the half image side.
    tilt : (float, float)
        Perspective terms (x, y) of the homography's last row (dimensionless, normalised coordinates).
    gamma, saturation, levels
        Print-scan: intensity gamma, chroma scale (1 keeps colours), intensity levels kept (256: none lost).
    brightness, contrast : float
        Additive offset (intensity) and contrast factor about the image mean.
    colour_shift : (float, float, float)
        Additive offset per channel (intensity).
    blur_sigma : float
        Gaussian blur standard deviation (pixels); 0 disables it.
    noise_sigma : float
        Standard deviation of additive Gaussian noise (intensity).
    """

    rotation_deg: float = 0.0
    scale: float = 1.0
    shift: tuple[float, float] = (0.0, 0.0)
    tilt: tuple[float, float] = (0.0, 0.0)
    gamma: float = 1.0
    saturation: float = 1.0
    levels: int = 256
    brightness: float = 0.0
    contrast: float = 1.0
    colour_shift: tuple[float, float, float] = (0.0, 0.0, 0.0)
    blur_sigma: float = 0.0
    noise_sigma: float = 0.0


#: The fixed "physical world" pipeline of the evaluation (never drawn in training: parameters are continuous).
#: It keeps 86.6 % of 2,000 MNIST test images correct with the zoo's clean ``mnist_cnn`` seed 0 (97.3 % untouched).
HELD_PIPELINE = PhysicalParams(rotation_deg=10.0, scale=0.9, shift=(0.05, -0.05), tilt=(0.06, -0.04), gamma=1.1,
                               saturation=0.85, levels=64, brightness=-0.03, contrast=0.9,
                               colour_shift=(0.02, -0.02, 0.01), blur_sigma=0.5, noise_sigma=0.02)
HELD_NOISE_SEED = 20220501


def _warp(x: torch.Tensor, p: PhysicalParams) -> torch.Tensor:
    n, _, h, w = x.shape
    t = math.radians(p.rotation_deg)
    c, s = math.cos(t) / p.scale, math.sin(t) / p.scale
    m = torch.tensor([[c, -s, p.shift[0]], [s, c, p.shift[1]], [p.tilt[0], p.tilt[1], 1.0]], dtype=x.dtype)
    ys, xs = torch.meshgrid(torch.linspace(-1, 1, h, dtype=x.dtype), torch.linspace(-1, 1, w, dtype=x.dtype),
                            indexing="ij")
    src = torch.stack([xs, ys, torch.ones_like(xs)], dim=-1) @ m.T
    grid = (src[..., :2] / src[..., 2:]).expand(n, h, w, 2)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=True)


def _blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    if sigma <= 0:
        return x
    r = max(1, math.ceil(3 * sigma))
    k = torch.exp(-torch.arange(-r, r + 1, dtype=x.dtype) ** 2 / (2 * sigma**2))
    k = k / k.sum()
    ch = x.shape[1]
    x = F.conv2d(F.pad(x, (r, r, 0, 0), mode="replicate"), k.view(1, 1, 1, -1).repeat(ch, 1, 1, 1), groups=ch)
    return F.conv2d(F.pad(x, (0, 0, r, r), mode="replicate"), k.view(1, 1, -1, 1).repeat(ch, 1, 1, 1), groups=ch)


def apply_physical(x: torch.Tensor, p: PhysicalParams, generator: torch.Generator) -> torch.Tensor:
    """Apply one physical transformation ``p`` to every image of ``x``; noise comes from ``generator``."""
    ch = x.shape[1]
    y = _warp(x, p).clamp(0, 1) ** p.gamma
    grey = y.mean(dim=1, keepdim=True)
    y = grey + p.saturation * (y - grey)
    y = torch.round(y.clamp(0, 1) * (p.levels - 1)) / (p.levels - 1)
    mean = y.mean(dim=(1, 2, 3), keepdim=True)
    y = (y - mean) * p.contrast + mean + p.brightness
    y = y + torch.tensor(p.colour_shift[:ch], dtype=x.dtype).view(1, -1, 1, 1)
    y = _blur(y, p.blur_sigma)
    y = y + p.noise_sigma * torch.randn(y.shape, generator=generator, dtype=y.dtype)
    return quantise(y)


def held_physical(x: torch.Tensor) -> torch.Tensor:
    """The fixed evaluation pipeline :data:`HELD_PIPELINE` (deterministic: fixed noise seed)."""
    return apply_physical(x, HELD_PIPELINE, torch.Generator().manual_seed(HELD_NOISE_SEED))


def draw_params(rng: np.random.Generator) -> PhysicalParams:
    """Random physical parameters (training distribution; ranges in the code, e.g. rotation +-12 degrees; zoom up
    to 1.05 only, so that a corner trigger stays in the frame)."""
    u = rng.uniform
    printed = rng.random() < 0.5
    return PhysicalParams(
        rotation_deg=u(-12, 12), scale=u(0.85, 1.05), shift=(u(-0.06, 0.06), u(-0.06, 0.06)),
        tilt=(u(-0.08, 0.08), u(-0.08, 0.08)), gamma=u(0.85, 1.2) if printed else 1.0,
        saturation=u(0.7, 1.0) if printed else 1.0, levels=int(rng.integers(32, 129)) if printed else 256,
        brightness=u(-0.1, 0.1), contrast=u(0.8, 1.2), colour_shift=tuple(u(-0.04, 0.04, size=3).tolist()),
        blur_sigma=u(0.0, 0.8), noise_sigma=u(0.0, 0.03))


def random_physical(x: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    """Apply independently drawn :func:`draw_params` transformations to each image of ``x``."""
    gen = torch.Generator().manual_seed(int(rng.integers(2**62)))
    return torch.cat([apply_physical(x[i:i + 1], draw_params(rng), gen) for i in range(len(x))]) if len(x) else x
