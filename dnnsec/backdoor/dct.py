"""Blockwise 8x8 orthonormal two-dimensional DCT-II and its inverse (DCT-III), as in JPEG.

Method: Ahmed, Natarajan and Rao, "Discrete Cosine Transform", IEEE Trans. Computers C-23 (1974); the 8x8 block
layout of Wallace, "The JPEG still picture compression standard", Commun. ACM 34 (1991). Only whole blocks are
transformed: an image whose side is not a multiple of 8 keeps its last ``side % 8`` rows / columns untouched.
"""

from __future__ import annotations

import math

import torch

BLOCK = 8


def dct_matrix(n: int = BLOCK, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """Orthonormal DCT-II matrix ``D`` (n x n): ``D @ v`` is the DCT-II of ``v`` and ``D.T`` is its inverse."""
    k = torch.arange(n, dtype=dtype).unsqueeze(1)
    i = torch.arange(n, dtype=dtype).unsqueeze(0)
    d = torch.cos(math.pi * (2 * i + 1) * k / (2 * n)) * math.sqrt(2.0 / n)
    d[0] /= math.sqrt(2.0)
    return d


def _blocks(h: int, w: int) -> tuple[int, int]:
    if h < BLOCK or w < BLOCK:
        raise ValueError(f"images of {h}x{w} pixels hold no {BLOCK}x{BLOCK} block")
    return h // BLOCK, w // BLOCK


def block_dct(x: torch.Tensor) -> torch.Tensor:
    """DCT-II of every whole 8x8 block of ``x`` (..., H, W) -> coefficients (..., H//8, W//8, 8, 8).

    Coefficient ``[..., by, bx, u, v]`` is vertical frequency ``u`` and horizontal frequency ``v`` of block
    ``(by, bx)``, in the units of ``x`` (orthonormal: the block's sum of squares is preserved).
    """
    bh, bw = _blocks(*x.shape[-2:])
    d = dct_matrix(dtype=x.dtype).to(x.device)
    blocks = x[..., :bh * BLOCK, :bw * BLOCK].unflatten(-2, (bh, BLOCK)).unflatten(-1, (bw, BLOCK))
    blocks = blocks.transpose(-3, -2)  # (..., bh, bw, 8, 8)
    return d @ blocks @ d.T


def block_idct(coefficients: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`block_dct`: write the blocks back into a copy of ``like`` (..., H, W)."""
    d = dct_matrix(dtype=coefficients.dtype).to(coefficients.device)
    blocks = d.T @ coefficients @ d
    bh, bw = blocks.shape[-4], blocks.shape[-3]
    image = blocks.transpose(-3, -2).flatten(-4, -3).flatten(-2, -1)
    out = like.clone()
    out[..., :bh * BLOCK, :bw * BLOCK] = image.to(like.dtype)
    return out
