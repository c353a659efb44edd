"""Backdoor triggers applied to image batches (N, C, H, W) of intensities in [0, 1].

Every trigger returns images clipped to [0, 1] and rounded to 8-bit levels (k / 255), as a poisoned image saved
to disk would be.

- :class:`DctTrigger`: steganographic trigger in mid-frequency DCT coefficients of every 8x8 block of chosen
  colour channels (Xue et al., "Imperceptible and multi-channel backdoor attack", Applied Intelligence 2024,
  arXiv:2201.13164).
- :class:`PatchTrigger`: a small checkerboard in a corner (BadNets: Gu et al., "BadNets: Identifying
  Vulnerabilities in the Machine Learning Model Supply Chain", arXiv:1708.06733).
- :class:`BlendTrigger`: a fixed random pattern blended in at a ratio (Blended: Chen et al., "Targeted Backdoor
  Attacks on Deep Learning Systems Using Data Poisoning", arXiv:1712.05526).
- :class:`PhysicalTrigger`: a solid square, triangle or glasses-like patch, the physical-style triggers of Xue et
  al., "PTB: Robust physical backdoor attacks against deep neural networks in real world", Computers & Security
  118 (2022).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
import torch

from dnnsec.backdoor.dct import block_dct, block_idct

#: Mid-frequency coefficients (u, v) of an 8x8 block, in the order DCT triggers take them (3 <= u + v <= 6).
MID_FREQUENCIES: tuple[tuple[int, int], ...] = (
    (2, 3), (3, 2), (1, 3), (3, 1), (2, 2), (1, 4), (4, 1), (3, 3), (2, 4), (4, 2), (1, 5), (5, 1),
)


def quantise(x: torch.Tensor) -> torch.Tensor:
    """Clip to [0, 1] and round to 8-bit levels k / 255."""
    return torch.round(x.clamp(0.0, 1.0) * 255.0) / 255.0


@dataclass(frozen=True)
class DctTrigger:
    """Add ``amplitude`` (8-bit grey levels) times ``signs`` to DCT ``coefficients`` of every block of ``channels``.

    Attributes
    ----------
    channels : tuple of int
        Colour channels carrying the trigger.
    coefficients : tuple of (int, int)
        Block frequencies (u, v) that carry it.
    signs : tuple of int
        +1 or -1 per coefficient.
    amplitude : float
        Coefficient change in 8-bit grey levels (orthonormal DCT: one coefficient of amplitude ``a`` in every block
        adds a mean squared error of ``a**2 / 64`` grey levels squared to the covered pixels, before clipping).
    """

    channels: tuple[int, ...]
    coefficients: tuple[tuple[int, int], ...]
    signs: tuple[int, ...]
    amplitude: float = 24.0

    def pattern(self, dtype: torch.dtype = torch.float64) -> torch.Tensor:
        """The 8x8 coefficient change (8-bit grey levels) added to each block of the trigger's channels."""
        p = torch.zeros(8, 8, dtype=dtype)
        for (u, v), s in zip(self.coefficients, self.signs, strict=True):
            p[u, v] = s * self.amplitude
        return p

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        if max(self.channels) >= x.shape[1]:
            raise ValueError(f"trigger channels {self.channels} do not exist in {x.shape[1]}-channel images")
        ch = list(self.channels)
        sub = x[:, ch].double() * 255.0
        coeffs = block_dct(sub) + self.pattern()
        out = x.clone()
        out[:, ch] = (block_idct(coeffs, sub) / 255.0).to(x.dtype)
        return quantise(out)

    def extract(self, x: torch.Tensor) -> torch.Tensor:
        """Mean coefficient (8-bit grey levels) of each (channel, coefficient) over all blocks, shape (N, C_t, K)."""
        coeffs = block_dct(x[:, list(self.channels)].double() * 255.0)
        return torch.stack([coeffs[..., u, v].mean(dim=(-2, -1)) for u, v in self.coefficients], dim=-1)


def dct_triggers(n: int, channels: int, amplitude: float = 24.0) -> list[DctTrigger]:
    """``n`` distinct multi-channel DCT triggers for ``channels``-channel images.

    Trigger ``k`` uses coefficients ``MID_FREQUENCIES[2k], MID_FREQUENCIES[2k + 1]`` with signs (+, -) and, for
    colour images, the ``k``-th channel combination of (all), (R), (G), (B), (R, G), (G, B), (R, B): triggers differ
    in both channel and pattern. At most 6 triggers. A trigger on ``m`` channels writes ``amplitude / sqrt(m)`` in
    each, so every trigger adds the same energy (a mean squared error of ``2 amplitude**2 / (64 C)`` grey levels
    squared over a fully covered C-channel image, before clipping).
    """
    if not 1 <= n <= len(MID_FREQUENCIES) // 2:
        raise ValueError(f"between 1 and {len(MID_FREQUENCIES) // 2} DCT triggers, got {n}")
    combos: list[tuple[int, ...]] = [tuple(range(channels))]
    if channels > 1:
        combos += [(c,) for c in range(channels)] + list(itertools.combinations(range(channels), 2))
    chosen = [combos[k % len(combos)] for k in range(n)]
    return [DctTrigger(ch, MID_FREQUENCIES[2 * k:2 * k + 2], (1, -1), amplitude / math.sqrt(len(ch)))
            for k, ch in enumerate(chosen)]


def _corner_box(h: int, w: int, frac: float, margin: int) -> tuple[int, int, int]:
    size = max(3, round(frac * min(h, w)))
    return h - margin - size, w - margin - size, size


@dataclass(frozen=True)
class PatchTrigger:
    """BadNets: a ``size_frac`` x side checkerboard (white top-left cell) ``margin`` pixels from the bottom-right."""

    size_frac: float = 0.1
    margin: int = 1

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        top, left, size = _corner_box(x.shape[-2], x.shape[-1], self.size_frac, self.margin)
        ii, jj = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
        board = ((ii + jj) % 2 == 0).to(x.dtype)
        out = x.clone()
        out[..., top:top + size, left:left + size] = board
        return quantise(out)


@dataclass(frozen=True)
class BlendTrigger:
    """Blended: ``(1 - alpha) x + alpha k`` with a fixed uniform-noise key image ``k`` drawn from ``seed``."""

    alpha: float = 0.2
    seed: int = 0

    def key(self, shape: tuple[int, ...]) -> torch.Tensor:
        """The key image (C, H, W) for images of ``shape`` (same for every call)."""
        rng = np.random.default_rng(self.seed)
        return torch.from_numpy(rng.integers(0, 256, size=shape).astype(np.float32) / 255.0)

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        return quantise((1 - self.alpha) * x + self.alpha * self.key(tuple(x.shape[1:])).to(x.dtype))


def _shape_mask(shape: str, size: int) -> torch.Tensor:
    yy, xx = torch.meshgrid(torch.arange(size, dtype=torch.float32) + 0.5,
                            torch.arange(size, dtype=torch.float32) + 0.5, indexing="ij")
    if shape == "square":
        return torch.ones(size, size)
    if shape == "triangle":  # apex at top centre, base at the bottom
        return (torch.abs(xx - size / 2) <= yy / 2).float()
    if shape == "glasses":  # two rings joined by a bridge, in the top two thirds
        r = size / 4
        cy = size / 3
        ring = torch.zeros(size, size)
        for cx in (size / 4, 3 * size / 4):
            d = torch.sqrt((yy - cy) ** 2 + (xx - cx) ** 2)
            ring = torch.maximum(ring, ((d <= r) & (d >= r * 0.45)).float())
        bridge = ((torch.abs(yy - cy) <= max(0.5, size / 16)) & (xx > size / 4) & (xx < 3 * size / 4)).float()
        return torch.maximum(ring, bridge)
    raise ValueError(f"physical trigger shape must be square, triangle or glasses, got {shape!r}")


PHYSICAL_SHAPES = ("square", "triangle", "glasses")


@dataclass(frozen=True)
class PhysicalTrigger:
    """A solid ``shape`` patch (``square``, ``triangle``, ``glasses``) of ``colour`` near the bottom-right corner.

    ``size_frac`` is the patch side as a fraction of the shorter image side; ``colour`` is per channel in [0, 1]
    (grey images take its first value).
    """

    shape: str = "square"
    size_frac: float = 0.25
    colour: tuple[float, float, float] = (1.0, 1.0, 0.0)
    margin: int = 2

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        top, left, size = _corner_box(x.shape[-2], x.shape[-1], self.size_frac, self.margin)
        mask = _shape_mask(self.shape, size).to(x.dtype)
        colour = torch.tensor(self.colour[:x.shape[1]] if x.shape[1] > 1 else self.colour[:1], dtype=x.dtype)
        out = x.clone()
        region = out[..., top:top + size, left:left + size]
        out[..., top:top + size, left:left + size] = region * (1 - mask) + colour.view(-1, 1, 1) * mask
        return quantise(out)
